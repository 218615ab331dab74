"""API keys: created once, stored hashed, usable wherever a JWT is, scoped, revocable."""

import datetime as dt
import logging
import pickle
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.utils import timezone

from tests.conftest import bearer
from users.models import ApiKey, User
from users.services import api_key_revoke

pytestmark = pytest.mark.django_db

MakeKey = Callable[..., tuple[ApiKey, str]]


def create_key(api: Any, **body: Any) -> Any:
    return api.post("/api/users/api_key", {"name": "My API Key", **body}, format="json")


def test_create_key_shows_it_once_and_stores_only_a_hash(owner: User, as_user: Any) -> None:
    api = as_user(owner)

    response = create_key(api)
    listed = api.get("/api/users/api_keys").json()

    assert response.status_code == 201
    body = response.json()
    raw = body["api_key"]
    assert raw.startswith("sk-")
    assert len(raw) == 51
    assert body["name"] == "My API Key"
    assert abs(body["created_at"] - time.time()) < 60
    assert body["scope"] == "all"
    row = ApiKey.objects.get()
    assert raw not in {row.key_hash, row.prefix, row.name}
    assert raw.startswith(row.prefix)
    assert len(row.prefix) == 11
    assert [k["id"] for k in listed] == [body["id"]]
    assert "api_key" not in listed[0]
    assert listed[0]["prefix"] == row.prefix
    assert set(listed[0]) == {
        "id",
        "name",
        "prefix",
        "scope",
        "model",
        "daily_token_budget",
        "expires_at",
        "last_used_at",
        "created_at",
    }


def test_a_key_works_wherever_a_jwt_does(owner: User, make_key: MakeKey) -> None:
    key, raw = make_key(owner)

    me = bearer(raw).get("/api/auths/")
    own = bearer(raw).get(f"/api/users/{owner.pk}")

    assert me.status_code == 200
    assert me.json()["email"] == owner.email
    assert own.status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_a_key_carries_its_owners_role(admin_user: User, owner: User, make_key: MakeKey) -> None:
    _, user_key = make_key(owner)
    _, admin_key = make_key(admin_user)

    assert bearer(user_key).get("/api/users/").status_code == 403
    assert bearer(admin_key).get("/api/users/").status_code == 200


def test_revoked_key_gets_401_and_leaves_the_list(
    owner: User, as_user: Any, make_key: MakeKey
) -> None:
    key, raw = make_key(owner)
    api = as_user(owner)

    revoked = api.delete(f"/api/users/api_keys/{key.pk}")
    again = api.delete(f"/api/users/api_keys/{key.pk}")
    used = bearer(raw).get("/api/auths/")

    assert revoked.status_code == 204
    assert again.status_code == 204
    assert used.status_code == 401
    assert used.json() == {"detail": "This API key has been revoked.", "code": "api_key_revoked"}
    assert used["WWW-Authenticate"].startswith("Bearer")
    assert api.get("/api/users/api_keys").json() == []


def test_nobody_revokes_someone_elses_key(
    owner: User, stranger: User, as_user: Any, make_key: MakeKey
) -> None:
    key, raw = make_key(owner)

    response = as_user(stranger).delete(f"/api/users/api_keys/{key.pk}")

    assert response.status_code == 404
    assert response.json()["code"] == "api_key_not_found"
    assert bearer(raw).get("/api/auths/").status_code == 200


@pytest.mark.parametrize(
    ("secret", "detail"),
    [
        ("sk-", "Malformed API key: expected 'sk-' followed by 48 hex digits."),
        ("sk-hello", "Malformed API key: expected 'sk-' followed by 48 hex digits."),
        ("sk-" + "G" * 48, "Malformed API key: expected 'sk-' followed by 48 hex digits."),
        ("sk-" + "0" * 48, "Invalid API key."),
    ],
)
def test_malformed_or_unknown_key_is_401(db: None, secret: str, detail: str) -> None:
    response = bearer(secret).get("/api/auths/")

    assert response.status_code == 401
    assert response.json() == {"detail": detail, "code": "api_key_invalid"}


def test_a_tampered_key_with_a_known_prefix_is_refused(owner: User, make_key: MakeKey) -> None:
    _, raw = make_key(owner)
    tampered = raw[:-1] + ("0" if raw[-1] != "0" else "1")

    response = bearer(tampered).get("/api/auths/")

    assert response.status_code == 401
    assert response.json()["code"] == "api_key_invalid"


def test_expired_key_is_401(owner: User, make_key: MakeKey) -> None:
    key, raw = make_key(owner, expires_at=timezone.now() + dt.timedelta(hours=1))
    assert bearer(raw).get("/api/auths/").status_code == 200

    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = bearer(raw).get("/api/auths/")

    assert response.status_code == 401
    assert response.json() == {"detail": "This API key has expired.", "code": "api_key_expired"}


def test_key_with_expiry_lists_it(owner: User, as_user: Any) -> None:
    expires = int(time.time()) + 86_400

    response = create_key(as_user(owner), expires_at=expires)

    assert response.status_code == 201
    assert response.json()["expires_at"] == expires


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": 7}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"scope": "everything"}, "scope"),
        ({"expires_at": 1}, "expires_at"),
        ({"expires_at": 10**15}, "expires_at"),
        ({"expires_at": "soon"}, "expires_at"),
        ({"model": "gpt-4o"}, "model"),  # a model binds only completions-only keys
        ({"daily_token_budget": -5}, "daily_token_budget"),
        ({"api_key": "sk-" + "0" * 48}, "api_key"),  # nobody chooses their own key
    ],
)
def test_create_key_rejects_bad_input(owner: User, as_user: Any, body: dict, field: str) -> None:
    response = create_key(as_user(owner), **body)

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not ApiKey.objects.exists()


