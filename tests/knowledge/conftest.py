import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from knowledge import processing
from retrieval.backends import _in_process
from users.models import User


@pytest.fixture
def alice(owner: User, client_of: Callable[[User], APIClient]) -> APIClient:
    return client_of(owner)


@pytest.fixture
def eve(stranger: User, client_of: Callable[[User], APIClient]) -> APIClient:
    return client_of(stranger)


@pytest.fixture(autouse=True)
def _polling_is_not_rate_limited(settings: Any) -> None:
    settings.RATE_LIMIT = (1_000_000, 60)  # tests poll a job's state many times a second


@pytest.fixture(autouse=True)
def _jobs_finish_within_the_test() -> Iterator[None]:
    """Wait for the embedded default's processing threads to go idle before the database is
    emptied: when every pool thread runs one of these barrier tasks, none runs a job."""
    _in_process.clear()  # cached matrices belong to the previous test's database
    yield
    pool = processing._pool
    if pool is None:
        return
    workers = pool._max_workers
    barrier = threading.Barrier(workers + 1)
    for _ in range(workers):
        pool.submit(barrier.wait, 60)
    barrier.wait(60)
