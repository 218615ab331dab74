"""Another user's chat is 404 on every route: its existence is never revealed."""

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from chats.models import Chat, ChatShare, Message
from realtime.models import RoomCounter, RoomEvent
from tests.chats.helpers import create_chat, msg
from users.models import User

pytestmark = pytest.mark.django_db

ROUTES = [
    ("get", "", None),
    ("post", "", {"chat": {"title": "hijacked"}}),
    ("post", "", {"chat": {"title": "hijacked", "tags": ["t"]}}),
    ("delete", "", None),
    ("post", "/messages", msg("user", "intrusion")),
    ("post", "/messages/m1/edit", {"content": "x"}),
    ("post", "/current", {"message_id": "m1"}),
    ("post", "/pin", None),
    ("post", "/archive", None),
    ("post", "/tags", {"name": "x"}),
    ("delete", "/tags", {"name": "x"}),
    ("post", "/clone", None),
    ("post", "/share", None),
    ("delete", "/share", None),
]


@pytest.mark.parametrize(("method", "suffix", "body"), ROUTES)
def test_strangers_get_404_and_change_nothing(
    client_of: Callable[[User], APIClient],
    owner: User,
    stranger: User,
    method: str,
    suffix: str,
    body: dict | None,
) -> None:
    chat = create_chat(client_of(owner), title="mine", messages=[msg("user", "q", id="m1")])

    response = getattr(client_of(stranger), method)(
        f"/api/chats/{chat['id']}{suffix}", body, format="json"
    )

    assert response.status_code == 404
    assert response.json() == {"detail": "Chat not found.", "code": "chat_not_found"}
    stored = Chat.objects.get()
    assert stored.title == "mine"
    assert not stored.pinned
    assert not stored.archived
    assert Message.objects.count() == 1
    assert not ChatShare.objects.exists()
    assert Chat.objects.filter(user=stranger).count() == 0
    # Nothing told the chat's room either (not even its counter, which replays number).
    assert not RoomEvent.objects.filter(room=f"chat:{chat['id']}").exists()
    assert not RoomCounter.objects.filter(room=f"chat:{chat['id']}").exists()


@pytest.mark.parametrize("chat_id", ["not-a-uuid", "12345", "00000000-0000-0000-0000-000000000000"])
def test_malformed_or_unknown_ids_are_404(
    client_of: Callable[[User], APIClient], owner: User, chat_id: str
) -> None:
    response = client_of(owner).get(f"/api/chats/{chat_id}")
    renamed = client_of(owner).post(
        f"/api/chats/{chat_id}", {"chat": {"title": "x"}}, format="json"
    )
    appended = client_of(owner).post(
        f"/api/chats/{chat_id}/messages", msg("user", "x"), format="json"
    )

    assert response.status_code == 404
    assert response.json()["code"] == "chat_not_found"
    assert renamed.status_code == 404
    assert renamed.json()["code"] == "chat_not_found"
    assert appended.status_code == 404
    assert appended.json()["code"] == "chat_not_found"


def test_lists_never_show_other_users_chats(
    client_of: Callable[[User], APIClient], owner: User, stranger: User
) -> None:
    create_chat(client_of(owner), title="secret", tags=["t"])

    assert client_of(stranger).get("/api/chats/").json() == []
    assert client_of(stranger).get("/api/chats/", {"q": "secret"}).json() == []
    assert client_of(stranger).get("/api/chats/tags").json() == []
    assert client_of(stranger).get("/api/chats/", {"tag": "t"}).status_code == 404


def test_signed_out_requests_are_401() -> None:
    assert APIClient().get("/api/chats/").status_code == 401
    assert APIClient().post("/api/chats/new", {"chat": {}}, format="json").status_code == 401


def test_pending_accounts_are_403(client_of: Callable[[User], APIClient], make_user) -> None:  # type: ignore[no-untyped-def]
    pending = make_user(role=User.Role.PENDING)

    response = client_of(pending).get("/api/chats/")

    assert response.status_code == 403
    assert response.json()["code"] == "account_pending"


def test_admin_reads_any_chat_through_the_admin_route_and_it_is_audited(
    client_of: Callable[[User], APIClient], owner: User, admin_user: User
) -> None:
    from users.models import AuditLog

    chat = create_chat(client_of(owner), title="private", messages=[msg("user", "q")])
    admin = client_of(admin_user)

    normal_route = admin.get(f"/api/chats/{chat['id']}")
    admin_route = admin.get(f"/api/chats/admin/{chat['id']}")
    audit = admin.get("/api/admin/audit").json()

    assert normal_route.status_code == 404
    assert admin_route.status_code == 200
    assert admin_route.json()["chat"]["messages"][0]["content"] == "q"
    entry = AuditLog.objects.get(action="chat.read")
    assert entry.target_id == chat["id"]
    assert entry.actor_id == admin_user.pk
    assert entry.detail["owner"] == owner.email
    assert "chat.read" in str(audit)


def test_non_admins_cannot_use_the_admin_chat_route(
    client_of: Callable[[User], APIClient], owner: User
) -> None:
    chat = create_chat(client_of(owner))

    response = client_of(owner).get(f"/api/chats/admin/{chat['id']}")

    assert response.status_code == 403


def test_dashboard_counts_chats_and_messages(
    client_of: Callable[[User], APIClient], owner: User, admin_user: User
) -> None:
    create_chat(client_of(owner), messages=[msg("user", "a"), msg("assistant", "b")])

    counts = client_of(admin_user).get("/api/admin/stats").json()["counts"]

    assert counts["chats"] == 1
    assert counts["messages"] == 2
