"""Verified users kept for a few seconds, so a JWT request need not read its user row each time.

Every authenticated request used to read the user's row (is it there, active, is the token's
password hash still the current one?). On the embedded default (one process, no Redis) that
read is a good part of a cheap request, so the row is kept here for ``TTL`` seconds and the
checks run against the kept copy, each request getting a copy of its own.

Revocation stays immediate: saving or deleting a user (a password change, a role change, a
disabled account, a deletion) drops the kept row in this process (``post_save``,
``post_delete``), and the services that change a user with a queryset ``update`` call
``forget`` themselves. Another process cannot reach this one's memory, so with ``REDIS_URL``
(the setting for more than one process) nothing is kept and every request reads the row, as
before; a change made from outside the server (a shell, ``manage.py``) on the embedded
default takes effect within ``TTL`` seconds.
"""

import copy
import threading
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.base import ModelState
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from users.models import User

TTL = 5.0  # seconds

_lock = threading.Lock()
_users: dict[str, tuple[float, User]] = {}


def enabled() -> bool:
    return not settings.REDIS_URL


def get(user_id: Any) -> User | None:
    """A private copy of the kept row of ``user_id``, or None (not kept, or too old)."""
    key = str(user_id)
    entry = _users.get(key)
    if entry is None:
        return None
    if time.monotonic() - entry[0] > TTL:
        with _lock:
            if _users.get(key) is entry:
                del _users[key]
        return None
    return _copy(entry[1])


def keep(user: User) -> None:
    """Keep ``user`` (just read from the database) for the next requests."""
    if enabled():
        with _lock:
            _users[str(user.pk)] = (time.monotonic(), _copy(user))


def note_activity(user: User) -> None:
    """The request's copy recorded activity: the kept row has the new time too."""
    entry = _users.get(str(user.pk))
    if entry is not None:
        entry[1].last_active_at = user.last_active_at


def forget(user_id: Any) -> None:
    """Drop the kept row now, and again when the transaction that changed it commits (a
    request may read and keep the old row in between)."""
    key = str(user_id)

    def drop() -> None:
        with _lock:
            _users.pop(key, None)

    drop()
    transaction.on_commit(drop)


def clear() -> None:
    with _lock:
        _users.clear()


def _copy(user: User) -> User:
    """A shallow copy with a state of its own (no related objects shared between requests)."""
    twin = copy.copy(user)
    twin._state = ModelState()
    twin._state.db = user._state.db
    twin._state.adding = False
    return twin


@receiver(post_save, sender=User, dispatch_uid="users.auth_cache.saved")
@receiver(post_delete, sender=User, dispatch_uid="users.auth_cache.deleted")
def _user_changed(sender: type[User], instance: User, **kwargs: Any) -> None:
    forget(instance.pk)
