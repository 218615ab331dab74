"""One error shape for every route, including Django's own handlers."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/nope", "/api/auths", "/nothing/here", "/api/auths/x/y"])
def test_unknown_routes_are_json_404(api: APIClient, path: str) -> None:
    response = api.get(path)

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_wrong_method_is_json_405(api: APIClient) -> None:
    response = api.delete("/api/auths/signin")

    assert response.status_code == 405
    assert response.json() == {
        "detail": 'Method "DELETE" not allowed.',
        "code": "method_not_allowed",
    }


@pytest.mark.urls("tests.urls_with_failure")
def test_unexpected_failure_is_json_500_without_internals() -> None:
    client = Client(raise_request_exception=False)

    response = client.get("/api/test-failure")

    assert response.status_code == 500
    assert response.json() == {"detail": "An internal error occurred.", "code": "server_error"}
    assert b"boom" not in response.content


def test_disallowed_host_is_json_400(api: APIClient, settings: object) -> None:
    settings.ALLOWED_HOSTS = ["example.org"]  # type: ignore[attr-defined]

    response = api.get("/api/auths/", HTTP_HOST="evil.test")

    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
