"""What the request middleware (request id, latency histogram, access line) costs per request.

    .venv/bin/python bench/observability.py [--calls 20000] [--repeat 5]

In one process, without a server: ``RequestContextMiddleware`` wraps a view that returns a ready
response, and is called directly with one request (a resolved route, an incoming request id),
without the access line and with it (formatted as JSON, as in production, written to
/dev/null). CPU time, best of ``--repeat``: what the middleware adds to every request, apart
from the rest of Django (a whole request through daphne and Django is ~6 ms here).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

# The project first, and not this folder, whose scripts share names with the apps.
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webui_backend.settings")
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="webui-bench-obs-"))
os.environ.setdefault("LOG_FORMAT", "json")

import django  # noqa: E402 - after the settings module is chosen

django.setup()

from django.http import HttpResponse  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.urls import resolve  # noqa: E402

from webui_backend.middleware import RequestContextMiddleware  # noqa: E402
from webui_backend.observability import ContextFilter, JsonFormatter  # noqa: E402


def per_call_us(call: object, calls: int, repeat: int) -> float:
    """Best CPU time (process time, so other work on the machine does not count) per call."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for _ in range(calls):
            call()  # type: ignore[operator]
        best = min(best, (time.process_time() - started) / calls)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    # The access line goes through the JSON formatter to a handler that writes nowhere.
    access = logging.getLogger("webui.access")
    access.propagate = False
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - for the whole run
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    access.addHandler(handler)

    request = RequestFactory().get("/api/chats/5f0c", HTTP_X_REQUEST_ID="bench-1")
    request.resolver_match = resolve("/api/version")
    response = HttpResponse(b'{"version": "0.1.0"}', content_type="application/json")

    def view(request: object) -> HttpResponse:
        return response

    middleware = RequestContextMiddleware(view)
    bare = per_call_us(lambda: view(request), args.calls, args.repeat)
    with override_settings(ACCESS_LOG=False):
        quiet = per_call_us(lambda: middleware(request), args.calls, args.repeat)
    with override_settings(ACCESS_LOG=True):
        logged = per_call_us(lambda: middleware(request), args.calls, args.repeat)
    print("RequestContextMiddleware around a view that returns at once, CPU time per call,")
    print(f"best of {args.repeat} x {args.calls} calls")
    print(f"{'the view alone':<40}{bare:>8.2f} us")
    print(f"{'with the middleware, ACCESS_LOG=false':<40}{quiet:>8.2f} us  (+{quiet - bare:.2f})")
    label = "with the middleware, ACCESS_LOG=true"
    print(f"{label:<40}{logged:>8.2f} us  (+{logged - bare:.2f})")


if __name__ == "__main__":
    main()
