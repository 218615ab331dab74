"""The embedded default's write transactions queue on a lock of the process (no sleeping in
SQLite's busy handler), and every way a transaction ends gives the lock back."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections, transaction

from chats import services
from tests.factories import UserFactory
from webui_backend.sqlite3.base import WRITERS

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the embedded default's backend"),
]


def test_a_transaction_holds_the_lock_until_it_commits() -> None:
    user = UserFactory()
    assert not WRITERS.locked()

    with transaction.atomic():
        services.chat_create(user=user, title="inside")
        assert WRITERS.locked()

    assert not WRITERS.locked()


def test_a_failed_transaction_gives_the_lock_back() -> None:
    user = UserFactory()

    def fail() -> None:
        with transaction.atomic():
            services.chat_create(user=user, title="rolled back")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail()

    assert not WRITERS.locked()
    started = time.monotonic()
    services.chat_create(user=user, title="after")  # nobody is left waiting on a lost lock
    assert time.monotonic() - started < 5


def test_concurrent_writers_from_many_threads_all_commit() -> None:
    user = UserFactory()
    barrier = threading.Barrier(8)

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(5):
                services.chat_create(user=user, title=f"t{n}-{i}")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))

    assert user.chats.count() == 40
    assert not WRITERS.locked()
