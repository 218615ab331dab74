"""Socket.IO at ``/socket.io/`` (both transports), authenticated with ``auth: {token}``."""

import json
import logging
from typing import Any

import socketio
from channels.db import database_sync_to_async
from django.conf import settings
from socketio import packet

from realtime.sessions import FloodError, Session, TooManyConnections, error_payload
from users.authentication import socket_credential
from webui_backend import jsondepth
from webui_backend.lifecycle import RECONNECT_HINT, on_drain

logger = logging.getLogger(__name__)


class _BoundedJson:
    """The ``json`` module as Socket.IO packets use it, with the nesting depth bounded."""

    loads = staticmethod(jsondepth.loads)
    dumps = staticmethod(json.dumps)


class _Packet(packet.Packet):
    json = _BoundedJson  # on this server's packets only, not the class every client shares


class _Server(socketio.AsyncServer):
    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        """A payload nested too deeply gets an ``error`` event (the connection stays); left
        to the library it would be a logged traceback and no answer."""
        try:
            await super()._handle_eio_message(eio_sid, data)
        except jsondepth.JsonTooDeep as exc:
            sid = self.manager.sid_from_eio_sid(eio_sid, "/")
            if sid is not None:
                await self.emit("error", error_payload(exc), to=sid)


sio = _Server(
    serializer=_Packet,
    async_mode="asgi",
    cors_allowed_origins=settings.ALLOWED_ORIGINS or None,  # None: same origin only
    max_http_buffer_size=settings.REALTIME_MAX_FRAME_BYTES,
    ping_interval=settings.REALTIME_PING_INTERVAL,
    ping_timeout=settings.REALTIME_PING_TIMEOUT,
)
sessions: dict[str, Session] = {}  # sid -> session, for the connections this process holds


@sio.event
async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
    token = auth.get("token") if isinstance(auth, dict) else None
    try:
        credential = await database_sync_to_async(socket_credential)(token)
    except Exception as exc:
        raise socketio.exceptions.ConnectionRefusedError(error_payload(exc)) from None

    async def send(event: str, data: dict[str, Any]) -> None:
        await sio.emit(event, data, to=sid)

    async def close() -> None:
        await sio.disconnect(sid)

    async def reconnect() -> None:
        await sio.emit("reconnect", RECONNECT_HINT, to=sid)
        # Drop the transport without a word: a Socket.IO disconnect, or engine.io's close
        # packet, is taken as final by clients, a lost transport makes them all reconnect.
        try:
            socket = sio.eio._get_socket(sio.manager.eio_sid_from_sid(sid, "/"))
        except KeyError:
            return  # gone already
        await socket.close(wait=False, abort=True)  # runs our disconnect handler
        await socket.queue.put(None)  # ends the transport's writer, which closes it

    session = Session(credential, send=send, close=close, reconnect=reconnect)
    try:
        await session.start()
    except TooManyConnections:
        raise socketio.exceptions.ConnectionRefusedError(
            {
                "detail": "Too many open connections for this account.",
                "code": "too_many_connections",
            }
        ) from None
    sessions[sid] = session


async def _sessions_release() -> None:
    """On a graceful shutdown: release what sessions still open here hold (polling clients,
    whose long polls were ended; websocket clients were told to reconnect and went)."""
    for sid in list(sessions):
        session = sessions.pop(sid, None)
        if session is not None:
            await session.stop()


on_drain(_sessions_release)


@sio.event
async def disconnect(sid: str, *args: Any) -> None:
    session = sessions.pop(sid, None)
    if session is not None:
        await session.stop()


@sio.on("*")
async def any_event(event: str, sid: str, data: Any = None) -> dict[str, Any]:
    """Every client event: the acknowledgement is the result, or ``{ok: false, detail, code}``."""
    session = sessions.get(sid)
    if session is None:
        return {"ok": False, "detail": "Not connected.", "code": "not_authenticated"}
    try:
        return await session.handle(event, data)
    except Exception as exc:
        payload = error_payload(exc)
        await sio.emit("error", payload, to=sid)
        if isinstance(exc, FloodError):
            await sio.disconnect(sid)
        return {"ok": False, **payload}
