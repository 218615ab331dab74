"""Rating answers (thumbs up/down) and deleting a message with what follows it."""

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from tests.chats.helpers import contents, create_chat, msg
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_owner(client_of: Callable[[User], APIClient], owner: User) -> APIClient:
    return client_of(owner)


def conversation(client: APIClient) -> dict:
    return create_chat(
        client,
        messages=[
            msg("user", "q1", id="q1"),
            msg("assistant", "a1", id="a1"),
            msg("user", "q2", id="q2"),
            msg("assistant", "a2", id="a2"),
        ],
    )


def feedback(client: APIClient, chat_id: str, message_id: str, **body: object) -> object:
    return client.post(f"/api/chats/{chat_id}/messages/{message_id}/feedback", body, format="json")


def test_thumbs_down_with_comment_is_kept_on_the_message(api_owner: APIClient) -> None:
    chat = conversation(api_owner)

    response = feedback(api_owner, chat["id"], "a1", rating=-1, comment="wrong year")

    assert response.status_code == 200
    assert response.json()["feedback"]["rating"] == -1
    stored = api_owner.get(f"/api/chats/{chat['id']}").json()["chat"]["history"]["messages"]
    assert stored["a1"]["feedback"]["comment"] == "wrong year"
    assert "feedback" not in stored["a2"]


def test_rating_again_replaces_and_zero_clears(api_owner: APIClient) -> None:
    chat = conversation(api_owner)
    feedback(api_owner, chat["id"], "a2", rating=-1)

    up = feedback(api_owner, chat["id"], "a2", rating=1)
    cleared = feedback(api_owner, chat["id"], "a2", rating=0)

    assert up.json()["feedback"] == {
        "rating": 1,
        "comment": "",
        "updated_at": up.json()["feedback"]["updated_at"],
    }
    assert "feedback" not in cleared.json()
    stored = api_owner.get(f"/api/chats/{chat['id']}").json()["chat"]["history"]["messages"]
    assert "feedback" not in stored["a2"]


def test_bad_feedback_is_refused(api_owner: APIClient) -> None:
    chat = conversation(api_owner)

    wrong_rating = feedback(api_owner, chat["id"], "a1", rating=5)
    on_a_question = feedback(api_owner, chat["id"], "q1", rating=1)
    unknown = feedback(api_owner, chat["id"], "nope", rating=1)
    too_long = feedback(api_owner, chat["id"], "a1", rating=1, comment="x" * 2001)

    assert wrong_rating.status_code == 400
    assert "rating" in wrong_rating.json()["fields"]
    assert on_a_question.status_code == 400
    assert on_a_question.json()["code"] == "feedback_not_allowed"
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "message_not_found"
    assert too_long.status_code == 400


def test_another_users_chat_is_404_for_feedback_delete_and_records(
    api_owner: APIClient, client_of: Callable[[User], APIClient], stranger: User
) -> None:
    chat = conversation(api_owner)
    other = client_of(stranger)

    rated = feedback(other, chat["id"], "a1", rating=1)
    deleted = other.delete(f"/api/chats/{chat['id']}/messages/a1")
    records = other.get(f"/api/chats/{chat['id']}/messages")

    assert [rated.status_code, deleted.status_code, records.status_code] == [404, 404, 404]
    assert {rated.json()["code"], deleted.json()["code"]} == {"chat_not_found"}
    stored = api_owner.get(f"/api/chats/{chat['id']}").json()
    assert contents(stored) == ["q1", "a1", "q2", "a2"]
    assert "feedback" not in stored["chat"]["history"]["messages"]["a1"]


def test_feedback_survives_export_and_import_but_not_a_share(api_owner: APIClient) -> None:
    chat = conversation(api_owner)
    feedback(api_owner, chat["id"], "a1", rating=1, comment="great")

    exported = b"".join(api_owner.get("/api/chats/export").streaming_content)
    api_owner.delete(f"/api/chats/{chat['id']}")
    imported = api_owner.post("/api/chats/import", exported, content_type="application/json")
    again = api_owner.get(f"/api/chats/{imported.json()[0]['id']}").json()
    share = api_owner.post(f"/api/chats/{again['id']}/share", {}, format="json").json()
    shared = api_owner.get(f"/api/chats/share/{share['share_id']}").json()

    assert again["chat"]["history"]["messages"]["a1"]["feedback"]["comment"] == "great"
    assert "feedback" not in shared["chat"]["history"]["messages"]["a1"]


def test_deleting_a_message_deletes_what_follows_it(api_owner: APIClient) -> None:
    chat = conversation(api_owner)

    response = api_owner.delete(f"/api/chats/{chat['id']}/messages/q2")

    assert response.status_code == 204
    stored = api_owner.get(f"/api/chats/{chat['id']}").json()
    assert contents(stored) == ["q1", "a1"]
    assert set(stored["chat"]["history"]["messages"]) == {"q1", "a1"}
    assert stored["chat"]["history"]["current_id"] == "a1"
    again = api_owner.delete(f"/api/chats/{chat['id']}/messages/q2")
    assert again.status_code == 404


def test_deleting_the_active_branch_switches_to_the_sibling(api_owner: APIClient) -> None:
    chat = conversation(api_owner)
    other = api_owner.post(
        f"/api/chats/{chat['id']}/messages",
        msg("assistant", "a1 again", id="a1b", parent_id="q1"),
        format="json",
    )
    assert other.status_code == 201

    api_owner.delete(f"/api/chats/{chat['id']}/messages/a1b")
    after_leaf = api_owner.get(f"/api/chats/{chat['id']}").json()
    api_owner.delete(f"/api/chats/{chat['id']}/messages/a1")
    after_all = api_owner.get(f"/api/chats/{chat['id']}").json()

    # a1b was the leaf: the newest remaining leaf under q1 (a2, through a1) becomes current.
    assert contents(after_leaf) == ["q1", "a1", "q2", "a2"]
    assert contents(after_all) == ["q1"]
    assert after_all["chat"]["history"]["current_id"] == "q1"


def test_deleting_the_root_empties_the_chat(api_owner: APIClient) -> None:
    chat = conversation(api_owner)

    api_owner.delete(f"/api/chats/{chat['id']}/messages/q1")

    stored = api_owner.get(f"/api/chats/{chat['id']}").json()
    assert stored["chat"]["messages"] == []
    assert stored["chat"]["history"] == {"messages": {}, "current_id": None}


def test_records_page_through_the_active_branch(api_owner: APIClient) -> None:
    chat = conversation(api_owner)

    first = api_owner.get(f"/api/chats/{chat['id']}/messages?offset=0&limit=3").json()
    rest = api_owner.get(f"/api/chats/{chat['id']}/messages?offset=3&limit=3").json()
    bad = api_owner.get(f"/api/chats/{chat['id']}/messages?limit=0")

    assert [m["id"] for m in first["messages"]] == ["q1", "a1", "q2"]
    assert [m["id"] for m in rest["messages"]] == ["a2"]
    assert first["total"] == rest["total"] == 4
    assert bad.status_code == 400
