import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connections
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from chats.models import Chat, Message
from realtime.events import chat_room, room_group
from tests.chats.helpers import contents, create_chat, msg
from tests.threads import run_together
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_owner(client_of: Callable[[User], APIClient], owner: User) -> APIClient:
    return client_of(owner)


def append(client: APIClient, chat_id: str, body: dict[str, Any], **headers: str) -> Any:
    return client.post(f"/api/chats/{chat_id}/messages", body, format="json", **headers)


def append_then_close(client: APIClient, chat_id: str, body: dict[str, Any]) -> Any:
    """Append from a worker thread, handing its database connection back afterwards."""
    try:
        return append(client, chat_id, body)
    finally:
        connections.close_all()


def test_append_goes_to_the_current_leaf(api_owner: APIClient) -> None:
    chat = create_chat(api_owner, messages=[msg("user", "q", id="m1")])

    response = append(api_owner, chat["id"], msg("assistant", "a"))

    assert response.status_code == 201
    assert response.json()["parent_id"] == "m1"
    assert contents(api_owner.get(f"/api/chats/{chat['id']}").json()) == ["q", "a"]


def test_append_with_parent_branches(api_owner: APIClient) -> None:
    chat = create_chat(
        api_owner, messages=[msg("user", "q", id="m1"), msg("assistant", "a", id="a1")]
    )

    response = append(api_owner, chat["id"], msg("assistant", "regenerated", parent_id="m1"))

    body = api_owner.get(f"/api/chats/{chat['id']}").json()
    assert response.status_code == 201
    assert contents(body) == ["q", "regenerated"]
    assert body["chat"]["history"]["messages"]["m1"]["children_ids"] == [
        "a1",
        response.json()["id"],
    ]


def test_append_with_null_parent_starts_a_new_root(api_owner: APIClient) -> None:
    chat = create_chat(api_owner, messages=[msg("user", "q")])

    response = append(api_owner, chat["id"], msg("system", "be brief", parent_id=None))

    assert response.json()["parent_id"] is None


def test_edit_makes_a_new_branch_and_switching_back_restores_the_old_one(
    api_owner: APIClient,
) -> None:
    chat = create_chat(
        api_owner, messages=[msg("user", "q", id="m1"), msg("assistant", "a", id="a1")]
    )
    url = f"/api/chats/{chat['id']}"

    edited = api_owner.post(f"{url}/messages/m1/edit", {"content": "q, edited"}, format="json")
    after_edit = api_owner.get(url).json()
    switched = api_owner.post(f"{url}/current", {"message_id": "a1"}, format="json").json()

    assert edited.status_code == 201
    assert edited.json()["role"] == "user"
    assert contents(after_edit) == ["q, edited"]
    assert len(after_edit["chat"]["history"]["messages"]) == 3
    assert contents(switched) == ["q", "a"]


def test_edit_or_switch_to_an_unknown_message_is_404(api_owner: APIClient) -> None:
    chat = create_chat(api_owner, messages=[msg("user", "q")])
    url = f"/api/chats/{chat['id']}"

    edit = api_owner.post(f"{url}/messages/nope/edit", {"content": "x"}, format="json")
    switch = api_owner.post(f"{url}/current", {"message_id": "nope"}, format="json")

    assert edit.status_code == 404
    assert switch.status_code == 404
    assert switch.json()["code"] == "message_not_found"


def test_client_message_id_makes_append_idempotent(api_owner: APIClient) -> None:
    chat = create_chat(api_owner)
    body = msg("user", "once", id="client-1")

    first = append(api_owner, chat["id"], body)
    second = append(api_owner, chat["id"], body)
    different = append(api_owner, chat["id"], msg("user", "other", id="client-1"))

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json() == first.json()
    assert different.status_code == 409
    assert different.json()["code"] == "message_id_conflict"
    assert Message.objects.count() == 1


