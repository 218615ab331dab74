"""Consuming an upstream for one completion turn, apart from the request that started it.

A ``Pump`` reads the upstream (streamed or not) in a task of its own, passes chunks to the
client through a queue while it listens, publishes a chat reply's text to the chat's room in
batches, and at the end saves the reply and the usage. The database is only ever touched in
short visits through ``db`` (``llm.turns``), which gives its connection back at once: nothing
is held while the upstream is awaited.
"""

import asyncio
import json
import logging
import time
from typing import Any

import orjson
from django.conf import settings

from llm.errors import ServerRestarting, UpstreamTooLong
from llm.services import turn_finish, turn_publish_delta
from llm.tools import chunks_of, tool_loop
from llm.turns import Progress, Turn, db
from llm.upstream import Upstream, completion_call, completion_stream
from users.services import usage_record
from webui_backend import lifecycle
from webui_backend.errors import AppError
from webui_backend.metrics import ACTIVE_COMPLETIONS

logger = logging.getLogger(__name__)
_running: set[asyncio.Task[Any]] = set()  # strong references: a detached turn must not be GC'd


# --- step 2: the upstream ---------------------------------------------------------------------


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
        self.deadline = float("inf")  # the event loop's time when the turn must end

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
        limit = settings.COMPLETION_MAX_SECONDS
        self.deadline = asyncio.get_running_loop().time() + limit
        try:
            async with asyncio.timeout(limit):
                await self.consume(upstream, publisher)
        except TimeoutError:  # the turn's own deadline (upstream silences are UpstreamTimeout)
            progress.error = UpstreamTooLong(f"The answer took longer than {limit} s.")
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

    async def consume(self, upstream: Upstream, publisher: "Publisher | None") -> None:
        turn, progress = self.turn, self.progress
        if turn.functions:
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

    async def pass_chunk(self, chunk: dict[str, Any], publisher: "Publisher | None") -> None:
        # The deadline again, by the clock: asyncio.timeout cancels once, and a cancellation
        # can be lost on its way (asgiref's sync_to_async returns the thread's result instead
        # of raising when the cancellation lands in an async_to_sync call of that thread, here
        # the publisher's channel-layer send, and the inner task ends without re-raising).
        # Seen once in CI on PostgreSQL + Redis: an upstream that never stops streamed for
        # minutes past a 3 s deadline. Checked per chunk, the deadline cannot be lost.
        if asyncio.get_running_loop().time() >= self.deadline:
            raise TimeoutError
        before = len(self.progress.parts)
        out = chunk_out(self.turn, chunk, self.progress)
        added = sum(len(part.encode()) for part in self.progress.parts[before:])
        if self.progress.size + added > settings.CHAT_MESSAGE_MAX_BYTES:
            del self.progress.parts[before:]  # the reply keeps what fits, as it came
            raise UpstreamTooLong(
                f"The answer is longer than {settings.CHAT_MESSAGE_MAX_BYTES} bytes,"
                " the most one message may hold."
            )
        self.progress.size += added
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
