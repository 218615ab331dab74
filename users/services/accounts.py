"""Writes to accounts by their owner or an admin: profile, role, deletion."""

import logging
from typing import Any

from django.db import IntegrityError, transaction

from realtime import events
from users import auth_cache
from users.errors import (
    AdminOnlyField,
    EmailTaken,
    LastAdmin,
    OwnAccountDeletion,
    OwnRoleChange,
    WrongPassword,
)
from users.models import AuditLog, User, normalize_email
from users.services.auth import credentials_changed
from users.services.ledger import audit_record
from webui_backend.celery import app as celery_app
from webui_backend.errors import Forbidden
from webui_backend.user_data import user_data_cleanups

logger = logging.getLogger(__name__)
# The Celery name of users.tasks.user_delete_task: services queue tasks by name (tasks call
# services, never the reverse; users/apps.py registers the tasks in every process).
USER_DELETE_TASK = "users.tasks.user_delete_task"

# Fields only an admin may change, on any account (their own included).
ADMIN_ONLY_FIELDS = frozenset({"email", "daily_token_budget"})


def user_update(*, actor: User, user: User, changes: dict[str, Any]) -> User:
    """Apply ``changes`` (name, profile_image_url, password, email, daily_token_budget).

    A user changing their own password must give ``current_password``; an admin resetting
    someone else's need not. A new password ends every session of that account (tokens carry
    a hash of the password hash). An admin's change to another account is audited (field
    names only, never values of secrets).
    """
    changes = dict(changes)
    current_password = changes.pop("current_password", None)
    if not actor.is_admin and ADMIN_ONLY_FIELDS & changes.keys():
        field = sorted(ADMIN_ONLY_FIELDS & changes.keys())[0]
        raise AdminOnlyField(f"Only an administrator may change {field}.")
    password = changes.pop("password", None)
    if password is not None:
        if actor.pk == user.pk and (
            current_password is None or not user.check_password(current_password)
        ):
            raise WrongPassword(
                "To change your password, give your current one as current_password;"
                " it was missing or incorrect."
            )
        user.set_password(password)
    if "email" in changes:
        changes["email"] = normalize_email(changes["email"])
        if User.objects.filter(email=changes["email"]).exclude(pk=user.pk).exists():
            raise EmailTaken()
    for name, value in changes.items():
        setattr(user, name, value)
    changed = sorted([*changes, *(["password"] if password is not None else [])])
    try:
        with transaction.atomic():
            user.save()
            if password is not None:
                credentials_changed(user=user, reason="password_changed")
            if actor.pk != user.pk and changed:
                audit_record(
                    actor=actor,
                    action=AuditLog.Action.USER_UPDATE,
                    target_type="user",
                    target_id=str(user.pk),
                    detail={"fields": changed},
                )
    except IntegrityError:  # a racing update took the email between the check and the save
        raise EmailTaken() from None
    return user


def _lock_admins(*, actor: User, target: User) -> None:
    """Serialise admin-count decisions, then refuse to leave the site without an admin.

    Locks every active admin's row (SELECT ... FOR UPDATE; SQLite's IMMEDIATE transactions
    serialise writers anyway), so two admins demoting or deleting each other at the same
    moment cannot both succeed: the second sees the first's result.
    """
    admins = set(
        User.objects.select_for_update()
        .filter(role=User.Role.ADMIN, is_active=True)
        .values_list("pk", flat=True)
    )
    if target.pk in admins and not admins - {target.pk}:
        raise LastAdmin()
    if actor.pk not in admins:
        raise Forbidden("You are no longer an administrator of this site.", "admin_only")


@transaction.atomic
def user_role_set(*, actor: User, user: User, role: str) -> User:
    """Give ``user`` the ``role`` (admin, user or pending); audited; effective on the next request.

    Nobody changes their own role, and the last admin cannot be demoted. Every request reads
    the role afresh, so it applies to the account's next request; ``account.updated`` goes to
    the account's socket room after commit (the realtime app closes or refreshes its sockets).
    """
    if actor.pk == user.pk:
        raise OwnRoleChange()
    _lock_admins(actor=actor, target=user)
    user.refresh_from_db(fields=["role", "is_active"])
    previous = user.role
    if previous == role:
        return user
    user.role = role
    user.save(update_fields=["role", "updated_at"])
    user_role_changed(actor=actor, user=user, previous=previous)
    return user


def user_role_changed(*, actor: User, user: User, previous: str) -> None:
    """Audit a role change already saved, and tell the account's sockets after commit."""
    audit_record(
        actor=actor,
        action=AuditLog.Action.USER_ROLE_CHANGE,
        target_type="user",
        target_id=str(user.pk),
        detail={"email": user.email, "from": previous, "to": user.role},
    )
    events.publish(
        events.user_room(user.pk), "account.updated", {"user_id": str(user.pk), "role": user.role}
    )


@transaction.atomic
def user_delete(*, actor: User, user: User) -> None:
    """Disable ``user`` at once and delete the account and its data in the background.

    The account stops working on its next request (inactive accounts fail authentication,
    with a JWT or a key); ``account.deleted`` goes to its socket room; ``user_delete_task``
    then removes the row, which takes chats, shares, files, knowledge, keys and usage with it
    (foreign keys cascade), after the registered cleanups have removed what lives outside the
    database. Nobody deletes themselves here, and the last admin cannot be deleted. Deleting
    an account that is already disabled queues the removal again.
    """
    if actor.pk == user.pk:
        raise OwnAccountDeletion()
    _lock_admins(actor=actor, target=user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    auth_cache.forget(user.pk)  # an update() sends no post_save
    user.is_active = False
    audit_record(
        actor=actor,
        action=AuditLog.Action.USER_DELETE,
        target_type="user",
        target_id=str(user.pk),
        detail={"email": user.email, "name": user.name, "role": user.role},
    )
    events.publish(events.user_room(user.pk), "account.deleted", {"user_id": str(user.pk)})
    # robust: if the broker is down the account stays disabled (the request still succeeds,
    # the failure is logged); deleting it again queues the removal again.
    task = celery_app.signature(USER_DELETE_TASK, args=(str(user.pk),))
    transaction.on_commit(task.delay, robust=True)


def user_data_purge(*, user_id: str) -> bool:
    """Delete a disabled account: the registered cleanups, then the row and its cascade.

    Idempotent: an account already gone, or re-enabled meanwhile (by an admin in the Django
    admin), is left alone. Returns whether a row was deleted.
    """
    user = User.objects.filter(pk=user_id, is_active=False).first()
    if user is None:
        return False
    for name, cleanup in user_data_cleanups().items():
        logger.info("deleting user %s: running cleanup %s", user_id, name)
        cleanup(str(user_id))
    with transaction.atomic():
        deleted, _ = User.objects.filter(pk=user_id, is_active=False).delete()
    return deleted > 0
