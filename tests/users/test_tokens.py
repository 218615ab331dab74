"""Access and refresh tokens: expiry, tampering, rotation, sign-out, password changes."""

import base64
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tests.conftest import signin
from tests.factories import PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def me(api: APIClient, token: str) -> Any:
    return api.get("/api/auths/", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_expired_access_token_is_401(api: APIClient, owner: User) -> None:
    token = AccessToken.for_user(owner)
    token.set_exp(lifetime=-timedelta(seconds=1))

    response = me(api, str(token))

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_tampered_access_token_is_401(api: APIClient, owner: User, make_user: Any) -> None:
    other = make_user()
    header, payload, signature = signin(api, owner.email)["token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["user_id"] = str(other.pk)

    response = me(api, f"{header}.{b64(claims)}.{signature}")

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_alg_none_token_is_401(api: APIClient, owner: User) -> None:
    claims = dict(AccessToken.for_user(owner).payload)
    forged = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."

    response = me(api, forged)

    assert response.status_code == 401


def test_refresh_token_is_not_an_access_token(api: APIClient, owner: User) -> None:
    response = me(api, signin(api, owner.email)["refresh_token"])

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer a b", "Bearer not-a-jwt", "Token abc", "Bearer \u00e9\u00e9"]
)
def test_malformed_authorization_headers_are_401(api: APIClient, header: str) -> None:
    response = api.get("/api/auths/", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response.json()["detail"]


def test_token_of_a_deleted_user_is_401(api: APIClient, owner: User) -> None:
    token = signin(api, owner.email)["token"]
    owner.delete()

    assert me(api, token).status_code == 401


def test_refresh_rotates_and_the_old_refresh_token_is_spent(api: APIClient, owner: User) -> None:
    first = signin(api, owner.email)

    response = api.post(
        "/api/auths/refresh", {"refresh_token": first["refresh_token"]}, format="json"
    )
    again = api.post("/api/auths/refresh", {"refresh_token": first["refresh_token"]}, format="json")

    assert response.status_code == 200
    fresh = response.json()
    assert fresh["refresh_token"] != first["refresh_token"]
    assert me(api, fresh["token"]).status_code == 200
    assert again.status_code == 401
    assert again.json()["code"] == "token_not_valid"


def test_access_token_cannot_be_used_to_refresh(api: APIClient, owner: User) -> None:
    session = signin(api, owner.email)

    response = api.post("/api/auths/refresh", {"refresh_token": session["token"]}, format="json")

    assert response.status_code == 401


def test_expired_refresh_token_is_401(api: APIClient, owner: User) -> None:
    refresh = RefreshToken.for_user(owner)
    refresh.set_exp(lifetime=-timedelta(seconds=1))

    response = api.post("/api/auths/refresh", {"refresh_token": str(refresh)}, format="json")

    assert response.status_code == 401


def signout(api: APIClient, refresh_token: str, access_token: str | None) -> Any:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {access_token}"} if access_token else {}
    return api.post("/api/auths/signout", {"refresh_token": refresh_token}, format="json", **auth)


def test_signout_revokes_the_refresh_token_and_is_idempotent(api: APIClient, owner: User) -> None:
    session = signin(api, owner.email)

    first = signout(api, session["refresh_token"], session["token"])
    second = signout(api, session["refresh_token"], session["token"])
    refresh = api.post(
        "/api/auths/refresh", {"refresh_token": session["refresh_token"]}, format="json"
    )

    assert first.status_code == 204
    assert second.status_code == 204
    assert refresh.status_code == 401


def test_signout_with_an_access_token_or_garbage_is_401(api: APIClient, owner: User) -> None:
    session = signin(api, owner.email)

    wrong_type = signout(api, session["token"], session["token"])
    garbage = signout(api, "x.y.z", session["token"])

    assert wrong_type.status_code == 401
    assert garbage.status_code == 401


def test_signout_without_an_access_token_is_401_and_revokes_nothing(
    api: APIClient, owner: User
) -> None:
    session = signin(api, owner.email)

    response = signout(api, session["refresh_token"], None)
    refresh = api.post(
        "/api/auths/refresh", {"refresh_token": session["refresh_token"]}, format="json"
    )

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert refresh.status_code == 200


def test_signout_with_another_accounts_refresh_token_revokes_nothing(
    api: APIClient, owner: User, stranger: User
) -> None:
    victim = signin(api, owner.email)
    attacker = signin(api, stranger.email)

    response = signout(api, victim["refresh_token"], attacker["token"])
    refresh = api.post(
        "/api/auths/refresh", {"refresh_token": victim["refresh_token"]}, format="json"
    )

    assert response.status_code == 204
    assert refresh.status_code == 200


def test_password_change_invalidates_older_tokens(api: APIClient, owner: User) -> None:
    old = signin(api, owner.email)
    new_password = "another long passphrase 42"

    response = api.post(
        "/api/auths/update/password",
        {"password": PASSWORD, "new_password": new_password},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {old['token']}",
    )

    assert response.status_code == 200
    assert me(api, old["token"]).status_code == 401
    refresh = api.post("/api/auths/refresh", {"refresh_token": old["refresh_token"]}, format="json")
    assert refresh.status_code == 401
    assert me(api, response.json()["token"]).status_code == 200
    assert signin(api, owner.email, new_password)["user"]["id"] == str(owner.pk)


def test_password_change_needs_the_current_password(api: APIClient, owner: User) -> None:
    token = signin(api, owner.email)["token"]

    response = api.post(
        "/api/auths/update/password",
        {"password": "not my password", "new_password": "another long passphrase 42"},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "wrong_password"
    assert me(api, token).status_code == 200


def test_password_change_validates_the_new_password(api: APIClient, owner: User) -> None:
    token = signin(api, owner.email)["token"]

    response = api.post(
        "/api/auths/update/password",
        {"password": PASSWORD, "new_password": "123"},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )

    assert response.status_code == 400
    assert "new_password" in response.json()["fields"]


def test_activity_is_recorded_at_most_once_a_minute(api: APIClient, owner: User) -> None:
    token = signin(api, owner.email)["token"]
    me(api, token)
    first = User.objects.get(pk=owner.pk).last_active_at
    time.sleep(1.1)
    me(api, token)

    assert first is not None
    assert User.objects.get(pk=owner.pk).last_active_at == first


def test_the_user_row_is_reused_briefly_and_changes_still_apply_at_once(
    api: APIClient, owner: User, admin_user: User
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    token = signin(api, owner.email)["token"]
    with CaptureQueriesContext(connection) as first:
        assert me(api, token).status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert me(api, token).status_code == 200
    assert len(second) < len(first)  # the verified row was kept

    admin = signin(APIClient(), admin_user.email)["token"]
    demoted = api.post(
        f"/api/users/{owner.pk}/role",
        {"role": "pending"},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {admin}",
    )
    assert demoted.status_code == 200
    assert (
        api.get(f"/api/users/{owner.pk}", HTTP_AUTHORIZATION=f"Bearer {token}").json()["code"]
        == "account_pending"
    )
    deleted = api.delete(f"/api/users/{owner.pk}", HTTP_AUTHORIZATION=f"Bearer {admin}")
    assert deleted.status_code == 200
    assert me(api, token).status_code == 401
