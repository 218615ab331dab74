"""What the sync and async clients share: options, requests, retries, logging, SSE, streams.

Everything here is free of I/O. ``_async_client.py`` does the I/O with ``httpx.AsyncClient``;
``_sync_client.py`` is generated from it (``tools/unasync.py``), so the two never drift apart.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx

from webui_client.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    StreamParseError,
    raise_for_status,
    retry_after_seconds,
)
from webui_client.types import ChatCompletionChunk

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_RETRY_DELAY = 1.0
RETRY_DELAY_MAX = 30.0  # the backoff never waits longer than this
RETRY_AFTER_MAX = 60.0  # a longer Retry-After is not waited out: the error goes to the caller
RETRY_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENCY_HEADER = "Idempotency-Key"

logger = logging.getLogger("webui_client")


# --- options -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    api_key: str | None = field(repr=False)  # never in a repr, a log or a traceback
    base_url: str = DEFAULT_BASE_URL
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_delay: float = DEFAULT_RETRY_DELAY
    enable_logging: bool = False


def options_from(
    *,
    api_key: str | None,
    base_url: str | None,
    timeout: float,
    max_retries: int,
    retry_delay: float,
    enable_logging: bool,
) -> Options:
    """The constructor's options, with ``WEBUI_API_KEY`` and ``WEBUI_BASE_URL`` as fallbacks."""
    if max_retries < 0:
        raise ValueError("max_retries must be 0 or more")
    if retry_delay < 0:
        raise ValueError("retry_delay must be 0 or more")
    key = api_key if api_key is not None else os.environ.get("WEBUI_API_KEY") or None
    url = base_url or os.environ.get("WEBUI_BASE_URL") or DEFAULT_BASE_URL
    if enable_logging:
        _logging_on()
    return Options(
        api_key=key,
        base_url=url.rstrip("/"),
        timeout=timeout,
        max_retries=max_retries,
        retry_delay=retry_delay,
        enable_logging=enable_logging,
    )


def _logging_on() -> None:
    """Make INFO lines of ``webui_client`` visible when nothing else decides where they go."""
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        logger.addHandler(handler)


def default_headers(options: Options) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": "webui-client/0.1"}
    if options.api_key:
        headers["Authorization"] = f"Bearer {options.api_key}"
    return headers


# --- requests ----------------------------------------------------------------------------------


def seg(value: Any) -> str:
    """One path segment, escaped (ids come from users and servers)."""
    return quote(str(value), safe="")


def query(**params: Any) -> dict[str, Any]:
    """Query parameters without the ``None`` ones; booleans as ``true``/``false``."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        out[name] = ("true" if value else "false") if isinstance(value, bool) else value
    return out


def iso_date(value: Any) -> str | None:
    """A date for the query string: a ``date``/``datetime`` or an ISO string (None stays)."""
    if value is None or isinstance(value, str):
        return value
    if hasattr(value, "date") and callable(value.date):
        value = value.date()
    return str(value.isoformat())


CHAT_ID_NAMESPACE = uuid.UUID("4b0c6f1e-8a43-4c55-9f0e-2d8f3c1a7b65")


def chat_uuid(chat_id: str, user_id: str | None) -> str:
    """The server's id of a chat named ``chat_id`` in a completion (FastGPT's ``chatId``).

    A UUID is itself; any other string is the server's fixed UUID for it and the user
    (``uuid5(CHAT_ID_NAMESPACE, "<user id>:<chatId>")``, docs/completions.md).
    """
    try:
        return str(uuid.UUID(str(chat_id)))
    except ValueError:
        if user_id is None:
            raise
        return str(uuid.uuid5(CHAT_ID_NAMESPACE, f"{user_id}:{chat_id}"))


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def as_messages(messages: Any) -> list[dict[str, Any]]:
    """A string is one user message; anything else is a list of messages as given."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return [dict(m) for m in messages]


def body(**fields: Any) -> dict[str, Any]:
    """A JSON body without the ``None`` fields."""
    return {name: value for name, value in fields.items() if value is not None}


