"""Open WebUI's password hashes sign in here, and become argon2 at the first sign-in.

These tests use the project's own PASSWORD_HASHERS (tests/conftest.py swaps in a fast one).
"""

from collections.abc import Callable
from typing import Any

import bcrypt
import pytest
from argon2 import PasswordHasher
from django.contrib.auth.hashers import check_password, identify_hasher
from rest_framework.test import APIClient

from importers.openwebui import password_hash
from users.models import User
from webui_backend import settings as project_settings

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def real_hashers(settings: Any) -> None:
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS


def signin(api: APIClient, email: str, password: str) -> int:
    return api.post(
        "/api/auths/signin", {"email": email, "password": password}, format="json"
    ).status_code


def account_with(make_user: Callable[..., User], stored: str) -> User:
    user = make_user(email="moved@example.com")
    user.password = password_hash(stored)
    user.save(update_fields=["password"])
    return user


def test_bcrypt_hash_signs_in_and_is_upgraded(
    api: APIClient, make_user: Callable[..., User]
) -> None:
    stored = bcrypt.hashpw(b"old password", bcrypt.gensalt(rounds=4)).decode()  # as Open WebUI
    user = account_with(make_user, stored)
    assert user.password == f"bcrypt${stored}"
    assert signin(api, user.email, "wrong password") == 401
    user.refresh_from_db()
    assert user.password == f"bcrypt${stored}"  # a failed sign-in changes nothing
    assert signin(api, user.email, "old password") == 200
    user.refresh_from_db()
    assert identify_hasher(user.password).algorithm == "argon2"
    assert signin(api, user.email, "old password") == 200  # and it still signs in
    assert signin(api, user.email, "wrong password") == 401


def test_argon2_hash_of_open_webui_signs_in_and_is_upgraded(
    api: APIClient, make_user: Callable[..., User]
) -> None:
    stored = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("old password")
    user = account_with(make_user, stored)
    assert signin(api, user.email, "old password") == 200
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$")
    assert user.password != f"argon2{stored}"  # re-made with this server's parameters
    assert signin(api, user.email, "wrong password") == 401


def test_long_passwords_are_checked_as_open_webui_did() -> None:
    """bcrypt reads 72 bytes; Open WebUI cut longer passwords there, and so do we."""
    long = "p" * 80
    stored = bcrypt.hashpw(long.encode()[:72], bcrypt.gensalt(rounds=4)).decode()
    assert check_password(long, f"bcrypt${stored}")
    assert not check_password("q" * 80, f"bcrypt${stored}")


def test_unknown_or_broken_hashes_never_sign_in() -> None:
    assert password_hash("") is None
    assert password_hash("plain-text-password") is None
    assert not check_password("x", "bcrypt$$2b$12$broken")
    assert not check_password("x", "bcrypt$notbcrypt")