def test_idempotency_key_makes_append_happen_once(api_owner: APIClient) -> None:
    chat = create_chat(api_owner)

    first = append(api_owner, chat["id"], msg("user", "hi"), HTTP_IDEMPOTENCY_KEY="k1")
    second = append(api_owner, chat["id"], msg("user", "hi"), HTTP_IDEMPOTENCY_KEY="k1")
    reused = append(api_owner, chat["id"], msg("user", "bye"), HTTP_IDEMPOTENCY_KEY="k1")

    assert first.status_code == 201
    assert second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert reused.status_code == 409
    assert reused.json()["code"] == "idempotency_key_reused"
    assert Message.objects.count() == 1


def test_idempotency_key_makes_chat_creation_happen_once(api_owner: APIClient) -> None:
    body = {"chat": {"title": "once", "messages": [msg("user", "q")]}}

    first = api_owner.post("/api/chats/new", body, format="json", HTTP_IDEMPOTENCY_KEY="new-1")
    second = api_owner.post("/api/chats/new", body, format="json", HTTP_IDEMPOTENCY_KEY="new-1")
    other = api_owner.post(
        "/api/chats/new", {"chat": {"title": "x"}}, format="json", HTTP_IDEMPOTENCY_KEY="new-1"
    )

    assert first.json()["id"] == second.json()["id"]
    assert other.status_code == 409
    assert Chat.objects.count() == 1


def test_idempotency_keys_are_per_user(
    api_owner: APIClient, client_of: Callable[[User], APIClient], stranger: User
) -> None:
    body = {"chat": {"title": "same"}}

    mine = api_owner.post("/api/chats/new", body, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    theirs = client_of(stranger).post(
        "/api/chats/new", body, format="json", HTTP_IDEMPOTENCY_KEY="shared"
    )

    assert mine.json()["id"] != theirs.json()["id"]
    assert theirs.json()["user_id"] == str(stranger.pk)


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
def test_malformed_idempotency_key_is_400(api_owner: APIClient, key: str) -> None:
    response = api_owner.post(
        "/api/chats/new", {"chat": {}}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )

    assert response.status_code == 400
    assert Chat.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (msg("wizard", "x"), "role"),
        ({"content": "x"}, "role"),
        (msg("user", 42), "content"),
        (msg("user", [{"no": "type"}]), "content"),
        (msg("user", [{"type": "text"}]), "content"),
        (msg("user", "x", id="has space"), "id"),
        (msg("user", "x", id="x" * 129), "id"),
        (msg("user", "x", extra=1), "extra"),
        (msg("user", "x", timestamp=-1), "timestamp"),
        (msg("user", "x\x00"), "content"),
    ],
)
def test_bad_messages_are_400_and_store_nothing(
    api_owner: APIClient, body: dict[str, Any], field: str
) -> None:
    chat = create_chat(api_owner)

    response = append(api_owner, chat["id"], body)

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert Message.objects.count() == 0


def test_message_over_the_size_limit_is_413(api_owner: APIClient, settings: Any) -> None:
    settings.CHAT_MESSAGE_MAX_BYTES = 2048
    chat = create_chat(api_owner)

    response = append(api_owner, chat["id"], msg("user", "x" * 3000))

    assert response.status_code == 413
    assert response.json()["code"] == "message_too_large"
    assert Message.objects.count() == 0


def test_default_message_limit_is_one_megabyte(api_owner: APIClient) -> None:
    chat = create_chat(api_owner)

    fits = append(api_owner, chat["id"], msg("user", "x" * 1_000_000))
    too_big = append(api_owner, chat["id"], msg("user", "x" * 1_100_000))

    assert fits.status_code == 201
    assert too_big.status_code == 413


def test_parent_from_another_chat_is_400(api_owner: APIClient) -> None:
    other = create_chat(api_owner, messages=[msg("user", "q", id="elsewhere")])
    chat = create_chat(api_owner)

    response = append(api_owner, chat["id"], msg("assistant", "a", parent_id="elsewhere"))

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_history"
    assert Message.objects.filter(chat_id=chat["id"]).count() == 0
    assert other["id"] != chat["id"]


