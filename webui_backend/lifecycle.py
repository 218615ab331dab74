"""Graceful shutdown, as an ASGI wrapper around the whole application.

daphne on SIGTERM stops its reactor at once: every running request, stream and socket is
cancelled mid-way. ``webui_backend.server`` runs daphne with its own signal handling, stops
listening, and calls ``drain()`` here, which

1. answers every new request (on connections still open, e.g. a proxy's keep-alive) with 503
   ``server_restarting`` and ``Connection: close``, ``/health`` included (readiness fails);
2. ends resumable streams at once: Socket.IO's long polls and chat event streams (SSE: the
   browser reconnects elsewhere with ``Last-Event-ID``);
3. closes every websocket with a reconnect hint: a ``reconnect`` event (``{"type": "reconnect"}``
   frame on ``/ws/``, a Socket.IO ``reconnect`` event on ``/socket.io/``), then close code 4012
   (service restart), which Socket.IO clients answer by reconnecting on their own;
4. lets running requests and completion streams finish until ``SHUTDOWN_TIMEOUT``; background
   work registered with ``track()`` (a chat's reply that outlives its request) too; what is
   still running then is cancelled, and a chat reply is saved as incomplete.
"""

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from webui_backend.metrics import DRAINING

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# "Service restart: reconnect, maybe elsewhere". RFC 6455's own code for it, 1012, is refused by
# daphne's websocket library (it lets servers send 1000 and 3000-4999 only), hence 4012.
RESTART_CLOSE_CODE = 4012
RETRY_AFTER_SECONDS = 1
# What a socket is told before this server closes it (also by realtime's own consumers).
RECONNECT_HINT = {
    "reason": "server_restart",
    "detail": "This server is restarting; reconnect.",
    "retry_after_ms": RETRY_AFTER_SECONDS * 1000,
}
_RESUMABLE = re.compile(r"^/(socket\.io/|api/chats/[^/]+/events$)")
_RESTARTING_BODY = json.dumps(
    {"detail": "The server is restarting; retry the request.", "code": "server_restarting"}
).encode()


class _State:
    def __init__(self) -> None:
        self.draining = False
        self.connections: set[_Connection] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.hooks: list[Callable[[], Awaitable[None]]] = []
        self.final_hooks: list[Callable[[], Awaitable[None]]] = []


state = _State()


def on_drain(hook: Callable[[], Awaitable[None]]) -> None:
    """Run ``hook`` once sockets were told to go (e.g. release what polling sessions hold)."""
    state.hooks.append(hook)


def on_drained(hook: Callable[[], Awaitable[None]]) -> None:
    """Run ``hook`` once everything has finished (e.g. close pooled client connections)."""
    state.final_hooks.append(hook)


async def _nothing() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def draining() -> bool:
    return state.draining


def track(task: "asyncio.Task[Any]") -> None:
    """Let a background task (a reply that outlives its request) finish before shutdown."""
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)


class _Connection:
    """One HTTP request or websocket the application serves, as drain() sees it."""

    __slots__ = ("abort", "done", "kind", "path", "queue", "scope", "send", "state")

    def __init__(self, scope: Scope, send: Send) -> None:
        self.scope = scope
        self.kind: str = scope["type"]
        self.path: str = scope.get("path", "")
        self.send = send
        self.queue: asyncio.Queue[Message] | None = None  # set when the connection may be aborted
        self.state = "new"  # websocket: new, open, closed; http: new, started, finished
        self.done = asyncio.get_running_loop().create_future()
        self.abort: Callable[[], Awaitable[None]] | None = None

    @property
    def resumable(self) -> bool:
        return self.kind == "websocket" or bool(_RESUMABLE.match(self.path))


