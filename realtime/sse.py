"""``GET /api/chats/{chat_id}/events``: a chat's room as Server-Sent Events.

For clients that cannot hold a socket (and for resuming a completion stream): each event is
``id: <seq>``, ``event: <name>``, ``data: <json>`` with the chat's sequence numbers, the same
ones socket clients see. ``Last-Event-ID`` (or ``?since=``) replays what came after that
number, in order, before live events; without it the stream starts at the present.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from realtime.events import chat_room, room_group
from realtime.sessions import db, events_after, last_seq, own_chat
from users.authentication import request_authenticate
from users.permissions import IsApprovedUser
from webui_backend.errors import AppError, error_json_response
from webui_backend.metrics import OPEN_EVENT_STREAMS

KEEPALIVE_SECONDS = 15


class InvalidLastEventId(AppError):
    default_detail = "Last-Event-ID (or since) must be a non-negative integer."
    default_code = "invalid_last_event_id"


class ChatEventsView:
    """What the authentication classes look at: any key that may use the API."""

    api_key_scope = "all"


def _since(request: HttpRequest) -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.GET.get("since")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidLastEventId()
    return int(raw)


def sse_frame(seq: int, event: str, data: Any) -> bytes:
    return f"id: {seq}\nevent: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def chat_events(request: HttpRequest, chat_id: str) -> HttpResponse:
    try:
        drf = await sync_to_async(request_authenticate)(request, ChatEventsView(), IsApprovedUser())
        await db(own_chat)(chat_id=chat_id, user=drf.user)
        since = _since(request)
    except Exception as exc:
        return await sync_to_async(error_json_response)(request, exc)
    response = StreamingHttpResponse(
        _stream(chat_room(chat_id), since), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


async def _stream(room: str, since: int | None) -> AsyncIterator[bytes]:
    """Replay after ``since``, then live events; fills any gap from the store, never repeats."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(room_group(room), channel)  # before reading the store: nothing slips by
    OPEN_EVENT_STREAMS.inc()
    try:
        last = since if since is not None else await db(last_seq)(room)
        yield b"retry: 2000\n\n"
        async for frame, sent in _replay(room, last, None):
            yield frame
            last = sent
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            seq = message.get("seq")
            if not isinstance(seq, int) or seq <= last:
                continue
            if seq > last + 1:
                async for frame, sent in _replay(room, last, seq - 1):
                    yield frame
                    last = sent
            yield sse_frame(seq, message["event"], message["data"])
            last = seq
    finally:
        OPEN_EVENT_STREAMS.dec()
        await layer.group_discard(room_group(room), channel)


async def _replay(room: str, after: int, until: int | None) -> AsyncIterator[tuple[bytes, int]]:
    while True:
        batch = await db(events_after)(room, after, until)
        for seq, event, data in batch:
            after = seq
            yield sse_frame(seq, event, data), seq
        if len(batch) < settings.REALTIME_REPLAY_MAX:
            return
