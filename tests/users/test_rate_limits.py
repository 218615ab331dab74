"""Per-account request limits: headers, 429, admin exemption, the admin-set policy, Redis down."""

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections

from tests.conftest import bearer, signin
from tests.e2e.conftest import free_port
from users.models import ApiKey, User
from users.policy import RateLimitPolicy
from users.services import site_settings_update
from webui_backend import ratelimit

pytestmark = pytest.mark.django_db

MakeKey = Callable[..., tuple[ApiKey, str]]


def set_policy(**policy: Any) -> None:
    site_settings_update(rate_limit=RateLimitPolicy.from_dict({"window": 60, **policy}))


def test_limited_responses_carry_the_headers(owner: User, as_user: Any) -> None:
    api = as_user(owner)
    before = time.time()

    first = api.get("/api/auths/")
    second = api.get("/api/auths/")

    assert first.status_code == 200
    assert first["X-RateLimit-Limit"] == "100"
    assert first["X-RateLimit-Remaining"] == "99"
    assert second["X-RateLimit-Remaining"] == "98"
    reset = int(first["X-RateLimit-Reset"])
    assert before + 59 <= reset <= time.time() + 61


def test_past_the_limit_is_429_with_retry_after(owner: User, as_user: Any) -> None:
    set_policy(limit=3)
    api = as_user(owner)

    statuses = [api.get("/api/auths/").status_code for _ in range(3)]
    refused = api.get("/api/auths/")

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.json() == {
        "detail": f"Rate limit exceeded: 3 requests per 60 s; retry in {refused['Retry-After']} s.",
        "code": "rate_limited",
    }
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["X-RateLimit-Limit"] == "3"
    assert refused["X-RateLimit-Remaining"] == "0"
    assert int(refused["X-RateLimit-Reset"]) >= int(time.time())


def test_refused_requests_do_not_count(owner: User, as_user: Any) -> None:
    set_policy(limit=2)
    api = as_user(owner)
    for _ in range(6):
        api.get("/api/auths/")

    window = ratelimit.hit(scope="requests", ident=f"user:{owner.pk}", limit=3, window=60)

    assert window.allowed  # 2 admitted, 4 refused and not recorded: a third fits under 3
    assert window.remaining == 0


def test_admins_are_exempt_by_default(admin_user: User, as_user: Any) -> None:
    set_policy(limit=1, exempt_roles=["admin"])
    api = as_user(admin_user)

    responses = [api.get("/api/auths/") for _ in range(5)]

    assert [r.status_code for r in responses] == [200] * 5
    assert "X-RateLimit-Limit" not in responses[0]


def test_each_user_has_their_own_count(owner: User, stranger: User, as_user: Any) -> None:
    set_policy(limit=1)
    owner_api = bearer(signin(as_user(owner), owner.email)["token"])
    stranger_api = bearer(signin(as_user(stranger), stranger.email)["token"])

    assert owner_api.get("/api/auths/").status_code == 200
    assert owner_api.get("/api/auths/").status_code == 429
    assert stranger_api.get("/api/auths/").status_code == 200


def test_keys_and_the_jwt_share_their_accounts_limit(
    owner: User, as_user: Any, make_key: MakeKey
) -> None:
    """N keys do not give N + 1 times the limit: every request counts against the account."""
    set_policy(limit=3)
    _, first_key = make_key(owner)
    _, second_key = make_key(owner)
    jwt_api = as_user(owner)

    admitted = [
        bearer(first_key).get("/api/auths/"),
        bearer(second_key).get("/api/auths/"),
        jwt_api.get("/api/auths/"),
    ]
    refused = [
        bearer(first_key).get("/api/auths/"),
        bearer(second_key).get("/api/auths/"),
        jwt_api.get("/api/auths/"),
    ]

    assert [r.status_code for r in admitted] == [200, 200, 200]
    assert [r["X-RateLimit-Remaining"] for r in admitted] == ["2", "1", "0"]
    assert [r.status_code for r in refused] == [429, 429, 429]
    assert refused[0]["X-RateLimit-Limit"] == "3"


