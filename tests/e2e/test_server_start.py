"""``python -m webui_backend.server --migrate`` (what ``python3 dev.py serve`` runs) on a fresh
data folder: the migrations are applied in the server's own process, then it serves."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.e2e.conftest import free_port
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[2]


def test_the_server_migrates_a_fresh_data_folder_then_serves(tmp_path: Path) -> None:
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    env["DATA_DIR"] = str(tmp_path)  # the embedded default: a new SQLite file here
    log = (tmp_path / "server.log").open("wb")
    command = [sys.executable, "-m", "webui_backend.server", "--migrate", "-b", "127.0.0.1"]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
        [*command, "-p", str(port), "webui_backend.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        health = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                health = httpx.get(f"{url}/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None, (tmp_path / "server.log").read_text()
        signup = httpx.post(
            f"{url}/api/auths/signup",
            json={"name": "First", "email": "first@example.com", "password": PASSWORD},
            timeout=30,
        )
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()

    assert health.status_code == 200
    assert signup.status_code == 200  # the tables exist: the migrations ran
    assert signup.json()["user"]["role"] == "admin"
    assert (tmp_path / "db.sqlite3").exists()
    # One access line per request, the middleware's (with the route); daphne's own none.
    output = (tmp_path / "server.log").read_text()
    assert "POST /api/auths/signup 200" in output
    assert '"POST /api/auths/signup"' not in output  # daphne's NCSA-style line quotes it
