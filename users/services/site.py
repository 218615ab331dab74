"""Writes to the admin-editable site settings."""

import contextlib
from typing import Any

from django.core.cache import cache
from django.db import transaction

from users.models import AuditLog, SiteSettings, User
from users.policy import RateLimitPolicy
from users.selectors import (
    SITE_SETTINGS_CACHE_KEY,
    EffectiveSiteSettings,
    site_settings_effective,
)
from users.services.ledger import audit_record


def site_settings_cache_clear() -> None:
    """Drop the cached settings now, and again once the surrounding transaction commits.

    Every process reads settings through the shared cache, so the next request anywhere sees
    the change: no restart. The second drop catches a request that re-read the old row between
    the first drop and the commit. An unreachable cache has nothing stale to drop.
    """

    def drop() -> None:
        with contextlib.suppress(Exception):
            cache.delete(SITE_SETTINGS_CACHE_KEY)

    drop()
    transaction.on_commit(drop)


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
