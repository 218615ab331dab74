"""The real server over real HTTP: the README's walk-through, docs, errors, and uvicorn."""

from collections.abc import Callable

import httpx
import pytest

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def test_walkthrough_signup_signin_me(server_url: str) -> None:
    with httpx.Client(base_url=server_url, timeout=10) as client:
        signup = client.post(
            "/api/auths/signup",
            json={"name": "Ann Lee", "email": "Ann@Example.com", "password": PASSWORD},
        )
        signin = client.post(
            "/api/auths/signin", json={"email": "ann@example.com", "password": PASSWORD}
        )
        me = client.get(
            "/api/auths/", headers={"Authorization": f"Bearer {signin.json()['token']}"}
        )

    assert signup.status_code == 200
    assert signup.json()["user"]["role"] == "admin"
    assert signin.status_code == 200
    assert me.status_code == 200
    assert me.json()["email"] == "ann@example.com"


def test_server_answers_errors_in_the_one_shape(server_url: str) -> None:
    with httpx.Client(base_url=server_url, timeout=10) as client:
        missing = client.get("/api/does-not-exist")
        malformed = client.post(
            "/api/auths/signin", content=b"{oops", headers={"Content-Type": "application/json"}
        )
        unauthenticated = client.get("/api/auths/")

    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not found.", "code": "not_found"}
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "parse_error"
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["code"] == "not_authenticated"


def test_docs_and_admin_assets_are_served_without_debug(server_url: str) -> None:
    with httpx.Client(base_url=server_url, timeout=10) as client:
        docs = client.get("/docs")
        bundle = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
        redoc = client.get("/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js")
        admin_css = client.get("/static/admin/css/base.css")
        schema = client.get("/api/openapi.json")

    assert docs.status_code == 200
    assert bundle.status_code == 200
    assert len(bundle.content) > 100_000
    assert redoc.status_code == 200
    assert admin_css.status_code == 200
    assert "/api/auths/signin" in schema.json()["paths"]


def test_uvicorn_serves_the_same_application(start_server: Callable[..., str]) -> None:
    url = start_server("uvicorn")

    with httpx.Client(base_url=url, timeout=10) as client:
        health = client.get("/health")
        signup = client.post(
            "/api/auths/signup",
            json={"name": "Uvi Corn", "email": "uvi@example.com", "password": PASSWORD},
        )

    assert health.json()["status"] == "ok"
    assert signup.status_code == 200


def _csrf_field(page: str) -> str:
    marker = 'name="csrfmiddlewaretoken" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


def test_django_admin_signs_in_saves_and_shows_messages_under_asgi(server_url: str) -> None:
    """Sessions, CSRF and messages run on the event loop under ASGI, except where they touch
    the database or the form (webui_backend/middleware.py): the admin's whole cycle."""
    with httpx.Client(base_url=server_url, timeout=10) as client:
        signup = client.post(
            "/api/auths/signup",
            json={"name": "Ad Min", "email": "admin-e2e@example.com", "password": PASSWORD},
        )
        assert signup.json()["user"]["role"] == "admin"
        login_page = client.get("/admin/login/")
        forged = httpx.post(
            f"{server_url}/admin/login/",
            data={"username": "admin-e2e@example.com", "password": PASSWORD},
        )
        signed_in = client.post(
            "/admin/login/?next=/admin/",
            data={
                "csrfmiddlewaretoken": _csrf_field(login_page.text),
                "username": "admin-e2e@example.com",
                "password": PASSWORD,
                "next": "/admin/",
            },
        )
        add_page = client.get("/admin/users/user/add/")
        added = client.post(
            "/admin/users/user/add/",
            data={
                "csrfmiddlewaretoken": _csrf_field(add_page.text),
                "email": "made-e2e@example.com",
                "name": "Made",
                "role": "user",
                "password": PASSWORD,
            },
        )
        listing = client.get(added.headers["Location"])
        listing_again = client.get("/admin/users/user/")
        api = client.get("/api/auths/")  # a session is not an API credential

    assert login_page.status_code == 200
    assert "csrftoken" in login_page.cookies
    assert forged.status_code == 403
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/admin/"
    assert "sessionid" in signed_in.cookies
    assert add_page.status_code == 200
    assert added.status_code == 302
    assert listing.status_code == 200
    assert "made-e2e@example.com" in listing.text
    assert "was added successfully" in listing.text  # the message, stored then shown once
    assert "was added successfully" not in listing_again.text
    assert api.status_code == 401
