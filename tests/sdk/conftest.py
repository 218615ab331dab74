"""The SDK against a real daphne (on the test database) and the stand-in upstream.

Tests run each call through the blocking and the async client alike: ``both.run(fn)`` calls
``fn(client)`` and awaits what it returns when the client is an async one (on one event loop
per test), so one test body proves both.
"""

import asyncio
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from webui_client import (
    AppClient,
    AsyncAppClient,
    AsyncChatClient,
    AsyncKnowledgeClient,
    ChatClient,
    KnowledgeClient,
)

from tests.e2e.conftest import start_server  # noqa: F401 - the session's server fixture
from tests.sdk.proxy import FlakyProxy
from tests.upstream import StandIn
from users.models import User
from users.services import api_key_create


@pytest.fixture(scope="session")
def upstream() -> Iterator[StandIn]:
    server = StandIn("openai").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sdk_server(start_server: Callable[..., str], upstream: StandIn) -> str:  # noqa: F811
    url = start_server(
        "daphne",
        OPENAI_API_BASE_URLS=upstream.url,
        OPENAI_API_KEYS="sk-upstream-secret-1234",
        UPSTREAM_TIMEOUT="5",
        MODELS_CACHE_TTL="0",
        COMPLETION_PUBLISH_INTERVAL_MS="1",
        RATE_LIMIT="100000/minute",
    )
    if settings.REDIS_URL:  # jobs go to the broker: a real worker processes uploads
        start_server.worker()  # type: ignore[attr-defined]
    return url


@pytest.fixture(scope="session")
def proxy_server(sdk_server: str) -> Iterator[FlakyProxy]:
    proxy = FlakyProxy(int(sdk_server.rsplit(":", 1)[1])).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def proxy(proxy_server: FlakyProxy) -> FlakyProxy:
    proxy_server.reset()
    return proxy_server


@pytest.fixture
def ann(transactional_db: None) -> User:
    return User.objects.create_user(email="ann@example.com", password="x", name="Ann")


@pytest.fixture
def admin(transactional_db: None) -> User:
    return User.objects.create_user(
        email="root@example.com", password="x", name="Root", role=User.Role.ADMIN
    )


def key_of(user: User, **fields: Any) -> str:
    """A new ``sk-`` key of ``user`` (through the service, as the API makes them)."""
    return api_key_create(user=user, name=fields.pop("name", "sdk"), **fields).api_key


@pytest.fixture
def ann_key(ann: User) -> str:
    return key_of(ann)


@pytest.fixture
def admin_key(admin: User) -> str:
    return key_of(admin)


class Both:
    """One test body for the blocking and the async clients."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.loop = asyncio.new_event_loop() if mode == "async" else None
        self._clients: list[Any] = []

    @property
    def is_async(self) -> bool:
        return self.mode == "async"

    def run(self, value: Any) -> Any:
        if inspect.isawaitable(value):
            assert self.loop is not None
            return self.loop.run_until_complete(value)
        return value

    def make(self, sync_cls: type, async_cls: type, **options: Any) -> Any:
        options.setdefault("retry_delay", 0.01)
        client = (async_cls if self.is_async else sync_cls)(**options)
        self._clients.append(client)
        return client

    def chat(self, **options: Any) -> Any:
        return self.make(ChatClient, AsyncChatClient, **options)

    def knowledge(self, **options: Any) -> Any:
        return self.make(KnowledgeClient, AsyncKnowledgeClient, **options)

    def app(self, **options: Any) -> Any:
        return self.make(AppClient, AsyncAppClient, **options)

    def iterate(self, stream: Any, limit: int | None = None) -> list[Any]:
        """The chunks of a stream (the first ``limit``, leaving the loop early)."""

        async def collect_async() -> list[Any]:
            out = []
            async for chunk in stream:
                out.append(chunk)
                if limit is not None and len(out) >= limit:
                    break
            return out

        if self.is_async:
            return self.run(collect_async())
        out = []
        for chunk in stream:
            out.append(chunk)
            if limit is not None and len(out) >= limit:
                break
        return out

    def close(self) -> None:
        for client in self._clients:
            self.run(client.aclose() if self.is_async else client.close())
        if self.loop is not None:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()


@pytest.fixture(params=["sync", "async"])
def both(request: pytest.FixtureRequest) -> Iterator[Both]:
    runner = Both(request.param)
    yield runner
    runner.close()
