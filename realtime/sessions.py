"""One socket connection, whatever its transport (Socket.IO or plain websocket).

A session owns a channel-layer channel. Joining a room adds that channel to the room's group,
so ``events.publish`` reaches the socket from any process (Redis) or this one (in-memory). A
single task per session forwards what arrives on the channel to the socket. Chat events carry
their room's sequence number: the session remembers the last one it delivered per room and
fills any gap from the stored events, so a client sees every event once, in order, including
the ones it missed while disconnected (``join_chat {chat_id, since}``).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import DatabaseSyncToAsync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions as drf_exceptions

from realtime.events import chat_room, is_replayable, publish, room_group, user_room
from realtime.watch import session_opened
from users.authentication import SocketCredential
from users.models import User
from webui_backend.metrics import OPEN_SOCKETS

logger = logging.getLogger(__name__)

Send = Callable[[str, dict[str, Any]], Awaitable[None]]


def db(function: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """Run a database function in a worker thread, in parallel with the other sessions' calls.

    (channels' ``database_sync_to_async`` is thread-sensitive: every socket's database work
    would queue on one thread per process.) Connections are closed after each call.
    """
    return DatabaseSyncToAsync(function, thread_sensitive=False)


Close = Callable[[], Awaitable[None]]


class SocketError(Exception):
    """An error answered to the client as ``{detail, code}``; the connection stays open."""

    def __init__(self, detail: str, code: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code

    def payload(self) -> dict[str, str]:
        return {"detail": self.detail, "code": self.code}


class TooManyConnections(Exception):
    pass


def error_payload(exc: Exception) -> dict[str, Any]:
    """The one error shape, for an exception raised while handling a client event."""
    if isinstance(exc, SocketError):
        return exc.payload()
    if isinstance(exc, drf_exceptions.ValidationError):
        from webui_backend.errors import _validation_body

        return _validation_body(exc)
    if isinstance(exc, drf_exceptions.APIException):
        from webui_backend.errors import _code_of, _sentence_of

        return {"detail": _sentence_of(exc), "code": _code_of(exc)}
    logger.exception("socket event failed")
    return {"detail": "An internal error occurred.", "code": "server_error"}


class RateBucket:
    """A token bucket: ``rate`` events a second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def _connections_key(user_id: Any) -> str:
    return f"rt:conns:{user_id}"


