"""Websocket origin check: the browser's Origin must be this site or one of ALLOWED_ORIGINS."""

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings


class SameOriginOrAllowed:
    """ASGI middleware refusing websockets whose ``Origin`` is neither ours nor allowed.

    Clients that send no Origin (not browsers) pass: the token is their credential.
    """

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin-1")
        if origin and not self.allowed(origin, headers.get(b"host", b"").decode("latin-1")):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)

    @staticmethod
    def allowed(origin: str, host: str) -> bool:
        if origin in settings.ALLOWED_ORIGINS or "*" in settings.ALLOWED_ORIGINS:
            return True
        return urlsplit(origin).netloc.lower() == host.lower() and bool(host)
