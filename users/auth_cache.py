"""Verified users kept for a few seconds, so a JWT request need not read its user row each time.

Every authenticated request used to read the user's row (is it there, active, is the token's
password hash still the current one?). That read is a good part of a cheap request, so the row
is kept here for ``TTL`` seconds and the checks run against the kept copy, each request getting
a copy of its own.

Revocation stays immediate. Saving or deleting a user (a password change, a role change, a
disabled account, a deletion) drops the kept row (``post_save``, ``post_delete``); the
services that change a user with a queryset ``update`` call ``forget`` themselves.

- **One process** (the embedded default, no ``REDIS_URL``): dropping the row in this process's
  memory is enough.
- **Several processes** (``REDIS_URL``): another process's memory is out of reach, so each
  user has a generation in the shared cache, bumped by ``forget``. A kept row records the
  generation read *before* the row was read, and is used only while the shared generation is
  still that one. The generation costs no round trip of its own: it comes in the same read as
  the site settings, which every authenticated request makes anyway
  (``users.selectors.site_settings_and_user_generation``). When the shared cache cannot be
  read, nothing kept is used.

A change made from outside the server's code (a raw UPDATE in a shell) takes effect within
``TTL`` seconds.
"""

import copy
import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.base import ModelState
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from users.models import User

logger = logging.getLogger(__name__)

TTL = 5.0  # seconds

_lock = threading.Lock()
# user id -> (kept at, the row, the shared generation it was read under; None with no Redis)
_users: dict[str, tuple[float, User, int | None]] = {}


def shared() -> bool:
    """Are kept rows checked against a generation in the shared cache (several processes)?"""
    return bool(settings.REDIS_URL)


def generation_key(user_id: Any) -> str:
    return f"user:{user_id}:generation"


def get(user_id: Any, generation: int | None = None) -> User | None:
    """A private copy of the kept row of ``user_id``, or None: not kept, too old, or (with a
    shared cache) kept under another ``generation`` than the shared one just read."""
    key = str(user_id)
    entry = _users.get(key)
    if entry is None:
        return None
    if time.monotonic() - entry[0] > TTL or entry[2] != generation:
        with _lock:
            if _users.get(key) is entry:
                del _users[key]
        return None
    return _copy(entry[1])


def keep(user: User, generation: int | None = None) -> None:
    """Keep ``user``, just read from the database after ``generation`` was read."""
    with _lock:
        _users[str(user.pk)] = (time.monotonic(), _copy(user), generation)


def note_activity(user: User) -> None:
    """The request's copy recorded activity: the kept row has the new time too."""
    entry = _users.get(str(user.pk))
    if entry is not None:
        entry[1].last_active_at = user.last_active_at


def forget(user_id: Any) -> None:
    """Drop the kept row everywhere now, and again when the transaction that changed it
    commits (a request may read and keep the old row in between)."""
    key = str(user_id)

    def drop() -> None:
        with _lock:
            _users.pop(key, None)
        if shared():
            _bump(generation_key(key))

    drop()
    transaction.on_commit(drop)


def _bump(key: str) -> None:
    try:
        try:
            cache.incr(key)
        except ValueError:  # not there yet (or expired): start it, unless another did
            if not cache.add(key, 1, timeout=None):
                cache.incr(key)
    except Exception as exc:
        # Other processes cannot be told: their copies still end within TTL.
        logger.warning("auth cache: could not bump %s (%s)", key, exc)


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
