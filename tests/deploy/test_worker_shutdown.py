"""SIGTERM to a real Celery worker: a running job finishes within WORKER_SHUTDOWN_TIMEOUT, or
goes back to the queue and runs again on the next worker."""

import secrets
import signal
import time
from collections.abc import Callable

import pytest
from django.core.cache import cache

from deploy.launch import Launcher
from tests.deploy.tasks import slow_job_task

pytestmark = pytest.mark.django_db(transaction=True)
# A queue of their own: the session's other clusters run workers on the same Redis.
QUEUE = "deploy-worker-shutdown"
WORKER = ["--pool=prefork", "--concurrency=1", "-I", "tests.deploy.tasks", "-Q", QUEUE]


def count(token: str, what: str) -> int:
    return int(cache.get(f"job:{token}:{what}") or 0)


def wait_until(check: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def test_sigterm_lets_the_running_job_finish(make_cluster: Callable[..., Launcher]) -> None:
    cluster = make_cluster(
        env={"WORKER_SHUTDOWN_TIMEOUT": "20"}, web=0, beat=False, worker_args=WORKER
    )
    token = secrets.token_hex(4)
    slow_job_task.apply_async((token, 2.0), queue=QUEUE)
    wait_until(lambda: count(token, "starts") == 1, 20, "the job never started")

    exit_code = cluster.terminate("worker-0", timeout=30)

    assert exit_code == 0
    assert (count(token, "starts"), count(token, "finishes")) == (1, 1)


def test_a_job_cut_by_the_shutdown_limit_runs_again_on_the_next_worker(
    make_cluster: Callable[..., Launcher],
) -> None:
    cluster = make_cluster(
        env={"WORKER_SHUTDOWN_TIMEOUT": "1"}, web=0, beat=False, worker_args=WORKER
    )
    token = secrets.token_hex(4)
    slow_job_task.apply_async((token, 4.0), queue=QUEUE)
    wait_until(lambda: count(token, "starts") == 1, 20, "the job never started")

    cluster.signal("worker-0", signal.SIGTERM)
    cluster.wait("worker-0", 30)
    cut_short = count(token, "finishes")
    cluster.start_worker("worker-0")
    wait_until(lambda: count(token, "finishes") == 1, 30, "the job was never run again")

    assert cut_short == 0
    assert count(token, "starts") == 2
