"""The websocket consumer in process (channels' WebsocketCommunicator on the ASGI app)."""

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from realtime.events import publish, user_room
from tests.e2e.conftest import token_for
from tests.factories import UserFactory
from users.models import User
from webui_backend.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def connect(user: User) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, f"/ws/?token={token_for(user)}")
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "authenticated"
    return communicator


def disable(user: User) -> None:
    User.objects.filter(pk=user.pk).update(is_active=False)
    publish(user_room(user.pk), "account.updated", {"is_active": False})


async def test_a_disabled_account_is_told_and_its_socket_closes() -> None:
    user = await database_sync_to_async(UserFactory)()
    socket = await connect(user)

    await database_sync_to_async(disable)(user)
    told = await socket.receive_json_from(timeout=5)
    closed = await socket.receive_output(timeout=5)

    assert told == {"type": "account.updated", "data": {"is_active": False}}
    assert closed["type"] == "websocket.close"
    await socket.disconnect()


async def test_personal_room_notifications_reach_only_their_user() -> None:
    user, other = (
        await database_sync_to_async(UserFactory)(),
        await database_sync_to_async(UserFactory)(),
    )
    mine, theirs = await connect(user), await connect(other)

    await database_sync_to_async(publish)(user_room(user.pk), "notice", {"text": "for you"})

    assert await mine.receive_json_from(timeout=5) == {
        "type": "notice",
        "data": {"text": "for you"},
    }
    assert await theirs.receive_nothing(timeout=0.5)
    await mine.disconnect()
    await theirs.disconnect()


async def test_connections_per_user_are_limited(settings: Any) -> None:
    settings.REALTIME_MAX_CONNECTIONS_PER_USER = 1
    user = await database_sync_to_async(UserFactory)()
    first = await connect(user)

    second = WebsocketCommunicator(application, f"/ws/?token={token_for(user)}")
    await second.connect()
    refused = await second.receive_json_from(timeout=5)
    closed = await second.receive_output(timeout=5)
    await first.disconnect()
    third = await connect(user)  # the slot was released

    assert refused["data"]["code"] == "too_many_connections"
    assert closed["type"] == "websocket.close"
    await second.disconnect()
    await third.disconnect()


async def test_pending_accounts_cannot_connect() -> None:
    user = await database_sync_to_async(UserFactory)(role=User.Role.PENDING)
    socket = WebsocketCommunicator(application, f"/ws/?token={token_for(user)}")
    await socket.connect()

    refused = await socket.receive_json_from(timeout=5)

    assert refused["data"]["code"] == "account_pending"
    assert (await socket.receive_output(timeout=5))["type"] == "websocket.close"
    await socket.disconnect()


def chat_with_events(user: User, count: int) -> str:
    from chats.services import chat_create, message_append

    chat = chat_create(user=user)
    for n in range(count):
        message_append(chat, {"role": "user", "content": f"m{n}"})
    return str(chat.pk)


async def test_catch_up_sends_everything_missed_in_batches(settings: Any) -> None:
    settings.REALTIME_REPLAY_MAX = 2
    user = await database_sync_to_async(UserFactory)()
    chat_id = await database_sync_to_async(chat_with_events)(user, 5)
    socket = await connect(user)

    await socket.send_json_to({"type": "join_chat", "data": {"chat_id": chat_id, "since": 0}})
    frames = [await socket.receive_json_from(timeout=5) for _ in range(5)]

    assert [f["data"]["message"]["content"] for f in frames] == [f"m{n}" for n in range(5)]
    assert [f["data"]["seq"] for f in frames] == [1, 2, 3, 4, 5]
    await socket.disconnect()


async def test_a_password_change_closes_sockets_opened_with_older_tokens() -> None:
    from users.services import user_password_change

    user = await database_sync_to_async(UserFactory)()
    socket = await connect(user)

    await database_sync_to_async(user_password_change)(
        user=user, current_password="correct horse battery staple", new_password="a new long one 99"
    )
    told = await socket.receive_json_from(timeout=5)
    closed = await socket.receive_output(timeout=5)

    assert told["data"]["reason"] == "password_changed"
    assert closed["type"] == "websocket.close"
    await socket.disconnect()


async def test_revoking_the_key_a_socket_used_closes_it() -> None:
    from users.services import api_key_create, api_key_revoke

    user = await database_sync_to_async(UserFactory)()
    created = await database_sync_to_async(api_key_create)(user=user, name="socket key")
    socket = WebsocketCommunicator(application, f"/ws/?token={created.api_key}")
    await socket.connect()
    assert (await socket.receive_json_from(timeout=5))["type"] == "authenticated"

    await database_sync_to_async(api_key_revoke)(key=created.key)
    told = await socket.receive_json_from(timeout=5)
    closed = await socket.receive_output(timeout=5)

    assert told["data"]["reason"] == "api_key_revoked"
    assert closed["type"] == "websocket.close"
    await socket.disconnect()
