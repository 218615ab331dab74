"""Sockets against the real server: Socket.IO and plain websockets, over real connections."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import socketio
import websockets
from channels.db import database_sync_to_async

from tests.e2e.conftest import token_for
from tests.factories import UserFactory
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def owner_() -> User:
    return await database_sync_to_async(UserFactory)(email="rt-owner@example.com")


@pytest.fixture
async def stranger_() -> User:
    return await database_sync_to_async(UserFactory)(email="rt-stranger@example.com")


def rest(url: str, user: User) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token_for(user)}"}, timeout=10
    )


async def new_chat(url: str, user: User, **chat: Any) -> str:
    async with rest(url, user) as client:
        response = await client.post("/api/chats/new", json={"chat": chat})
        assert response.status_code == 200, response.text
        return response.json()["id"]


class Recorder:
    """A Socket.IO client that records every event it receives."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.client.on("*", self._record)

    async def _record(self, event: str, data: Any = None) -> None:
        self.events.append((event, data))

    def of(self, name: str) -> list[Any]:
        return [data for event, data in self.events if event == name]

    async def wait_for(self, name: str, count: int = 1, timeout: float = 5) -> list[Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.of(name)) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"expected {count} {name!r}, got {self.events}")
            await asyncio.sleep(0.02)
        return self.of(name)


@pytest.fixture
async def sockets(server_url: str) -> AsyncIterator[Callable[..., Any]]:
    opened: list[Recorder] = []

    async def connect(user: User | None, token: str | None = None, **kwargs: Any) -> Recorder:
        recorder = Recorder()
        auth = {"token": token if token is not None else token_for(user)}
        await recorder.client.connect(
            server_url, auth=auth, transports=kwargs.pop("transports", ["websocket"]), **kwargs
        )
        opened.append(recorder)
        return recorder

    yield connect
    for recorder in opened:
        if recorder.client.connected:
            await recorder.client.disconnect()


@pytest.mark.parametrize("token", ["", "not-a-jwt"])
async def test_socketio_refuses_missing_or_bad_tokens(server_url: str, token: str) -> None:
    client = socketio.AsyncClient(reconnection=False)

    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(server_url, auth={"token": token}, transports=["websocket"])

    assert not client.connected


async def test_join_send_and_receive(server_url: str, sockets: Any, owner_: User) -> None:
    chat_id = await new_chat(server_url, owner_)
    socket = await sockets(owner_)

    joined = await socket.client.call("join_chat", {"chat_id": chat_id}, timeout=5)
    ack = await socket.client.call(
        "message", {"chat_id": chat_id, "message": {"role": "user", "content": "Hello!"}}, timeout=5
    )
    (event,) = await socket.wait_for("message")

    assert joined["ok"] is True
    assert ack["ok"] is True
    assert event["chat_id"] == chat_id
    assert event["message"]["content"] == "Hello!"
    assert event["message"]["id"] == ack["id"]
    async with rest(server_url, owner_) as client:
        stored = (await client.get(f"/api/chats/{chat_id}")).json()
    assert [m["content"] for m in stored["chat"]["messages"]] == ["Hello!"]


async def test_polling_transport_works_too(server_url: str, sockets: Any, owner_: User) -> None:
    chat_id = await new_chat(server_url, owner_)
    socket = await sockets(owner_, transports=["polling"])

    joined = await socket.client.call("join_chat", {"chat_id": chat_id}, timeout=5)

    assert joined["ok"] is True


async def test_foreign_chat_is_refused_and_nothing_leaks(
    server_url: str, sockets: Any, owner_: User, stranger_: User
) -> None:
    chat_id = await new_chat(server_url, owner_)
    intruder = await sockets(stranger_)
    owner_socket = await sockets(owner_)
    await owner_socket.client.call("join_chat", {"chat_id": chat_id}, timeout=5)

    refused = await intruder.client.call("join_chat", {"chat_id": chat_id}, timeout=5)
    sent = await intruder.client.call(
        "message", {"chat_id": chat_id, "message": {"role": "user", "content": "x"}}, timeout=5
    )
    await owner_socket.client.call(
        "message",
        {"chat_id": chat_id, "message": {"role": "user", "content": "private"}},
        timeout=5,
    )
    await owner_socket.wait_for("message")
    await asyncio.sleep(0.3)

    assert refused == {"ok": False, "detail": "Chat not found.", "code": "chat_not_found"}
    assert sent["ok"] is False
    assert intruder.of("message") == []
    assert intruder.of("user_join") == []


