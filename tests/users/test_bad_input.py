"""Every malformed request gets a clear detail and the right status, and creates nothing."""

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.factories import PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db

VALID = {"name": "Ann Lee", "email": "ann@example.com", "password": PASSWORD}


def post_raw(api: APIClient, path: str, body: bytes | str, content_type: str) -> Any:
    return api.generic("POST", path, body, content_type=content_type)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "ann@example.com", "password": PASSWORD}, "name"),
        ({"name": "Ann", "password": PASSWORD}, "email"),
        ({"name": "Ann", "email": "ann@example.com"}, "password"),
        ({**VALID, "role": "admin"}, "role"),
        ({**VALID, "email": 12345}, "email"),
        ({**VALID, "name": ["Ann"]}, "name"),
        ({**VALID, "name": 42}, "name"),
        ({**VALID, "password": 12345678901}, "password"),
        ({**VALID, "name": "x" * 256}, "name"),
        ({**VALID, "password": "p" * 1025}, "password"),
        ({**VALID, "email": "not-an-email"}, "email"),
        ({**VALID, "email": "a@" + "b" * 250 + ".com"}, "email"),
        ({**VALID, "name": ""}, "name"),
        ({**VALID, "name": "Ann\x00"}, "name"),
        ({**VALID, "password": "password"}, "password"),
        ({**VALID, "password": "12345678901"}, "password"),
        ({**VALID, "password": "short"}, "password"),
    ],
    ids=[
        "missing-name",
        "missing-email",
        "missing-password",
        "extra-field",
        "email-not-string",
        "name-list",
        "name-number",
        "password-number",
        "name-too-long",
        "password-too-long",
        "invalid-email",
        "email-too-long",
        "blank-name",
        "nul-in-name",
        "common-password",
        "numeric-password",
        "short-password",
    ],
)
def test_signup_field_errors_are_400_with_the_field_named(
    api: APIClient, body: dict[str, Any], field: str
) -> None:
    response = api.post("/api/auths/signup", body, format="json")

    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert error["detail"].startswith(f"{field}: ")
    assert User.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ('{"name": "Ann", ', "application/json", 400, "parse_error"),
        ("", "application/json", 400, "invalid"),
        ("[1, 2]", "application/json", 400, "invalid"),
        ('"just a string"', "application/json", 400, "invalid"),
        ("null", "application/json", 400, "invalid"),
        ("name=Ann&email=ann%40example.com", "application/x-www-form-urlencoded", 415, None),
        (json.dumps(VALID), "text/plain", 415, "unsupported_media_type"),
        (b"\xff\xfe\x00garbage", "application/json", 400, "parse_error"),
    ],
    ids=[
        "malformed-json",
        "empty-body",
        "json-array",
        "json-string",
        "json-null",
        "form-encoded",
        "text-plain",
        "binary",
    ],
)
def test_signup_malformed_bodies(
    api: APIClient, body: str | bytes, content_type: str, status: int, code: str | None
) -> None:
    response = post_raw(api, "/api/auths/signup", body, content_type)

    assert response.status_code == status
    error = response.json()
    assert isinstance(error["detail"], str)
    assert error["detail"]
    if code:
        assert error["code"] == code
    assert User.objects.count() == 0


def test_oversized_body_is_413(api: APIClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({**VALID, "name": "x" * 20_000})

    response = post_raw(api, "/api/auths/signup", body, "application/json")

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert User.objects.count() == 0


def test_signin_validation_errors_are_400(api: APIClient) -> None:
    response = api.post("/api/auths/signin", {"email": "ann@example.com"}, format="json")

    assert response.status_code == 400
    assert "password" in response.json()["fields"]


def test_signin_with_a_huge_password_is_400_not_hashed(api: APIClient, owner: User) -> None:
    response = api.post(
        "/api/auths/signin", {"email": owner.email, "password": "p" * 5000}, format="json"
    )

    assert response.status_code == 400
    assert "password" in response.json()["fields"]
