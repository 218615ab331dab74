"""Fixed-window counters in the shared cache (Redis when configured), atomic across processes."""

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


@dataclass(frozen=True)
class Window:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # Unix seconds when the window ends

    @property
    def retry_after(self) -> int:
        return max(1, self.reset_at - int(time.time()))


def hit(*, scope: str, ident: str, limit: int, window: int) -> Window:
    """Count one event for ``ident`` in the current window of ``window`` seconds.

    ``ident`` is hashed before it becomes part of a key, so emails, addresses and keys never
    appear in the cache. ``cache.add`` then ``cache.incr`` is atomic on Redis and locmem.
    """
    now = int(time.time())
    start = now - now % window
    digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
    key = f"rl:{scope}:{digest}:{start}"
    cache.add(key, 0, timeout=window + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.add(key, 1, timeout=window + 1)
        count = 1
    return Window(
        allowed=count <= limit,
        limit=limit,
        remaining=max(0, limit - count),
        reset_at=start + window,
    )


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
