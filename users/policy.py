"""The site's request-rate policy: a default rate, exempt roles, per-role overrides."""

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings


@dataclass(frozen=True)
class Rate:
    limit: int  # requests ...
    window: int  # ... per this many seconds

    def as_dict(self) -> dict[str, int]:
        return {"limit": self.limit, "window": self.window}


@dataclass(frozen=True)
class RateLimitPolicy:
    """Who is limited and how much. Stored as JSON in ``SiteSettings.rate_limit_policy``;
    the API validates it before it is saved, so reading it back trusts its shape."""

    limit: int
    window: int
    exempt_roles: tuple[str, ...] = ()
    role_overrides: dict[str, Rate] = field(default_factory=dict)

    @classmethod
    def from_environment(cls) -> "RateLimitPolicy":
        limit, window = settings.RATE_LIMIT
        return cls(limit=limit, window=window, exempt_roles=tuple(settings.RATE_LIMIT_EXEMPT_ROLES))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RateLimitPolicy":
        overrides = data.get("role_overrides") or {}
        return cls(
            limit=int(data["limit"]),
            window=int(data["window"]),
            exempt_roles=tuple(data.get("exempt_roles") or ()),
            role_overrides={role: Rate(**rate) for role, rate in overrides.items()},
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "window": self.window,
            "exempt_roles": list(self.exempt_roles),
            "role_overrides": {role: rate.as_dict() for role, rate in self.role_overrides.items()},
        }

    def rate_for(self, role: str) -> Rate | None:
        """The rate an account of ``role`` gets, or None if the role is exempt."""
        if role in self.exempt_roles:
            return None
        return self.role_overrides.get(role) or Rate(limit=self.limit, window=self.window)
