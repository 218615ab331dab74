"""Restarting Redis or PostgreSQL under a running cluster (private servers, never the shared)."""

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import socketio
from channels.db import database_sync_to_async

from deploy.launch import Launcher
from tests.deploy.conftest import PrivatePostgres, PrivateRedis
from tests.e2e.test_realtime import token_for
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


class Tab:
    """A Socket.IO client as a browser tab runs it: reconnects on its own and, once back,
    joins its chat again from the last event it saw."""

    def __init__(self, url: str, token: str, chat_id: str) -> None:
        self.url, self.token, self.chat_id = url, token, chat_id
        self.client = socketio.AsyncClient(
            reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1
        )
        self.seqs: list[int] = []
        self.contents: list[str] = []
        self.connects = 0
        self.hints = 0
        self.client.on("connect", self._on_connect)
        self.client.on("message", self._on_message)
        self.client.on("reconnect", self._on_hint)

    async def _on_connect(self) -> None:
        self.connects += 1
        since = self.seqs[-1] if self.seqs else None
        payload: dict[str, Any] = {"chat_id": self.chat_id}
        if since is not None:
            payload["since"] = since
        # Not awaited here: the client's event loop must go on to deliver the ack.
        self._join = asyncio.ensure_future(self.client.call("join_chat", payload, timeout=10))

    async def _on_message(self, data: dict[str, Any]) -> None:
        self.seqs.append(data["seq"])
        self.contents.append(data["message"]["content"])

    async def _on_hint(self, data: dict[str, Any]) -> None:
        self.hints += 1

    async def open(self) -> "Tab":
        await self.client.connect(
            self.url, auth={"token": self.token}, transports=["websocket"], wait_timeout=10
        )
        await self._join
        return self

    async def wait_for(self, contents: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.contents[: len(contents)] != contents or len(self.contents) < len(contents):
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.url} saw {self.contents}, not {contents}")
            await asyncio.sleep(0.05)


async def post(url: str, token: str, chat_id: str, content: str) -> int:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{url}/api/chats/{chat_id}/messages",
            json={"role": "user", "content": content},
            headers={"Authorization": f"Bearer {token}"},
        )
    return response.status_code


async def test_clients_reconnect_after_a_redis_restart_and_miss_no_saved_message(
    make_cluster: Callable[..., Launcher], private_redis: PrivateRedis
) -> None:
    # Fail open: this is about sockets and saved messages, not the request limit (which by
    # default refuses requests it cannot count: tests/deploy/test_rate_limit_restart.py).
    env = {"REDIS_URL": private_redis.url, "RATE_LIMIT_FAIL_OPEN": "true"}
    cluster = await asyncio.to_thread(make_cluster, env=env, web=2, workers=0, beat=False)
    first, second = cluster.urls
    user = await database_sync_to_async(UserFactory)(email="through-restart@example.com")
    token = token_for(user)
    async with httpx.AsyncClient(timeout=30) as client:
        chat = await client.post(
            f"{first}/api/chats/new",
            json={"chat": {"title": "restart"}},
            headers={"Authorization": f"Bearer {token}"},
        )
    chat_id = chat.json()["id"]
    tabs = [await Tab(url, token, chat_id).open() for url in (first, second)]
    try:
        assert await post(first, token, chat_id, "before") == 201
        for tab in tabs:
            await tab.wait_for(["before"], 10)

        await asyncio.to_thread(private_redis.stop)
        during = await post(second, token, chat_id, "during")  # saved; nobody hears it now
        await asyncio.to_thread(private_redis.start)
        await asyncio.sleep(0.5)
        after = await post(first, token, chat_id, "after")
        expected = ["before", "during", "after"]
        for tab in tabs:
            await tab.wait_for(expected, 30)
    finally:
        for tab in tabs:
            await tab.client.disconnect()

    assert (during, after) == (201, 201)
    for tab in tabs:
        assert tab.connects >= 2  # it reconnected
        assert tab.contents == expected  # each message once, in order
        assert tab.seqs == sorted(set(tab.seqs))


def test_a_postgresql_restart_gives_503s_then_normal_answers(
    make_cluster: Callable[..., Launcher], private_postgres: PrivatePostgres
) -> None:
    cluster = make_cluster(
        env={"DATABASE_URL": private_postgres.url, "DB_POOL_TIMEOUT": "1"},
        web=2,
        workers=0,
        beat=False,
        migrate=True,
    )
    first, second = cluster.urls
    signup = httpx.post(
        f"{first}/api/auths/signup",
        json={"name": "Pat", "email": "pat@example.com", "password": PASSWORD},
        timeout=30,
    )
    assert signup.status_code == 200, signup.text
    headers = {"Authorization": f"Bearer {signup.json()['token']}"}

    def chats(url: str) -> httpx.Response:
        # Not /api/auths/: the verified user is kept a few seconds (users/auth_cache.py), so
        # "who am I" can be answered without the database.
        return httpx.get(f"{url}/api/chats/", headers=headers, timeout=30)

    assert [chats(url).status_code for url in (first, second)] == [200, 200]

    private_postgres.stop()
    down = [chats(url) for url in (first, second, first, second)]
    health = httpx.get(f"{first}/health", timeout=30)
    private_postgres.start()
    deadline = time.monotonic() + 30
    while chats(first).status_code != 200 or chats(second).status_code != 200:
        assert time.monotonic() < deadline, "the cluster did not recover"
        time.sleep(0.2)
    back = [chats(url) for url in (first, second) * 5]

    assert [r.status_code for r in down] == [503] * 4
    assert all(r.json()["code"] == "database_unavailable" for r in down)
    assert all(r.headers["Retry-After"] for r in down)
    assert health.status_code == 503
    assert health.json()["checks"]["database"].startswith("failed")
    assert [r.status_code for r in back] == [200] * 10
    assert back[0].json() == []  # a new account has no chats
