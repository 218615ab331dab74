"""Plain websocket clients at ``/ws/``: the Socket.IO events as JSON frames.

Frames in: ``{"type": "<event>", "data": {...}, "ack": <optional id>}``. Frames out: events as
``{"type": "<event>", "data": {...}}``, acknowledgements as ``{"type": "ack", "ack": <id>,
"data": {...}}`` and errors as ``{"type": "error", "data": {"detail": ..., "code": ...}}``.
Authenticate with ``?token=`` or a first frame ``{"type": "auth", "data": {"token": ...}}``.
"""

import asyncio
import json
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from realtime.sessions import FloodError, Session, TooManyConnections, error_payload
from users.authentication import socket_credential
from webui_backend import jsondepth
from webui_backend.lifecycle import RECONNECT_HINT, RESTART_CLOSE_CODE

AUTH_TIMEOUT = 10  # seconds a connection may stay open without authenticating


class EventsConsumer(AsyncWebsocketConsumer):
    session: Session | None = None
    auth_timer: asyncio.Task | None = None

    async def connect(self) -> None:
        await self.accept()
        token = parse_qs(self.scope.get("query_string", b"").decode()).get("token", [None])[0]
        if token:
            await self._authenticate(token)
        else:
            self.auth_timer = asyncio.create_task(self._close_unless_authenticated())

    async def disconnect(self, code: int) -> None:
        if self.auth_timer is not None:
            self.auth_timer.cancel()
        if self.session is not None:
            await self.session.stop()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raw = text_data if text_data is not None else bytes_data or b""
        if len(raw) > settings.REALTIME_MAX_FRAME_BYTES:
            await self._error({"detail": "The frame is too large.", "code": "frame_too_large"})
            await self.close(code=1009)
            return
        try:
            frame = jsondepth.loads(raw)
        except jsondepth.JsonTooDeep as exc:
            await self._error(error_payload(exc))
            return
        except (ValueError, UnicodeDecodeError):
            await self._error({"detail": "Frames must be JSON objects.", "code": "parse_error"})
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self._error(
                {"detail": 'Frames look like {"type": ..., "data": ...}.', "code": "invalid"}
            )
            return
        event, data, ack = frame["type"], frame.get("data", {}), frame.get("ack")
        if self.session is None:
            if event == "auth" and isinstance(data, dict):
                await self._authenticate(data.get("token"))
            else:
                await self._error({"detail": "Authenticate first.", "code": "not_authenticated"})
                await self.close(code=4401)
            return
        try:
            result = await self.session.handle(event, data)
        except FloodError as exc:
            await self._error(exc.payload())
            await self.close(code=4429)
            return
        except Exception as exc:
            result = {"ok": False, **error_payload(exc)}
            await self._error(error_payload(exc))
        if ack is not None:
            await self._frame("ack", result, ack=ack)

    async def _authenticate(self, token: Any) -> None:
        try:
            credential = await database_sync_to_async(socket_credential)(token)
        except Exception as exc:
            await self._error(error_payload(exc))
            await self.close(code=4401)
            return
        session = Session(credential, send=self._frame, close=self.close, reconnect=self._restart)
        try:
            await session.start()
        except TooManyConnections:
            detail = "Too many open connections for this account."
            await self._error({"detail": detail, "code": "too_many_connections"})
            await self.close(code=4429)
            return
        self.session = session
        if self.auth_timer is not None:
            self.auth_timer.cancel()
        await self._frame("authenticated", {"user_id": str(credential.user.pk)})

    async def _restart(self) -> None:
        await self._frame("reconnect", RECONNECT_HINT)
        await self.close(code=RESTART_CLOSE_CODE)

    async def _close_unless_authenticated(self) -> None:
        await asyncio.sleep(AUTH_TIMEOUT)
        if self.session is None:
            await self._error({"detail": "No token was sent in time.", "code": "not_authenticated"})
            await self.close(code=4401)

    async def _frame(self, event: str, data: Any, **extra: Any) -> None:
        await self.send(text_data=json.dumps({"type": event, "data": data, **extra}))

    async def _error(self, payload: dict[str, Any]) -> None:
        await self._frame("error", payload)
