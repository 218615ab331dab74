"""The first middleware (a request id for every request, its latency per route, one access
line), and the others without thread hops under ASGI."""

import logging
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as message_middleware
from django.contrib.sessions import middleware as session_middleware
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.middleware import clickjacking, common, csrf, security
from whitenoise.middleware import WhiteNoiseMiddleware

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


# --- Django's and WhiteNoise's middleware, without thread hops under ASGI ---------------------
#
# Under ASGI Django runs a ``MiddlewareMixin`` middleware's ``process_request`` and
# ``process_response`` in the request's thread (two hops off the event loop and back for
# each), and a sync-only middleware such as WhiteNoise's turns everything inside it sync. The
# chain of ten cost an async view (the completions) a dozen thread hops per request, and every
# sync view as many. The hooks of these middlewares only read and set headers and attributes,
# so they run on the event loop here; the few cases that can touch the database (saving a
# modified session, storing messages, a CSRF check that reads a form) still go to a thread.
# A sync view now costs one hop (Django's own, into the view) and an async view none.


class InlineHooksMixin:
    """``__acall__`` for a MiddlewareMixin whose hooks do no blocking I/O (see above)."""

    def hooks_need_thread(self, request: HttpRequest) -> bool:
        return False

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)  # type: ignore[attr-defined]
        if hasattr(self, "process_response"):
            if self.hooks_need_thread(request):
                return await sync_to_async(self.process_response, thread_sensitive=True)(
                    request, response
                )
            response = self.process_response(request, response)
        return response


class SecurityMiddleware(InlineHooksMixin, security.SecurityMiddleware):
    pass


class CommonMiddleware(InlineHooksMixin, common.CommonMiddleware):
    pass


class AuthenticationMiddleware(InlineHooksMixin, auth_middleware.AuthenticationMiddleware):
    """``request.user`` stays lazy: nothing is read until a view asks."""


class XFrameOptionsMiddleware(InlineHooksMixin, clickjacking.XFrameOptionsMiddleware):
    pass


class SessionMiddleware(InlineHooksMixin, session_middleware.SessionMiddleware):
    """The session is loaded lazily; only a modified one is saved, in a thread."""

    def hooks_need_thread(self, request: HttpRequest) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class MessageMiddleware(InlineHooksMixin, message_middleware.MessageMiddleware):
    """Messages that were read or added may be stored in the session: then in a thread."""

    def hooks_need_thread(self, request: HttpRequest) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and (storage.used or storage.added_new)


class CsrfViewMiddleware(InlineHooksMixin, csrf.CsrfViewMiddleware):
    """Exempt views (the API) are passed on the event loop; a real check (the admin's forms
    read the request body) runs in a thread."""

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        super().__init__(get_response)
        if settings.CSRF_USE_SESSIONS:  # the hooks would read the session
            raise ImproperlyConfigured("CSRF_USE_SESSIONS is not supported.")
        if self.async_mode:  # Django takes process_view as it is when it builds the chain
            self.process_view = self.process_view_async  # type: ignore[method-assign]

    async def process_view_async(
        self, request: HttpRequest, callback: Any, args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        if getattr(request, "csrf_processing_done", False) or getattr(
            callback, "csrf_exempt", False
        ):
            return None
        return await sync_to_async(super().process_view, thread_sensitive=True)(
            request, callback, args, kwargs
        )


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, async-capable: other paths pass through on the event loop."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any], **kwargs: Any) -> None:
        super().__init__(get_response, **kwargs)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        return super().__call__(request)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        if self.autorefresh:  # DEBUG: files are looked for on disk
            static_file = await sync_to_async(self.find_file)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(self.serve)(static_file, request)
        return await self.get_response(request)
