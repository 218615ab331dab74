"""Uploading, listing, downloading and deleting files through the API."""

import hashlib
from collections.abc import Callable
from urllib.parse import quote

import pytest
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from knowledge.models import File
from tests.knowledge.helpers import docx_bytes, pdf_bytes, upload
from users.models import User

pytestmark = pytest.mark.django_db


def test_upload_answers_with_the_file(alice: APIClient, owner: User) -> None:
    data = b"# Notes\n\nSome markdown.\n"

    response = upload(alice, "notes.md", data)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["filename"] == "notes.md"
    assert body["user_id"] == str(owner.pk)
    assert isinstance(body["created_at"], int)
    assert body["size"] == len(data)
    assert body["content_type"] == "text/markdown"
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["status"] == ""
    assert body["job"] is None
    stored = File.objects.get(pk=body["id"]).storage_name
    assert "notes" not in stored
    with default_storage.open(stored, "rb") as handle:
        assert handle.read() == data


def test_same_bytes_again_give_the_existing_file(alice: APIClient) -> None:
    first = upload(alice, "a.txt", b"same bytes")
    second = upload(alice, "renamed.txt", b"same bytes")

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert File.objects.count() == 1


def test_same_bytes_from_two_users_are_two_files(alice: APIClient, eve: APIClient) -> None:
    assert upload(alice, "a.txt", b"shared text").status_code == 201
    assert upload(eve, "a.txt", b"shared text").status_code == 201


def test_idempotency_key_replays_the_first_answer(alice: APIClient) -> None:
    first = upload(alice, "a.txt", b"first", HTTP_IDEMPOTENCY_KEY="k-1")
    again = upload(alice, "a.txt", b"first", HTTP_IDEMPOTENCY_KEY="k-1")
    other = upload(alice, "b.txt", b"different bytes", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == 201
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"


def test_zero_bytes_is_400(alice: APIClient) -> None:
    response = upload(alice, "empty.txt", b"")

    assert response.status_code == 400
    assert response.json() == {"detail": "The file is empty (zero bytes).", "code": "empty_file"}


def test_missing_file_field_is_400(alice: APIClient) -> None:
    response = alice.post("/api/files/", {"other": "x"}, format="multipart")

    assert response.status_code == 400
    assert response.json()["code"] == "file_required"


def test_json_body_is_415(alice: APIClient) -> None:
    response = alice.post("/api/files/", {"file": "x"}, format="json")

    assert response.status_code == 415


def test_over_the_limit_is_413_while_streaming(alice: APIClient, settings) -> None:
    settings.FILE_MAX_BYTES = 100 * 1024

    response = upload(alice, "big.txt", b"x" * (100 * 1024 + 1))

    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"
    assert "102,400 bytes" in response.json()["detail"]
    assert File.objects.count() == 0


def test_declared_length_far_over_the_limit_is_413_before_reading(
    alice: APIClient, settings
) -> None:
    settings.FILE_MAX_BYTES = 1024

    response = upload(alice, "big.txt", b"x" * 200_000)

    assert response.status_code == 413


def test_exactly_the_limit_is_accepted(alice: APIClient, settings) -> None:
    settings.FILE_MAX_BYTES = 4096

    assert upload(alice, "edge.txt", b"y" * 4096).status_code == 201


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("invoice.pdf", b"MZ\x90\x00" + b"\0" * 64),
        ("notes.txt", b"\x7fELF\x02\x01\x01\x00" + b"\0" * 64),
        ("photo.md", b"\x89PNG\r\n\x1a\n" + b"\0" * 64),
        ("run.sh", b"#!/bin/sh\necho hi\n"),
        ("report.docx", b"PK\x03\x04" + b"\0" * 64),
    ],
)
def test_wrong_types_are_415(alice: APIClient, name: str, data: bytes) -> None:
    response = upload(alice, name, data)

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_file_type"
    assert File.objects.count() == 0


def test_pdf_and_docx_are_accepted(alice: APIClient) -> None:
    pdf = upload(alice, "paper.pdf", pdf_bytes(["hello"]))
    word = upload(alice, "letter.docx", docx_bytes(["hello"]))

    assert pdf.json()["content_type"] == "application/pdf"
    assert word.json()["content_type"].endswith("wordprocessingml.document")


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        (b"../../../etc/passwd.txt", "passwd.txt"),
        (b"..\\..\\boot.ini.txt", "boot.ini.txt"),
        (b"evil\x00.txt", "evil.txt"),
        (b"tab\there\x07bell\x1b.txt", "tabherebell.txt"),
        (("\u202egnp.txt").encode(), "gnp.txt"),
        (b"n" * 800 + b".md", "n" * 252 + ".md"),
    ],
)
def test_hostile_filenames_are_stored_sanitized(alice: APIClient, raw: bytes, stored: str) -> None:
    response = upload(alice, raw, b"text of " + stored.encode())

    assert response.status_code == 201, response.content
    assert response.json()["filename"] == stored
    file = File.objects.get(pk=response.json()["id"])
    assert file.storage_name.startswith("files/")
    assert ".." not in file.storage_name


