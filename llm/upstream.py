"""Talking to upstream model servers.

One pooled ``aiohttp.ClientSession`` per process (per event loop: daphne and uvicorn run one),
with per-connection timeouts. aiohttp rather than httpx: its HTTP parser is C and its reads go
straight to the event loop, which made the proxy's per-chunk cost a fraction of httpx's (h11
in Python, anyio pausing and resuming the socket on every read; bench/README.md).

Connections come from the environment and from the database; the model catalogue caches each
connection's list for ``MODELS_CACHE_TTL`` seconds and fetches them concurrently within
``MODELS_FETCH_TIMEOUT``, so a broken or slow connection is reported in the answer and never
holds up the others.
"""

import asyncio
import ipaddress
import json
import logging
import ssl
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from django.conf import settings

from llm.errors import (
    UpstreamAddressRefused,
    UpstreamFault,
    UpstreamInvalidResponse,
    UpstreamOverloaded,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamStreamCut,
    UpstreamTimeout,
    UpstreamTooLong,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from llm.models import Connection
from retrieval.ssrf import Policy
from webui_backend import jsondepth
from webui_backend.metrics import UpstreamCall

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upstream:
    """A connection as the proxy uses it (from a row or from the environment)."""

    key: str  # "db:<uuid>" or "env:openai:0"
    name: str
    kind: str
    base_url: str
    api_key: str
    timeout: float

    @property
    def chat_url(self) -> str:
        root = self.base_url.rstrip("/")
        return (
            f"{root}/v1/chat/completions"
            if self.kind == Connection.Kind.OLLAMA
            else (f"{root}/chat/completions")
        )

    @property
    def models_url(self) -> str:
        root = self.base_url.rstrip("/")
        return f"{root}/api/tags" if self.kind == Connection.Kind.OLLAMA else f"{root}/models"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def timeouts(self) -> aiohttp.ClientTimeout:
        """Connecting, then silence: before the first byte of the answer and between chunks."""
        return aiohttp.ClientTimeout(
            total=None,
            connect=POOL_WAIT + settings.UPSTREAM_CONNECT_TIMEOUT,  # a free slot, then connect
            sock_connect=settings.UPSTREAM_CONNECT_TIMEOUT,
            sock_read=self.timeout,
        )


def upstreams_from_env() -> list[Upstream]:
    urls = [u.strip() for u in settings.OPENAI_API_BASE_URLS.split(";") if u.strip()]
    keys = [k.strip() for k in settings.OPENAI_API_KEYS.split(";")]
    found = [
        Upstream(
            key=f"env:openai:{i}",
            name=url,
            kind=Connection.Kind.OPENAI,
            base_url=url,
            api_key=keys[i] if i < len(keys) else "",
            timeout=settings.UPSTREAM_TIMEOUT,
        )
        for i, url in enumerate(urls)
    ]
    ollama = [u.strip() for u in settings.OLLAMA_BASE_URLS.split(";") if u.strip()]
    found += [
        Upstream(
            key=f"env:ollama:{i}",
            name=url,
            kind=Connection.Kind.OLLAMA,
            base_url=url,
            api_key="",
            timeout=settings.UPSTREAM_TIMEOUT,
        )
        for i, url in enumerate(ollama)
    ]
    return found


def upstream_of(connection: Connection) -> Upstream:
    return Upstream(
        key=f"db:{connection.pk}",
        name=connection.name,
        kind=connection.kind,
        base_url=connection.base_url,
        api_key=connection.api_key,
        timeout=connection.timeout,
    )


def upstreams_all() -> list[Upstream]:
    """Every enabled connection: the environment's first, then the admins' (a DB read)."""
    rows = Connection.objects.filter(enabled=True)
    return upstreams_from_env() + [upstream_of(row) for row in rows]


# --- the pooled client ----------------------------------------------------------------------


class AddressRefused(aiohttp.ClientConnectionError):
    """The upstream policy (retrieval/ssrf.py) refused the address a connection would go to."""


class GuardedConnector(aiohttp.TCPConnector):
    """aiohttp's connector, checking every address it is about to connect to against the
    upstream policy: after resolving (literal addresses and names alike), on every new
    connection (a name that later resolves elsewhere, DNS rebinding, is checked again) and
    on redirects (each is a connection of its own)."""

    async def _resolve_host(self, host: str, port: int, traces: Any = None) -> list[Any]:
        hosts = await super()._resolve_host(host, port, traces=traces)
        policy = Policy.upstream()
        for entry in hosts:
            reason = policy.refusal(ipaddress.ip_address(entry["host"]), int(entry["port"]))
            if reason is not None:
                raise AddressRefused(f"{host}:{port} may not be reached: {reason}.")
        return hosts


POOL_WAIT = 30  # seconds a request may wait for a free connection when all are busy
_sessions: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession]" = (
    weakref.WeakKeyDictionary()
)
_tls: ssl.SSLContext | None = None


