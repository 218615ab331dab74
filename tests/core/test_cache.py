"""The Redis cache shares one connection pool per process (webui_backend/cache.py)."""

import asyncio
import contextvars

import pytest
import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

pytestmark = pytest.mark.skipif(
    not settings.REDIS_URL, reason="needs REDIS_URL (CI runs this on its PostgreSQL+Redis pass)"
)


def test_requests_in_contexts_of_their_own_share_the_redis_connections() -> None:
    """Under ASGI each request is a task with its own context, and Django gives each context
    a cache object of its own; with Django's backend each opened a new Redis connection."""
    watcher = redis.Redis.from_url(settings.REDIS_URL)
    opened = watcher.info("stats")["total_connections_received"]

    async def request(n: int) -> None:
        await sync_to_async(cache.set)(f"shared-pool-{n}", n)
        await sync_to_async(cache.get)(f"shared-pool-{n}")

    async def requests() -> None:
        for n in range(30):
            await asyncio.create_task(request(n))

    # A server's requests start from a context where the cache was never touched (the
    # test's own context has it already).
    contextvars.Context().run(asyncio.run, requests())
    new = watcher.info("stats")["total_connections_received"] - opened

    assert new <= 2  # this process's pool (and, at most, one more from another process)
