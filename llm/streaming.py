"""Consuming an upstream for one completion turn, apart from the request that started it.

A ``Pump`` reads the upstream (streamed or not) in a task of its own, passes chunks to the
client through a queue while it listens, publishes a chat reply's text to the chat's room in
batches, and at the end saves the reply and the usage. The database is only ever touched in
short visits through ``db``, which gives its connection back at once: nothing is held while
the upstream is awaited.
"""

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

from llm.errors import ServerRestarting
from llm.models import Generation
from llm.services import turn_finish, turn_publish_delta
from llm.upstream import Upstream, completion_call, completion_stream
from users.models import ApiKey, User
from users.services import usage_record
from webui_backend import lifecycle
from webui_backend.errors import AppError
from webui_backend.metrics import ACTIVE_COMPLETIONS

T = TypeVar("T")
logger = logging.getLogger(__name__)
_running: set[asyncio.Task[Any]] = set()  # strong references: a detached turn must not be GC'd


def connections_give_back() -> None:
    """Give this thread's database connections back once its short visit is over.

    A PostgreSQL connection goes back to the pool (or is closed), so nothing is held while an
    upstream is awaited. A SQLite connection is a file handle that only this worker thread
    uses: it is kept, as reopening one (connect, pragmas, functions) costs about a
    millisecond per visit, unless it saw an error or is inside a transaction.
    """
    for connection in connections.all(initialized_only=True):
        if (
            connection.vendor == "sqlite"
            and connection.connection is not None
            and not connection.errors_occurred
            and not connection.in_atomic_block
        ):
            continue
        connection.close()


