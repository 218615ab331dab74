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


def test_a_chat_event_is_stored_in_one_statement_on_postgresql() -> None:
    """The counter's upsert and the event's insert are one statement there (two elsewhere),
    and what is kept is what was published, stamped now."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from realtime.models import RoomEvent

    before = timezone.now()
    data = {"text": 'naïve "quoted" \\ text', "nested": {"list": [1, 2.5, None, True]}}
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        publish("chat:one-statement", "message", data)
        publish("chat:one-statement", "message", {"n": 2})
    writes = [q for q in captured if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(writes) == (2 if connection.vendor == "postgresql" else 4), writes

    kept = list(RoomEvent.objects.filter(room="chat:one-statement").order_by("seq"))
    assert [(e.seq, e.event, e.data) for e in kept] == [
        (1, "message", data),
        (2, "message", {"n": 2}),
    ]
    assert before <= kept[0].created_at <= timezone.now()