def test_a_key_and_its_account_are_counted_together_atomically() -> None:
    """Admitted only if every bucket has room; a refused request is counted in none."""
    for _ in range(2):
        assert ratelimit.hit(scope="t", ident="key", limit=2, window=60, also=[("acct", 5)]).allowed
    refused = ratelimit.hit(scope="t", ident="key", limit=2, window=60, also=[("acct", 5)])
    account = ratelimit.hit(scope="t", ident="acct", limit=5, window=60)

    assert not refused.allowed
    assert (refused.limit, refused.remaining) == (2, 0)  # the tightest bucket's figures
    assert account.allowed
    assert account.remaining == 2  # 2 through the key + this one: the refusal was not counted


def test_admin_changes_the_policy_without_a_restart(
    admin_user: User, owner: User, as_user: Any
) -> None:
    owner_api = bearer(signin(as_user(owner), owner.email)["token"])
    admin_api = bearer(signin(as_user(admin_user), admin_user.email)["token"])
    assert owner_api.get("/api/auths/")["X-RateLimit-Limit"] == "100"

    changed = admin_api.post(
        "/api/admin/settings",
        {"RATE_LIMIT": {"limit": 2, "window": 30, "exempt_roles": ["admin"]}},
        format="json",
    )
    statuses = [owner_api.get("/api/auths/").status_code for _ in range(2)]

    assert changed.status_code == 200
    assert changed.json()["RATE_LIMIT"] == {
        "limit": 2,
        "window": 30,
        "exempt_roles": ["admin"],
        "role_overrides": {},
    }
    # The count so far (1) carries over into the new, smaller limit.
    assert statuses == [200, 429]
    assert admin_api.get("/api/admin/settings").json()["RATE_LIMIT"]["limit"] == 2


def test_role_overrides_and_exempting_every_role(
    admin_user: User, owner: User, as_user: Any
) -> None:
    set_policy(limit=50, role_overrides={"user": {"limit": 1, "window": 10}})
    api = as_user(owner)

    first = api.get("/api/auths/")
    second = api.get("/api/auths/")
    set_policy(limit=50, exempt_roles=["admin", "user"])
    unlimited = [api.get("/api/auths/") for _ in range(3)]

    assert first["X-RateLimit-Limit"] == "1"
    assert second.status_code == 429
    assert int(second["Retry-After"]) <= 10
    assert [r.status_code for r in unlimited] == [200] * 3
    assert "X-RateLimit-Limit" not in unlimited[0]


def test_the_policy_default_comes_from_the_environment(
    owner: User, as_user: Any, settings: Any
) -> None:
    settings.RATE_LIMIT = (7, 3600)

    response = as_user(owner).get("/api/auths/")

    assert response["X-RateLimit-Limit"] == "7"


@pytest.mark.parametrize(
    ("policy", "field", "detail"),
    [
        (
            {"limit": -1, "window": 60},
            "RATE_LIMIT.limit",
            "RATE_LIMIT.limit: Ensure this value is greater than or equal to 1.",
        ),
        (
            {"limit": 100, "window": 0},
            "RATE_LIMIT.window",
            "RATE_LIMIT.window: Ensure this value is greater than or equal to 1.",
        ),
        ({"limit": 0, "window": 60}, "RATE_LIMIT.limit", None),
        ({"limit": 100}, "RATE_LIMIT.window", "RATE_LIMIT.window: This field is required."),
        ({"limit": "many", "window": 60}, "RATE_LIMIT.limit", None),
        ({"limit": 10, "window": 90_000}, "RATE_LIMIT.window", None),
        ({"limit": 10, "window": 60, "exempt_roles": ["root"]}, "RATE_LIMIT.exempt_roles.0", None),
        (
            {"limit": 10, "window": 60, "role_overrides": {"root": {"limit": 1, "window": 1}}},
            "RATE_LIMIT.role_overrides",
            None,
        ),
        (
            {"limit": 10, "window": 60, "role_overrides": {"user": {"limit": -5, "window": 1}}},
            "RATE_LIMIT.role_overrides.user.limit",
            None,
        ),
        ({"limit": 10, "window": 60, "burst": 5}, "RATE_LIMIT.burst", None),
        ("100/minute", "RATE_LIMIT.non_field_errors", None),
    ],
)
def test_malformed_policy_is_400_and_changes_nothing(
    admin_user: User, as_user: Any, policy: Any, field: str, detail: str | None
) -> None:
    api = as_user(admin_user)

    response = api.post("/api/admin/settings", {"RATE_LIMIT": policy}, format="json")

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["fields"], body
    if detail:
        assert body["detail"] == detail
    assert api.get("/api/admin/settings").json()["RATE_LIMIT"]["limit"] == 100


