"""The per-account request limit, applied to every DRF view (``DEFAULT_THROTTLE_CLASSES``)."""

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from users.models import ApiKey
from users.selectors import site_settings_current
from webui_backend import ratelimit
from webui_backend.errors import RateLimited


class AccountRateThrottle(BaseThrottle):
    """At most the policy's rate per account, whether a JWT or any of its keys signed the
    request: a request signed by a key counts against the key's bucket and its account's at
    once (a key may be held to less than its account, never to more: N keys do not give N
    times the limit).

    The policy (site settings, read through the shared cache) decides the rate per role and
    which roles are exempt (admins by default); anonymous requests are not counted here
    (sign-in and sign-up have their own per-address limits). The window goes on the request
    so the response carries X-RateLimit-*; past the limit, 429 with Retry-After.
    """

    def allow_request(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return True
        rate = site_settings_current(request).rate_limit.rate_for(user.role)
        if rate is None:
            return True
        key = request.auth if isinstance(request.auth, ApiKey) else None
        # The key's bucket (its own limit: today the policy's) and the account's, the ceiling.
        keys = [(f"key:{key.pk}", rate.limit)] if key is not None else []
        window = ratelimit.hit(
            scope="requests",
            ident=f"user:{user.pk}",
            limit=rate.limit,
            window=rate.window,
            also=keys,
        )
        ratelimit.attach(request, window)
        if not window.allowed:
            raise RateLimited(
                f"Rate limit exceeded: {rate.limit} requests per {rate.window} s;"
                f" retry in {window.retry_after} s.",
                retry_after=window.retry_after,
                headers=window.headers(),
            )
        return True