class Session:
    def __init__(
        self,
        credential: SocketCredential,
        *,
        send: Send,
        close: Close,
        reconnect: Close | None = None,
    ) -> None:
        self.credential = credential
        self.user = credential.user
        self._send = send
        self._close = close
        self._reconnect = reconnect or close  # close so that the client's library reconnects
        self.channel = ""
        self.rooms: dict[str, int] = {}  # room -> last sequence number delivered
        self._lock = asyncio.Lock()
        self._forwarder: asyncio.Task | None = None
        self._bucket = RateBucket(
            settings.REALTIME_EVENTS_PER_SECOND, settings.REALTIME_EVENT_BURST
        )
        self._counted = False
        self._open = False
        self.closed = False

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Count the connection against the user's limit and start receiving their events."""
        key = _connections_key(self.user.pk)
        count = await db(_incr)(key)
        self._counted = True
        if count > settings.REALTIME_MAX_CONNECTIONS_PER_USER:
            await self.stop()
            raise TooManyConnections()
        layer = get_channel_layer()
        self.channel = await layer.new_channel()
        await layer.group_add(room_group(user_room(self.user.pk)), self.channel)
        self._forwarder = asyncio.create_task(self._forward())
        OPEN_SOCKETS.inc()
        self._open = True
        session_opened(self)

    async def reconnect(self) -> None:
        """Ask the client to connect again (this process lost its rooms: Redis restarted)."""
        if not self.closed:
            await self._reconnect()

    async def stop(self) -> None:
        """Leave every room (telling its members), stop forwarding, release the slot.

        Each step runs even if an earlier one failed (Redis busy, say): a session that never
        released its slot would count against the user's connection limit for an hour.
        """
        if self.closed:
            return
        self.closed = True
        if self._open:
            OPEN_SOCKETS.dec()
        if self._forwarder is not None:
            self._forwarder.cancel()
        steps = [self._leave(room) for room in list(self.rooms)]
        if self.channel:
            group = room_group(user_room(self.user.pk))
            steps.append(get_channel_layer().group_discard(group, self.channel))
        if self._counted:
            steps.append(db(_decr)(_connections_key(self.user.pk)))
        for result in await asyncio.gather(*steps, return_exceptions=True):
            if isinstance(result, Exception):
                logger.warning("socket clean-up step failed: %r", result)

    # --- client events -----------------------------------------------------------------------

    async def handle(self, event: str, data: Any) -> dict[str, Any]:
        """Run one client event; returns the acknowledgement (``ok`` plus data, or an error)."""
        if not self._bucket.take():
            raise FloodError()
        handler = self.HANDLERS.get(event)
        if handler is None:
            raise SocketError(f"Unknown event {event!r}.", "unknown_event")
        if not isinstance(data, dict):
            raise SocketError("Event data must be an object.", "invalid")
        return await handler(self, data)

    async def join_chat(self, data: dict[str, Any]) -> dict[str, Any]:
        chat_id = _chat_id_of(data)
        since = data.get("since")
        if since is not None and (
            not isinstance(since, int) or isinstance(since, bool) or not 0 <= since < 2**62
        ):
            raise SocketError("since must be a non-negative integer.", "invalid")
        await db(own_chat)(chat_id=chat_id, user=self.user)
        room = chat_room(chat_id)
        async with self._lock:
            if room not in self.rooms:
                await get_channel_layer().group_add(room_group(room), self.channel)
                self.rooms[room] = await db(last_seq)(room)
            if since is not None:
                await self._catch_up(room, since)
        await db(_announce)(room, "user_join", self.user)
        return {"ok": True, "chat_id": chat_id, "seq": self.rooms[room]}

    async def leave_chat(self, data: dict[str, Any]) -> dict[str, Any]:
        room = chat_room(_chat_id_of(data))
        if room not in self.rooms:
            raise SocketError("You are not in this chat.", "not_joined")
        await self._leave(room)
        return {"ok": True}

    async def message(self, data: dict[str, Any]) -> dict[str, Any]:
        chat_id = _chat_id_of(data)
        message = data.get("message")
        if not isinstance(message, dict):
            raise SocketError("message must be an object with role and content.", "invalid")
        saved = await db(_append)(chat_id=chat_id, user=self.user, data=message)
        return {"ok": True, "id": saved}

    HANDLERS: dict[str, Callable[["Session", dict[str, Any]], Awaitable[dict[str, Any]]]] = {
        "join_chat": join_chat,
        "leave_chat": leave_chat,
        "message": message,
    }

    # --- delivery ----------------------------------------------------------------------------

    async def _forward(self) -> None:
        layer = get_channel_layer()
        while True:
            try:
                message = await layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Redis blinked: keep listening (watch.py reconnects sockets after a restart)
                # rather than leave an open socket that hears nothing.
                logger.exception("could not receive events for a socket; retrying")
                await asyncio.sleep(1)
                continue
            try:
                await self._deliver(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("could not deliver an event to a socket")

    async def _deliver(self, message: dict[str, Any]) -> None:
        room, event, data = message.get("room", ""), message.get("event", ""), message.get("data")
        if room == user_room(self.user.pk):
            await self._send(event, data)
            if event.startswith("account."):
                await self._recheck_account()
            return
        async with self._lock:
            if room not in self.rooms:
                return  # left meanwhile: nothing of a room is delivered after leaving it
            seq = message.get("seq")
            if seq is None or not is_replayable(room):
                await self._send(event, data)
                return
            if seq <= self.rooms[room]:
                return  # already delivered (by a catch-up)
            if seq > self.rooms[room] + 1:
                await self._catch_up(room, self.rooms[room], until=seq - 1)
            await self._send(event, {**data, "seq": seq})
            self.rooms[room] = seq

    async def _catch_up(self, room: str, since: int, until: int | None = None) -> None:
        """Send the stored events of ``room`` after ``since`` (up to ``until``), in order."""
        while True:
            missed = await db(events_after)(room, since, until)
            for seq, event, data in missed:
                await self._send(event, {**data, "seq": seq})
                self.rooms[room] = max(self.rooms[room], seq)
                since = seq
            if len(missed) < settings.REALTIME_REPLAY_MAX:
                return

    async def _leave(self, room: str) -> None:
        self.rooms.pop(room, None)
        await get_channel_layer().group_discard(room_group(room), self.channel)
        await db(_announce)(room, "user_leave", self.user)

    async def _recheck_account(self) -> None:
        """The account changed (role, deletion, password, a revoked key): a socket whose
        credential no longer admits its user closes."""
        if not await db(self.credential.still_valid)():
            await self._close()


class FloodError(SocketError):
    def __init__(self) -> None:
        super().__init__("Too many events; slow down. The connection will close.", "rate_limited")


# --- database work (run in a thread) -------------------------------------------------------------


def _chat_id_of(data: dict[str, Any]) -> str:
    chat_id = data.get("chat_id")
    if not isinstance(chat_id, str) or not chat_id or len(chat_id) > 64:
        raise SocketError("chat_id is required.", "invalid")
    return chat_id


def own_chat(*, chat_id: str, user: User) -> None:
    from chats.selectors import chat_get_for_user

    chat_get_for_user(chat_id=chat_id, user=user)  # raises ChatNotFound (404) for others


def _append(*, chat_id: str, user: User, data: dict[str, Any]) -> str:
    from chats.selectors import chat_get_for_user
    from chats.serializers import MessageInputSerializer
    from chats.services import message_append

    chat = chat_get_for_user(chat_id=chat_id, user=user)
    serializer = MessageInputSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    message, _ = message_append(chat, dict(serializer.validated_data))
    return message.message_id


def _announce(room: str, event: str, user: User) -> None:
    chat_id = room.removeprefix("chat:")
    publish(room, event, {"chat_id": chat_id, "user_id": str(user.pk), "name": user.name})


def last_seq(room: str) -> int:
    from realtime.models import RoomCounter

    counter = RoomCounter.objects.filter(room=room).first()
    return counter.last_seq if counter else 0


def events_after(room: str, since: int, until: int | None) -> list[tuple[int, str, dict]]:
    from realtime.models import RoomEvent

    events = RoomEvent.objects.filter(room=room, seq__gt=since).order_by("seq")
    if until is not None:
        events = events.filter(seq__lte=until)
    return list(events.values_list("seq", "event", "data")[: settings.REALTIME_REPLAY_MAX])


def _incr(key: str) -> int:
    cache.add(key, 0, timeout=3600)
    count = cache.incr(key)
    cache.touch(key, 3600)
    return count


def _decr(key: str) -> None:
    with contextlib.suppress(ValueError):  # expired meanwhile
        cache.decr(key)