def test_title_over_1000_characters_is_400(api_owner: APIClient) -> None:
    response = api_owner.post("/api/chats/new", {"chat": {"title": "t" * 1001}}, format="json")

    assert response.status_code == 400
    assert "chat.title" in response.json()["fields"]


@pytest.mark.parametrize(
    "history",
    [
        {
            "messages": {
                "a": {"role": "user", "content": "x", "parent_id": "b"},
                "b": {"role": "user", "content": "y", "parent_id": "a"},
            }
        },
        {"messages": {"a": {"role": "user", "content": "x", "parent_id": "ghost"}}},
        {"messages": {"a": {"id": "b", "role": "user", "content": "x"}}},
        {"messages": {"a": {"role": "user", "content": "x"}}, "current_id": "zzz"},
    ],
    ids=["cycle", "unknown-parent", "id-mismatch", "unknown-current"],
)
def test_invalid_history_trees_are_400_and_create_nothing(
    api_owner: APIClient, history: dict[str, Any]
) -> None:
    response = api_owner.post("/api/chats/new", {"chat": {"history": history}}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_history"
    assert Chat.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_all_land_in_a_defined_order(owner: User) -> None:
    token = f"Bearer {AccessToken.for_user(owner)}"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token)
    chat = create_chat(client, messages=[msg("user", "start", id="root")])

    def post(index: int) -> int:
        mine = APIClient()
        mine.credentials(HTTP_AUTHORIZATION=token)
        return append(mine, chat["id"], msg("user", f"m{index}")).status_code

    statuses = run_together(6, post)

    body = client.get(f"/api/chats/{chat['id']}").json()
    assert statuses == [201] * 6
    # Each append saw the leaf the one before left: one chain holding all seven messages.
    assert len(body["chat"]["messages"]) == 7
    assert sorted(contents(body)[1:]) == [f"m{i}" for i in range(6)]
    seqs = list(Message.objects.filter(chat_id=chat["id"]).values_list("seq", flat=True))
    assert sorted(seqs) == list(range(1, 8))


@pytest.mark.django_db(transaction=True)
def test_appended_messages_are_published_to_the_chat_room(owner: User) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(owner)}")
    chat = create_chat(client, messages=[msg("user", "start", id="root")])

    async def listen_and_receive() -> dict[str, Any]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(room_group(chat_room(chat["id"])), channel)
        await asyncio.to_thread(append_then_close, client, chat["id"], msg("user", "broadcast me"))
        return await asyncio.wait_for(layer.receive(channel), 5)

    event = async_to_sync(listen_and_receive)()

    assert event["event"] == "message"
    assert event["data"]["chat_id"] == chat["id"]
    assert event["data"]["message"]["content"] == "broadcast me"
    assert event["data"]["message"]["parent_id"] == "root"


def test_a_message_keeps_open_webui_sources_and_bad_ones_are_refused(
    api_owner: APIClient,
) -> None:
    chat = create_chat(api_owner, messages=[msg("user", "q", id="m1")])
    sources = [{"source": {"id": "f1", "name": "a.md"}, "document": ["text"], "metadata": [{}]}]

    cited = append(api_owner, chat["id"], {**msg("assistant", "a", id="a1"), "sources": sources})
    not_a_list = append(api_owner, chat["id"], {**msg("assistant", "b"), "sources": "a.md"})
    too_big = append(
        api_owner, chat["id"], {**msg("assistant", "c"), "sources": [{"text": "x" * 600_000}]}
    )
    with_nul = append(api_owner, chat["id"], {**msg("assistant", "d"), "sources": [{"t": "\x00"}]})
    stored = api_owner.get(f"/api/chats/{chat['id']}").json()["chat"]["history"]["messages"]

    assert cited.status_code == 201
    assert cited.json()["sources"] == sources
    assert stored["a1"]["sources"] == sources
    assert "sources" not in stored["m1"]
    assert not_a_list.status_code == 400
    assert too_big.status_code == 400
    assert with_nul.status_code == 400
    assert set(stored) == {"m1", "a1"}  # nothing half-written
