"""Sign-up, sign-in, sessions and passwords."""

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from realtime import events
from users.errors import EmailTaken, InvalidCredentials, InvalidToken, SignupDisabled, WrongPassword
from users.models import SiteSettings, User, normalize_email
from users.selectors import site_settings_effective
from webui_backend import ratelimit
from webui_backend.errors import RateLimited


@dataclass(frozen=True)
class Session:
    """What sign-up, sign-in and refresh hand back: the user and a fresh token pair."""

    user: User
    token: str
    expires_at: int
    refresh_token: str
    token_type: str = "Bearer"  # noqa: S105 - a scheme name, not a secret


def session_start(*, user: User) -> Session:
    """Issue an access token and a refresh token for ``user`` (records the refresh token)."""
    refresh = RefreshToken.for_user(user)
    access = refresh.access_token
    return Session(
        user=user, token=str(access), expires_at=int(access["exp"]), refresh_token=str(refresh)
    )


def user_signup(*, name: str, email: str, password: str, profile_image_url: str = "") -> Session:
    """Create an account and sign it in.

    The first account ever created becomes an admin. Sign-ups serialise on the site-settings
    row (SELECT ... FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE transactions on the embedded
    default), so two racing first sign-ups cannot both see an empty table. A racing duplicate
    email is caught by the unique index, not by the check before it.
    """
    user = User(
        email=normalize_email(email), name=name.strip(), profile_image_url=profile_image_url
    )
    user.set_password(password)  # argon2 is slow: hash before taking the lock
    try:
        with transaction.atomic():
            row, _ = SiteSettings.objects.select_for_update().get_or_create(pk=1)
            site = site_settings_effective(row)
            is_first = not User.objects.exists()
            if not is_first and not site.enable_signup:
                raise SignupDisabled()
            if User.objects.filter(email=user.email).exists():
                raise EmailTaken()
            user.role = User.Role.ADMIN if is_first else site.default_user_role
            user.save(force_insert=True)
    except IntegrityError:
        raise EmailTaken() from None
    return session_start(user=user)


def auth_attempt_count(*, email: str | None, client_ip: str) -> ratelimit.Window:
    """Count one sign-in or sign-up attempt; raise RateLimited past the configured rates.

    Both counters advance on every attempt, so one address cannot try many emails and many
    addresses cannot hammer one email. Returns the tighter of the two windows, for the
    response's X-RateLimit headers.
    """
    per_ip, ip_window = settings.AUTH_RATE_PER_IP
    windows = [ratelimit.hit(scope="auth-ip", ident=client_ip, limit=per_ip, window=ip_window)]
    if email:
        per_email, email_window = settings.AUTH_RATE_PER_EMAIL
        windows.append(
            ratelimit.hit(
                scope="auth-email",
                ident=normalize_email(email),
                limit=per_email,
                window=email_window,
            )
        )
    blocked = [w for w in windows if not w.allowed]
    if blocked:
        tightest = max(blocked, key=lambda w: w.retry_after)
        raise RateLimited(
            "Too many sign-in attempts; try again later.",
            retry_after=tightest.retry_after,
            headers={} if tightest.degraded else tightest.headers(),
        )
    return min(windows, key=lambda w: w.remaining)


def user_signin(*, email: str, password: str) -> Session:
    """Check the credentials and start a session.

    An unknown email costs a password hash too, so timing does not tell which emails exist.
    """
    user = User.objects.filter(email=normalize_email(email)).first()
    if user is None:
        User().set_password(password)
        raise InvalidCredentials()
    if not user.check_password(password) or not user.is_active:
        raise InvalidCredentials()
    return session_start(user=user)


def session_refresh(*, refresh_token: str) -> Session:
    """Trade a refresh token for a new pair; the old refresh token is spent (rotation).

    Spending is an insert into the blacklist, whose unique key lets exactly one of two racing
    refreshes of the same token win.
    """
    try:
        refresh = RefreshToken(refresh_token)  # signature, expiry, type and blacklist
    except TokenError:
        raise InvalidToken() from None
    user = _user_of(refresh.payload)
    if user is None:
        raise InvalidToken()
    try:
        with transaction.atomic():
            outstanding = OutstandingToken.objects.filter(
                jti=refresh[jwt_settings.JTI_CLAIM]
            ).first()
            if outstanding is None:
                raise InvalidToken()
            BlacklistedToken.objects.create(token=outstanding)
    except IntegrityError:
        raise InvalidToken("This refresh token has already been used.") from None
    return session_start(user=user)


def session_end(*, user: User, refresh_token: str) -> None:
    """Sign out: revoke ``user``'s refresh token. Revoking an already revoked token is not an
    error; a refresh token of another account is not revoked (and not an error either: the
    caller learns nothing about it)."""
    try:
        payload = token_backend.decode(refresh_token, verify=True)
    except TokenBackendError:
        raise InvalidToken() from None
    if payload.get(jwt_settings.TOKEN_TYPE_CLAIM) != "refresh":
        raise InvalidToken("A refresh token is required to sign out.")
    if str(payload.get(jwt_settings.USER_ID_CLAIM)) != str(user.pk):
        return
    RefreshToken(refresh_token, verify=False).blacklist()


@transaction.atomic
def user_password_change(*, user: User, current_password: str, new_password: str) -> Session:
    """Set a new password. Every token issued before stops working; a new pair is returned."""
    if not user.check_password(current_password):
        raise WrongPassword()
    user.set_password(new_password)
    user.save(update_fields=["password", "updated_at"])
    credentials_changed(user=user, reason="password_changed")
    return session_start(user=user)


def credentials_changed(*, user: User, reason: str) -> None:
    """Tell the account's sockets (after commit) to check their credential again."""
    events.publish(
        events.user_room(user.pk), "account.updated", {"user_id": str(user.pk), "reason": reason}
    )


def _user_of(payload: dict) -> User | None:
    """The active user a token names, if the token predates no password change."""
    try:
        user_id = User._meta.pk.to_python(payload.get(jwt_settings.USER_ID_CLAIM))
    except Exception:
        return None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return None
    if payload.get(jwt_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
        return None
    return user
