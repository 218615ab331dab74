"""Real servers for end-to-end tests: daphne (and uvicorn) in their own processes, on the
test database, reached over loopback HTTP."""

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

# Every server and worker the tests start stores files here. They all share one broker queue, so
# a worker started for one server takes uploads made through another: one storage folder for the
# whole run, as a deployment's processes share theirs.
RUN_DATA_DIR = Path(tempfile.mkdtemp(prefix="webui-test-data-"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The URL of the test database pytest-django created (it has been migrated)."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgresql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def server_command(kind: str, port: int) -> list[str]:
    app = "webui_backend.asgi:application"
    if kind == "daphne":  # as the README's server and deploy/launch.py run it
        server = "webui_backend.server"
        return [sys.executable, "-m", server, "-b", "127.0.0.1", "-p", str(port), app]
    return [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), app]


def wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not come up:\n{log.read_text()}")


@pytest.fixture(scope="session")
def start_server(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Callable[..., str]]:
    """Start a real ASGI server on the test database; returns its base URL."""
    processes: list[subprocess.Popen] = []
    workdir = Path(tempfile.mkdtemp(prefix="webui-e2e-"))

    def start(kind: str = "daphne", **env: str) -> str:
        port = free_port()
        log = workdir / f"{kind}-{port}.log"
        environment = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DATA_DIR": str(RUN_DATA_DIR),
            # The embedding model exported to ONNX once for the whole test run.
            "RAG_MODEL_CACHE_DIR": str(settings.RAG_MODEL_CACHE_DIR),
            # The tests mint tokens for the users they make; the server must accept them.
            "SECRET_KEY": settings.SECRET_KEY,
            # Same cache and channel-layer namespace as this process (its settings were read
            # before any conftest could set the variable).
            "CACHE_KEY_PREFIX": settings.CACHES["default"].get("KEY_PREFIX", ""),
            # Socket.IO's polling clients wait out a ping interval when they disconnect.
            "REALTIME_PING_INTERVAL": "2",
            "REALTIME_PING_TIMEOUT": "5",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: S603 - our own server, fixed arguments
                server_command(kind, port), cwd=ROOT, env=environment, stdout=out, stderr=out
            )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, process, log)
        return url

    def start_worker() -> None:
        """A real Celery worker on the same database and broker."""
        log = workdir / f"worker-{len(processes)}.log"
        environment = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DATA_DIR": str(RUN_DATA_DIR),
            "RAG_MODEL_CACHE_DIR": str(settings.RAG_MODEL_CACHE_DIR),
            "CACHE_KEY_PREFIX": settings.CACHES["default"].get("KEY_PREFIX", ""),
        }
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "webui_backend",
                    "worker",
                    "--pool=solo",
                    "--concurrency=1",
                    "--without-gossip",
                    "--without-mingle",
                    "-l",
                    "info",
                ],
                cwd=ROOT,
                env=environment,
                stdout=out,
                stderr=out,
            )
        processes.append(process)
        deadline = time.monotonic() + 30
        while b"ready." not in log.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{log.read_text()}")
            time.sleep(0.1)

    start.worker = start_worker  # type: ignore[attr-defined]
    yield start
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def server_url(start_server: Callable[..., str]) -> str:
    return start_server("daphne")


def token_for(user: Any) -> str:
    from rest_framework_simplejwt.tokens import AccessToken

    return str(AccessToken.for_user(user))
