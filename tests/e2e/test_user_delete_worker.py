"""Deleting an account through the real server; a real Celery worker removes the row."""

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings

from tests.e2e.conftest import ROOT, RUN_DATA_DIR, database_url
from tests.factories import PASSWORD
from users.models import AuditLog, User

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.REDIS_URL,
        reason="needs REDIS_URL: the embedded default runs tasks in process (tested elsewhere)",
    ),
]


@pytest.fixture
def celery_worker() -> Iterator[None]:
    """One Celery worker on the test database and the test Redis, stopped afterwards."""
    log = Path(tempfile.mkdtemp(prefix="webui-worker-")) / "worker.log"
    command = [sys.executable, "-m", "celery", "-A", "webui_backend", "worker", "--pool=solo"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"]
    env = {**os.environ, "DATABASE_URL": database_url(), "DATA_DIR": str(RUN_DATA_DIR)}
    env["PYTHONUNBUFFERED"] = "1"
    with log.open("wb") as out:
        worker = subprocess.Popen(  # noqa: S603 - our own worker, fixed arguments
            command, cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text():
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


def test_deleted_account_is_locked_out_then_removed_by_the_worker(
    server_url: str, make_user: Any, celery_worker: None
) -> None:
    make_user(role=User.Role.ADMIN, email="boss@example.com")
    with httpx.Client(base_url=server_url, timeout=30) as client:
        victim = client.post(
            "/api/auths/signup",
            json={"name": "Gone Soon", "email": "gone@example.com", "password": PASSWORD},
        ).json()
        admin_token = client.post(
            "/api/auths/signup",
            json={"name": "Second Admin", "email": "admin2@example.com", "password": PASSWORD},
        ).json()["token"]
        User.objects.filter(email="admin2@example.com").update(role=User.Role.ADMIN)
        victim_id = victim["user"]["id"]

        deleted = client.delete(
            f"/api/users/{victim_id}", headers={"Authorization": f"Bearer {admin_token}"}
        )
        locked_out = client.get(
            "/api/auths/", headers={"Authorization": f"Bearer {victim['token']}"}
        )

    assert deleted.status_code == 200
    assert locked_out.status_code == 401
    deadline = time.monotonic() + 30
    while User.objects.filter(pk=victim_id).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not User.objects.filter(pk=victim_id).exists()
    assert AuditLog.objects.filter(action="user.delete", target_id=victim_id).exists()
