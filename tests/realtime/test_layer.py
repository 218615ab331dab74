"""The Redis channel layer's group send (realtime/layers.py), against real Redis."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from django.conf import settings

from realtime.layers import RedisChannelLayer

pytestmark = pytest.mark.skipif(
    not settings.REDIS_URL, reason="the Redis layer needs Redis (CI runs this with REDIS_URL set)"
)


def layer(**config: object) -> RedisChannelLayer:
    return RedisChannelLayer(
        hosts=[settings.REDIS_URL], prefix=f"test-layer-{uuid.uuid4().hex[:8]}", **config
    )


Send = Callable[[RedisChannelLayer, str, dict[str, Any]], Awaitable[None]]


async def send_async(redis_layer: RedisChannelLayer, group: str, message: dict) -> None:
    await redis_layer.group_send(group, message)


async def send_blocking(redis_layer: RedisChannelLayer, group: str, message: dict) -> None:
    """As a request's thread sends (realtime/events.py): from a thread with no event loop."""
    await asyncio.to_thread(redis_layer.group_send_blocking, group, message)


@pytest.fixture(params=[send_async, send_blocking], ids=["async", "blocking"])
def send(request: pytest.FixtureRequest) -> Send:
    return request.param


def test_the_layer_sends_blocking_on_plain_hosts_only() -> None:
    assert layer().can_send_blocking()
    sentinel = {"sentinels": [("127.0.0.1", 26379)], "master_name": "main"}
    assert not RedisChannelLayer(hosts=[sentinel]).can_send_blocking()


async def test_every_member_of_a_group_gets_the_message_and_others_none(send: Send) -> None:
    redis_layer = layer()
    first, second, outsider = [await redis_layer.new_channel() for _ in range(3)]
    await redis_layer.group_add("room.a", first)
    await redis_layer.group_add("room.a", second)
    await redis_layer.group_add("room.b", outsider)
    await send(redis_layer, "room.a", {"type": "realtime.event", "n": 1})
    assert await redis_layer.receive(first) == {"type": "realtime.event", "n": 1}
    assert await redis_layer.receive(second) == {"type": "realtime.event", "n": 1}
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await redis_layer.receive(outsider)
    await redis_layer.flush()


async def test_a_group_nobody_is_in_is_sent_to_without_error_or_trace(send: Send) -> None:
    redis_layer = layer()
    await send(redis_layer, "room.empty", {"type": "realtime.event"})
    connection = redis_layer.connection(0)
    assert await connection.keys(f"{redis_layer.prefix}*") == []
    await redis_layer.flush()


async def test_a_full_channel_drops_new_messages_and_expired_ones_make_room(send: Send) -> None:
    redis_layer = layer(capacity=2, expiry=2)
    channel = await redis_layer.new_channel()
    await redis_layer.group_add("room.full", channel)
    for n in range(3):
        await send(redis_layer, "room.full", {"type": "realtime.event", "n": n})
    assert [(await redis_layer.receive(channel))["n"] for _ in range(2)] == [0, 1]
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await redis_layer.receive(channel)

    # Full again, with one message that will be past the expiry when the next is sent (and a
    # newer one that keeps the channel's key alive): the expired one is dropped to make room.
    await send(redis_layer, "room.full", {"type": "realtime.event", "n": "old"})
    await asyncio.sleep(1.5)
    await send(redis_layer, "room.full", {"type": "realtime.event", "n": "newer"})
    await asyncio.sleep(1.7)
    await send(redis_layer, "room.full", {"type": "realtime.event", "n": "late"})
    assert [(await redis_layer.receive(channel))["n"] for _ in range(2)] == ["newer", "late"]
    await redis_layer.flush()
