"""Sockets outlive a Redis restart by reconnecting.

Group memberships live in Redis: after it restarts (or while it could not be reached) a socket
of this process would stay open but hear nothing. One task per process asks Redis for its
``run_id`` every ``WATCH_INTERVAL`` seconds; when the answer changes, or Redis answered again
after failing, every session of this process is told to reconnect (a ``reconnect`` event, then
a close the client's library answers by reconnecting). Reconnected clients join their chats with
``since`` and get what they missed from the stored events, so nothing saved meanwhile is lost.
"""

import asyncio
import logging
import weakref
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

WATCH_INTERVAL = 1.0
live: "weakref.WeakSet[Any]" = weakref.WeakSet()  # the sessions this process holds
_task: asyncio.Task[None] | None = None


def session_opened(session: Any) -> None:
    """Track ``session`` and make sure this process watches Redis (needs a running loop)."""
    global _task
    live.add(session)
    if not settings.REDIS_URL:
        return  # in-process layer: nothing to lose
    if _task is None or _task.done() or _task.get_loop() is not asyncio.get_running_loop():
        _task = asyncio.get_running_loop().create_task(_watch())


async def _watch() -> None:
    import redis.asyncio as redis

    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1, retry=None
    )
    known: str | None = None
    failed = False
    while True:  # the first look is at once: the sessions that started us saw Redis up
        try:
            run_id = str((await client.info("server"))["run_id"])
        except Exception as exc:
            if not failed:
                logger.warning("Redis does not answer (%s); sockets will reconnect", exc)
            failed = True
        else:
            if failed or (known is not None and run_id != known):
                logger.warning("Redis restarted or came back: %d sockets reconnect", len(live))
                await asyncio.gather(*(s.reconnect() for s in list(live)), return_exceptions=True)
            known, failed = run_id, False
        await asyncio.sleep(WATCH_INTERVAL)
