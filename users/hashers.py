"""Argon2 with a cap on how many hashes a process computes at once."""

import threading

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher

_slots: threading.BoundedSemaphore | None = None
_slots_lock = threading.Lock()


def _hash_slots() -> threading.BoundedSemaphore:
    global _slots  # one semaphore per process, made on first use
    with _slots_lock:
        if _slots is None:
            _slots = threading.BoundedSemaphore(settings.PASSWORD_HASH_CONCURRENCY)
        return _slots


class BoundedArgon2PasswordHasher(Argon2PasswordHasher):
    """Django's argon2 hasher (same algorithm name, so stored hashes stay valid), bounded.

    Each hash holds ``memory_cost`` (100 MiB by Django's default) while it runs; 32 concurrent
    sign-ins would hold over 3 GiB. Requests beyond PASSWORD_HASH_CONCURRENCY wait their turn
    instead: they could not have run faster on the CPU anyway.
    """

    def encode(self, password: str, salt: str) -> str:
        with _hash_slots():
            return super().encode(password, salt)

    def verify(self, password: str, encoded: str) -> bool:
        with _hash_slots():
            return super().verify(password, encoded)
