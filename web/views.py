"""The web client's pages: one HTML shell per route; the page script does the rest through
the public API (and the cookie session routes in web/api.py)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_safe

from web.security import with_browser_headers


@require_safe
@with_browser_headers
@ensure_csrf_cookie  # the session routes want the csrftoken cookie echoed in a header
def app_page(request: HttpRequest, **_: object) -> HttpResponse:
    response = render(request, "web/app.html")
    response["Cache-Control"] = "no-cache"
    return response