def test_a_1000_character_filename_is_a_clear_400(alice: APIClient) -> None:
    # Django's multipart parser caps a part's headers at 1 KiB; the name cannot fit.
    response = upload(alice, b"n" * 1000 + b".md", b"text")

    assert response.status_code == 400
    assert "header size exceeded" in response.json()["detail"]


def test_list_is_mine_newest_first_and_paginates(alice: APIClient, eve: APIClient) -> None:
    ids = [upload(alice, f"f{i}.txt", f"file {i}".encode()).json()["id"] for i in range(5)]
    upload(eve, "theirs.txt", b"not yours")

    first = alice.get("/api/files/?limit=2")
    second = alice.get(f"/api/files/?limit=2&cursor={first.headers['X-Next-Cursor']}")
    third = alice.get(f"/api/files/?limit=2&cursor={second.headers['X-Next-Cursor']}")
    by_page = alice.get("/api/files/?limit=2&page=2")

    assert [f["id"] for f in first.json()] == ids[::-1][:2]
    assert [f["id"] for f in second.json()] == ids[::-1][2:4]
    assert [f["id"] for f in third.json()] == ids[::-1][4:]
    assert "X-Next-Cursor" not in third.headers
    assert [f["id"] for f in by_page.json()] == ids[::-1][2:4]


def test_bad_cursor_is_400(alice: APIClient) -> None:
    response = alice.get("/api/files/?cursor=not-a-cursor")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


def test_list_takes_constant_queries(
    alice: APIClient, django_assert_max_num_queries: Callable
) -> None:
    for i in range(3):
        upload(alice, f"f{i}.txt", f"file {i}".encode())
    with django_assert_max_num_queries(3):
        assert len(alice.get("/api/files/").json()) == 3
    for i in range(3, 30):
        upload(alice, f"f{i}.txt", f"file {i}".encode())
    with django_assert_max_num_queries(3):
        assert len(alice.get("/api/files/").json()) == 30


def test_content_download_is_an_attachment_with_a_safe_name(alice: APIClient) -> None:
    data = "<h1>résumé</h1><script>alert(1)</script>".encode()
    name = 'Résumé "final"; x.html'
    file_id = upload(alice, name.encode(), data).json()["id"]

    response = alice.get(f"/api/files/{file_id}/content")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "text/html"
    assert response["Content-Disposition"] == (
        "attachment; filename=\"Resume _final_; x.html\"; filename*=utf-8''" + quote(name)
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox"


def test_another_users_file_is_404_everywhere(alice: APIClient, eve: APIClient) -> None:
    file_id = upload(alice, "private.txt", b"mine").json()["id"]

    for response in (
        eve.get(f"/api/files/{file_id}"),
        eve.get(f"/api/files/{file_id}/content"),
        eve.get(f"/api/files/{file_id}/job"),
        eve.post(f"/api/files/{file_id}/job/cancel"),
        eve.delete(f"/api/files/{file_id}"),
        eve.post("/api/retrieval/process", {"file_id": file_id}, format="json"),
    ):
        assert response.status_code == 404, response.content
        assert response.json() == {"detail": "File not found.", "code": "file_not_found"}
    assert alice.get(f"/api/files/{file_id}").status_code == 200


@pytest.mark.parametrize("bad", ["nope", "00000000-0000-0000-0000-000000000000", "%00", "1" * 90])
def test_malformed_ids_are_404(alice: APIClient, bad: str) -> None:
    assert alice.get(f"/api/files/{bad}").status_code == 404


def test_file_without_a_job_has_no_job(alice: APIClient) -> None:
    file_id = upload(alice, "a.txt", b"abc").json()["id"]

    assert alice.get(f"/api/files/{file_id}/job").status_code == 404
    cancel = alice.post(f"/api/files/{file_id}/job/cancel")
    assert cancel.status_code == 409
    assert cancel.json()["code"] == "no_active_job"


def test_needs_authentication(api: APIClient) -> None:
    assert upload(api, "a.txt", b"abc").status_code == 401
    assert api.get("/api/files/").status_code == 401