class Upload:
    """A file to upload: a path (opened for each attempt), bytes, or a binary file object.

    A path or bytes can be sent again on a retry; a file object only if it can seek back.
    """

    def __init__(self, file: str | os.PathLike[str] | bytes | IO[bytes], filename: str | None):
        self.file = file
        self.opened: list[IO[bytes]] = []
        self.start: int | None = None
        if isinstance(file, str | os.PathLike):
            self.filename = filename or Path(file).name
        elif isinstance(file, bytes | bytearray):
            self.filename = filename or "upload.bin"
        else:
            self.filename = filename or Path(str(getattr(file, "name", "upload.bin"))).name
            try:
                self.start = file.tell() if file.seekable() else None
            except (OSError, AttributeError):
                self.start = None

    @property
    def repeatable(self) -> bool:
        return (
            isinstance(self.file, str | os.PathLike | bytes | bytearray) or self.start is not None
        )

    def parts(self) -> dict[str, Any]:
        content: Any
        if isinstance(self.file, str | os.PathLike):
            content = open(self.file, "rb")  # noqa: SIM115 - closed by close() after the attempt
            self.opened.append(content)
        elif isinstance(self.file, bytes | bytearray):
            content = bytes(self.file)
        else:
            if self.start is not None:
                self.file.seek(self.start)
            content = self.file
        return {"file": (self.filename, content)}

    def close(self) -> None:
        for handle in self.opened:
            handle.close()
        self.opened.clear()


@dataclass
class Call:
    """One API call, before it becomes an ``httpx.Request`` (again for each attempt).

    ``retry`` is ``"safe"`` (connection errors, timeouts, 429 and 502/503/504 are retried),
    ``"connect"`` (only a failure to connect, when nothing reached the server) or ``"never"``.
    ``idempotent`` POSTs get an ``Idempotency-Key``, the same one on every attempt, and are
    then safe to retry: the server answers a repeat with the first answer.
    """

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    upload: Upload | None = None
    stream: bool = False
    idempotent: bool = False
    idempotency_key: str | None = None
    retry: str = ""

    def __post_init__(self) -> None:
        if self.idempotent and self.idempotency_key is None:
            self.idempotency_key = str(uuid.uuid4())
        if not self.retry:
            safe = self.method in ("GET", "HEAD", "DELETE", "OPTIONS") or self.idempotent
            self.retry = "safe" if safe else "connect"
        if self.upload is not None and not self.upload.repeatable:
            self.retry = "never"


def build_request(
    http: httpx.Client | httpx.AsyncClient, call: Call, options: Options
) -> httpx.Request:
    """The request for one attempt: our base URL, key and timeout on whichever httpx client."""
    headers = {**default_headers(options), **call.headers}
    if call.idempotency_key is not None:
        headers[IDEMPOTENCY_HEADER] = call.idempotency_key
    return http.build_request(
        call.method,
        options.base_url + call.path,
        timeout=options.timeout,
        params=call.params,
        json=call.json,
        files=call.upload.parts() if call.upload is not None else None,
        headers=headers,
    )


# --- retries -----------------------------------------------------------------------------------


def backoff(options: Options, attempt: int) -> float:
    """Exponential from ``retry_delay`` (x2 per attempt), with jitter (50-100%), capped."""
    delay = min(options.retry_delay * 2.0**attempt, RETRY_DELAY_MAX)
    return delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret


def retry_wait(
    call: Call,
    options: Options,
    attempt: int,
    *,
    response: httpx.Response | None = None,
    error: Exception | None = None,
) -> float | None:
    """Seconds to wait before trying ``call`` again, or None to stop (attempt counts from 0)."""
    if attempt >= options.max_retries or call.retry == "never":
        return None
    if error is not None:
        nothing_sent = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
        if call.retry == "safe" or nothing_sent:
            return backoff(options, attempt)
        return None
    if response is None or call.retry != "safe" or response.status_code not in RETRY_STATUSES:
        return None
    after = retry_after_seconds(response)
    if after is None:
        return backoff(options, attempt)
    return after if after <= RETRY_AFTER_MAX else None


def transport_error(exc: httpx.TransportError) -> APIConnectionError:
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"Request timed out ({type(exc).__name__}).")
    return APIConnectionError(f"Connection error ({type(exc).__name__}: {exc}).")