async def db(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` in a worker thread and give its database connection back at once."""

    def run() -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            connections_give_back()

    return await sync_to_async(run, thread_sensitive=False)()


@dataclass
class Turn:
    """Everything a completion needs once the request is accepted."""

    user: User
    api_key: ApiKey | None
    model: str  # as the client named it
    base_model: str
    system: str
    params: dict[str, Any]
    data: dict[str, Any]  # validated fields
    raw: dict[str, Any]  # the body as sent (unknown fields go upstream)
    stream: bool
    include_usage: bool
    detail: bool
    chat_key: str
    reply_id: str
    custom_uid: str
    completion_id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))
    upstream: Upstream | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    chat_id: Any = None
    generation: Generation | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)  # with our functions, if any
    functions: dict[str, Any] = field(default_factory=dict)  # name -> Function (tool_ids)
    reply_parent: str = ""  # the turn's last tool result, which the reply goes under
    sources: list[Any] = field(default_factory=list)  # retrieval.search.Hit, best first
    # With a chat: the room's last event number once the question is saved. Every event of
    # this turn comes after it (X-Chat-Event-Seq: where a dropped stream resumes from).
    event_seq: int | None = None


# --- step 2: the upstream ---------------------------------------------------------------------


@dataclass
class Progress:
    parts: list[str] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    error: AppError | None = None
    body: dict[str, Any] | None = None  # a non-streaming answer
    chunks: int = 0
    started: float = field(default_factory=time.monotonic)
    first_token: float | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)


def sse(data: dict[str, Any], event: str = "") -> bytes:
    """One server-sent event (orjson: it runs once per streamed chunk)."""
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


def chunk_out(turn: Turn, chunk: dict[str, Any], progress: Progress) -> dict[str, Any] | None:
    """Note a chunk's text and usage; the chunk as our client sees it (None: not shown)."""
    if isinstance(chunk.get("usage"), dict):
        progress.usage = chunk["usage"]
    choices = chunk.get("choices") or []
    for choice in choices:
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            content = (choice.get("delta") or {}).get("content")
            if isinstance(content, str) and content:
                progress.parts.append(content)
                if progress.first_token is None:
                    progress.first_token = time.monotonic()
    if not choices and not turn.include_usage:
        return None
    out = {
        **chunk,
        "id": turn.completion_id,
        "object": "chat.completion.chunk",
        "created": turn.created,
        "model": turn.model,
    }
    if not turn.include_usage:
        out.pop("usage", None)
    return out


def usage_of(turn: Turn, progress: Progress) -> dict[str, int]:
    """The upstream's usage, or an estimate (about four characters a token) without one."""
    usage = progress.usage or {}
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens")
    if not isinstance(prompt, int):
        prompt = len(json.dumps(turn.payload.get("messages", []))) // 4
    if not isinstance(completion, int):
        completion = (len(progress.text) + 3) // 4
    return {"prompt_tokens": prompt, "completion_tokens": completion}


def response_data(turn: Turn, progress: Progress) -> list[dict[str, Any]]:
    """FastGPT's ``responseData`` (``detail: true``): tokens, timings, sources."""
    usage = usage_of(turn, progress)
    now = time.monotonic()
    return [
        {
            "moduleName": "AI Chat",
            "moduleType": "chatNode",
            "model": turn.model,
            "inputTokens": usage["prompt_tokens"],
            "outputTokens": usage["completion_tokens"],
            "tokens": usage["prompt_tokens"] + usage["completion_tokens"],
            "runningTime": round(now - progress.started, 3),
            "timeToFirstToken": (
                round(progress.first_token - progress.started, 3) if progress.first_token else None
            ),
            "quoteList": [source.as_quote() for source in turn.sources],
        }
    ]


class Publisher:
    """Batches a chat reply's streamed text into ``completion.delta`` room events."""

    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.pending: list[str] = []
        self.index = 0
        self.last = time.monotonic()
        self.interval = settings.COMPLETION_PUBLISH_INTERVAL_MS / 1000

    async def add(self, text: str) -> None:
        self.pending.append(text)
        if time.monotonic() - self.last >= self.interval:
            await self.flush()

    async def flush(self) -> None:
        if not self.pending:
            return
        delta, self.pending = "".join(self.pending), []
        self.last = time.monotonic()
        await db(
            turn_publish_delta,
            chat_id=self.turn.chat_id,
            message_id=self.turn.reply_id,
            delta=delta,
            index=self.index,
        )
        self.index += 1


class Pump:
    """Consumes the upstream for one turn, feeding the client (while it listens)."""

    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.progress = Progress()
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.listening = True
        self.upstream_done = False
        self.closed = False

    def put(self, item: bytes | None) -> None:
        if self.closed:
            return
        if item is None:
            self.closed = True
            self.queue.put_nowait(None)
        elif self.listening:
            self.queue.put_nowait(item)

    async def run(self) -> Progress:
        turn, progress = self.turn, self.progress
        upstream = turn.upstream
        if upstream is None:  # turn_route sets it before a turn starts
            raise RuntimeError("turn started without an upstream")
        publisher = Publisher(turn) if turn.chat_id is not None else None
        try:
            if turn.functions:
                # llm.tools builds on this module's Turn and db.
                from llm.tools import chunks_of, tool_loop

                body = await tool_loop(turn, upstream, progress)
                if turn.stream:
                    for chunk in chunks_of(body):
                        await self.pass_chunk(chunk, publisher)
                else:
                    self.take_answer(body)
            elif turn.stream:
                events = completion_stream(upstream, turn.payload)
                try:
                    async for chunk in events:
                        await self.pass_chunk(chunk, publisher)
                finally:
                    await events.aclose()
            else:
                body = await completion_call(upstream, turn.payload)
                progress.usage = body.get("usage") if isinstance(body.get("usage"), dict) else None
                self.take_answer(body)
        except AppError as exc:
            progress.error = exc
        except asyncio.CancelledError:
            if lifecycle.draining():  # the server stops: the reply is saved as incomplete
                progress.error = ServerRestarting()
            raise
        finally:
            # Also on cancellation (the client left a turn without a chat): what was generated
            # is still counted.
            await self.finish(publisher)
        return progress

    async def pass_chunk(self, chunk: dict[str, Any], publisher: "Publisher | None") -> None:
        before = len(self.progress.parts)
        out = chunk_out(self.turn, chunk, self.progress)
        self.progress.chunks += 1
        if out is not None:
            self.put(sse(out))
        if publisher is not None and len(self.progress.parts) > before:
            await publisher.add("".join(self.progress.parts[before:]))

    def take_answer(self, body: dict[str, Any]) -> None:
        self.progress.body = body
        message = (body["choices"][0] or {}).get("message") if body["choices"] else None
        content = (message or {}).get("content")
        if isinstance(content, str):
            self.progress.parts.append(content)

    async def finish(self, publisher: "Publisher | None") -> None:
        turn, progress = self.turn, self.progress
        self.upstream_done = True
        try:
            if publisher is not None:
                await publisher.flush()
            usage = usage_of(turn, progress)
            if turn.generation is not None:
                error = (
                    (progress.error.get_codes(), str(progress.error.detail))
                    if progress.error
                    else None
                )
                await db(
                    turn_finish,
                    generation=turn.generation,
                    content=progress.text,
                    usage={**usage, "total_tokens": sum(usage.values())},
                    error=error,  # type: ignore[arg-type]
                    parent_id=turn.reply_parent,
                    sources=[source.as_json() for source in turn.sources],
                )
            await db(
                usage_record,
                user=turn.user,
                api_key=turn.api_key,
                model=turn.model,
                **usage,
            )
        finally:
            self.put(None)


def _turn_done(task: asyncio.Task[Progress]) -> None:
    _running.discard(task)
    ACTIVE_COMPLETIONS.labels(getattr(task, "stream_label", "false")).dec()
    if not task.cancelled() and task.exception() is not None:
        logger.error("a completion turn failed to finish", exc_info=task.exception())


def turn_start(turn: Turn) -> tuple[Pump, asyncio.Task[Progress]]:
    pump = Pump(turn)
    task = asyncio.create_task(pump.run())
    _running.add(task)
    task.stream_label = "true" if turn.stream else "false"  # type: ignore[attr-defined]
    ACTIVE_COMPLETIONS.labels(task.stream_label).inc()  # type: ignore[attr-defined]
    task.add_done_callback(_turn_done)
    lifecycle.track(task)  # a graceful shutdown lets it finish first
    return pump, task
