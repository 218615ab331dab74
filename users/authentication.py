"""How a request proves who it is: ``Authorization: Bearer <JWT access token | sk-… key>``."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from users import auth_cache
from users.errors import ApiKeyScope
from users.models import ApiKey, User
from users.selectors import site_settings_and_user_generation, site_settings_current
from users.services import api_key_resolve, api_keys_check_allowed

# last_active_at is written at most this often per user, not on every request.
ACTIVITY_RESOLUTION = timedelta(seconds=60)


class JWTAuthentication(authentication.JWTAuthentication):
    """simplejwt's, with a malformed user id refused (not a 500), the verified user kept a
    few seconds (users/auth_cache.py) and activity noted."""

    def authenticate(self, request: Request) -> tuple[User, Token] | None:
        self.request = request  # get_user reads the shared cache once for it and the settings
        return super().authenticate(request)

    def get_user(self, validated_token: Token) -> User:
        try:
            user_id = User._meta.pk.to_python(validated_token.get("user_id"))
        except Exception:
            raise InvalidToken("Token contained no recognizable user identification.") from None
        generation = None
        if auth_cache.shared():
            request = getattr(self, "request", None)
            if request is None:  # a socket's token: no request to share the read with
                return self._read_user(validated_token, keep=False)
            _, generation = site_settings_and_user_generation(request, user_id)
            if generation is None:  # the shared cache is out of reach: trust nothing kept
                return self._read_user(validated_token, keep=False)
        user = auth_cache.get(user_id, generation)
        if user is None:
            return self._read_user(validated_token, keep=True, generation=generation)
        check_user_for_token(user, validated_token)
        user_touch_activity(user=user)
        auth_cache.note_activity(user)
        return user

    def _read_user(
        self, validated_token: Token, *, keep: bool, generation: int | None = None
    ) -> User:
        """simplejwt's read and checks, and the row kept under ``generation`` if ``keep``."""
        user = super().get_user(validated_token)
        if keep:
            auth_cache.keep(user, generation)
        user_touch_activity(user=user)
        auth_cache.note_activity(user)
        return user


def check_user_for_token(user: User, validated_token: Token) -> None:
    """simplejwt's checks of a user it has read (same errors): active, and the token issued
    for the current password."""
    if not user.is_active:
        raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
    claim = jwt_settings.REVOKE_TOKEN_CLAIM
    if jwt_settings.CHECK_REVOKE_TOKEN and validated_token.get(claim) != get_md5_hash_password(
        user.password
    ):
        raise AuthenticationFailed(
            _("The user's password has been changed."), code="password_changed"
        )


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer sk-…``: an API key, accepted wherever a JWT is.

    Anything not starting with ``sk-`` is left to JWTAuthentication. The key's scope is
    enforced here, for every route at once: a completions-only key is refused (403) by any
    view that does not declare ``api_key_scope = "completions"``; such views then call
    ``users.permissions.key_allows`` to check the model. ``request.auth`` is the ApiKey.
    """

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"bearer" or not parts[1].startswith(b"sk-"):
            return None
        key = api_key_resolve(raw=parts[1].decode("latin-1"))
        api_keys_check_allowed(user=key.user, site=site_settings_current(request))
        view = (request.parser_context or {}).get("view")
        if key.scope == ApiKey.Scope.COMPLETIONS and view_key_scope(view) != "completions":
            raise ApiKeyScope()
        user_touch_activity(user=key.user)
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def view_key_scope(view: Any) -> str:
    """The kind of API keys a view accepts: ``"all"`` unless it says ``"completions"``."""
    return getattr(view, "api_key_scope", "all")


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


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "users.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "sk-…",
            "description": "An API key from POST /api/users/api_key, in the same header.",
        }


@dataclass(frozen=True)
class SocketCredential:
    """Who a socket connection is, and what it proved that with (checked again on changes)."""

    user: User
    password_hash: str | None = None  # a JWT's hash of the password hash
    api_key_id: int | None = None

    def still_valid(self) -> bool:
        """Does this credential still admit its user? (A database read; run it in a thread.)"""
        user = User.objects.filter(pk=self.user.pk).first()
        if user is None or not user.is_active or user.role == User.Role.PENDING:
            return False
        if self.password_hash is not None:
            return get_md5_hash_password(user.password) == self.password_hash
        if self.api_key_id is not None:
            now = timezone.now()
            live = ApiKey.objects.filter(pk=self.api_key_id, revoked_at__isnull=True).filter(
                Q(expires_at__isnull=True) | Q(expires_at__gt=now)
            )
            return live.exists()
        return True


def socket_credential(raw: object) -> SocketCredential:
    """The active user a bearer token (as sent by a socket client) stands for.

    The token is a JWT access token or an ``sk-`` API key (a completions-only key is refused:
    sockets are not completions). Raises AuthenticationFailed (or a subclass) for a missing,
    malformed, expired or revoked token, and for an account that is disabled or pending.
    """
    from rest_framework.exceptions import AuthenticationFailed

    if not isinstance(raw, str) or not raw.strip():
        raise AuthenticationFailed("A token is required.", "not_authenticated")
    raw = raw.strip()
    if raw.startswith("sk-"):
        key = api_key_resolve(raw=raw)
        api_keys_check_allowed(user=key.user, site=site_settings_current())
        if key.scope == ApiKey.Scope.COMPLETIONS:
            raise ApiKeyScope()
        credential = SocketCredential(user=key.user, api_key_id=key.pk)
    else:
        auth = JWTAuthentication()
        token = auth.get_validated_token(raw.encode())
        credential = SocketCredential(
            user=auth.get_user(token), password_hash=token.get("hash_password")
        )
    if credential.user.role == User.Role.PENDING:
        raise AuthenticationFailed(
            "Your account is pending approval by an administrator.", "account_pending"
        )
    return credential


def request_authenticate(request: HttpRequest, view: Any, permission: Any) -> Request:
    """What DRF does before a view runs, for plain (async) Django views: authenticate (JWT or
    key, honouring the view's ``api_key_scope``), check ``permission``, count the request
    against the account's limit. Raises the same errors as any DRF view."""
    from rest_framework.exceptions import NotAuthenticated

    from users.throttling import AccountRateThrottle
    from webui_backend.errors import Forbidden
    from webui_backend.parsers import JSONParser

    drf = Request(
        request,
        parsers=[JSONParser()],
        authenticators=[ApiKeyAuthentication(), JWTAuthentication()],
        parser_context={"view": view},
    )
    if not drf.user or not drf.user.is_authenticated:
        raise NotAuthenticated()
    if not permission.has_permission(drf, view):
        raise Forbidden(permission.message, permission.code)
    AccountRateThrottle().allow_request(drf, view)
    return drf
