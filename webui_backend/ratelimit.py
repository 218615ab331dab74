"""Sliding-window rate limits, exact across processes, and the headers that report them.

``hit(scope=, ident=, limit=, window=)`` counts one request against "at most ``limit`` requests
in any ``window`` seconds" and says whether it is admitted; ``hit(..., also=[(ident, limit)])``
counts it against several buckets at once (a key's and its account's), admitted only if every
one has room. With Redis (``REDIS_URL``) the whole decision is one Lua script, so it is atomic
however many processes share the limit: the script drops the entries that left the window,
counts the rest and records this request only if it fits, all against Redis's own clock (so
processes with skewed clocks still agree). Without Redis (the embedded default: one process)
the same algorithm runs in memory under a lock.

If Redis cannot be reached the request is refused with 503 ``rate_limit_unavailable`` and a
Retry-After (fail closed, RATE_LIMIT_FAIL_OPEN=false, the default): a limit that cannot count
admits nothing, so no outage or restart lets through more than the limit. With
RATE_LIMIT_FAIL_OPEN=true it is admitted uncounted instead (the API stays up, the limit is
lost meanwhile). Either way the failure is logged, Redis is left alone for a few seconds, and
``/health`` reports the cache as failed meanwhile.
"""

import hashlib
import logging
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin

from webui_backend.errors import AppError
from webui_backend.middleware import InlineHooksMixin

logger = logging.getLogger(__name__)

# After a Redis failure, requests are admitted without asking Redis for this many seconds.
REDIS_RETRY_AFTER = 5.0

# KEYS: the buckets; ARGV: window (ms), this request's member, then each bucket's limit.
# Admitted only if every bucket has room, and then recorded in all of them; the answer
# describes the tightest bucket, the one with least room left (a refusing one has none).
_SLIDING_WINDOW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local allowed = 1
local counts = {}
for i = 1, #KEYS do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
    counts[i] = redis.call('ZCARD', KEYS[i])
    if counts[i] >= tonumber(ARGV[2 + i]) then allowed = 0 end
end
local tight = 1
for i = 1, #KEYS do
    if allowed == 1 then
        redis.call('ZADD', KEYS[i], now, ARGV[2])
        counts[i] = counts[i] + 1
    end
    local left = tonumber(ARGV[2 + i]) - counts[i]
    local tight_left = tonumber(ARGV[2 + tight]) - counts[tight]
    if left < tight_left then tight = i end
    redis.call('PEXPIRE', KEYS[i], window)
