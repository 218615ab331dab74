"""Reading settings from the environment: malformed values fail loudly at start-up."""

import os
import secrets
import time
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, *, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}.")


def env_int(name: str, *, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}.")
    return value


def env_float(name: str, *, default: float, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}.") from None
    if value != value or (minimum is not None and value < minimum):  # NaN, or too small
        raise ImproperlyConfigured(f"{name} must be a number of at least {minimum}, got {raw!r}.")
    return value


def env_list(name: str, *, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_networks(name: str, *, default: list[str], words: set[str]) -> list[str]:
    """A comma-separated list of CIDRs (``10.0.0.0/8``) and the given words."""
    import ipaddress

    values = env_list(name, default=default)
    for value in values:
        if value.lower() in words:
            continue
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} takes CIDRs (10.0.0.0/8) and {sorted(words)}, got {value!r}."
            ) from None
    return values


def env_choice(name: str, *, default: str, choices: set[str]) -> str:
    value = os.environ.get(name, default).strip()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {sorted(choices)}, got {value!r}.")
    return value


ROLES = {"admin", "user", "pending"}


def env_roles(name: str, *, default: list[str]) -> list[str]:
    """A comma-separated list of account roles (``admin``, ``user``, ``pending``)."""
    values = env_list(name, default=default)
    unknown = sorted(set(values) - ROLES)
    if unknown:
        raise ImproperlyConfigured(f"{name} may only list {sorted(ROLES)}, got {unknown}.")
    return values


def env_rate(name: str, *, default: str) -> tuple[int, int]:
    """Parse a rate such as ``5/minute`` into (count, window seconds)."""
    raw = os.environ.get(name, default).strip()
    windows = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
    count, _, unit = raw.partition("/")
    unit = unit.strip().lower().rstrip("s") or "minute"
    try:
        value = int(count)
    except ValueError:
        value = -1
    if value < 1 or unit not in windows:
        raise ImproperlyConfigured(f"{name} must look like '5/minute', got {raw!r}.")
    return value, windows[unit]


def secret_key_from(path: Path) -> str:
    """Return the key kept in ``path``, creating it once (race-safe) if it is missing.

    Several processes may start together on a fresh data folder; O_EXCL makes exactly
    one of them write the key and the others read it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            key = path.read_text().strip()
            if key:
                return key
            time.sleep(0.02)  # the creator has opened but not yet written the file
        raise ImproperlyConfigured(
            f"{path} exists but is empty; delete it or set SECRET_KEY."
        ) from None
    key = secrets.token_urlsafe(50)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