# --- logging -----------------------------------------------------------------------------------

_SECRET_PATH = re.compile(r"(/share/)[^/]+")  # a share id is a capability: never logged


def log_attempt(
    options: Options,
    request: httpx.Request,
    attempt: int,
    seconds: float,
    *,
    status: int | None = None,
    error: Exception | None = None,
    wait: float | None = None,
) -> None:
    """One line per attempt: method, path (no query), status, duration, retry number.

    Never the key, a token, a query string or a body.
    """
    if not options.enable_logging:
        return
    path = _SECRET_PATH.sub(r"\1…", request.url.path)
    outcome = str(status) if status is not None else type(error).__name__
    retry = f" retry {attempt}" if attempt else ""
    then = f"; retrying in {wait:.2f}s" if wait is not None else ""
    logger.info(
        "%s %s -> %s in %.0fms%s%s", request.method, path, outcome, seconds * 1000, retry, then
    )


def raise_for_status_ours(response: httpx.Response) -> httpx.Response:
    """Make ``response.raise_for_status()`` raise this client's errors, not httpx's."""
    response.raise_for_status = lambda: raise_for_status(response)  # type: ignore[method-assign]
    return response


# --- server-sent events ------------------------------------------------------------------------


@dataclass
class Event:
    event: str = ""
    data: str = ""
    id: str | None = None