@pytest.mark.parametrize(
    ("event", "data", "code"),
    [
        ("join_chat", {}, "invalid"),
        ("join_chat", "not-an-object", "invalid"),
        ("join_chat", {"chat_id": "x", "since": -1}, "invalid"),
        ("join_chat", {"chat_id": "x", "since": 2**70}, "invalid"),
        ("teleport", {}, "unknown_event"),
        (
            "message",
            {"chat_id": "nope", "message": {"role": "user", "content": "x"}},
            "chat_not_found",
        ),
    ],
)
async def test_bad_events_get_an_error_and_the_socket_lives(
    server_url: str, sockets: Any, owner_: User, event: str, data: Any, code: str
) -> None:
    socket = await sockets(owner_)

    ack = await socket.client.call(event, data, timeout=5)
    (error,) = await socket.wait_for("error")

    assert ack["ok"] is False
    assert ack["code"] == code
    assert error["code"] == code
    assert socket.client.connected


async def test_deeply_nested_socketio_payload_gets_an_error_and_the_socket_lives(
    server_url: str, sockets: Any, owner_: User
) -> None:
    socket = await sockets(owner_)
    deep: Any = "x"
    for _ in range(200):
        deep = [deep]

    await socket.client.emit("join_chat", {"chat_id": deep})
    (error,) = await socket.wait_for("error")
    ack = await socket.client.call("join_chat", {"chat_id": "nope"}, timeout=5)

    assert error["code"] == "json_too_deep"
    assert socket.client.connected
    assert ack["code"] == "chat_not_found"


async def test_invalid_message_follows_the_rest_rules(
    server_url: str, sockets: Any, owner_: User
) -> None:
    chat_id = await new_chat(server_url, owner_)
    socket = await sockets(owner_)

    ack = await socket.client.call(
        "message", {"chat_id": chat_id, "message": {"role": "wizard", "content": "x"}}, timeout=5
    )

    assert ack["ok"] is False
    assert ack["code"] == "invalid"
    assert "role" in ack["fields"]


async def test_user_join_and_leave_reach_the_room(
    server_url: str, sockets: Any, owner_: User
) -> None:
    chat_id = await new_chat(server_url, owner_)
    first = await sockets(owner_)
    await first.client.call("join_chat", {"chat_id": chat_id}, timeout=5)
    second = await sockets(owner_)

    await second.client.call("join_chat", {"chat_id": chat_id}, timeout=5)
    joins = await first.wait_for("user_join", 2)
    await second.client.disconnect()
    (left,) = await first.wait_for("user_leave")

    assert joins[-1]["user_id"] == str(owner_.pk)
    assert joins[-1]["chat_id"] == chat_id
    assert left["user_id"] == str(owner_.pk)


async def test_reconnecting_client_catches_up_in_order(
    server_url: str, sockets: Any, owner_: User
) -> None:
    chat_id = await new_chat(server_url, owner_)
    socket = await sockets(owner_)
    joined = await socket.client.call("join_chat", {"chat_id": chat_id}, timeout=5)
    await socket.client.disconnect()
    async with rest(server_url, owner_) as client:
        for n in range(3):
            await client.post(
                f"/api/chats/{chat_id}/messages", json={"role": "user", "content": f"missed {n}"}
            )

    again = await sockets(owner_)
    await again.client.call("join_chat", {"chat_id": chat_id, "since": joined["seq"]}, timeout=5)
    await again.client.call(
        "message", {"chat_id": chat_id, "message": {"role": "user", "content": "live"}}, timeout=5
    )
    messages = await again.wait_for("message", 4)

    assert [m["message"]["content"] for m in messages] == [
        "missed 0",
        "missed 1",
        "missed 2",
        "live",
    ]
    seqs = [m["seq"] for m in messages]
    assert seqs == sorted(seqs)


async def test_a_flood_is_answered_with_an_error_then_a_disconnect(
    server_url: str, sockets: Any, owner_: User
) -> None:
    socket = await sockets(owner_)

    for _ in range(80):
        if not socket.client.connected:
            break
        await socket.client.emit("leave_chat", {"chat_id": "x"})
    await asyncio.sleep(1)

    assert "rate_limited" in [e["code"] for e in socket.of("error")]
    assert not socket.client.connected


# --- plain websockets --------------------------------------------------------------------------


