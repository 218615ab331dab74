from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from chats.models import Chat, ChatShare
from tests.chats.helpers import contents, create_chat, msg
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_owner(client_of: Callable[[User], APIClient], owner: User) -> APIClient:
    return client_of(owner)


@pytest.fixture
def chat(api_owner: APIClient) -> dict:
    return create_chat(
        api_owner, title="Shared", tags=["private-tag"], messages=[msg("user", "<b>hi</b>")]
    )


def share(client: APIClient, chat_id: str, **body: object) -> dict:
    response = client.post(f"/api/chats/{chat_id}/share", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_share_returns_an_unguessable_id_and_url(api_owner: APIClient, chat: dict) -> None:
    shared = share(api_owner, chat["id"])

    assert len(shared["share_id"]) >= 22  # >= 128 bits of base64
    assert shared["url"].endswith(f"/s/{shared['share_id']}")
    assert shared["require_auth"] is True
    assert api_owner.get(f"/api/chats/{chat['id']}").json()["share_id"] == shared["share_id"]


def test_signed_in_reader_sees_a_snapshot_without_owner_fields(
    api_owner: APIClient, chat: dict, client_of: Callable[[User], APIClient], stranger: User
) -> None:
    shared = share(api_owner, chat["id"])

    response = client_of(stranger).get(f"/api/chats/share/{shared['share_id']}")

    body = response.json()
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert body["title"] == "Shared"
    assert contents(body) == ["<b>hi</b>"]  # data, never rendered: no HTML is produced
    for private in ("user_id", "tags", "folder_id", "pinned", "archived", "email"):
        assert private not in body
    assert "private-tag" not in response.content.decode()


def test_anonymous_reader_needs_sign_in_unless_the_owner_allows(
    api_owner: APIClient, chat: dict
) -> None:
    shared = share(api_owner, chat["id"])
    anonymous = APIClient()

    refused = anonymous.get(f"/api/chats/share/{shared['share_id']}")
    share(api_owner, chat["id"], require_auth=False)
    allowed = anonymous.get(f"/api/chats/share/{shared['share_id']}")

    assert refused.status_code == 401
    assert allowed.status_code == 200


def test_sharing_again_refreshes_the_snapshot(api_owner: APIClient, chat: dict) -> None:
    first = share(api_owner, chat["id"], require_auth=False)
    api_owner.post(f"/api/chats/{chat['id']}/messages", msg("assistant", "later"), format="json")
    before = APIClient().get(f"/api/chats/share/{first['share_id']}").json()

    second = share(api_owner, chat["id"], require_auth=False)
    after = APIClient().get(f"/api/chats/share/{first['share_id']}").json()

    assert second["share_id"] == first["share_id"]
    assert contents(before) == ["<b>hi</b>"]
    assert contents(after) == ["<b>hi</b>", "later"]


def test_revoked_link_is_404(api_owner: APIClient, chat: dict) -> None:
    shared = share(api_owner, chat["id"], require_auth=False)

    revoked = api_owner.delete(f"/api/chats/{chat['id']}/share")
    response = APIClient().get(f"/api/chats/share/{shared['share_id']}")

    assert revoked.status_code == 204
    assert response.status_code == 404
    assert response.json()["code"] == "share_not_found"


def test_expired_link_is_404(api_owner: APIClient, chat: dict) -> None:
    shared = share(api_owner, chat["id"], require_auth=False, expires_in=3600)
    assert shared["expires_at"] > timezone.now().timestamp()
    ChatShare.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = APIClient().get(f"/api/chats/share/{shared['share_id']}")

    assert response.status_code == 404
    assert api_owner.get(f"/api/chats/{chat['id']}").json()["share_id"] is None


@pytest.mark.parametrize("body", [{"expires_in": 10}, {"require_auth": "sometimes"}, {"x": 1}])
def test_bad_share_options_are_400(api_owner: APIClient, chat: dict, body: dict) -> None:
    response = api_owner.post(f"/api/chats/{chat['id']}/share", body, format="json")

    assert response.status_code == 400
    assert not ChatShare.objects.exists()


def test_unknown_share_id_is_404(api_owner: APIClient) -> None:
    assert api_owner.get("/api/chats/share/not-a-real-share").status_code == 404


def test_reader_can_clone_a_shared_chat(
    api_owner: APIClient, chat: dict, client_of: Callable[[User], APIClient], stranger: User
) -> None:
    shared = share(api_owner, chat["id"])
    reader = client_of(stranger)

    clone = reader.post(f"/api/chats/share/{shared['share_id']}/clone", format="json")

    assert clone.status_code == 200
    assert clone.json()["user_id"] == str(stranger.pk)
    assert contents(clone.json()) == ["<b>hi</b>"]
    assert Chat.objects.filter(user=stranger).count() == 1


def test_a_shared_answer_keeps_its_citations(
    api_owner: APIClient, client_of: Callable[[User], APIClient], stranger: User
) -> None:
    """As in Open WebUI, a share shows an answer's sources with it: the owner saw them with the
    answer and chose to share the chat (docs/completions.md)."""
    sources = [{"content": "Falcon's code is 7421.", "score": 1.0, "metadata": {}}]
    chat = create_chat(
        api_owner,
        messages=[
            msg("user", "Falcon's code?", id="q"),
            {**msg("assistant", "7421", id="a"), "sources": sources},
        ],
    )
    shared = share(api_owner, chat["id"])

    body = client_of(stranger).get(f"/api/chats/share/{shared['share_id']}").json()

    assert body["chat"]["history"]["messages"]["a"]["sources"] == sources
