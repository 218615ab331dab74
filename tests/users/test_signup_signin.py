from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import signin
from tests.factories import PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db


def signup(api: APIClient, **body: Any) -> Any:
    payload = {"name": "Ann Lee", "email": "ann@example.com", "password": PASSWORD, **body}
    return api.post("/api/auths/signup", payload, format="json")


def test_signup_returns_token_and_user_as_the_contract_shows(api: APIClient) -> None:
    response = signup(api)

    assert response.status_code == 200
    body = response.json()
    assert isinstance(body["token"], str)
    assert body["token"].count(".") == 2
    assert body["token_type"] == "Bearer"
    assert isinstance(body["refresh_token"], str)
    user = body["user"]
    assert set(user) >= {"id", "name", "email", "role", "created_at"}
    assert user["name"] == "Ann Lee"
    assert user["email"] == "ann@example.com"
    assert isinstance(user["id"], str)
    assert isinstance(user["created_at"], int)
    assert user["created_at"] > 1_600_000_000


def test_first_account_is_admin_and_later_ones_get_the_default_role(api: APIClient) -> None:
    first = signup(api, email="first@example.com").json()["user"]
    second = signup(api, email="second@example.com").json()["user"]

    assert first["role"] == "admin"
    assert second["role"] == "user"


def test_email_is_a_case_insensitive_login(api: APIClient) -> None:
    signup(api, email="Mixed.Case@Example.COM")

    assert User.objects.get().email == "mixed.case@example.com"
    assert signin(api, "MIXED.case@example.com")["user"]["email"] == "mixed.case@example.com"


def test_duplicate_email_in_other_case_is_409_and_creates_nothing(api: APIClient) -> None:
    signup(api, email="dup@example.com")

    response = signup(api, email="DUP@example.com", name="Someone Else")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "An account with this email already exists.",
        "code": "email_taken",
    }
    assert User.objects.count() == 1


def test_password_is_stored_with_argon2(api: APIClient, settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["users.hashers.BoundedArgon2PasswordHasher"]

    signup(api)

    stored = User.objects.get().password
    assert stored.startswith("argon2$")
    assert PASSWORD not in stored
    assert signin(api, "ann@example.com")["user"]["email"] == "ann@example.com"


def test_signin_returns_the_same_shape_as_signup(api: APIClient, owner: User) -> None:
    body = signin(api, owner.email)

    assert set(body) == {"token", "token_type", "expires_at", "refresh_token", "user"}
    assert body["user"]["id"] == str(owner.pk)
    assert body["user"]["role"] == "user"


@pytest.mark.parametrize(
    ("email", "password"),
    [("owner@example.com", "wrong password!"), ("nobody@example.com", PASSWORD)],
    ids=["wrong-password", "unknown-email"],
)
def test_bad_credentials_are_401_with_one_message(
    api: APIClient, owner: User, email: str, password: str
) -> None:
    response = api.post("/api/auths/signin", {"email": email, "password": password}, format="json")

    assert response.status_code == 401
    assert response.json() == {
        "detail": "The email or password is incorrect.",
        "code": "invalid_credentials",
    }


def test_disabled_account_cannot_sign_in(api: APIClient, owner: User) -> None:
    User.objects.filter(pk=owner.pk).update(is_active=False)

    response = api.post(
        "/api/auths/signin", {"email": owner.email, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 401


def test_me_returns_the_contract_fields(api: APIClient, owner: User) -> None:
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {signin(api, owner.email)['token']}")

    response = api.get("/api/auths/")

    assert response.status_code == 200
    body = response.json()
    assert {"id", "name", "email", "role", "profile_image_url", "last_active_at"} <= set(body)
    assert body["email"] == owner.email
    assert isinstance(body["last_active_at"], int)


def test_me_without_a_token_is_401(api: APIClient) -> None:
    response = api.get("/api/auths/")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response.json()["detail"]