def ws_url(server_url: str, token: str | None = None) -> str:
    url = server_url.replace("http://", "ws://") + "/ws/"
    return f"{url}?token={token}" if token else url


async def next_frame(ws: Any, kind: str, timeout: float = 5) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["type"] == kind:
            return frame


async def test_plain_websocket_gets_the_same_events(server_url: str, owner_: User) -> None:
    chat_id = await new_chat(server_url, owner_)
    async with websockets.connect(ws_url(server_url, token_for(owner_))) as ws:
        await next_frame(ws, "authenticated")
        await ws.send(json.dumps({"type": "join_chat", "data": {"chat_id": chat_id}, "ack": 1}))
        joined = await next_frame(ws, "ack")
        await ws.send(
            json.dumps(
                {
                    "type": "message",
                    "data": {"chat_id": chat_id, "message": {"role": "user", "content": "hi"}},
                }
            )
        )
        event = await next_frame(ws, "message")

    assert joined["ack"] == 1
    assert joined["data"]["ok"] is True
    assert isinstance(joined["data"]["seq"], int)
    assert event["data"]["message"]["content"] == "hi"


async def test_plain_websocket_can_authenticate_with_a_first_frame(
    server_url: str, owner_: User
) -> None:
    async with websockets.connect(ws_url(server_url)) as ws:
        await ws.send(json.dumps({"type": "auth", "data": {"token": token_for(owner_)}}))
        frame = await next_frame(ws, "authenticated")

    assert frame["data"]["user_id"] == str(owner_.pk)


async def test_plain_websocket_bad_frames(server_url: str, owner_: User) -> None:
    async with websockets.connect(ws_url(server_url, token_for(owner_))) as ws:
        await next_frame(ws, "authenticated")
        await ws.send("this is not json")
        not_json = await next_frame(ws, "error")
        await ws.send(json.dumps([1, 2]))
        not_object = await next_frame(ws, "error")
        await ws.send(json.dumps({"type": "nope", "data": {}}))
        unknown = await next_frame(ws, "error")
        await ws.send(json.dumps({"type": "join_chat", "data": {"chat_id": "x"}, "ack": "a"}))
        still_alive = await next_frame(ws, "ack")

    assert not_json["data"]["code"] == "parse_error"
    assert not_object["data"]["code"] == "invalid"
    assert unknown["data"]["code"] == "unknown_event"
    assert still_alive["data"]["code"] == "chat_not_found"


async def test_plain_websocket_deeply_nested_frame_is_an_error_frame(
    server_url: str, owner_: User
) -> None:
    """Not a RecursionError that closes the socket with 1011: an error frame, and the
    socket keeps working."""
    async with websockets.connect(ws_url(server_url, token_for(owner_))) as ws:
        await next_frame(ws, "authenticated")
        await ws.send("[" * 5000 + "]" * 5000)
        too_deep = await next_frame(ws, "error")
        await ws.send(json.dumps({"type": "join_chat", "data": {"chat_id": "x"}, "ack": 1}))
        still_alive = await next_frame(ws, "ack")

    assert too_deep["data"]["code"] == "json_too_deep"
    assert still_alive["data"]["code"] == "chat_not_found"


async def test_plain_websocket_events_before_auth_close_it(server_url: str) -> None:
    async with websockets.connect(ws_url(server_url)) as ws:
        await ws.send(json.dumps({"type": "join_chat", "data": {"chat_id": "x"}}))
        error = await next_frame(ws, "error")
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)

    assert error["data"]["code"] == "not_authenticated"


async def test_plain_websocket_bad_token_is_refused(server_url: str) -> None:
    async with websockets.connect(ws_url(server_url, "bad")) as ws:
        error = await next_frame(ws, "error")
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)

    assert error["data"]["code"] == "token_not_valid"


async def test_plain_websocket_huge_frame_closes_it(server_url: str, owner_: User) -> None:
    async with websockets.connect(ws_url(server_url, token_for(owner_)), max_size=None) as ws:
        await next_frame(ws, "authenticated")
        await ws.send("x" * (3 * 1024 * 1024))
        error = await next_frame(ws, "error")
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)

    assert error["data"]["code"] == "frame_too_large"


async def test_websocket_from_a_foreign_origin_is_refused(server_url: str, owner_: User) -> None:
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(
            ws_url(server_url, token_for(owner_)), origin="http://evil.example"
        ):
            pass