def http_session() -> aiohttp.ClientSession:
    """The process's pooled session (a session is bound to the loop that made it).

    ``trust_env`` is off: no proxy from the environment is ever used for upstream calls.
    """
    global _tls
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        if _tls is None:
            _tls = ssl.create_default_context()  # loading the CAs is slow: once per process
        session = aiohttp.ClientSession(
            connector=GuardedConnector(
                limit=settings.UPSTREAM_MAX_CONNECTIONS, limit_per_host=0, ssl=_tls
            ),
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=POOL_WAIT + settings.UPSTREAM_CONNECT_TIMEOUT,
                sock_connect=settings.UPSTREAM_CONNECT_TIMEOUT,
                sock_read=settings.UPSTREAM_TIMEOUT,
            ),
            trust_env=False,
            skip_auto_headers=("User-Agent",),
            headers={"User-Agent": "webui-backend"},
        )
        _sessions[loop] = session
    return session


async def http_sessions_close() -> None:
    """Close this loop's session (a graceful shutdown, tests)."""
    session = _sessions.pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()


def _json_body(payload: dict[str, Any], upstream: "Upstream") -> dict[str, Any]:
    return {
        "data": orjson.dumps(payload),
        "headers": {"Content-Type": "application/json", **upstream.headers},
        "timeout": upstream.timeouts(),
    }


# --- the catalogue --------------------------------------------------------------------------


@dataclass
class ModelEntry:
    id: str
    name: str
    owned_by: str
    created: int
    upstream_key: str = ""


@dataclass
class _Listing:
    expires: float
    models: list[ModelEntry] = field(default_factory=list)
    error: str = ""


_listings: dict[tuple[str, str, str], _Listing] = {}


def _listing_key(upstream: Upstream) -> tuple[str, str, str]:
    return (upstream.key, upstream.base_url, upstream.api_key)


async def _get_json(url: str, headers: dict[str, str]) -> Any:
    async with http_session().get(url, headers=headers) as response:
        response.raise_for_status()
        return jsondepth.loads_fast(await response.read())


async def _fetch(upstream: Upstream) -> _Listing:
    now = time.monotonic()
    try:
        body = await asyncio.wait_for(
            _get_json(upstream.models_url, upstream.headers),
            timeout=settings.MODELS_FETCH_TIMEOUT,
        )
        if upstream.kind == Connection.Kind.OLLAMA:
            models = [
                ModelEntry(
                    id=str(m["name"]),
                    name=str(m["name"]),
                    owned_by="ollama",
                    created=_ollama_time(m.get("modified_at")),
                    upstream_key=upstream.key,
                )
                for m in body["models"]
            ]
        else:
            models = [
                ModelEntry(
                    id=str(m["id"]),
                    name=str(m.get("name") or m["id"]),
                    owned_by=str(m.get("owned_by") or "openai"),
                    created=int(m.get("created") or 0),
                    upstream_key=upstream.key,
                )
                for m in body["data"]
            ]
    except TimeoutError:
        return _Listing(now + settings.MODELS_CACHE_TTL, error="timed out listing models")
    except (aiohttp.ClientError, ValueError, KeyError, TypeError) as exc:
        return _Listing(now + settings.MODELS_CACHE_TTL, error=f"{type(exc).__name__}: {exc}")
    return _Listing(now + settings.MODELS_CACHE_TTL, models=models)


_inflight: dict[tuple[str, str, str], "asyncio.Task[_Listing]"] = {}


async def _fetch_once(upstream: Upstream) -> _Listing:
    """``_fetch``, shared by every request that finds the same list expired at once."""
    key = _listing_key(upstream)
    task = _inflight.get(key)
    if task is None or task.get_loop() is not asyncio.get_running_loop():
        task = asyncio.ensure_future(_fetch(upstream))
        _inflight[key] = task

        def forget(done: "asyncio.Task[_Listing]") -> None:
            if _inflight.get(key) is done:
                del _inflight[key]

        task.add_done_callback(forget)
    return await asyncio.shield(task)


def _ollama_time(value: Any) -> int:
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


