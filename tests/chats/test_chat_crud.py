from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from chats.models import Chat, Message
from tests.chats.helpers import contents, create_chat, msg
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_owner(client_of: Callable[[User], APIClient], owner: User) -> APIClient:
    return client_of(owner)


def test_create_and_read_a_chat_as_the_contract_shows(api_owner: APIClient, owner: User) -> None:
    created = create_chat(
        api_owner,
        title="Greeting",
        models=["gpt-4"],
        messages=[msg("user", "Hello!"), msg("assistant", "Hi! How can I help?")],
    )

    body = api_owner.get(f"/api/chats/{created['id']}").json()

    assert body["id"] == created["id"]
    assert body["user_id"] == str(owner.pk)
    assert body["title"] == "Greeting"
    assert isinstance(body["created_at"], int)
    assert isinstance(body["updated_at"], int)
    messages = body["chat"]["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "Hello!"),
        ("assistant", "Hi! How can I help?"),
    ]
    assert all(isinstance(m["id"], str) and isinstance(m["timestamp"], int) for m in messages)
    history = body["chat"]["history"]
    assert history["current_id"] == messages[-1]["id"]
    assert history["messages"][messages[0]["id"]]["children_ids"] == [messages[1]["id"]]
    assert history["messages"][messages[1]["id"]]["parent_id"] == messages[0]["id"]
    assert body["chat"]["models"] == ["gpt-4"]


def test_a_client_may_ask_for_the_branch_or_the_tree_only(api_owner: APIClient) -> None:
    history = {
        "messages": {
            "q": {"role": "user", "content": "Q", "parentId": None},
            "a1": {"role": "assistant", "content": "A1", "parentId": "q"},
            "a2": {"role": "assistant", "content": "A2", "parentId": "q"},
        },
        "currentId": "a2",
    }
    created = create_chat(api_owner, title="Branches", history=history)
    url = f"/api/chats/{created['id']}"
    both = api_owner.get(url).json()

    branch = api_owner.get(url, {"include": "messages"}).json()
    tree = api_owner.get(url, {"include": "history"}).json()
    again = api_owner.get(url, {"include": "messages,history"}).json()

    assert "history" not in branch["chat"]
    assert branch["chat"]["messages"] == both["chat"]["messages"]
    assert [m["id"] for m in branch["chat"]["messages"]] == ["q", "a2"]
    assert "messages" not in tree["chat"]
    assert tree["chat"]["history"] == both["chat"]["history"]
    assert again == both
    assert {k: v for k, v in branch.items() if k != "chat"} == {
        k: v for k, v in both.items() if k != "chat"
    }
    refused = api_owner.get(url, {"include": "everything"})
    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid"


def test_messages_are_rows_not_a_blob(api_owner: APIClient) -> None:
    created = create_chat(api_owner, messages=[msg("user", "a"), msg("assistant", "b")])

    assert Message.objects.filter(chat_id=created["id"]).count() == 2


def test_create_with_a_history_tree(api_owner: APIClient) -> None:
    history = {
        "messages": {
            "q": {"role": "user", "content": "Q", "parentId": None, "childrenIds": ["a1", "a2"]},
            "a1": {"role": "assistant", "content": "A1", "parentId": "q"},
            "a2": {"role": "assistant", "content": "A2", "parent_id": "q"},
        },
        "currentId": "a1",
    }

    body = create_chat(api_owner, history=history)

    assert contents(body) == ["Q", "A1"]
    assert body["chat"]["history"]["messages"]["q"]["children_ids"] == ["a1", "a2"]


