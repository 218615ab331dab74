from typing import TYPE_CHECKING

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from users.models import User

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