end
local reset = now + window
local oldest = redis.call('ZRANGE', KEYS[tight], 0, 0, 'WITHSCORES')
if oldest[2] then reset = tonumber(oldest[2]) + window end
return {allowed, counts[tight], reset, now, tight}
"""


class RateLimitUnavailable(AppError):
    status_code = 503
    default_detail = "Requests cannot be counted right now; retry shortly."
    default_code = "rate_limit_unavailable"

    def __init__(self) -> None:
        super().__init__()
        self.wait = math.ceil(REDIS_RETRY_AFTER)  # DRF's handler sends it as Retry-After


@dataclass(frozen=True)
class Window:
    """The outcome of one ``hit``.

    ``reset_at`` is when the count next goes down (the oldest admitted request leaves the
    window), in Unix seconds; ``degraded`` means the store could not be asked and the request
    was admitted without counting (no headers are sent then: there is nothing true to say).
    """

    allowed: bool
    limit: int
    remaining: int
    reset_at: float
    now: float
    degraded: bool = False

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset_at - self.now))

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }


def hit(
    *,
    scope: str,
    ident: str,
    limit: int,
    window: int,
    also: Sequence[tuple[str, int]] = (),
) -> Window:
    """Count one request by ``ident`` under ``scope``: at most ``limit`` per ``window`` seconds.
    Raises RateLimitUnavailable if Redis cannot count it (unless RATE_LIMIT_FAIL_OPEN).

    ``also`` names more buckets ``(ident, limit)`` of the same scope and window that the same
    request counts against, atomically: it is admitted only if all have room, and then counted
    in all; the window returned is the tightest bucket's (so its headers tell the truth).

    ``ident`` is hashed before it becomes part of a key, so emails, addresses and keys never
    appear in the cache. Refused requests are not recorded: a client that keeps knocking while
    limited does not push its own reset further away.
    """
    buckets = [(_key_name(scope, ident), limit)]
    buckets += [(_key_name(scope, other), other_limit) for other, other_limit in also]
    if settings.REDIS_URL:
        return _hit_redis(buckets, window_ms=window * 1000)
    return _memory.hit(buckets, window_ms=window * 1000)


def _key_name(scope: str, ident: str) -> str:
    return f"rl:{scope}:{hashlib.sha256(ident.encode()).hexdigest()[:32]}"


# --- Redis ----------------------------------------------------------------------------------

_redis_down_until = 0.0
_script: Any = None


def _hit_redis(buckets: list[tuple[str, int]], *, window_ms: int) -> Window:
    global _redis_down_until, _script
    if time.monotonic() < _redis_down_until:
        return _degraded(buckets[0][1])
    try:
        client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
        if _script is None:
            _script = client.register_script(_SLIDING_WINDOW_LUA)
        allowed, count, reset_ms, now_ms, tight = _script(
            keys=[cache.make_key(name) for name, _ in buckets],
            args=[window_ms, secrets.token_hex(8), *(limit for _, limit in buckets)],
            client=client,
        )
    except Exception as exc:  # redis-py raises ConnectionError, TimeoutError, OSError, ...
        _redis_down_until = time.monotonic() + REDIS_RETRY_AFTER
        logger.warning(
            "rate limits: Redis unreachable (%s); admitting requests unlimited for %.0f s",
            type(exc).__name__,
            REDIS_RETRY_AFTER,
        )
        return _degraded(buckets[0][1])
    limit = buckets[int(tight) - 1][1]
    return Window(
        allowed=bool(allowed),
        limit=limit,
        remaining=max(0, limit - int(count)),
        reset_at=int(reset_ms) / 1000,
        now=int(now_ms) / 1000,
    )


def _degraded(limit: int) -> Window:
    if not settings.RATE_LIMIT_FAIL_OPEN:
        raise RateLimitUnavailable()
    now = time.time()
    return Window(allowed=True, limit=limit, remaining=limit, reset_at=now, now=now, degraded=True)


# --- In process -----------------------------------------------------------------------------


class _MemoryStore:
    """The Lua script's algorithm for one process: a timestamp log per key under one lock."""

    SWEEP_EVERY = 10_000  # hits between sweeps that drop the logs of idle keys

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[str, deque[int]] = {}
        self._hits = 0

    def hit(self, buckets: list[tuple[str, int]], *, window_ms: int) -> Window:
        now = int(time.time() * 1000)
        with self._lock:
            self._hits += 1
            if self._hits % self.SWEEP_EVERY == 0:
                self._sweep(now)
            logs = []
            for name, limit in buckets:
                log = self._logs.setdefault(name, deque())
                while log and log[0] <= now - window_ms:
                    log.popleft()
                logs.append((log, limit))
            allowed = all(len(log) < limit for log, limit in logs)
            if allowed:
                for log, _ in logs:
                    log.append(now)
            # The tightest bucket, the one with least room left (a refusing one has none).
            log, limit = min(logs, key=lambda item: item[1] - len(item[0]))
            reset = (log[0] if log else now) + window_ms
            remaining = max(0, limit - len(log))
        return Window(
            allowed=allowed, limit=limit, remaining=remaining, reset_at=reset / 1000, now=now / 1000
        )

    def _sweep(self, now: int) -> None:
        # A log whose newest entry is older than a day cannot matter to any window we allow.
        for name in [n for n, log in self._logs.items() if not log or log[-1] < now - 86_400_000]:
            del self._logs[name]

    def clear(self) -> None:
        with self._lock:
            self._logs.clear()


_memory = _MemoryStore()


def clear() -> None:
    """Forget every in-process count and any remembered Redis failure."""
    global _redis_down_until
    _memory.clear()
    _redis_down_until = 0.0


# --- Request plumbing -----------------------------------------------------------------------


def attach(request: Any, window: Window) -> None:
    """Remember ``window`` on the request, so its response carries the X-RateLimit headers."""
    django_request = getattr(request, "_request", request)  # DRF's Request wraps Django's
    django_request.ratelimit_window = window


class RateLimitHeadersMiddleware(InlineHooksMixin, MiddlewareMixin):
    """Adds ``X-RateLimit-Limit/Remaining/Reset`` to every response a limit was applied to."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        window: Window | None = getattr(request, "ratelimit_window", None)
        if window is not None and not window.degraded:
            for name, value in window.headers().items():
                if name not in response.headers:
                    response.headers[name] = value
        return response


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or the hop TRUSTED_PROXY_COUNT proxies reported.

    X-Forwarded-For is forgeable by the client except for the entries our own proxies
    appended, so only the last TRUSTED_PROXY_COUNT entries are believed.
    """
    trusted = settings.TRUSTED_PROXY_COUNT
    if trusted:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [h for h in hops if h]
        if len(hops) >= trusted:
            return hops[-trusted]
    return request.META.get("REMOTE_ADDR") or "unknown"
