"""The usage ledger, daily token budgets, and the admin dashboard's counts and usage."""

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from tests.conftest import bearer
from tests.threads import run_together
from users.models import ApiKey, UsageRecord, User
from users.services import usage_record
from webui_backend.dashboard import _counts, register_count

MakeKey = Callable[..., tuple[ApiKey, str]]


@pytest.mark.django_db
def test_usage_accumulates_per_user_key_model_and_day(owner: User, make_key: MakeKey) -> None:
    key, _ = make_key(owner)

    usage_record(user=owner, api_key=None, model="llama3", prompt_tokens=10, completion_tokens=5)
    usage_record(user=owner, api_key=None, model="llama3", prompt_tokens=1, completion_tokens=2)
    usage_record(user=owner, api_key=key, model="llama3", prompt_tokens=7, completion_tokens=3)
    usage_record(user=owner, api_key=None, model="gpt-4o", prompt_tokens=4, completion_tokens=4)

    rows = {(r.api_key_id, r.model): r for r in UsageRecord.objects.all()}
    assert len(rows) == 3
    plain = rows[(None, "llama3")]
    assert (plain.requests, plain.prompt_tokens, plain.completion_tokens) == (2, 11, 7)
    assert rows[(key.pk, "llama3")].total_tokens == 10
    assert plain.day == timezone.now().date()


@pytest.mark.django_db(transaction=True)
def test_concurrent_usage_records_are_all_counted(make_user: Any) -> None:
    user = make_user()

    def record(_: int) -> None:
        for _ in range(5):
            usage_record(user=user, api_key=None, model="m", prompt_tokens=3, completion_tokens=2)

    run_together(8, record)

    row = UsageRecord.objects.get()
    assert (row.requests, row.prompt_tokens, row.completion_tokens) == (40, 120, 80)


@pytest.mark.django_db
@pytest.mark.urls("tests.urls_with_completions")
def test_user_daily_budget_is_enforced_with_429(owner: User, as_user: Any) -> None:
    User.objects.filter(pk=owner.pk).update(daily_token_budget=250)
    api = as_user(owner)

    statuses = [
        api.post("/api/test-completions", {"model": "m"}, format="json").status_code
        for _ in range(3)
    ]
    refused = api.post("/api/test-completions", {"model": "m"}, format="json")

    assert statuses == [200, 200, 200]  # 0, 100, 200 used before each: all under 250
    assert refused.status_code == 429
    assert refused.json() == {
        "detail": "Your daily token budget is used up; it renews at midnight UTC.",
        "code": "token_budget_exceeded",
    }
    assert 1 <= int(refused["Retry-After"]) <= 86_401


@pytest.mark.django_db
@pytest.mark.urls("tests.urls_with_completions")
def test_key_daily_budget_is_separate_from_the_users(
    owner: User, as_user: Any, make_key: MakeKey
) -> None:
    _, raw = make_key(owner, daily_token_budget=100)

    first = bearer(raw).post("/api/test-completions", {"model": "m"}, format="json")
    second = bearer(raw).post("/api/test-completions", {"model": "m"}, format="json")
    with_jwt = as_user(owner).post("/api/test-completions", {"model": "m"}, format="json")

    assert first.status_code == 200
    assert second.status_code == 429
    assert second.json()["detail"].startswith("This API key's daily token budget is used up")
    assert with_jwt.status_code == 200


@pytest.mark.django_db
def test_yesterdays_usage_does_not_count_against_today(owner: User) -> None:
    from users.errors import TokenBudgetExceeded
    from users.selectors import token_budget_check

    User.objects.filter(pk=owner.pk).update(daily_token_budget=10)
    owner.refresh_from_db()
    UsageRecord.objects.create(
        user=owner,
        model="m",
        day=timezone.now().date() - dt.timedelta(days=1),
        prompt_tokens=500,
        completion_tokens=500,
    )

    token_budget_check(user=owner, api_key=None)  # no error
    usage_record(user=owner, api_key=None, model="m", prompt_tokens=6, completion_tokens=4)
    with pytest.raises(TokenBudgetExceeded):
        token_budget_check(user=owner, api_key=None)