async def catalogue(
    upstreams: list[Upstream], *, refresh: bool = False
) -> tuple[list[ModelEntry], list[dict[str, str]]]:
    """Every connection's models (first connection wins a duplicate id), and the failures."""
    now = time.monotonic()
    stale = [
        u
        for u in upstreams
        if refresh or (listing := _listings.get(_listing_key(u))) is None or listing.expires <= now
    ]
    if stale:
        fetched = await asyncio.gather(*(_fetch_once(u) for u in stale))
        for upstream, listing in zip(stale, fetched, strict=True):
            _listings[_listing_key(upstream)] = listing
    models: dict[str, ModelEntry] = {}
    errors = []
    for upstream in upstreams:
        listing = _listings[_listing_key(upstream)]
        if listing.error:
            errors.append({"connection": upstream.name, "detail": listing.error})
        for entry in listing.models:
            models.setdefault(entry.id, entry)
    return list(models.values()), errors


def catalogue_forget() -> None:
    """Drop every cached model list (connections changed)."""
    _listings.clear()


# --- completions ----------------------------------------------------------------------------


def _retry_after(response: aiohttp.ClientResponse) -> int:
    try:
        return max(1, int(float(response.headers.get("retry-after", "1"))))
    except ValueError:
        return 1


def _upstream_message(body: bytes) -> str:
    try:
        data = jsondepth.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace")
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", ""))[:500]
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])[:500]
    return str(error or "")[:500]


def fault_for_status(response: aiohttp.ClientResponse, body: bytes) -> UpstreamFault | Exception:
    """The error a non-2xx upstream answer becomes."""
    code = response.status
    message = _upstream_message(body)
    if code == 401 or code == 403:
        return UpstreamUnauthorized()
    if code == 429:
        return UpstreamRateLimited(
            f"The model server is rate limiting this server; retry in {_retry_after(response)} s.",
            retry_after=_retry_after(response),
        )
    if code == 503:
        return UpstreamOverloaded()
    if code == 504:
        return UpstreamTimeout()
    if code >= 500:
        return UpstreamFault(f"The model server failed ({code}).")
    if code == 404:
        return UpstreamRejected(f"The model server does not know this model: {message}".strip())
    return UpstreamRejected(f"The model server refused the request ({code}): {message}".strip())


def translate(exc: BaseException) -> Exception:
    """A transport error (aiohttp's, or a timeout) as one of our upstream faults."""
    if isinstance(exc, AddressRefused):
        return UpstreamAddressRefused(f"The model server's address is refused: {exc}")
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return UpstreamUnavailable()
    if isinstance(exc, TimeoutError):  # silent too long, before the answer or mid-stream
        return UpstreamTimeout()
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return UpstreamStreamCut()
    if isinstance(exc, aiohttp.ClientOSError):
        return UpstreamStreamCut()
    if isinstance(exc, aiohttp.ClientResponseError):  # not HTTP, or broken HTTP
        return UpstreamInvalidResponse("The model server's answer is not valid HTTP.")
    return UpstreamUnavailable(f"The model server could not be reached ({type(exc).__name__}).")


TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError)


async def completion_call(upstream: Upstream, payload: dict[str, Any]) -> dict[str, Any]:
    """A non-streaming completion: the upstream's JSON answer, or an upstream fault."""
    call = UpstreamCall(upstream.name)
    try:
        try:
            async with http_session().post(
                upstream.chat_url, **_json_body(payload, upstream)
            ) as response:
                call.answered()
                raw = await response.read()
        except TRANSPORT_ERRORS as exc:
            raise translate(exc) from exc
        if response.status >= 400:
            raise fault_for_status(response, raw)
        try:
            body = jsondepth.loads_fast(raw)
        except ValueError:
            raise UpstreamInvalidResponse("The model server's answer is not JSON.") from None
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            raise UpstreamInvalidResponse("The model server's answer has no choices.")
    except Exception as exc:
        call.failed(exc)
        raise
    return body


_DONE: dict[str, Any] = {}


def max_sse_line() -> int:
    """One event's line at most: a chunk cannot carry more than a whole reply may hold (and
    its envelope); longer is garbage, and would only be buffered."""
    return settings.CHAT_MESSAGE_MAX_BYTES + 64 * 1024


