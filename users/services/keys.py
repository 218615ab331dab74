"""API keys: create (shown once), revoke, and check one presented by a request."""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from users.errors import ApiKeyExpired, ApiKeyInvalid, ApiKeyRevoked, ApiKeysDisabled
from users.models import ApiKey, User
from users.selectors import EffectiveSiteSettings, site_settings_effective
from users.services.auth import credentials_changed

# Ours are sk- and 48 hex digits; Open WebUI's (carried over by manage.py import_openwebui)
# are sk- and 32.
KEY_PATTERN = re.compile(r"sk-(?:[0-9a-f]{48}|[0-9a-f]{32})")
PREFIX_LENGTH = 11  # "sk-" and 8 hex digits: enough to find the key, useless to guess it
# last_used_at is written at most this often per key, not on every request.
USE_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class ApiKeyCreated:
    """A new key and its raw value: the only moment the raw value exists outside the client."""

    key: ApiKey
    api_key: str


def key_digest(raw: str) -> str:
    """SHA-256 of the raw key. A key has 192 random bits, so a fast hash is safe (no salt or
    stretching needed, unlike passwords), and it lets a request be checked in microseconds."""
    return hashlib.sha256(raw.encode()).hexdigest()


def api_keys_check_allowed(*, user: User, site: EffectiveSiteSettings) -> None:
    """Raise 403 if the site, or the user's role, may not use API keys."""
    if not site.enable_api_keys:
        raise ApiKeysDisabled()
    if user.role not in site.api_key_roles:
        raise ApiKeysDisabled(f"API keys are disabled for accounts with the role {user.role!r}.")


def api_key_create(
    *,
    user: User,
    name: str,
    scope: str = ApiKey.Scope.ALL,
    model: str = "",
    expires_at: datetime | None = None,
    daily_token_budget: int | None = None,
) -> ApiKeyCreated:
    """Create a key for ``user`` and return it with its raw value (never stored, never logged)."""
    api_keys_check_allowed(user=user, site=site_settings_effective())
    raw = "sk-" + secrets.token_hex(24)
    key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=raw[:PREFIX_LENGTH],
        key_hash=key_digest(raw),
        scope=scope,
        model=model,
        expires_at=expires_at,
        daily_token_budget=daily_token_budget,
    )
    return ApiKeyCreated(key=key, api_key=raw)


def api_key_import(
    *, user: User, raw: str, name: str, expires_at: datetime | None = None
) -> tuple[ApiKey, bool]:
    """Keep a key made elsewhere (Open WebUI's, moving servers) working here; returns it and
    whether it is new. Only its digest is stored, as for ours. Raises ApiKeyInvalid for a key
    this server could never accept."""
    if not KEY_PATTERN.fullmatch(raw):
        raise ApiKeyInvalid("Malformed API key: it cannot be carried over.")
    digest = key_digest(raw)
    existing = ApiKey.objects.filter(key_hash=digest).first()
    if existing is not None:
        return existing, False
    key = ApiKey.objects.create(
        user=user, name=name, prefix=raw[:PREFIX_LENGTH], key_hash=digest, expires_at=expires_at
    )
    return key, True


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    """Revoke ``key``: it stops working on its next use. Revoking twice is not an error."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=key.revoked_at)
        credentials_changed(user=key.user, reason="api_key_revoked")
    return key


def api_key_resolve(*, raw: str) -> ApiKey:
    """The live key whose raw value is ``raw``, with its user; 401 with the reason otherwise.

    Looked up by its prefix, then compared by digest in constant time. Notes the use (at most
    once a minute per key, one UPDATE).
    """
    if not KEY_PATTERN.fullmatch(raw):
        raise ApiKeyInvalid("Malformed API key: expected 'sk-' followed by 48 hex digits.")
    digest = key_digest(raw)
    key = next(
        (
            candidate
            for candidate in ApiKey.objects.select_related("user").filter(
                prefix=raw[:PREFIX_LENGTH]
            )
            if hmac.compare_digest(candidate.key_hash, digest)
        ),
        None,
    )
    if key is None:
        raise ApiKeyInvalid()
    now = timezone.now()
    if key.revoked_at is not None:
        raise ApiKeyRevoked()
    if key.expires_at is not None and key.expires_at <= now:
        raise ApiKeyExpired()
    if not key.user.is_active:
        raise ApiKeyInvalid("The account of this API key is disabled.")
    if key.last_used_at is None or now - key.last_used_at >= USE_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
