"""Files over real HTTP through daphne: a multipart upload, a streamed download with its
headers, and processing that finishes after the upload has answered (on the server's threads on
the embedded default; the worker path is tests/e2e/test_knowledge_worker.py)."""

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from django.conf import settings

from tests.e2e.conftest import token_for
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def test_upload_download_and_processing_over_http(
    start_server: Callable[..., str], make_user: Callable[..., User]
) -> None:
    url = start_server("daphne", RATE_LIMIT="100000/minute")
    user = make_user(email="http-files@example.com")
    data = "# Über uns\n\nLighthouses guide ships past the reef at night.\n".encode()
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token_for(user)}"}, timeout=60
    ) as client:
        uploaded = client.post(
            "/api/files/?process=true", files={"file": ("Über uns.md", data, "text/x-anything")}
        )
        assert uploaded.status_code == 201, uploaded.text
        file = uploaded.json()
        assert file["status"] == "queued"

        download = client.get(f"/api/files/{file['id']}/content")
        assert download.status_code == 200
        assert download.content == data
        assert download.headers["content-type"] == "text/markdown"
        assert download.headers["content-length"] == str(len(data))
        assert download.headers["content-disposition"] == (
            "attachment; filename=\"Uber uns.md\"; filename*=utf-8''%C3%9Cber%20uns.md"
        )

        too_big = client.post(
            "/api/files/", files={"file": ("big.txt", b"x" * (26 * 1024 * 1024), "text/plain")}
        )
        assert too_big.status_code == 413
        assert too_big.json()["code"] == "file_too_large"

        if settings.REDIS_URL:
            # The job waits for a worker (a session-wide one here would also take the jobs of
            # tests/e2e/test_knowledge_worker.py, which kills its own workers on purpose).
            assert client.get(f"/api/files/{file['id']}/job").json()["state"] == "queued"
            return
        deadline = time.monotonic() + 120
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            job = client.get(f"/api/files/{file['id']}/job").json()
            if job["state"] in {"indexed", "failed", "cancelled"}:
                break
            time.sleep(0.2)
    assert job["state"] == "indexed", job
    assert job["chunks_total"] >= 1


def test_a_malformed_multipart_body_is_our_json_400(
    start_server: Callable[..., str], make_user: Callable[..., User]
) -> None:
    """The body reaches the application as sent: daphne's Twisted does not parse an upload into
    form arguments of its own first (which answered a body it could not parse with a bare 400
    and a dropped connection, and held the event loop for the whole parse of a good one)."""
    url = start_server("daphne", RATE_LIMIT="100000/minute")
    user = make_user(email="http-multipart@example.com")
    headers = {
        "Authorization": f"Bearer {token_for(user)}",
        "Content-Type": "multipart/form-data; boundary=xyz",
    }
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        broken = client.post("/api/files/", content=b"not a multipart body")
        # The same connection carries the next request.
        again = client.post("/api/files/", content=b"--xyz--\r\n")

    assert broken.status_code == 400, (broken.headers, broken.text)
    assert "detail" in broken.json(), (broken.headers, broken.text)
    assert again.status_code == 400
    assert "detail" in again.json()