class SSEDecoder:
    """Lines in, events out (the WHATWG rules that matter here)."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, line: str) -> Event | None:
        if line == "":
            if not self._data and not self._event:
                self._id = None
                return None
            event = Event(self._event, "\n".join(self._data), self._id)
            self._event, self._data, self._id = "", [], None
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        elif name == "retry":
            pass
        else:
            raise StreamParseError(f"Not a server-sent event line: {line[:100]!r}")
        return None

    def flush(self) -> Event | None:
        return self.feed("") if (self._data or self._event) else None


DONE = object()


def json_data(event: Event) -> Any:
    try:
        return json.loads(event.data)
    except ValueError:
        raise StreamParseError(f"A streamed chunk is not JSON: {event.data[:100]!r}") from None


class StreamState:
    """A completion stream's meaning, apart from its I/O: chunks, usage, sources, errors.

    ``take(event)`` returns a chunk to give the caller, ``None`` (nothing to give) or ``DONE``.
    """

    def __init__(self, response: httpx.Response, message_id: str | None) -> None:
        self.chat_id: str | None = response.headers.get("X-Chat-Id")
        self.message_id: str | None = response.headers.get("X-Response-Message-Id") or message_id
        # The chat's last event before this turn: a resume replays from there (else from 0).
        seq = response.headers.get("X-Chat-Event-Seq", "")
        self.event_seq = int(seq) if seq.isdigit() else 0
        self.id: str | None = None
        self.model: str | None = None
        self.created = 0
        self.text = ""
        self.usage: dict[str, Any] | None = None
        self.sources: list[dict[str, Any]] | None = None
        self.response_data: list[dict[str, Any]] | None = None
        self.finish_reason: str | None = None
        self.done = False

    def take(self, event: Event) -> ChatCompletionChunk | object | None:
        if event.data == "[DONE]":
            self.done = True
            return DONE
        if not event.data:
            return None
        data = json_data(event)
        if event.event == "responseData":  # FastGPT's detail: true
            self.response_data = data if isinstance(data, list) else [data]
            return None
        if not isinstance(data, dict):
            raise StreamParseError(f"A streamed chunk is not an object: {event.data[:100]!r}")
        if isinstance(data.get("error"), dict):
            error = data["error"]
            raise APIError(
                str(error.get("message") or "The answer stopped with an error."),
                status_code=502,
                code=error.get("code") if isinstance(error.get("code"), str) else None,
                body=data,
            )
        chunk = ChatCompletionChunk.from_json(data)
        self.id = chunk.id or self.id
        self.model = chunk.model or self.model
        self.created = chunk.created or self.created
        self.text += chunk.text
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.sources is not None:
            self.sources = chunk.sources
        for choice in chunk.choices:
            if choice.index == 0 and choice.finish_reason:
                self.finish_reason = choice.finish_reason
        return chunk

    def can_resume(self) -> bool:
        return bool(self.chat_id and self.message_id)


class ResumeState:
    """Following a reply on the chat's events after the completion stream dropped.

    ``completion.delta`` events (by ``index``) rebuild the reply's text; whatever goes beyond
    what the caller already has is given as chunks, so nothing is doubled. The saved reply
    (the ``message`` event, else ``fetch_saved``) settles the final text, usage and sources
    when ``completion.done`` arrives.
    """

    def __init__(self, stream: StreamState) -> None:
        self.stream = stream
        self.deltas: dict[int, str] = {}
        self.saved: dict[str, Any] | None = None
        self.status: str | None = None
        self.error: str | None = None
        self.last_event_id = stream.event_seq

    def _chunk(self, text: str, finish: str | None = None) -> ChatCompletionChunk:
        s = self.stream
        return ChatCompletionChunk.from_json(
            {
                "id": s.id or "",
                "object": "chat.completion.chunk",
                "created": s.created,
                "model": s.model or "",
                "choices": [
                    {
                        "index": 0,
                        "delta": {"content": text} if text else {},
                        "finish_reason": finish,
                    }
                ],
            }
        )

    def _known_text(self) -> str:
        text, index = [], 0
        while index in self.deltas:
            text.append(self.deltas[index])
            index += 1
        return "".join(text)

    def _beyond(self, full: str) -> list[ChatCompletionChunk]:
        have = self.stream.text
        if len(full) <= len(have):
            return []
        extra = full[len(have) :]
        self.stream.text += extra
        return [self._chunk(extra)]

    def take(self, event: Event) -> list[ChatCompletionChunk]:
        """Chunks to give the caller for one event of the chat's stream."""
        if event.id and event.id.isdigit():
            self.last_event_id = int(event.id)
        if event.event not in ("completion.delta", "message", "completion.done"):
            return []
        data = json_data(event)
        if not isinstance(data, dict):
            return []
        s = self.stream
        if event.event == "completion.delta" and data.get("message_id") == s.message_id:
            index, delta = data.get("index"), data.get("delta")
            if isinstance(index, int) and isinstance(delta, str):
                self.deltas[index] = delta
                if 0 in self.deltas:
                    return self._beyond(self._known_text())
        elif event.event == "message":
            message = data.get("message") or {}
            if message.get("id") == s.message_id and message.get("role") == "assistant":
                self.saved = message
        elif event.event == "completion.done" and data.get("message_id") == s.message_id:
            self.status = str(data.get("status") or "")
            self.error = data.get("error") if isinstance(data.get("error"), str) else None
        return []

    @property
    def finished(self) -> bool:
        return self.status is not None

    def finish(self, saved: dict[str, Any] | None) -> list[ChatCompletionChunk]:
        """The end: the saved reply's remaining text, then its usage and sources."""
        saved = saved or self.saved
        chunks: list[ChatCompletionChunk] = []
        if saved is not None:
            content = saved.get("content")
            if isinstance(content, str):
                chunks += self._beyond(content)
            usage = saved.get("usage")
            if isinstance(usage, dict) and self.stream.usage is None:
                self.stream.usage = {
                    k: v for k, v in usage.items() if k.endswith("_tokens") and isinstance(v, int)
                }
            if isinstance(saved.get("sources"), list) and self.stream.sources is None:
                self.stream.sources = saved["sources"]
        if self.error:
            raise APIError(
                "The answer stopped with an error (what arrived was saved).",
                status_code=502,
                code=self.error,
            )
        chunks.append(self._chunk("", finish="stop"))
        self.stream.finish_reason = self.stream.finish_reason or "stop"
        self.stream.done = True
        return chunks


def saved_reply(chat: dict[str, Any], message_id: str) -> dict[str, Any] | None:
    history = ((chat.get("chat") or {}).get("history") or {}).get("messages") or {}
    message = history.get(message_id)
    return message if isinstance(message, dict) else None


Hook = Callable[[Any], None]
