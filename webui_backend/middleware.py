"""The first middleware: a request id for every request, its latency per route, one access line."""

import logging
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from webui_backend.metrics import observe_request, route_of
from webui_backend.observability import REQUEST_ID_HEADER, request_id_from, request_id_var

access_log = logging.getLogger("webui.access")


class RequestContextMiddleware:
    """Sets the request id (kept from a sane ``X-Request-ID``, else new) and returns it.

    Under ASGI every request runs in a task of its own, so the id set here stays with the
    request, its streamed body and whatever it starts, and vanishes with it.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        started, request_id = self._begin(request)
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
            return self._end(request, response, started, request_id)
        finally:
            request_id_var.reset(token)  # a WSGI thread serves the next request with it

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        started, request_id = self._begin(request)
        request_id_var.set(request_id)
        response = await self.get_response(request)  # type: ignore[misc]
        return self._end(request, response, started, request_id)

    @staticmethod
    def _begin(request: HttpRequest) -> tuple[float, str]:
        return time.perf_counter(), request_id_from(request.headers.get(REQUEST_ID_HEADER))

    @staticmethod
    def _end(
        request: HttpRequest, response: HttpResponseBase, started: float, request_id: str
    ) -> HttpResponseBase:
        response[REQUEST_ID_HEADER] = request_id
        elapsed = observe_request(request, response.status_code, started)
        if settings.ACCESS_LOG:
            access_log.info(
                "%s %s %s %.1fms",
                request.method,
                request.path,
                response.status_code,
                elapsed * 1000,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "route": route_of(request),
                    "status": response.status_code,
                    "duration_ms": round(elapsed * 1000, 2),
                    "request_id": request_id,
                },
            )
        return response