class GracefulApp:
    """Wraps the ASGI application: counts connections, refuses new ones while draining."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan (uvicorn)
            return
        if state.draining:
            await _refuse(kind, receive, send)
            return
        conn = _Connection(scope, send)
        state.connections.add(conn)
        try:
            if conn.resumable:
                await self._abortable(conn, receive)
            else:
                await self.app(scope, receive, self._http_send(conn))
        finally:
            state.connections.discard(conn)
            if not conn.done.done():
                conn.done.set_result(None)

    def _http_send(self, conn: _Connection) -> Send:
        async def send(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                conn.state = "started"
            elif kind == "http.response.body" and not message.get("more_body", False):
                conn.state = "finished"
            await conn.send(message)

        return send

    async def _abortable(self, conn: _Connection, receive: Receive) -> None:
        """Serve a connection that drain() may end: its messages go through a queue of ours."""
        queue: asyncio.Queue[Message] = asyncio.Queue()
        conn.queue = queue
        ended = "websocket.disconnect" if conn.kind == "websocket" else "http.disconnect"

        async def pump() -> None:
            while True:
                message = await receive()
                queue.put_nowait(message)
                if message["type"] == ended:
                    return

        http_send = self._http_send(conn)

        async def send(message: Message) -> None:
            kind = message["type"]
            if conn.kind == "http":
                if conn.state == "aborted":
                    return
                await http_send(message)
                return
            if conn.state == "closed":
                return  # we closed it for the application: its last words go nowhere
            if kind == "websocket.accept":
                conn.state = "open"
            elif kind == "websocket.close":
                conn.state = "closed"
            await conn.send(message)

        async def abort() -> None:
            if conn.kind == "http":
                state, conn.state = conn.state, "aborted"
                try:
                    if state == "started":  # an event stream: end the chunked body cleanly
                        await conn.send(
                            {"type": "http.response.body", "body": b"", "more_body": False}
                        )
                    elif state == "new":  # a long poll: the client retries elsewhere
                        await _refuse("http", _nothing, conn.send)
                except Exception:  # noqa: S110 - the peer may be gone already
                    pass
                queue.put_nowait({"type": "http.disconnect"})
                return
            if conn.state == "open":
                conn.state = "closed"
                try:
                    await conn.send({"type": "websocket.send", "text": _reconnect_hint(conn.path)})
                    await conn.send({"type": "websocket.close", "code": RESTART_CLOSE_CODE})
                except Exception:  # noqa: S110 - the peer may be gone already
                    pass
            queue.put_nowait({"type": "websocket.disconnect", "code": RESTART_CLOSE_CODE})

        conn.abort = abort
        reader = asyncio.ensure_future(pump())
        try:
            await self.app(conn.scope, queue.get, send)
        finally:
            reader.cancel()
        if conn.kind == "http" and conn.state == "started":
            await conn.send({"type": "http.response.body", "body": b"", "more_body": False})


def _reconnect_hint(path: str) -> str:
    if path.startswith("/socket.io/"):
        # An engine.io message (4) carrying a Socket.IO event (2) on the default namespace.
        return "42" + json.dumps(["reconnect", RECONNECT_HINT])
    return json.dumps({"type": "reconnect", "data": RECONNECT_HINT})


async def _refuse(kind: str, receive: Receive, send: Send) -> None:
    if kind == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": RESTART_CLOSE_CODE})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _RESTARTING_BODY})


async def drain(timeout: float) -> None:
    """Stop taking work and let what runs finish, for at most ``timeout`` seconds."""
    started = time.monotonic()
    state.draining = True
    DRAINING.set(1)
    resumable = [c for c in state.connections if c.abort is not None]
    logger.info(
        "draining: closing %d sockets and streams, waiting for %d requests and %d tasks",
        len(resumable),
        len(state.connections) - len(resumable),
        len(state.tasks),
        extra={"event": "drain_start"},
    )
    await asyncio.gather(*(c.abort() for c in resumable if c.abort), return_exceptions=True)
    for hook in state.hooks:
        try:
            await hook()
        except Exception:
            logger.exception("a drain hook failed")
    # Requests, completion streams, websockets unwinding; not aborted polls (daphne ends them).
    pending: set[asyncio.Future[Any]] = {
        c.done for c in state.connections if c.kind == "websocket" or c.abort is None
    } | set(state.tasks)
    if pending:
        _, pending = await asyncio.wait(pending, timeout=timeout)
    left = [t for t in state.tasks if not t.done()]
    for task in left:
        task.cancel()  # a chat reply is saved as incomplete as it unwinds
    if left:
        await asyncio.wait(left, timeout=5)
    logger.info(
        "drained in %.1fs (%d requests, %d tasks cut short)",
        time.monotonic() - started,
        sum(1 for p in pending if p not in left),
        len(left),
        extra={"event": "drain_end"},
    )
    for hook in state.final_hooks:
        try:
            await hook()
        except Exception:
            logger.exception("a drain hook failed")
