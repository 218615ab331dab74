"""A processing job survives its worker being killed: real daphne, real Celery workers, real
Redis and PostgreSQL. The worker is killed with SIGKILL halfway through embedding; a new worker
and the reaper finish the job, and the file ends up indexed once, without duplicate chunks."""

import os
import signal
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
from django.db.models import Count

from knowledge import processing
from knowledge.models import ProcessingJob
from retrieval.models import Chunk
from tests.e2e.conftest import (
    ROOT,
    RUN_DATA_DIR,
    database_url,
    free_port,
    server_command,
    token_for,
    wait_until_up,
)
from users.models import User

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.REDIS_URL,
        reason="needs REDIS_URL: the embedded default runs jobs in process (tested elsewhere)",
    ),
]


@pytest.fixture
def stack() -> Iterator[Any]:
    """daphne plus any number of Celery workers sharing one DATA_DIR (the stored files)."""
    workdir = Path(tempfile.mkdtemp(prefix="webui-knowledge-"))
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DATA_DIR": str(RUN_DATA_DIR),
        "SECRET_KEY": settings.SECRET_KEY,
        "CACHE_KEY_PREFIX": settings.CACHES["default"].get("KEY_PREFIX", ""),
        "PYTHONUNBUFFERED": "1",
        "RAG_EMBEDDING_BATCH_SIZE": "1",  # one chunk per batch: a slow job to kill halfway
        "FILE_JOB_HEARTBEAT_SECONDS": "1",
        "RATE_LIMIT": "100000/minute",
    }
    processes: list[subprocess.Popen] = []

    class Stack:
        url = ""

        def server(self) -> str:
            port = free_port()
            log = workdir / f"daphne-{port}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(  # noqa: S603 - our own server
                    server_command("daphne", port), cwd=ROOT, env=env, stdout=out, stderr=out
                )
            processes.append(process)
            self.url = f"http://127.0.0.1:{port}"
            wait_until_up(self.url, process, log)
            return self.url

        def worker(self, **extra: str) -> subprocess.Popen:
            log = workdir / f"worker-{len(processes)}.log"
            command = [sys.executable, "-m", "celery", "-A", "webui_backend", "worker"]
            command += ["--pool=solo", "--without-gossip", "--without-mingle", "-l", "INFO"]
            with log.open("wb") as out:
                process = subprocess.Popen(  # noqa: S603 - our own worker
                    command, cwd=ROOT, env={**env, **extra}, stdout=out, stderr=out
                )
            processes.append(process)
            deadline = time.monotonic() + 60
            while b"ready." not in log.read_bytes():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker did not start:\n{log.read_text()}")
                time.sleep(0.1)
            return process

    yield Stack()
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_worker_killed_mid_job_ends_indexed_once(
    stack: Any, make_user: Callable[..., User], settings: Any
) -> None:
    user = make_user(email="killed-worker@example.com")
    stack.server()
    first_worker = stack.worker()
    text = "\n\n".join(
        f"Paragraph {n}: the lighthouse keeper counted {n} ships passing the cape at dusk."
        for n in range(800)
    )
    with httpx.Client(
        base_url=stack.url, headers={"Authorization": f"Bearer {token_for(user)}"}, timeout=30
    ) as client:
        file_id = client.post(
            "/api/files/", files={"file": ("log.txt", text.encode(), "text/plain")}
        ).json()["id"]
        knowledge_id = client.post("/api/knowledge/create", json={"name": "Logs"}).json()["id"]
        added = client.post(f"/api/knowledge/{knowledge_id}/file/add", json={"file_id": file_id})
        assert added.status_code == 200

        def halfway() -> dict | None:
            job = client.get(f"/api/files/{file_id}/job").json()
            assert job["state"] not in {"indexed", "failed"}, job
            return job if job["state"] == "embedding" and job["chunks_done"] >= 10 else None

        job = wait_for(halfway, 120, "the job to be embedding")
        first_worker.send_signal(signal.SIGKILL)
        first_worker.wait(timeout=10)
        time.sleep(2.5)  # past the heartbeat limit the reaper will use

        stalled = client.get(f"/api/files/{file_id}/job").json()
        assert stalled["state"] == "embedding"
        assert stalled["chunks_done"] < stalled["chunks_total"]
        assert not Chunk.objects.filter(file_id=file_id).exists()  # nothing half-written

        stack.worker(RAG_EMBEDDING_BATCH_SIZE="32")
        settings.FILE_JOB_STALE_SECONDS = 2
        assert processing.processing_jobs_reap() == {"requeued": 1, "failed": 0}

        def finished() -> dict | None:
            job = client.get(f"/api/files/{file_id}/job").json()
            return job if job["state"] in {"indexed", "failed", "cancelled"} else None

        final = wait_for(finished, 300, "the job to finish on the new worker")

    assert final["id"] == job["id"]
    assert final["state"] == "indexed", final
    assert final["attempts"] == 2
    assert ProcessingJob.objects.filter(file_id=file_id).count() == 1
    chunks = Chunk.objects.filter(file_id=file_id)
    assert chunks.count() == final["chunks_total"]
    duplicates = chunks.values("chunk_index").annotate(n=Count("id")).filter(n__gt=1)
    assert not duplicates.exists()
    assert processing.processing_jobs_reap() == {"requeued": 0, "failed": 0}
