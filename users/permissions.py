from typing import TYPE_CHECKING

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from users.errors import ApiKeyScope
from users.models import ApiKey, User

if TYPE_CHECKING:  # rest_framework.views imports this module through the settings
    from rest_framework.views import APIView


class IsApprovedUser(BasePermission):
    """Signed in, and not waiting for an admin's approval. The default for every route."""

    message = "Your account is pending approval by an administrator."
    code = "account_pending"

    def has_permission(self, request: Request, view: "APIView") -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.role != User.Role.PENDING)


class IsSignedIn(BasePermission):
    """Any signed-in account, pending ones included (they may read their own account)."""

    def has_permission(self, request: Request, view: "APIView") -> bool:
        return bool(request.user and request.user.is_authenticated)


class IsAdmin(BasePermission):
    message = "Only administrators may do this."
    code = "admin_only"

    def has_permission(self, request: Request, view: "APIView") -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.role == User.Role.ADMIN)


def key_allows(request: Request, *, route_kind: str, model: str | None = None) -> None:
    """Raise 403 if the API key behind ``request`` (if any) may not do this.

    For views outside this app that take completions-only keys (``api_key_scope =
    "completions"``): ``route_kind`` is ``"completions"`` there; ``model`` is the model asked
    for, checked against a key bound to one model. Requests signed with a JWT always pass.
    """
    key = request.auth if isinstance(request.auth, ApiKey) else None
    if key is None:
        return
    if key.scope == ApiKey.Scope.COMPLETIONS and route_kind != "completions":
        raise ApiKeyScope()
    if key.model and model is not None and model != key.model:
        raise ApiKeyScope(f"This API key may only be used with the model {key.model!r}.")
