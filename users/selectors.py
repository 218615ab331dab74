"""Every non-trivial read about accounts, keys, settings, usage and the audit log."""

import contextlib
import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from users import auth_cache
from users.errors import ApiKeyNotFound, TokenBudgetExceeded, UserNotFound
from users.models import ApiKey, AuditLog, SiteSettings, UsageRecord, User
from users.policy import RateLimitPolicy

logger = logging.getLogger(__name__)

SITE_SETTINGS_CACHE_KEY = "site-settings:v1"
# Bumped by every save (users.services.site_settings_cache_clear). The cached copy records the
# generation it was read under, so a copy read from the database just before a save and
# written to the cache just after it is recognised as stale instead of living on.
SITE_SETTINGS_GENERATION_KEY = "site-settings:generation"
# Only bounds how long a change made behind the services' back (a raw UPDATE) goes unnoticed.
SITE_SETTINGS_CACHE_TIMEOUT = 60


@dataclass(frozen=True)
class EffectiveSiteSettings:
    enable_signup: bool
    default_user_role: str
    enable_api_keys: bool
    api_key_roles: tuple[str, ...]
    rate_limit: RateLimitPolicy


def _row_values(row: SiteSettings | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {
        "enable_signup": row.enable_signup,
        "default_user_role": row.default_user_role,
        "enable_api_keys": row.enable_api_keys,
        "api_key_roles": row.api_key_roles,
        "rate_limit_policy": row.rate_limit_policy,
    }


def _effective(values: dict[str, Any]) -> EffectiveSiteSettings:
    """An admin's saved value where there is one (not None/empty), else the environment's."""

    def pick(name: str, default: Any) -> Any:
        value = values.get(name)
        return default if value is None or value == "" else value

    policy = values.get("rate_limit_policy")
    return EffectiveSiteSettings(
        enable_signup=pick("enable_signup", settings.ENABLE_SIGNUP),
        default_user_role=pick("default_user_role", settings.DEFAULT_USER_ROLE),
        enable_api_keys=pick("enable_api_keys", settings.ENABLE_API_KEYS),
        api_key_roles=tuple(pick("api_key_roles", settings.API_KEY_ROLES)),
        rate_limit=RateLimitPolicy.from_dict(policy)
        if policy
        else RateLimitPolicy.from_environment(),
    )


def site_settings_effective(row: SiteSettings | None = None) -> EffectiveSiteSettings:
    """The settings in force, read from the database (``row`` if the caller holds it)."""
    if row is None:
        row = SiteSettings.objects.filter(pk=1).first()
    return _effective(_row_values(row))


def site_settings_current(request: Any = None) -> EffectiveSiteSettings:
    """The settings in force, as every request reads them: from the shared cache.

    One cache round trip per request (memoised on ``request``), the database only on a miss
    or after a save. The cache holds the admin's saved values, not the effective ones, so the
    environment's defaults still apply from the process's own settings. A cache that cannot be
    reached is skipped: the database answers.
    """
    return _site_settings_read(request)[0]


def site_settings_and_user_generation(
    request: Any, user_id: Any
) -> tuple[EffectiveSiteSettings, int | None]:
    """The settings in force (as ``site_settings_current``) and, in the same cache round
    trip, the shared generation of ``user_id``'s kept row (users/auth_cache.py): 0 if never
    bumped, None if the cache could not be read or the settings were read already."""
    return _site_settings_read(request, auth_cache.generation_key(user_id))


def _site_settings_read(
    request: Any, user_key: str | None = None
) -> tuple[EffectiveSiteSettings, int | None]:
    holder = getattr(request, "_request", request)
    memo = getattr(holder, "site_settings", None)
    if memo is not None:
        return memo, None
    keys = [SITE_SETTINGS_GENERATION_KEY, SITE_SETTINGS_CACHE_KEY]
    if user_key is not None:
        keys.append(user_key)
    cached: dict[str, Any] | None = None
    try:
        cached = cache.get_many(keys)
    except Exception as exc:
        logger.warning("site settings: cache unreachable (%s); reading the database", exc)
    generation = (cached or {}).get(SITE_SETTINGS_GENERATION_KEY, 0)
    copy = (cached or {}).get(SITE_SETTINGS_CACHE_KEY)
    if copy is not None and copy["generation"] == generation:
        values = copy["values"]
    else:
        values = _row_values(SiteSettings.objects.filter(pk=1).first())
        if cached is not None:
            with contextlib.suppress(Exception):
                cache.set(
                    SITE_SETTINGS_CACHE_KEY,
                    {"generation": generation, "values": values},
                    timeout=SITE_SETTINGS_CACHE_TIMEOUT,
                )
    effective = _effective(values)
    if holder is not None:
        holder.site_settings = effective
    user_generation = None if cached is None or user_key is None else cached.get(user_key, 0)
    return effective, user_generation


# --- Users ----------------------------------------------------------------------------------


def user_get_for_viewer(*, user_id: Any, viewer: User) -> User:
    """The account ``user_id`` as ``viewer`` may see it: their own, or any for an admin.

    Anyone else gets the same 404 as for a missing account, so ids cannot be probed.
    """
    try:
        user_id = uuid.UUID(str(user_id))
    except ValueError:
        raise UserNotFound() from None
    if user_id != viewer.pk and not viewer.is_admin:
        raise UserNotFound()
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise UserNotFound()
    return user


def user_list(*, query: str = "", role: str = "") -> QuerySet[User]:
    """Accounts for the admin list: ``query`` matches name or email, ``role`` filters."""
    users = User.objects.all()
    if query:
        users = users.filter(Q(name__icontains=query) | Q(email__icontains=query))
    if role:
        users = users.filter(role=role)
    return users.order_by("created_at", "id")


def user_counts_by_role() -> dict[str, int]:
    """Active accounts per role, every role present (zero if none)."""
    counts = dict.fromkeys(User.Role.values, 0)
    for row in User.objects.filter(is_active=True).values("role").annotate(n=Count("id")):
        counts[row["role"]] = row["n"]
    return counts


# --- API keys -------------------------------------------------------------------------------


def api_key_list_for_user(*, user: User) -> QuerySet[ApiKey]:
    """The user's keys that still work or could (not revoked), newest first."""
    return ApiKey.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at")


def api_key_get_for_user(*, key_id: Any, user: User) -> ApiKey:
    key = ApiKey.objects.filter(pk=key_id, user=user).first()
    if key is None:
        raise ApiKeyNotFound()
    return key


# --- Token budgets --------------------------------------------------------------------------


def usage_today(*, user: User, api_key: ApiKey | None = None) -> int:
    """Tokens used on the current UTC day: by the user (every key), or by one key."""
    rows = UsageRecord.objects.filter(day=timezone.now().date())
    rows = rows.filter(api_key=api_key) if api_key is not None else rows.filter(user=user)
    total = rows.aggregate(t=Sum(F("prompt_tokens") + F("completion_tokens")))["t"]
    return int(total or 0)


def token_budget_check(*, user: User, api_key: ApiKey | None) -> None:
    """Raise 429 if today's tokens have used up the user's budget or the key's.

    Called before a completion starts; the completion's usage is then recorded with
    ``users.services.usage_record``. A completion that starts just under the budget may end
    past it: budgets bound spending per day, they do not cut answers off mid-stream.
    """
    now = timezone.now()
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    retry_after = int((midnight - now).total_seconds()) + 1
    if user.daily_token_budget is not None and usage_today(user=user) >= user.daily_token_budget:
        raise TokenBudgetExceeded(
            "Your daily token budget is used up; it renews at midnight UTC.",
            retry_after=retry_after,
        )
    if (
        api_key is not None
        and api_key.daily_token_budget is not None
        and usage_today(user=user, api_key=api_key) >= api_key.daily_token_budget
    ):
        raise TokenBudgetExceeded(
            "This API key's daily token budget is used up; it renews at midnight UTC.",
            retry_after=retry_after,
        )


# --- Admin dashboard ------------------------------------------------------------------------


def audit_log_list(
    *, action: str = "", actor_id: Any = None, target_type: str = "", target_id: str = ""
) -> QuerySet[AuditLog]:
    entries = AuditLog.objects.all()
    if action:
        entries = entries.filter(action=action)
    if actor_id:
        entries = entries.filter(actor_id=actor_id)
    if target_type:
        entries = entries.filter(target_type=target_type)
    if target_id:
        entries = entries.filter(target_id=target_id)
    return entries.order_by("-created_at", "-id")


USAGE_GROUPS = {"day": "day", "model": "model", "user": "user_id"}


def usage_summary(
    *, start: dt.date, end: dt.date, group_by: str, model: str | None = None
) -> list[dict[str, Any]]:
    """Token totals between ``start`` and ``end`` (inclusive) per day, model or user; only
    ``model``'s when given (a custom model: FastGPT's app chart).

    One aggregate query; rows are sorted by the group (users by most tokens first).
    """
    column = USAGE_GROUPS[group_by]
    fields = [column, "user__email", "user__name"] if group_by == "user" else [column]
    records = UsageRecord.objects.filter(day__gte=start, day__lte=end)
    if model is not None:
        records = records.filter(model=model)
    rows = records.values(*fields).annotate(
        requests=Sum("requests"),
        prompt_tokens=Sum("prompt_tokens"),
        completion_tokens=Sum("completion_tokens"),
    )
    result = [
        {
            **(
                {
                    "user_id": str(row["user_id"]),
                    "email": row["user__email"],
                    "name": row["user__name"],
                }
                if group_by == "user"
                else {column: row[column]}
            ),
            "requests": row["requests"],
            "prompt_tokens": row["prompt_tokens"],
            "completion_tokens": row["completion_tokens"],
            "total_tokens": row["prompt_tokens"] + row["completion_tokens"],
        }
        for row in rows
    ]
    if group_by == "user":
        result.sort(key=lambda r: (-r["total_tokens"], r["email"]))
    else:
        result.sort(key=lambda r: r[column])
    return result
