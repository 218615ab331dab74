"""The web client's cookie session routes and page headers, through Django's test client
(the browser tests in test_browser.py drive the same routes from Chromium)."""

from typing import Any

import pytest
from django.test import Client

from users.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def browser() -> Client:
    """A client that enforces CSRF, as a browser-facing server must."""
    client = Client(enforce_csrf_checks=True)
    page = client.get("/")
    assert page.status_code == 200
    client.csrf = page.cookies["csrftoken"].value  # type: ignore[attr-defined]
    return client


def post(client: Client, route: str, body: dict[str, Any] | None = None, **headers: str) -> Any:
    return client.post(
        f"/api/web/session/{route}",
        body or {},
        content_type="application/json",
        headers={"X-CSRFToken": client.csrf, **headers},  # type: ignore[attr-defined]
    )


def test_pages_carry_a_strict_csp_and_refuse_framing(client: Client) -> None:
    for path in ("/", "/auth", "/dashboard", "/knowledge", "/s/anything"):
        response = client.get(path)
        assert response.status_code == 200, path
        csp = response["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "'unsafe-inline'" not in csp
        assert "style-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "no-referrer"
        assert b"<script>" not in response.content  # no inline script at all


def test_signup_sets_an_httponly_strict_cookie_and_hides_the_refresh_token(
    browser: Client,
) -> None:
    response = post(
        browser, "signup", {"name": "Ann", "email": "ann@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token"]
    assert body["user"]["role"] == "admin"
    assert "refresh_token" not in body
    cookie = response.cookies["webui_refresh"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/api/web/session/"


def test_every_session_route_wants_the_csrf_token(browser: Client) -> None:
    User.objects.create_user(email="ann@example.com", password=PASSWORD, name="Ann")
    for route in ("signin", "signup", "refresh", "signout", "password"):
        response = browser.post(
            f"/api/web/session/{route}",
            {"email": "ann@example.com", "password": PASSWORD},
            content_type="application/json",
        )
        assert response.status_code == 403, route
        assert response.json()["code"] == "csrf_failed"
    assert "webui_refresh" not in browser.cookies


def test_a_foreign_origin_is_refused_even_with_the_token(browser: Client) -> None:
    User.objects.create_user(email="ann@example.com", password=PASSWORD, name="Ann")
    response = post(
        browser,
        "signin",
        {"email": "ann@example.com", "password": PASSWORD},
        Origin="https://evil.example",
    )
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"


def test_refresh_rotates_the_cookie_and_signout_revokes_it(browser: Client) -> None:
    User.objects.create_user(email="ann@example.com", password=PASSWORD, name="Ann")
    assert (
        post(browser, "signin", {"email": "ann@example.com", "password": PASSWORD}).status_code
        == 200
    )
    first = browser.cookies["webui_refresh"].value
    refreshed = post(browser, "refresh")
    assert refreshed.status_code == 200
    assert refreshed.json()["user"]["email"] == "ann@example.com"
    assert "refresh_token" not in refreshed.json()
    second = browser.cookies["webui_refresh"].value
    assert second != first
    # The spent cookie no longer works.
    browser.cookies["webui_refresh"] = first
    assert post(browser, "refresh").status_code == 401
    browser.cookies["webui_refresh"] = second
    assert post(browser, "signout").status_code == 204
    assert browser.cookies["webui_refresh"].value == ""
    browser.cookies["webui_refresh"] = second
    assert post(browser, "refresh").status_code == 401


def test_refresh_without_a_cookie_is_not_an_error(browser: Client) -> None:
    assert post(browser, "refresh").status_code == 204


def test_password_change_replaces_the_cookie(browser: Client) -> None:
    User.objects.create_user(email="ann@example.com", password=PASSWORD, name="Ann")
    token = post(browser, "signin", {"email": "ann@example.com", "password": PASSWORD}).json()[
        "token"
    ]
    old = browser.cookies["webui_refresh"].value
    response = post(
        browser,
        "password",
        {"password": PASSWORD, "new_password": "another long passphrase 42"},
        Authorization=f"Bearer {token}",
    )
    assert response.status_code == 200, response.content
    assert "refresh_token" not in response.json()
    assert browser.cookies["webui_refresh"].value != old
    assert post(browser, "refresh").status_code == 200
    browser.cookies["webui_refresh"] = old
    assert post(browser, "refresh").status_code == 401


def test_the_share_url_the_api_hands_out_opens_the_page(api: Any, owner: User) -> None:
    api.force_authenticate(owner)
    chat = api.post("/api/chats/new", {"chat": {"title": "Shared"}}, format="json").json()
    share = api.post(f"/api/chats/{chat['id']}/share", {"require_auth": False}, format="json")
    url = share.json()["url"]
    path = url.split("://", 1)[1].split("/", 1)[1]
    page = Client().get(f"/{path}")
    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/html")