def test_non_admin_cannot_read_or_change_settings(owner: User, as_user: Any) -> None:
    api = as_user(owner)

    assert api.get("/api/admin/settings").status_code == 403
    changed = api.post(
        "/api/admin/settings", {"RATE_LIMIT": {"limit": 1000000, "window": 1}}, format="json"
    )
    assert changed.status_code == 403


def test_settings_change_is_audited(admin_user: User, as_user: Any) -> None:
    from users.models import AuditLog

    as_user(admin_user).post(
        "/api/admin/settings",
        {"ENABLE_API_KEYS": False, "RATE_LIMIT": {"limit": 5, "window": 60}},
        format="json",
    )

    entry = AuditLog.objects.get()
    assert entry.action == "settings.update"
    assert entry.detail["changes"]["enable_api_keys"] is False
    assert entry.detail["changes"]["rate_limit_policy"]["limit"] == 5


def test_signin_responses_carry_the_headers_of_the_tighter_limit(
    owner: User, api: Any, settings: Any
) -> None:
    settings.AUTH_RATE_PER_IP = (10, 60)
    settings.AUTH_RATE_PER_EMAIL = (5, 60)

    response = api.post(
        "/api/auths/signin", {"email": owner.email, "password": "wrong one!"}, format="json"
    )

    assert response.status_code == 401
    assert response["X-RateLimit-Limit"] == "5"
    assert response["X-RateLimit-Remaining"] == "4"


# --- The limiter itself ---------------------------------------------------------------------


def test_concurrent_hits_admit_exactly_the_limit(db: None) -> None:
    """30 threads at once against a limit of 10: exactly 10 admitted (in-process or Redis)."""
    barrier = threading.Barrier(30)
    results: list[bool] = []
    lock = threading.Lock()

    def knock() -> None:
        try:
            barrier.wait()
            window = ratelimit.hit(scope="race", ident="one", limit=10, window=60)
            with lock:
                results.append(window.allowed)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=knock) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(results) == 30
    assert results.count(True) == 10


def test_the_window_slides(db: None) -> None:
    first = ratelimit.hit(scope="slide", ident="x", limit=2, window=1)
    ratelimit.hit(scope="slide", ident="x", limit=2, window=1)
    refused = ratelimit.hit(scope="slide", ident="x", limit=2, window=1)
    time.sleep(max(0.0, first.reset_at - time.time()) + 0.05)
    later = ratelimit.hit(scope="slide", ident="x", limit=2, window=1)

    assert not refused.allowed
    assert refused.retry_after == 1
    assert later.allowed


# --- Redis unreachable: fail closed (the default) or open -------------------------------------


def dead_redis(settings: Any) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings.REDIS_URL = dead
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": dead,
            "KEY_PREFIX": "webui-test-dead",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


def test_unreachable_redis_fails_closed_by_default(
    owner: User, as_user: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A limit that cannot count admits nothing: no outage lets more than the limit through."""
    api = as_user(owner)
    set_policy(limit=1)
    dead_redis(settings)

    responses = [api.get("/api/auths/") for _ in range(3)]

    assert [r.status_code for r in responses] == [503] * 3
    assert {r.json()["code"] for r in responses} == {"rate_limit_unavailable"}
    assert all(int(r["Retry-After"]) >= 1 for r in responses)
    assert "Redis unreachable" in caplog.text


def test_unreachable_redis_fails_open_when_configured_and_health_says_so(
    owner: User, as_user: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.RATE_LIMIT_FAIL_OPEN = True
    api = as_user(owner)
    dead_redis(settings)
    set_policy(limit=1)

    responses = [api.get("/api/auths/") for _ in range(3)]
    health = api.get("/health")

    assert [r.status_code for r in responses] == [200] * 3
    assert "X-RateLimit-Limit" not in responses[0]  # nothing true to report
    assert "Redis unreachable" in caplog.text
    assert health.status_code == 503
    assert health.json()["checks"]["cache"].startswith("failed")
