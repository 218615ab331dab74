"""The browser-facing headers of the web client's pages (docs/web-client.md).

The pages load only this site's own files: no inline script or style, no plugins, no framing,
no other origin to connect to (the websocket at /ws/ is this origin too).
"""

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def browser_headers(response: HttpResponse, *, secure: bool) -> HttpResponse:
    policy = CSP + ("; upgrade-insecure-requests" if secure else "")
    response["Content-Security-Policy"] = policy
    response["X-Frame-Options"] = "DENY"
    response["X-Content-Type-Options"] = "nosniff"
    # Share pages carry a secret id in their path: never send it to another site.
    response["Referrer-Policy"] = "no-referrer"
    response["Cross-Origin-Opener-Policy"] = "same-origin"
    response["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    return response


def with_browser_headers(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        return browser_headers(view(request, *args, **kwargs), secure=request.is_secure())

    return wrapped
