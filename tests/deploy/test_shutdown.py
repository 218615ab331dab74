"""SIGTERM to a real web process (``python -m webui_backend.server``, daphne underneath)."""

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import socketio
import websockets
import websockets.sync.client as ws_client
from channels.db import database_sync_to_async

from chats.models import Message
from deploy.launch import Launcher
from llm.models import Generation
from tests.e2e.test_realtime import token_for
from tests.factories import UserFactory
from tests.upstream import StandIn

pytestmark = pytest.mark.django_db(transaction=True)


def stream_in_thread(url: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    """Run a streaming completion in a thread; ``result`` fills in as it goes."""
    result: dict[str, Any] = {"lines": [], "first": threading.Event(), "done": threading.Event()}

    def run() -> None:
        try:
            with (
                httpx.Client(timeout=30) as client,
                client.stream(
                    "POST",
                    f"{url}/api/chat/completions",
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                ) as response,
            ):
                result["status"] = response.status_code
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        result["lines"].append(line.removeprefix("data: "))
                        result["first"].set()
        except Exception as exc:
            result["error"] = exc
        finally:
            result["first"].set()
            result["done"].set()

    threading.Thread(target=run, daemon=True).start()
    return result


def tokens(result: dict[str, Any]) -> str:
    text = ""
    for line in result["lines"]:
        if line != "[DONE]":
            for choice in json.loads(line).get("choices", []):
                text += choice.get("delta", {}).get("content") or ""
    return text


def test_sigterm_lets_a_stream_finish_and_tells_sockets_to_reconnect(
    make_cluster: Callable[..., Launcher], upstream: StandIn
) -> None:
    cluster = make_cluster(
        env={"OPENAI_API_BASE_URLS": upstream.url, "SHUTDOWN_TIMEOUT": "15"},
        web=1,
        workers=0,
        beat=False,
    )
    (url,) = cluster.urls
    token = token_for(UserFactory(email="streamer@example.com"))
    socket = ws_client.connect(url.replace("http", "ws") + f"/ws/?token={token}", legacy=True)
    assert json.loads(socket.recv(timeout=5))["type"] == "authenticated"
    body = {
        "model": "mock",
        "stream": True,
        "messages": [{"role": "user", "content": "slowly"}],
        "mock_chunks": 20,
        "mock_delay": 0.1,
    }
    stream = stream_in_thread(url, token, body)
    assert stream["first"].wait(10)

    started = time.monotonic()
    cluster.signal("web-0", 15)  # SIGTERM
    hint = json.loads(socket.recv(timeout=5))
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        socket.recv(timeout=5)
    time.sleep(0.3)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=2)  # no longer listening
    assert stream["done"].wait(15)
    exit_code = cluster.wait("web-0", 20)
    time.sleep(0.5)  # the launcher's reader takes the last lines
    output = "\n".join(cluster.processes["web-0"].lines)

    assert hint == {"type": "reconnect", "data": hint["data"]}
    assert hint["data"]["reason"] == "server_restart"
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4012  # service restart: reconnect
    assert "error" not in stream, stream.get("error")
    assert tokens(stream) == "".join(f"tok{i} " for i in range(20))  # the whole answer
    assert stream["lines"][-1] == "[DONE]"
    assert exit_code == 0
    assert time.monotonic() - started < 15
    assert "drained in" in output
    assert "Unclosed" not in output  # the upstream connections were closed, not abandoned


def test_a_chat_reply_cut_by_the_shutdown_limit_is_saved_as_incomplete(
    make_cluster: Callable[..., Launcher], upstream: StandIn
) -> None:
    cluster = make_cluster(
        env={"OPENAI_API_BASE_URLS": upstream.url, "SHUTDOWN_TIMEOUT": "1"},
        web=1,
        workers=0,
        beat=False,
    )
    (url,) = cluster.urls
    user = UserFactory(email="long-answer@example.com")
    body = {
        "model": "mock",
        "stream": True,
        "chat_id": "long-one",
        "responseChatItemId": "cut-reply",
        "messages": [{"role": "user", "content": "a long story"}],
        "mock_chunks": 200,
        "mock_delay": 0.05,
    }
    stream = stream_in_thread(url, token_for(user), body)
    assert stream["first"].wait(10)

    cluster.signal("web-0", 15)
    assert stream["done"].wait(20)
    assert cluster.wait("web-0", 20) == 0

    error = json.loads(stream["lines"][-2])["error"]
    assert error["code"] == "server_restarting"
    assert stream["lines"][-1] == "[DONE]"
    reply = Message.objects.get(message_id="cut-reply")
    assert reply.usage["incomplete"] is True
    assert reply.text  # what came before the cut is kept
    assert reply.text == tokens(stream)
    assert Generation.objects.get(response_message_id="cut-reply").status == "incomplete"


async def test_sigterm_tells_socketio_clients_to_reconnect(
    make_cluster: Callable[..., Launcher],
) -> None:
    cluster = await asyncio.to_thread(make_cluster, web=1, workers=0, beat=False)
    (url,) = cluster.urls
    user = await database_sync_to_async(UserFactory)(email="sio-restart@example.com")
    client = socketio.AsyncClient(reconnection=True, reconnection_delay=5)
    hints: list[dict[str, Any]] = []
    reasons: list[str] = []
    client.on("reconnect", hints.append)
    client.on("disconnect", reasons.append)
    await client.connect(url, auth={"token": token_for(user)}, transports=["websocket"])
    try:
        cluster.signal("web-0", 15)
        deadline = time.monotonic() + 10
        while not reasons:
            assert time.monotonic() < deadline, "the client was never disconnected"
            await asyncio.sleep(0.05)
    finally:
        await client.shutdown()  # stop its reconnection attempts
    exit_code = await asyncio.to_thread(cluster.wait, "web-0", 20)

    assert [h["reason"] for h in hints] == ["server_restart"]
    # A lost transport, not a server-side disconnect: Socket.IO clients reconnect by themselves.
    assert reasons == [client.reason.TRANSPORT_ERROR]
    assert exit_code == 0
