"""Test set-up shared by every test. The suite runs on the embedded default and, with
DATABASE_URL and REDIS_URL set, on real PostgreSQL and Redis (see README)."""

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import PASSWORD, UserFactory
from users.models import ApiKey, User
from users.services import api_key_create
from webui_backend import ratelimit
from webui_backend.celery import app as celery_app


def _clear_cache() -> None:
    ratelimit.clear()
    if django_settings.REDIS_URL:
        client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
        keys = list(client.scan_iter(match=f"{django_settings.CACHES['default']['KEY_PREFIX']}:*"))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _isolated(settings: Any) -> Iterator[None]:
    """A clean cache per test, and a fast password hasher (argon2 has a test of its own)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    _clear_cache()
    return


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    def make(**fields: Any) -> User:
        return UserFactory(**fields)

    return make


@pytest.fixture
def admin_user(make_user: Callable[..., User]) -> User:
    return make_user(role=User.Role.ADMIN, email="admin@example.com", name="Ada Admin")


@pytest.fixture
def owner(make_user: Callable[..., User]) -> User:
    return make_user(email="owner@example.com", name="Olive Owner")


def signin(api: APIClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = api.post("/api/auths/signin", {"email": email, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def as_user(api: APIClient) -> Callable[[User], APIClient]:
    """An API client signed in as the given user through the real sign-in route."""

    def login(user: User) -> APIClient:
        session = signin(api, user.email)
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {session['token']}")
        return api

    return login


@pytest.fixture
def client_of() -> Callable[[User], APIClient]:
    """A fresh API client carrying an access token of the given user."""
    from rest_framework_simplejwt.tokens import AccessToken

    def make(user: User) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
        return client

    return make


@pytest.fixture
def stranger(make_user: Callable[..., User]) -> User:
    return make_user(email="stranger@example.com", name="Sam Stranger")


@pytest.fixture
def make_key(db: None) -> Callable[..., tuple[ApiKey, str]]:
    """Create an API key through the service; returns the row and the raw ``sk-…`` key."""

    def make(user: User, **fields: Any) -> tuple[ApiKey, str]:
        created = api_key_create(user=user, name=fields.pop("name", "test key"), **fields)
        return created.key, created.api_key

    return make


def bearer(secret: str) -> APIClient:
    """A fresh API client sending ``Authorization: Bearer <secret>`` (a JWT or an sk- key)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Run Celery tasks in this process, as the embedded default always does.

    With REDIS_URL set, tasks otherwise go to the broker for a worker (tests/e2e start one
    where the worker itself matters).
    """
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager = conf.task_eager_propagates = True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


@pytest.fixture(autouse=True, scope="session")
def _flush_survives_the_servers_last_writes() -> Iterator[None]:
    """Retry the between-tests flush when PostgreSQL picks it as a deadlock victim.

    Servers started by tests (tests/e2e, tests/deploy) outlive each test: a socket closed at a
    test's end makes its server store a ``user_leave`` event a moment later (counter row, then
    event row), while pytest-django empties the tables with one TRUNCATE that locks them in no
    fixed order. The two can deadlock, and PostgreSQL then aborts the TRUNCATE, leaving rows
    behind for the next test. The flush is one transaction, so trying it again once the write
    has committed is safe.
    """
    from django.db import OperationalError
    from django.db.backends.postgresql.operations import DatabaseOperations

    flush = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
        for _ in range(4):
            try:
                flush(self, sql_list)
                return
            except OperationalError as exc:
                if "deadlock detected" not in str(exc):
                    raise
                time.sleep(0.2)  # the server's transaction commits meanwhile
        flush(self, sql_list)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "execute_sql_flush", execute_sql_flush)
        yield