# --- Dashboard ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_stats_count_users_by_role_and_whatever_apps_register(
    admin_user: User, make_user: Any, as_user: Any
) -> None:
    make_user()
    make_user()
    make_user(role=User.Role.PENDING)
    make_user(is_active=False)  # being deleted: not counted
    register_count("widgets", lambda: 42)
    register_count("broken", lambda: 1 // 0)
    try:
        response = as_user(admin_user).get("/api/admin/stats")
    finally:
        _counts.pop("widgets")
        _counts.pop("broken")

    assert response.status_code == 200
    counts = response.json()["counts"]
    assert counts["users"] == {"admin": 1, "user": 2, "pending": 1, "total": 4}
    assert counts["widgets"] == 42
    assert counts["broken"] is None


@pytest.mark.django_db
def test_usage_by_day_model_and_user(
    admin_user: User, owner: User, stranger: User, as_user: Any
) -> None:
    today = timezone.now().date()
    yesterday = today - dt.timedelta(days=1)
    long_ago = today - dt.timedelta(days=100)
    for user, model, day, prompt, completion in [
        (owner, "llama3", today, 10, 20),
        (owner, "gpt-4o", yesterday, 1, 2),
        (stranger, "llama3", today, 100, 200),
        (stranger, "llama3", long_ago, 5000, 5000),
    ]:
        UsageRecord.objects.create(
            user=user,
            model=model,
            day=day,
            requests=1,
            prompt_tokens=prompt,
            completion_tokens=completion,
        )
    api = as_user(admin_user)

    by_day = api.get("/api/admin/usage").json()
    by_model = api.get("/api/admin/usage", {"group_by": "model"}).json()
    by_user = api.get(
        "/api/admin/usage", {"group_by": "user", "start": str(today), "end": str(today)}
    ).json()

    assert [(r["day"], r["total_tokens"]) for r in by_day["rows"]] == [
        (str(yesterday), 3),
        (str(today), 330),
    ]
    assert by_day["totals"] == {
        "requests": 3,
        "prompt_tokens": 111,
        "completion_tokens": 222,
        "total_tokens": 333,
    }
    assert [(r["model"], r["total_tokens"]) for r in by_model["rows"]] == [
        ("gpt-4o", 3),
        ("llama3", 330),
    ]
    assert [(r["email"], r["total_tokens"]) for r in by_user["rows"]] == [
        (stranger.email, 300),
        (owner.email, 30),
    ]
    assert by_user["rows"][0]["user_id"] == str(stranger.pk)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-02-30"}, "start"),
        ({"start": "2026-03-02", "end": "2026-03-01"}, "start"),
        ({"start": "2020-01-01", "end": "2026-01-01"}, "end"),
        ({"group_by": "weather"}, "group_by"),
    ],
)
def test_usage_rejects_bad_ranges(admin_user: User, as_user: Any, params: dict, field: str) -> None:
    response = as_user(admin_user).get("/api/admin/usage", params)

    assert response.status_code == 400
    assert field in response.json()["fields"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/api/admin/stats", "/api/admin/usage", "/api/admin/audit", "/api/admin/settings"]
)
def test_dashboard_is_for_admins_only(owner: User, as_user: Any, path: str) -> None:
    response = as_user(owner).get(path)

    assert response.status_code == 403
    assert response.json()["code"] == "admin_only"


@pytest.mark.django_db
def test_admin_settings_show_every_setting(admin_user: User, as_user: Any) -> None:
    response = as_user(admin_user).get("/api/admin/settings")

    assert response.json() == {
        "ENABLE_SIGNUP": True,
        "DEFAULT_USER_ROLE": "user",
        "ENABLE_API_KEYS": True,
        "API_KEY_ROLES": ["admin", "user"],
        "RATE_LIMIT": {"limit": 100, "window": 60, "exempt_roles": ["admin"], "role_overrides": {}},
    }