def _sse_line(line: bytes) -> dict[str, Any] | None:
    """One line of an upstream's event stream: a chunk, ``_DONE``, or None (nothing to pass)."""
    line = line.rstrip(b"\r")
    if not line or line.startswith(b":"):
        return None
    name, _, value = line.partition(b":")
    if name in (b"event", b"id", b"retry"):
        return None
    if name != b"data":
        raise UpstreamInvalidResponse("The model server sent a garbled event stream.")
    value = value.strip()
    if value == b"[DONE]":
        return _DONE
    try:
        chunk = jsondepth.loads_fast(value)  # per chunk: orjson is several times faster than json
    except ValueError:
        raise UpstreamInvalidResponse("The model server sent a chunk that is not JSON.") from None
    if not isinstance(chunk, dict):
        raise UpstreamInvalidResponse("The model server sent a malformed chunk.")
    if "error" in chunk and not chunk.get("choices"):
        raise UpstreamFault(
            "The model server reported an error: " + _upstream_message(json.dumps(chunk).encode())
        )
    return chunk


def _left_behind(content: aiohttp.StreamReader) -> bytes:
    """The bytes aiohttp had received but not handed out when the stream broke.

    Its reader raises a stream's error before the data it still holds, such as a cut
    upstream's last chunks: those were sent, and must reach the client and the saved reply.
    (aiohttp's private reader; tests/e2e/test_completions.py's cut case pins it.)
    """
    try:
        return content._read_nowait(-1) if content._buffer else b""
    except Exception:
        return b""


async def _reads(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """A response body's bytes as they come; if it breaks, what came first, then the error."""
    try:
        async for data in content.iter_any():
            yield data
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError):
        tail = _left_behind(content)
        if tail:
            yield tail
        raise


#: After ``[DONE]``, how long to wait for the body's end (it normally comes in the same
#: write, or the next one) before the stream is left with its connection closed.
BODY_END_GRACE = 0.1
#: After ``[DONE]``, how many more bytes to read while waiting for the body's end.
BODY_END_BYTES = 64 * 1024


async def _body_end(content: aiohttp.StreamReader) -> None:
    """Waits briefly for the end of a body whose ``[DONE]`` has come, so that leaving gives
    the connection back to the pool (aiohttp closes a connection whose body has not ended:
    the next completion would pay a new TCP and TLS handshake). An upstream that keeps the
    body open, or sends more, is left after BODY_END_GRACE: its connection is closed."""
    read = 0
    try:
        async with asyncio.timeout(BODY_END_GRACE):
            while not content.at_eof() and read <= BODY_END_BYTES:
                data = await content.readany()
                if not data:
                    return
                read += len(data)
    except TRANSPORT_ERRORS:
        return


async def completion_stream(
    upstream: Upstream, payload: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    """A streaming completion: each SSE chunk as a dict, ending at ``data: [DONE]``.

    Faults before the first chunk and during the stream raise upstream faults; a stream that
    ends without ``[DONE]`` is UpstreamStreamCut. Closing the generator closes the upstream
    request at once (how a client's disconnect cancels it).
    """
    call = UpstreamCall(upstream.name)
    try:
        async with http_session().post(
            upstream.chat_url, **_json_body(payload, upstream)
        ) as response:
            call.answered()
            if response.status >= 400:
                raise fault_for_status(response, await response.read())
            buffer = b""
            body = _reads(response.content)
            line_max = max_sse_line()
            async for data in body:
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                if len(buffer) > line_max or any(len(line) > line_max for line in lines):
                    raise UpstreamTooLong(
                        f"The model server sent a chunk larger than {line_max} bytes."
                    )
                for line in lines:
                    chunk = _sse_line(line)
                    if chunk is _DONE:
                        await _body_end(response.content)
                        return
                    if chunk is not None:
                        yield chunk
            chunk = _sse_line(buffer)
            if chunk is _DONE:
                return
            if chunk is not None:
                yield chunk
    except TRANSPORT_ERRORS as exc:
        fault = translate(exc)
        call.failed(fault)
        raise fault from exc
    except Exception as exc:
        call.failed(exc)
        raise
    call.failed(UpstreamStreamCut())
    raise UpstreamStreamCut()


async def ollama_pull(upstream: Upstream, name: str) -> AsyncIterator[bytes]:
    """Ask an Ollama server to pull ``name``; its NDJSON progress lines, as they come."""
    url = upstream.base_url.rstrip("/") + "/api/pull"
    try:
        async with http_session().post(
            url, **_json_body({"name": name, "model": name, "stream": True}, upstream)
        ) as response:
            if response.status >= 400:
                raise fault_for_status(response, await response.read())
            async for line in response.content:  # lines, each at most the read buffer (64 KiB)
                if line.strip():
                    yield line.rstrip(b"\r\n") + b"\n"
    except ValueError:  # a line longer than the read buffer
        raise UpstreamInvalidResponse("The model server sent an endless line.") from None
    except TRANSPORT_ERRORS as exc:
        raise translate(exc) from exc
