"""Search on the real server while another process (this one, as a worker would) indexes:
the server's in-process vectors must follow the other process's commits."""

import hashlib
import uuid

import httpx
import pytest

from knowledge.models import File, Knowledge
from retrieval.indexing import Page, file_chunks_delete, file_index
from tests.e2e.conftest import token_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def make_file(user: object) -> File:
    digest = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    return File.objects.create(
        user=user,
        filename="notes.txt",
        content_type="text/plain",
        size=1,
        sha256=digest,
        storage_name=f"e2e/{digest}",
    )


def test_server_sees_reindex_and_delete_made_by_another_process(server_url: str) -> None:
    owner = UserFactory()
    file = make_file(owner)
    file_index(file=file, pages=[Page("Penguins are birds that cannot fly.")])
    knowledge = Knowledge.objects.create(user=owner, name="Birds")
    knowledge.files.add(file)
    body = {"query": "birds", "knowledge_ids": [str(knowledge.pk)]}
    headers = {"Authorization": f"Bearer {token_for(owner)}"}

    with httpx.Client(base_url=server_url, timeout=120, headers=headers) as client:
        first = client.post("/api/retrieval/query", json=body)
        file_index(file=file, pages=[Page("Ostriches are birds that run fast.")])
        second = client.post("/api/retrieval/query", json=body)
        file_chunks_delete(file_ids=[file.pk])
        third = client.post("/api/retrieval/query", json=body)
        stranger = client.post(
            "/api/retrieval/query",
            json=body,
            headers={"Authorization": f"Bearer {token_for(UserFactory())}"},
        )

    assert first.status_code == 200, first.text
    assert [r["content"] for r in first.json()["results"]] == [
        "Penguins are birds that cannot fly."
    ]
    assert [r["content"] for r in second.json()["results"]] == [
        "Ostriches are birds that run fast."
    ]
    assert third.json() == {"results": [], "pending_file_ids": [str(file.pk)]}
    assert stranger.status_code == 404
