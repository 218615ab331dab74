"""The one way any app pushes an event to sockets: ``publish(room, event, data)``.

Rooms are names such as ``chat:<id>`` or ``user:<id>``. An event goes to the channel-layer
group of its room once the surrounding database transaction commits, so no socket ever hears
of a row that could still roll back. The channel layer is in-process on the embedded default
and Redis otherwise, so an event reaches sockets held by any process.
"""

import hashlib
import logging
import re
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

# The message type consumers handle: a consumer's ``realtime_event`` method receives it.
MESSAGE_TYPE = "realtime.event"
_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")
_GROUP_MAX = 90  # channels allows < 100 characters


def chat_room(chat_id: object) -> str:
    return f"chat:{chat_id}"


def user_room(user_id: object) -> str:
    return f"user:{user_id}"


def room_group(room: str) -> str:
    """The channel-layer group name of a room (groups allow only [a-zA-Z0-9_.-], < 100 chars)."""
    safe = "room." + _UNSAFE.sub("_", room)
    if len(safe) > _GROUP_MAX or safe != "room." + room:
        # Distinct rooms must never share a group, so a rewritten name carries a hash of the room.
        digest = hashlib.sha256(room.encode()).hexdigest()[:16]
        safe = f"{safe[: _GROUP_MAX - 17]}.{digest}"
    return safe


def is_replayable(room: str) -> bool:
    """Chat rooms keep their events (with sequence numbers) for clients that reconnect."""
    return room.startswith("chat:")


def publish(room: str, event: str, data: dict[str, Any]) -> None:
    """Send ``event`` with ``data`` to everyone in ``room`` after the current transaction commits.

    In a chat room the event is also stored with the room's next sequence number (``seq`` in
    the message), in the same transaction: numbers are dense and commit in order, because the
    room's counter row stays locked until the transaction ends. Outside a transaction it is
    sent at once. A failure to reach the channel layer is logged, never raised: the write it
    reports has already happened.
    """
    seq = _store(room, event, data) if is_replayable(room) else None
    send_on_commit(room, event, data, seq)


def send_on_commit(room: str, event: str, data: dict[str, Any], seq: int | None) -> None:
    """The second half of ``publish``: send an event (stored as ``seq`` in a chat room) to the
    room's sockets once the transaction commits."""
    message: dict[str, Any] = {"type": MESSAGE_TYPE, "room": room, "event": event, "data": data}
    if seq is not None:
        message["seq"] = seq
    group = room_group(room)
    transaction.on_commit(lambda: _send(group, message))


def store_ctes(
    room: str, event: str, data: dict[str, Any], *, source: str = "", data_sql: str = "%s"
) -> tuple[str, list[Any]]:
    """On PostgreSQL, the first half of ``publish`` in a chat room as CTEs for another
    statement to carry: ``counter`` takes the room's next number (its row locked until the
    transaction ends) and ``stored`` inserts the event, returning ``seq``. The caller reads
    ``(SELECT seq FROM stored)`` and hands it to ``send_on_commit``.

    ``source`` names a CTE of the caller's holding one row or none: with none, nothing is
    counted or stored. ``data_sql`` is the event's data as an SQL expression over ``source``
    (``%s`` standing for ``data``), for a value only the statement knows."""
    from realtime.models import RoomEvent

    events = connection.ops.quote_name(RoomEvent._meta.db_table)
    fields = RoomEvent._meta
    sources = f"counter, {source}" if source else "counter"
    sql = (
        f"counter AS ({_counter_upsert(source)}), stored AS ("  # noqa: S608 - our tables
        f"INSERT INTO {events} (room, seq, event, data, created_at)"
        f" SELECT %s, counter.last_seq, %s, {data_sql}, %s FROM {sources} RETURNING seq)"
    )
    params = [
        room,
        room,
        event,
        fields.get_field("data").get_db_prep_save(data, connection),
        fields.get_field("created_at").get_db_prep_save(timezone.now(), connection),
    ]
    return sql, params


@transaction.atomic(savepoint=False)  # inside the caller's transaction: no savepoint of its own
def _store(room: str, event: str, data: dict[str, Any]) -> int:
    """Store the event under the room's next sequence number, which it returns. The counter's
    row stays locked until the transaction ends. On PostgreSQL that is one statement (the
    counter's upsert feeds the event's insert), elsewhere two or three."""
    from realtime.models import RoomEvent

    if connection.vendor == "postgresql":
        return _store_in_one_statement(room, event, data)
    seq = _next_seq(room)
    RoomEvent.objects.create(room=room, seq=seq, event=event, data=data)
    return seq


def _store_in_one_statement(room: str, event: str, data: dict[str, Any]) -> int:
    ctes, params = store_ctes(room, event, data)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {ctes} SELECT seq FROM stored", params)  # noqa: S608
        return int(cursor.fetchone()[0])


def _next_seq(room: str) -> int:
    """The room's next sequence number, its counter row locked until the transaction ends: one
    statement (an upsert) where the database can return what it wrote."""
    from realtime.models import RoomCounter

    if not connection.features.can_return_columns_from_insert:  # SQLite before 3.35
        counter, _ = RoomCounter.objects.select_for_update().get_or_create(room=room)
        counter.last_seq += 1
        counter.save(update_fields=["last_seq"])
        return counter.last_seq
    with connection.cursor() as cursor:
        cursor.execute(_counter_upsert(), [room])
        return int(cursor.fetchone()[0])


def _counter_upsert(source: str = "") -> str:
    """The room counter's upsert (one parameter: the room), returning the new ``last_seq``;
    with ``source`` (a table or CTE), only if that holds a row."""
    from realtime.models import RoomCounter

    table = connection.ops.quote_name(RoomCounter._meta.db_table)
    values = f"SELECT %s, 1 FROM {source}" if source else "VALUES (%s, 1)"  # noqa: S608 - ours
    return (
        f"INSERT INTO {table} (room, last_seq) {values}"
        f" ON CONFLICT (room) DO UPDATE SET last_seq = {table}.last_seq + 1"
        " RETURNING last_seq"
    )


def _send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        if getattr(layer, "can_send_blocking", lambda: False)():
            layer.group_send_blocking(group, message)  # no hop to the event loop and back
        else:
            async_to_sync(layer.group_send)(group, message)
    except Exception:
        logger.exception("could not publish %s to %s", message["event"], group)
