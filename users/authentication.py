"""How a request proves who it is: a JWT access token in ``Authorization: Bearer``."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.tokens import Token

from users.models import User

# last_active_at is written at most this often per user, not on every request.
ACTIVITY_RESOLUTION = timedelta(seconds=60)


class JWTAuthentication(authentication.JWTAuthentication):
    """simplejwt's, with a malformed user id refused (not a 500) and activity noted."""

    def get_user(self, validated_token: Token) -> User:
        try:
            User._meta.pk.to_python(validated_token.get("user_id"))
        except Exception:
            raise InvalidToken("Token contained no recognizable user identification.") from None
        user: User = super().get_user(validated_token)
        user_touch_activity(user=user)
        return user


def user_touch_activity(*, user: User) -> None:
    """Record that ``user`` was seen now, at most once per ACTIVITY_RESOLUTION (one UPDATE)."""
    now = timezone.now()
    if user.last_active_at is None or now - user.last_active_at >= ACTIVITY_RESOLUTION:
        User.objects.filter(pk=user.pk).update(last_active_at=now)
        user.last_active_at = now


class JWTAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "users.authentication.JWTAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from /api/auths/signin, signup or refresh.",
        }


def user_from_token(raw: object) -> User:
    """The active user a bearer token (as sent by a socket client) stands for.

    Raises AuthenticationFailed (or a subclass) for a missing, malformed, expired or revoked
    token, and for an account that is disabled or still pending approval.
    """
    from rest_framework.exceptions import AuthenticationFailed

    if not isinstance(raw, str) or not raw.strip():
        raise AuthenticationFailed("A token is required.", "not_authenticated")
    auth = JWTAuthentication()
    user = auth.get_user(auth.get_validated_token(raw.strip().encode()))
    if user.role == User.Role.PENDING:
        raise AuthenticationFailed(
            "Your account is pending approval by an administrator.", "account_pending"
        )
    return user