def test_inactive_account_key_is_401(owner: User, make_key: MakeKey) -> None:
    _, raw = make_key(owner)
    User.objects.filter(pk=owner.pk).update(is_active=False)

    response = bearer(raw).get("/api/auths/")

    assert response.status_code == 401
    assert response.json()["code"] == "api_key_invalid"


def test_a_jwt_is_still_required_shape_for_non_key_tokens(db: None) -> None:
    response = bearer("not-a-jwt").get("/api/auths/")

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


# --- Scope ----------------------------------------------------------------------------------


@pytest.mark.urls("tests.urls_with_completions")
def test_completions_only_key_is_refused_elsewhere(owner: User, make_key: MakeKey) -> None:
    _, raw = make_key(owner, scope=ApiKey.Scope.COMPLETIONS)

    elsewhere = bearer(raw).get("/api/auths/")
    completions = bearer(raw).post("/api/test-completions", {"model": "any"}, format="json")

    assert elsewhere.status_code == 403
    assert elsewhere.json() == {
        "detail": "This API key may only be used for chat completions.",
        "code": "api_key_scope",
    }
    assert completions.status_code == 200


@pytest.mark.urls("tests.urls_with_completions")
def test_model_bound_key_is_refused_for_other_models(owner: User, as_user: Any) -> None:
    created = create_key(as_user(owner), scope="completions", model="llama3")
    raw = created.json()["api_key"]

    right = bearer(raw).post("/api/test-completions", {"model": "llama3"}, format="json")
    wrong = bearer(raw).post("/api/test-completions", {"model": "gpt-4o"}, format="json")

    assert created.json()["model"] == "llama3"
    assert right.status_code == 200
    assert wrong.status_code == 403
    assert wrong.json() == {
        "detail": "This API key may only be used with the model 'llama3'.",
        "code": "api_key_scope",
    }


@pytest.mark.urls("tests.urls_with_completions")
def test_all_routes_key_and_jwt_also_reach_completions(
    owner: User, as_user: Any, make_key: MakeKey
) -> None:
    _, raw = make_key(owner)

    with_key = bearer(raw).post("/api/test-completions", {"model": "m"}, format="json")
    with_jwt = as_user(owner).post("/api/test-completions", {"model": "m"}, format="json")

    assert with_key.status_code == 200
    assert with_jwt.status_code == 200


# --- Site and role switches -----------------------------------------------------------------


def test_admin_turns_api_keys_off_for_the_whole_site(
    admin_user: User, owner: User, as_user: Any, make_key: MakeKey
) -> None:
    _, raw = make_key(owner)

    switched = as_user(admin_user).post(
        "/api/admin/settings", {"ENABLE_API_KEYS": False}, format="json"
    )
    used = bearer(raw).get("/api/auths/")
    owner_api = as_user(owner)
    created = create_key(owner_api)

    assert switched.status_code == 200
    assert used.status_code == 403
    assert used.json() == {
        "detail": "API keys are disabled on this site.",
        "code": "api_keys_disabled",
    }
    assert created.status_code == 403
    assert created.json()["code"] == "api_keys_disabled"


def test_admin_turns_api_keys_off_for_a_role(
    admin_user: User, owner: User, as_user: Any, make_key: MakeKey
) -> None:
    _, user_key = make_key(owner)
    _, admin_key = make_key(admin_user)

    as_user(admin_user).post("/api/admin/settings", {"API_KEY_ROLES": ["admin"]}, format="json")

    refused = bearer(user_key).get("/api/auths/")
    assert refused.status_code == 403
    assert refused.json() == {
        "detail": "API keys are disabled for accounts with the role 'user'.",
        "code": "api_keys_disabled",
    }
    assert bearer(admin_key).get("/api/auths/").status_code == 200


def test_api_key_defaults_come_from_the_environment(
    owner: User, as_user: Any, settings: Any
) -> None:
    settings.ENABLE_API_KEYS = False

    assert create_key(as_user(owner)).status_code == 403


# --- Secrecy --------------------------------------------------------------------------------


def _cache_contents() -> list[bytes]:
    """Every key name and value under our cache prefix (Redis) or in the local cache."""
    found: list[bytes] = []
    if django_settings.REDIS_URL:
        client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
        prefix = django_settings.CACHES["default"]["KEY_PREFIX"]
        for name in client.scan_iter(match=f"{prefix}:*"):
            found.append(name)
            kind = client.type(name)
            if kind == b"string":
                found.append(client.get(name))
            elif kind == b"zset":
                found.extend(client.zrange(name, 0, -1))
    else:
        for name, value in cache._cache.items():  # type: ignore[attr-defined]
            found.extend(
                [name.encode(), value if isinstance(value, bytes) else pickle.dumps(value)]
            )
    return found


def test_raw_keys_never_reach_logs_or_the_cache(
    owner: User, as_user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    raw = create_key(as_user(owner)).json()["api_key"]
    key = ApiKey.objects.get()

    bearer(raw).get("/api/auths/")
    bearer(raw).get("/api/does-not-exist")
    api_key_revoke(key=key)
    bearer(raw).get("/api/auths/")

    contents = _cache_contents()
    assert contents  # the rate limiter and the settings did use the cache
    assert not [item for item in contents if raw.encode() in item or raw[3:].encode() in item]
    assert raw not in caplog.text
    assert raw[3:] not in caplog.text
