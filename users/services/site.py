"""Writes to the admin-editable site settings."""

import contextlib
from typing import Any

from django.core.cache import cache
from django.db import transaction

from users.models import AuditLog, SiteSettings, User
from users.policy import RateLimitPolicy
from users.selectors import (
    SITE_SETTINGS_GENERATION_KEY,
    EffectiveSiteSettings,
    site_settings_effective,
)
from users.services.ledger import audit_record


def site_settings_cache_clear() -> None:
    """Make every process re-read the settings: now, and again once the transaction commits.

    Bumps the settings' cache generation, so every cached copy, including one a concurrent
    request reads from the database and writes back around the commit, is stale from then on:
    the next request anywhere sees the change, no restart. An unreachable cache has no copy to
    go stale (requests then read the database).
    """

    def bump() -> None:
        with contextlib.suppress(Exception):
            try:
                cache.incr(SITE_SETTINGS_GENERATION_KEY)
            except ValueError:  # no generation yet (or evicted): readers took it as 0
                cache.set(SITE_SETTINGS_GENERATION_KEY, 1, timeout=None)

    bump()
    transaction.on_commit(bump)


@transaction.atomic
def site_settings_update(
    *,
    actor: User | None = None,
    enable_signup: bool | None = None,
    default_user_role: str | None = None,
    enable_api_keys: bool | None = None,
    api_key_roles: list[str] | None = None,
    rate_limit: RateLimitPolicy | None = None,
) -> EffectiveSiteSettings:
    """Save the given settings (``None`` leaves one as it is) and return those in force.

    Takes the settings row's lock, so concurrent changes apply one after the other; the change
    is audited when an ``actor`` makes it, and every process sees it on its next request.
    """
    row, _ = SiteSettings.objects.select_for_update().get_or_create(pk=1)
    changes: dict[str, Any] = {
        "enable_signup": enable_signup,
        "default_user_role": default_user_role,
        "enable_api_keys": enable_api_keys,
        "api_key_roles": list(api_key_roles) if api_key_roles is not None else None,
        "rate_limit_policy": rate_limit.as_dict() if rate_limit is not None else None,
    }
    changes = {name: value for name, value in changes.items() if value is not None}
    for name, value in changes.items():
        setattr(row, name, value)
    row.save()
    if actor is not None and changes:
        audit_record(
            actor=actor,
            action=AuditLog.Action.SETTINGS_UPDATE,
            target_type="site_settings",
            target_id="1",
            detail={"changes": changes},
        )
    site_settings_cache_clear()
    return site_settings_effective(row)