def test_content_parts_are_kept_and_searchable(api_owner: APIClient) -> None:
    parts = [
        {"type": "text", "text": "describe this zebra"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    chat = create_chat(api_owner, title="pic", messages=[msg("user", parts)])

    found = api_owner.get("/api/chats/", {"q": "zebra"}).json()

    assert contents(api_owner.get(f"/api/chats/{chat['id']}").json()) == [parts]
    assert [c["id"] for c in found] == [chat["id"]]


def test_list_is_pinned_first_then_newest(api_owner: APIClient) -> None:
    first = create_chat(api_owner, title="first")
    second = create_chat(api_owner, title="second")
    third = create_chat(api_owner, title="third")
    api_owner.post(f"/api/chats/{first['id']}/pin", format="json")

    listed = api_owner.get("/api/chats/").json()

    assert [c["id"] for c in listed] == [first["id"], third["id"], second["id"]]
    assert set(listed[0]) >= {"id", "user_id", "title", "created_at", "updated_at", "pinned"}
    assert listed[0]["pinned"] is True


def test_list_filters(api_owner: APIClient) -> None:
    plain = create_chat(api_owner, title="plain")
    tagged = create_chat(api_owner, title="tagged", tags=["Work"], folder_id="f1")
    archived = create_chat(api_owner, title="old", archived=True)

    def ids(**query: Any) -> list[str]:
        response = api_owner.get("/api/chats/", query)
        assert response.status_code == 200, response.content
        return [c["id"] for c in response.json()]

    assert ids() == [tagged["id"], plain["id"]]
    assert ids(archived="true") == [archived["id"]]
    assert ids(tag="work") == [tagged["id"]]
    assert ids(folder_id="f1") == [tagged["id"]]
    assert ids(pinned="true") == []
    assert ids(q="PLAIN") == [plain["id"]]


def test_search_finds_message_text(api_owner: APIClient) -> None:
    hit = create_chat(api_owner, title="x", messages=[msg("user", "the quick brown fox")])
    create_chat(api_owner, title="y", messages=[msg("user", "lazy dog")])

    found = api_owner.get("/api/chats/", {"q": "brown"}).json()

    assert [c["id"] for c in found] == [hit["id"]]


def test_unknown_tag_filter_is_404(api_owner: APIClient) -> None:
    response = api_owner.get("/api/chats/", {"tag": "nope"})

    assert response.status_code == 404
    assert response.json()["code"] == "tag_not_found"


@pytest.mark.parametrize(
    "query",
    [{"archived": "maybe"}, {"limit": "0"}, {"limit": "1000"}, {"page": "-1"}, {"cursor": "%%%"}],
)
def test_bad_list_parameters_are_400(api_owner: APIClient, query: dict[str, str]) -> None:
    response = api_owner.get("/api/chats/", query)

    assert response.status_code == 400
    assert response.json()["detail"]


def test_cursor_pagination_walks_every_chat_once(api_owner: APIClient, owner: User) -> None:
    made = [create_chat(api_owner, title=f"c{n}")["id"] for n in range(7)]
    seen: list[str] = []
    cursor = None

    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        response = api_owner.get("/api/chats/", query)
        seen += [c["id"] for c in response.json()]
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            break
        create_chat(api_owner, title="arrives meanwhile")  # new chats do not shift pages

    assert seen == list(reversed(made))


def test_page_pagination(api_owner: APIClient) -> None:
    made = [create_chat(api_owner, title=f"c{n}")["id"] for n in range(5)]

    page2 = api_owner.get("/api/chats/", {"limit": 2, "page": 2}).json()

    assert [c["id"] for c in page2] == list(reversed(made))[2:4]


def test_update_title_tags_flags(api_owner: APIClient) -> None:
    chat = create_chat(api_owner, title="old")

    response = api_owner.post(
        f"/api/chats/{chat['id']}",
        {"chat": {"title": "new", "tags": ["a", "B"], "pinned": True, "folder_id": "f"}},
        format="json",
    )

    body = response.json()
    assert response.status_code == 200
    assert body["title"] == "new"
    assert sorted(body["tags"]) == ["B", "a"]
    assert body["pinned"] is True
    assert body["folder_id"] == "f"
    assert sorted(t["name"] for t in api_owner.get("/api/chats/tags").json()) == ["B", "a"]


def test_update_messages_appends_to_the_active_branch(api_owner: APIClient) -> None:
    chat = create_chat(api_owner, messages=[msg("user", "q", id="m1")])
    messages = [
        msg("user", "q", id="m1"),
        msg("assistant", "a", id="m2"),
        msg("user", "q2", id="m3"),
    ]

    body = api_owner.post(
        f"/api/chats/{chat['id']}", {"chat": {"messages": messages}}, format="json"
    ).json()

    assert contents(body) == ["q", "a", "q2"]
    assert body["chat"]["history"]["current_id"] == "m3"


def test_stale_update_never_drops_another_clients_message(
    api_owner: APIClient, client_of: Callable[[User], APIClient], owner: User
) -> None:
    chat = create_chat(api_owner, messages=[msg("user", "q", id="m1")])
    other_client = client_of(owner)
    other_client.post(
        f"/api/chats/{chat['id']}/messages", msg("assistant", "from B", id="b1"), format="json"
    )

    stale = [msg("user", "q", id="m1"), msg("assistant", "from A", id="a1")]
    body = api_owner.post(
        f"/api/chats/{chat['id']}", {"chat": {"messages": stale}}, format="json"
    ).json()

    history = body["chat"]["history"]["messages"]
    assert set(history) == {"m1", "b1", "a1"}
    assert history["m1"]["children_ids"] == ["b1", "a1"]
    assert contents(body) == ["q", "from A"]


def test_update_that_contradicts_the_tree_is_409_and_changes_nothing(
    api_owner: APIClient,
) -> None:
    chat = create_chat(
        api_owner, title="t", messages=[msg("user", "q", id="m1"), msg("assistant", "a", id="m2")]
    )
    reordered = [msg("assistant", "a", id="m2"), msg("user", "q", id="m1")]

    response = api_owner.post(
        f"/api/chats/{chat['id']}",
        {"chat": {"title": "changed", "messages": reordered}},
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["code"] == "history_conflict"
    after = api_owner.get(f"/api/chats/{chat['id']}").json()
    assert after["title"] == "t"
    assert contents(after) == ["q", "a"]


def test_update_can_rewrite_a_message_in_place(api_owner: APIClient) -> None:
    chat = create_chat(
        api_owner, messages=[msg("user", "q", id="m1"), msg("assistant", "", id="m2")]
    )

    api_owner.post(
        f"/api/chats/{chat['id']}",
        {"chat": {"messages": [msg("user", "q", id="m1"), msg("assistant", "done", id="m2")]}},
        format="json",
    )

    assert contents(api_owner.get(f"/api/chats/{chat['id']}").json()) == ["q", "done"]


def test_delete_a_chat(api_owner: APIClient) -> None:
    chat = create_chat(api_owner, messages=[msg("user", "q")])

    deleted = api_owner.delete(f"/api/chats/{chat['id']}")

    assert deleted.status_code == 204
    assert api_owner.get(f"/api/chats/{chat['id']}").status_code == 404
    assert not Message.objects.exists()


def test_delete_all_mine_leaves_others(
    api_owner: APIClient, client_of: Callable[[User], APIClient], stranger: User
) -> None:
    create_chat(api_owner, messages=[msg("user", "q")], tags=["x"])
    create_chat(api_owner)
    theirs = create_chat(client_of(stranger))

    response = api_owner.delete("/api/chats/")

    assert response.status_code == 204
    assert api_owner.get("/api/chats/").json() == []
    assert [str(pk) for pk in Chat.objects.values_list("id", flat=True)] == [theirs["id"]]


def test_pin_and_archive_toggle_or_set(api_owner: APIClient) -> None:
    chat = create_chat(api_owner)
    url = f"/api/chats/{chat['id']}"

    assert api_owner.post(f"{url}/pin", format="json").json()["pinned"] is True
    assert api_owner.post(f"{url}/pin", format="json").json()["pinned"] is False
    assert api_owner.post(f"{url}/pin", {"pinned": True}, format="json").json()["pinned"] is True
    assert api_owner.post(f"{url}/archive", format="json").json()["archived"] is True
    assert api_owner.get("/api/chats/").json() == []


def test_archive_all(api_owner: APIClient) -> None:
    create_chat(api_owner)
    create_chat(api_owner)

    response = api_owner.post("/api/chats/archive/all", format="json")

    assert response.json() == {"archived": 2}
    assert api_owner.get("/api/chats/").json() == []
    assert len(api_owner.get("/api/chats/", {"archived": "true"}).json()) == 2


def test_tags_add_and_remove(api_owner: APIClient) -> None:
    chat = create_chat(api_owner)
    url = f"/api/chats/{chat['id']}/tags"

    added = api_owner.post(url, {"name": "Ideas"}, format="json")
    again = api_owner.post(url, {"name": "ideas"}, format="json")
    removed = api_owner.delete(url, {"name": "IDEAS"}, format="json")
    missing = api_owner.delete(url, {"name": "never"}, format="json")

    assert added.json()["tags"] == ["Ideas"]
    assert again.json()["tags"] == ["Ideas"]
    assert removed.json()["tags"] == []
    assert missing.status_code == 404
    assert api_owner.get("/api/chats/tags").json() == []


def test_clone_my_chat(api_owner: APIClient) -> None:
    chat = create_chat(api_owner, title="orig", messages=[msg("user", "q"), msg("assistant", "a")])

    clone = api_owner.post(f"/api/chats/{chat['id']}/clone", format="json").json()

    assert clone["id"] != chat["id"]
    assert clone["title"] == "Clone of orig"
    assert contents(clone) == ["q", "a"]
