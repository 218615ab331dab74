"""Argon2 with a cap on how many hashes a process computes at once; Open WebUI's bcrypt."""

import threading

import bcrypt
from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher, BCryptPasswordHasher

BCRYPT_MAX_BYTES = 72

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


class OpenWebUIBCryptPasswordHasher(BCryptPasswordHasher):
    """Open WebUI's bcrypt hashes (``$2b$12$…``), stored here as ``bcrypt$$2b$12$…``.

    Only checks passwords: it is not first in PASSWORD_HASHERS, so Django re-hashes the password
    with argon2 at the account's first successful sign-in. Open WebUI checks the first 72 bytes
    of a password (all bcrypt reads); so does this, where the bcrypt library would refuse.
    """

    def encode(self, password: str, salt: str | bytes) -> str:
        raw = password.encode()[:BCRYPT_MAX_BYTES]
        data = bcrypt.hashpw(raw, salt if isinstance(salt, bytes) else salt.encode("ascii"))
        return f"{self.algorithm}${data.decode('ascii')}"

    def verify(self, password: str, encoded: str) -> bool:
        algorithm, data = encoded.split("$", 1)
        if algorithm != self.algorithm or not data.startswith("$2"):
            return False
        try:
            return bcrypt.checkpw(password.encode()[:BCRYPT_MAX_BYTES], data.encode("ascii"))
        except ValueError:  # a malformed hash
            return False
