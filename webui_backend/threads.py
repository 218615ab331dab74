"""Django's ASGI handler, with the request threads kept and reused instead of made for each,
and a sync view's request taken to its thread once (``ASGIHandler``'s doc).

Django runs every HTTP request inside ``asgiref``'s ``ThreadSensitiveContext``: the request's
sync code (a DRF view, the ORM, the signals) runs on one thread of its own. asgiref makes a
new single-thread executor for each context and, when the request ends, starts a second
thread just to join the first: two threads started and stopped per request, a handful of
event-loop wake-ups, and every database connection Django keeps per thread opened afresh.

``ASGIHandler`` below gives each request's context an executor taken from a free list and
puts it back afterwards, so a request still has one thread to itself for as long as it runs
(thread-sensitive code behaves exactly as before), but the threads — and the SQLite
connections Django keeps in them (``CONN_MAX_AGE``, see settings) — live on. The list holds
at most as many idle executors as requests ever ran at once, capped at ``MAX_IDLE``.

A task a request started that outlives it and then asks for thread-sensitive code gets a new
executor, as with asgiref's own context (the pooled one is back in the list by then).
"""

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.handlers import asgi, base
from django.db import close_old_connections, reset_queries
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import Resolver404, ResolverMatch, get_resolver, get_urlconf

MAX_IDLE = 128


class _ExecutorPool:
    def __init__(self) -> None:
        self._idle: list[ThreadPoolExecutor] = []
        self._lock = threading.Lock()

    def take(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._idle:
                return self._idle.pop()  # the most recently used: its thread is warm
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def give_back(self, executor: ThreadPoolExecutor) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append(executor)
                return
        executor.shutdown(wait=False)

    def idle(self) -> int:
        return len(self._idle)


executors = _ExecutorPool()


class PooledThreadSensitiveContext(ThreadSensitiveContext):
    """asgiref's context, with its executor lent from ``executors`` (see the module's doc)."""

    _lent: ThreadPoolExecutor | None = None

    async def __aenter__(self) -> "PooledThreadSensitiveContext":
        await super().__aenter__()
        if self.token is not None:  # this context is the outermost one: it picks the thread
            self._lent = executors.take()
            SyncToAsync.context_to_thread_executor[self] = self._lent
        return self

    async def __aexit__(self, exc: object, value: object, tb: object) -> None:
        lent, self._lent = self._lent, None
        if lent is not None and SyncToAsync.context_to_thread_executor.get(self) is lent:
            # Out of asgiref's hands before it shuts the executor down: back to the list.
            del SyncToAsync.context_to_thread_executor[self]
            executors.give_back(lent)
        await super().__aexit__(exc, value, tb)


T = TypeVar("T")


class Admission:
    """At most ``REQUEST_SLOTS`` sync requests run in their threads at once; the others wait
    their turn on the event loop. One that runs longer than ``REQUEST_SLOT_PATIENCE`` (it is
    waiting on something: an upstream, a sandboxed function, a lock) gives its place up and
    goes on outside the count, so slow requests never hold the quick ones back for longer.

    Python runs one thread at a time: 32 requests in 32 threads take turns on the interpreter
    lock every few milliseconds, and a request then cost up to twice the CPU it costs alone
    (bench/README.md, vs_openwebui.py at concurrency 32).
    """

    def __init__(self) -> None:
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _semaphore(self) -> asyncio.Semaphore | None:
        if not settings.REQUEST_SLOTS:
            return None
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            self._slots, self._loop = asyncio.Semaphore(settings.REQUEST_SLOTS), loop
        return self._slots

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        slots = self._semaphore()
        if slots is None:
            return await work
        try:
            await slots.acquire()
        except BaseException:
            work.close()
            raise
        task = asyncio.ensure_future(work)
        try:
            await asyncio.wait({task}, timeout=settings.REQUEST_SLOT_PATIENCE)
        except BaseException:
            task.cancel()
            raise
        finally:
            slots.release()
        return await task


admission = Admission()


class ASGIHandler(asgi.ASGIHandler):
    """Django's, with pooled request threads (above), and a sync view's request run through
    Django's sync middleware chain in one hop to its thread.

    Django's async path takes a sync view's request to its thread to send ``request_started``
    (whose receivers check the thread's database connections), and back; to it for the view,
    and back; to it again to render DRF's response, and back (and again to log an error
    response). Each round trip costs about 0.17 ms of CPU. Here the signal's receivers, the
    middlewares, the view and the rendering run together in the thread, as under WSGI: one
    round trip, and one more for ``response.close()`` after the body is sent. An async view
    (completions) keeps Django's async path and its middleware chain.

    Django's two receivers of ``request_started`` are therefore called by the handler itself,
    in the request's thread; a receiver connected by anyone else is sent the signal as before.
    """

    def __init__(self) -> None:
        super().__init__()
        self._in_thread = ResolvedOnceHandler()
        self._in_thread.load_middleware(is_async=False)
        for receiver in DJANGO_REQUEST_STARTED:
            signals.request_started.disconnect(receiver)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        if view_is_async(request):
            await sync_to_async(request_started_in_thread, thread_sensitive=True)()
            return await super().get_response_async(request)
        respond = sync_to_async(self._respond_in_thread, thread_sensitive=True)
        return await admission.run(respond(request))

    def _respond_in_thread(self, request: HttpRequest) -> HttpResponseBase:
        request_started_in_thread()
        return self._in_thread.get_response(request)

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        return resolved_once(request) or super().resolve_request(request)

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        async with PooledThreadSensitiveContext():
            await self.handle(scope, receive, send)


def view_is_async(request: HttpRequest) -> bool:
    """Whether the URL's view is a coroutine function (no view: the sync path answers 404).

    The match is kept on the request (``request.resolver_match``, where Django puts it), and
    either chain takes it from there (``resolved_once``) instead of resolving the URL again.
    """
    try:
        request.resolver_match = get_resolver(get_urlconf()).resolve(request.path_info)
    except Resolver404:
        return False
    return iscoroutinefunction(request.resolver_match.func)


def resolved_once(request: HttpRequest) -> ResolverMatch | None:
    """The match ``view_is_async`` found, unless a middleware gave the request a urlconf."""
    if hasattr(request, "urlconf"):
        return None
    return request.resolver_match


class ResolvedOnceHandler(base.BaseHandler):
    """Django's sync handler, taking the URL's match from ``view_is_async``."""

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        return resolved_once(request) or super().resolve_request(request)


DJANGO_REQUEST_STARTED = (reset_queries, close_old_connections)


def request_started_in_thread() -> None:
    for receiver in DJANGO_REQUEST_STARTED:
        receiver()
