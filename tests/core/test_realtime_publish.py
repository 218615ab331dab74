"""``publish`` reaches the room's channel-layer group, and only after the commit."""

import asyncio
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from realtime.events import publish, room_group

pytestmark = pytest.mark.django_db(transaction=True)


async def _listen(group: str) -> str:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return channel


async def _receive(channel: str, timeout: float) -> dict[str, Any] | None:
    try:
        return await asyncio.wait_for(get_channel_layer().receive(channel), timeout)
    except TimeoutError:
        return None


def test_published_event_arrives_after_commit() -> None:
    channel = async_to_sync(_listen)(room_group("chat:abc"))

    with transaction.atomic():
        publish("chat:abc", "message", {"content": "hi"})

    message = async_to_sync(_receive)(channel, 5)
    assert message == {
        "type": "realtime.event",
        "room": "chat:abc",
        "event": "message",
        "data": {"content": "hi"},
        "seq": 1,
    }


def test_event_of_a_rolled_back_transaction_is_never_sent() -> None:
    channel = async_to_sync(_listen)(room_group("chat:rolled-back"))

    def write_then_fail() -> None:
        with transaction.atomic():
            publish("chat:rolled-back", "message", {"content": "never"})
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        write_then_fail()

    assert async_to_sync(_receive)(channel, 0.5) is None


def test_rooms_map_to_distinct_valid_group_names() -> None:
    rooms = ["chat:1", "chat_1", "user:" + "x" * 200, "user:" + "x" * 201, "chat.1"]

    groups = [room_group(room) for room in rooms]

    assert len(set(groups)) == len(rooms)
    for group in groups:
        assert len(group) < 100
        assert all(c.isalnum() or c in "_.-" for c in group)


def test_chat_events_get_dense_sequence_numbers_and_are_kept() -> None:
    from realtime.models import RoomEvent

    def write_then_fail() -> None:
        with transaction.atomic():
            publish("chat:numbered", "message", {"n": "lost"})
            raise RuntimeError("roll back")

    publish("chat:numbered", "message", {"n": 1})
    with pytest.raises(RuntimeError):
        write_then_fail()
    publish("chat:numbered", "message", {"n": 2})
    publish("user:someone", "notice", {"n": 3})

    kept = list(RoomEvent.objects.values_list("room", "seq", "data"))
    assert kept == [("chat:numbered", 1, {"n": 1}), ("chat:numbered", 2, {"n": 2})]
