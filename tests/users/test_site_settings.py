"""Admin-controlled sign-up, pending accounts, and rate-limited sign-in."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.factories import PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db


def signup(api: APIClient, email: str) -> Any:
    body = {"name": "New Person", "email": email, "password": PASSWORD}
    return api.post("/api/auths/signup", body, format="json")


def test_admin_reads_and_changes_site_config(admin_user: User, as_user: Any) -> None:
    api = as_user(admin_user)

    before = api.get("/api/auths/admin/config").json()
    after = api.post(
        "/api/auths/admin/config",
        {"ENABLE_SIGNUP": False, "DEFAULT_USER_ROLE": "pending"},
        format="json",
    )

    assert before == {"ENABLE_SIGNUP": True, "DEFAULT_USER_ROLE": "user"}
    assert after.status_code == 200
    assert after.json() == {"ENABLE_SIGNUP": False, "DEFAULT_USER_ROLE": "pending"}


def test_environment_default_holds_until_an_admin_saves_a_value(
    admin_user: User, as_user: Any, settings: Any
) -> None:
    settings.ENABLE_SIGNUP = False
    api = as_user(admin_user)

    assert api.get("/api/auths/admin/config").json()["ENABLE_SIGNUP"] is False
    api.post("/api/auths/admin/config", {"ENABLE_SIGNUP": True}, format="json")
    assert api.get("/api/auths/admin/config").json()["ENABLE_SIGNUP"] is True


def test_admin_config_rejects_bad_values(admin_user: User, as_user: Any) -> None:
    api = as_user(admin_user)

    bad_role = api.post("/api/auths/admin/config", {"DEFAULT_USER_ROLE": "admin"}, format="json")
    unknown = api.post("/api/auths/admin/config", {"ENABLE_EVERYTHING": True}, format="json")

    assert bad_role.status_code == 400
    assert "DEFAULT_USER_ROLE" in bad_role.json()["fields"]
    assert unknown.status_code == 400


def test_non_admin_cannot_touch_site_config(owner: User, as_user: Any) -> None:
    api = as_user(owner)

    response = api.post("/api/auths/admin/config", {"ENABLE_SIGNUP": False}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "admin_only"
    assert api.get("/api/auths/admin/config").status_code == 403


def test_signup_disabled_is_403_and_creates_nothing(
    admin_user: User, as_user: Any, api: APIClient
) -> None:
    as_user(admin_user).post("/api/auths/admin/config", {"ENABLE_SIGNUP": False}, format="json")
    api.credentials()

    response = signup(api, "late@example.com")

    assert response.status_code == 403
    assert response.json()["code"] == "signup_disabled"
    assert not User.objects.filter(email="late@example.com").exists()


def test_first_account_may_sign_up_even_when_signup_is_disabled(
    api: APIClient, settings: Any
) -> None:
    settings.ENABLE_SIGNUP = False

    response = signup(api, "founder@example.com")

    assert response.status_code == 200
    assert response.json()["user"]["role"] == "admin"


def test_pending_account_signs_in_but_is_refused_elsewhere(
    admin_user: User, api: APIClient, settings: Any
) -> None:
    settings.DEFAULT_USER_ROLE = "pending"
    session = signup(api, "waiting@example.com").json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {session['token']}")

    me = api.get("/api/auths/")
    elsewhere = api.post(
        "/api/auths/update/password",
        {"password": PASSWORD, "new_password": "another long passphrase 42"},
        format="json",
    )

    assert session["user"]["role"] == "pending"
    assert me.status_code == 200
    assert me.json()["role"] == "pending"
    assert elsewhere.status_code == 403
    assert elsewhere.json() == {
        "detail": "Your account is pending approval by an administrator.",
        "code": "account_pending",
    }


def test_signin_is_limited_per_email(api: APIClient, owner: User, settings: Any) -> None:
    settings.AUTH_RATE_PER_EMAIL = (5, 60)
    body = {"email": owner.email, "password": "wrong password!"}

    statuses = [api.post("/api/auths/signin", body, format="json").status_code for _ in range(5)]
    blocked = api.post(
        "/api/auths/signin", {"email": owner.email.upper(), "password": PASSWORD}, format="json"
    )

    assert statuses == [401] * 5
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "rate_limited"
    assert 1 <= int(blocked["Retry-After"]) <= 60


def test_signin_is_limited_per_client_address(api: APIClient, settings: Any) -> None:
    settings.AUTH_RATE_PER_IP = (3, 60)
    statuses = []
    for n in range(4):
        body = {"email": f"guess{n}@example.com", "password": "wrong password!"}
        statuses.append(
            api.post("/api/auths/signin", body, format="json", REMOTE_ADDR="10.0.0.7").status_code
        )
    other_address = api.post(
        "/api/auths/signin",
        {"email": "guess9@example.com", "password": "x"},
        format="json",
        REMOTE_ADDR="10.0.0.8",
    )

    assert statuses == [401, 401, 401, 429]
    assert other_address.status_code == 401


def test_forwarded_for_is_ignored_unless_proxies_are_trusted(api: APIClient, settings: Any) -> None:
    settings.AUTH_RATE_PER_IP = (1, 60)
    body = {"email": "a@example.com", "password": "x"}

    first = api.post("/api/auths/signin", body, format="json", HTTP_X_FORWARDED_FOR="1.1.1.1")
    spoofed = api.post("/api/auths/signin", body, format="json", HTTP_X_FORWARDED_FOR="2.2.2.2")

    assert first.status_code == 401
    assert spoofed.status_code == 429


def test_signup_is_limited_per_client_address(api: APIClient, settings: Any) -> None:
    settings.AUTH_RATE_PER_IP = (2, 60)

    statuses = [signup(api, f"n{n}@example.com").status_code for n in range(3)]

    assert statuses == [200, 200, 429]
    assert User.objects.count() == 2


def test_a_stale_copy_written_back_after_a_save_is_not_believed(admin_user: User) -> None:
    """A request that read the old row just before a save may write it to the cache just
    after; the copy carries the generation it was read under, so it is ignored."""
    from django.core.cache import cache

    from users.selectors import (
        SITE_SETTINGS_CACHE_KEY,
        SITE_SETTINGS_GENERATION_KEY,
        site_settings_current,
    )
    from users.services import site_settings_update

    assert site_settings_current().enable_api_keys is True
    stale = cache.get(SITE_SETTINGS_CACHE_KEY)
    generation = cache.get(SITE_SETTINGS_GENERATION_KEY, 0)

    site_settings_update(actor=admin_user, enable_api_keys=False)
    cache.set(SITE_SETTINGS_CACHE_KEY, stale)  # the late write of the racing request

    assert cache.get(SITE_SETTINGS_GENERATION_KEY) > generation
    assert site_settings_current().enable_api_keys is False
