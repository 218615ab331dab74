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
from django.db import transaction

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


def publish(room: str, event: str, data: dict[str, Any]) -> None:
    """Send ``event`` with ``data`` to everyone in ``room`` after the current transaction commits.

    Outside a transaction it sends at once. A failure to reach the channel layer is logged,
    never raised: the write it reports has already happened.
    """
    message = {"type": MESSAGE_TYPE, "room": room, "event": event, "data": data}
    group = room_group(room)
    transaction.on_commit(lambda: _send(group, message))


def _send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:
        logger.exception("could not publish %s to %s", message["event"], group)
