"""Processing jobs end to end on this process: queued → extracting → embedding → indexed, or
failed with the reason, or cancelled; events to the owner's room; reaper; retries."""

import asyncio
import socket
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.files.storage import default_storage
from django.utils import timezone
from rest_framework.test import APIClient

from knowledge import processing
from knowledge.models import File, ProcessingJob
from knowledge.services import files_reprocess_all
from realtime.events import room_group, user_room
from retrieval.models import Chunk
from retrieval.search import chunks_search
from tests.knowledge.helpers import docx_bomb, docx_bytes, pdf_bytes, upload, wait_for_job
from users.models import User
from webui_backend.celery import app as celery_app

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _embedded_jobs() -> Any:
    """Jobs run on this process's threads (always so on the embedded default; with REDIS_URL
    the worker itself is tested in tests/e2e)."""
    conf = celery_app.conf
    saved = conf.task_always_eager
    conf.task_always_eager = True
    yield
    conf.task_always_eager = saved


def collection(client: APIClient, name: str = "Docs") -> str:
    return client.post("/api/knowledge/create", {"name": name}, format="json").json()["id"]


def add(client: APIClient, knowledge_id: str, file_id: str) -> Any:
    return client.post(
        f"/api/knowledge/{knowledge_id}/file/add", {"file_id": file_id}, format="json"
    )


def ingest(client: APIClient, name: str, data: bytes) -> tuple[str, dict[str, Any]]:
    """Upload, add to a new collection, wait; returns (file id, final job)."""
    file_id = upload(client, name, data).json()["id"]
    assert add(client, collection(client), file_id).status_code == 200
    return file_id, wait_for_job(client, file_id)


async def _listen(group: str) -> str:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return channel


async def _drain(
    channel: str, until: str, timeout: float, *, after: str | None = None
) -> list[dict[str, Any]]:
    """``file:status`` events of the channel up to the first ``until`` state (that comes after
    ``after``); the collections' ``knowledge:progress`` events are left out."""
    layer, events, seen = get_channel_layer(), [], after is None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            message = await asyncio.wait_for(layer.receive(channel), 1)
        except TimeoutError:
            continue
        if message["event"] != "file:status":
            continue
        events.append(message)
        seen = seen or message["data"]["state"] == after
        if seen and message["data"]["state"] == until:
            break
    return events


def test_adding_to_a_collection_indexes_the_file_and_publishes_each_state(
    alice: APIClient, owner: User
) -> None:
    channel = async_to_sync(_listen)(room_group(user_room(owner.pk)))
    text = "The quokka is a small marsupial that lives on Rottnest Island.\n" * 30
    file_id = upload(alice, "quokka.md", text.encode()).json()["id"]
    knowledge_id = collection(alice)

    started = time.monotonic()
    response = add(alice, knowledge_id, file_id)
    answered = time.monotonic() - started
    job = wait_for_job(alice, file_id)

    assert response.status_code == 200
    assert answered < 5  # the request does not wait for the embedding
    assert job["state"] == "indexed", job
    assert job["chunks_total"] == job["chunks_done"] > 0
    assert job["knowledge_id"] == knowledge_id
    assert Chunk.objects.filter(file_id=file_id).count() == job["chunks_total"]
    detail = alice.get(f"/api/knowledge/{knowledge_id}").json()
    assert detail["files"][0]["status"] == "indexed"
    result = chunks_search(user=owner, query="quokka marsupial", knowledge_ids=[knowledge_id])
    assert result.hits
    assert str(result.hits[0].file_id) == file_id

    events = async_to_sync(_drain)(channel, "indexed", 10)
    states = [e["data"]["state"] for e in events]
    assert all(e["event"] == "file:status" for e in events)
    assert states[:3] == ["queued", "extracting", "embedding"]
    assert states[-1] == "indexed"
    assert events[-1]["data"] == {
        "file_id": file_id,
        "job_id": job["id"],
        "knowledge_id": knowledge_id,
        "state": "indexed",
        "chunks_done": job["chunks_total"],
        "chunks_total": job["chunks_total"],
        "error": "",
    }


def test_pdf_pages_keep_their_numbers(alice: APIClient, owner: User) -> None:
    pages = [f"Page {n} talks about topic number {n} in detail." for n in range(1, 6)]
    file_id, job = ingest(alice, "paper.pdf", pdf_bytes(pages))

    assert job["state"] == "indexed"
    assert sorted(set(Chunk.objects.filter(file_id=file_id).values_list("page", flat=True))) == [
        1,
        2,
        3,
        4,
        5,
    ]


def test_docx_and_non_utf8_text_are_indexed(alice: APIClient) -> None:
    _, word = ingest(alice, "memo.docx", docx_bytes(["Budget memo"], [["Item", "Cost"]]))
    latin_id, latin = ingest(alice, "notes.txt", "Grüße aus Köln, schöne Straße.".encode("cp1252"))

    assert word["state"] == latin["state"] == "indexed"
    assert "Grüße aus Köln" in Chunk.objects.get(file_id=latin_id).content


@pytest.mark.parametrize(
    ("name", "data", "error"),
    [
        ("locked.pdf", pdf_bytes(["secret"], password="pw"), "protected by a password"),
        ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog", "could not be read"),
        ("bomb.docx", docx_bomb(), "zip bomb"),
        ("scan.pdf", pdf_bytes(["", ""]), "contains no text"),
        ("blank.txt", b"  \n\n\t \n", "contains no text"),
    ],
)
def test_bad_documents_end_in_a_failed_job_with_the_reason(
    alice: APIClient, name: str, data: bytes, error: str
) -> None:
    file_id, job = ingest(alice, name, data)

    assert job["state"] == "failed"
    assert error in job["error"]
    file = alice.get(f"/api/files/{file_id}").json()
    assert file["status"] == "failed"
    assert error in file["error"]
    assert not Chunk.objects.filter(file_id=file_id).exists()


def test_process_again_replaces_chunks_without_duplicates(alice: APIClient) -> None:
    file_id, first = ingest(alice, "a.md", b"# Title\n\n" + b"Some words here. " * 200)

    again = alice.post("/api/retrieval/process", {"file_id": file_id}, format="json")
    second = wait_for_job(alice, file_id)

    assert again.status_code == 200
    assert again.json()["id"] != first["id"]
    assert second["state"] == "indexed"
    assert Chunk.objects.filter(file_id=file_id).count() == first["chunks_total"]
    assert ProcessingJob.objects.filter(file_id=file_id).count() == 2


def test_reindexing_a_collection_processes_each_of_its_files_again(alice: APIClient) -> None:
    knowledge_id = collection(alice)
    file_ids = [upload(alice, f"{n}.md", f"# Note {n}".encode()).json()["id"] for n in range(2)]
    for file_id in file_ids:
        add(alice, knowledge_id, file_id)
    first = {file_id: wait_for_job(alice, file_id)["id"] for file_id in file_ids}

    response = alice.post(f"/api/knowledge/{knowledge_id}/reindex")
    again = {file_id: wait_for_job(alice, file_id) for file_id in file_ids}

    assert response.status_code == 200
    assert sorted(response.json()["data"]["file_ids"]) == sorted(file_ids)
    for file_id in file_ids:
        assert again[file_id]["id"] != first[file_id]
        assert again[file_id]["state"] == "indexed"
        assert ProcessingJob.objects.filter(file_id=file_id).count() == 2


def test_process_endpoint_adds_to_the_collection(alice: APIClient) -> None:
    file_id = upload(alice, "a.md", b"# Alpha beta gamma").json()["id"]
    knowledge_id = collection(alice)

    response = alice.post(
        "/api/retrieval/process", {"file_id": file_id, "knowledge_id": knowledge_id}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["state"] == "queued"
    assert wait_for_job(alice, file_id)["state"] == "indexed"
    assert alice.get(f"/api/knowledge/{knowledge_id}").json()["data"]["file_ids"] == [file_id]


def test_upload_with_process_true_starts_at_once(alice: APIClient) -> None:
    response = upload(alice, "a.md", b"# Processed on upload", query="?process=true")

    assert response.status_code == 201
    assert response.json()["status"] == "queued"
    assert wait_for_job(alice, response.json()["id"])["state"] == "indexed"


def test_running_a_finished_job_again_changes_nothing(alice: APIClient) -> None:
    file_id, job = ingest(alice, "a.md", b"# Twice\n\nrun me twice")
    chunk_ids = set(Chunk.objects.filter(file_id=file_id).values_list("pk", flat=True))

    processing.job_run(job["id"])
    processing.job_run(job["id"])

    assert ProcessingJob.objects.get(pk=job["id"]).state == "indexed"
    assert set(Chunk.objects.filter(file_id=file_id).values_list("pk", flat=True)) == chunk_ids


def test_cancel_stops_the_job_without_partial_chunks(alice: APIClient, settings) -> None:
    settings.RAG_EMBEDDING_BATCH_SIZE = 1  # one chunk per batch: many chances to see the cancel
    text = " ".join(f"sentence {n} about nothing in particular." for n in range(6000))
    file_id = upload(alice, "long.txt", text.encode()).json()["id"]
    add(alice, collection(alice), file_id)
    deadline = time.monotonic() + 60
    while True:
        job = alice.get(f"/api/files/{file_id}/job").json()
        if job["state"] == "embedding" and job["chunks_done"] > 0:
            break
        assert job["state"] not in {"indexed", "failed"}, job
        assert time.monotonic() < deadline
        time.sleep(0.02)

    cancelled = alice.post(f"/api/files/{file_id}/job/cancel")

    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    time.sleep(0.5)  # the run sees it at its next batch
    job = alice.get(f"/api/files/{file_id}/job").json()
    assert job["state"] == "cancelled"
    assert job["chunks_done"] < job["chunks_total"]
    assert alice.get(f"/api/files/{file_id}").json()["status"] == "cancelled"
    assert not Chunk.objects.filter(file_id=file_id).exists()
    assert alice.post(f"/api/files/{file_id}/job/cancel").status_code == 409


def _stale_job(file: File, *, attempts: int) -> ProcessingJob:
    long_ago = timezone.now() - timedelta(hours=1)
    return ProcessingJob.objects.create(
        file=file,
        state=ProcessingJob.State.EMBEDDING,
        attempts=attempts,
        lease=uuid.uuid4(),
        heartbeat_at=long_ago,
        updated_at=long_ago,
    )


def test_reaper_requeues_a_dead_run_which_then_finishes(alice: APIClient) -> None:
    file_id = upload(alice, "a.md", b"# Orphan\n\nleft behind by a dead worker").json()["id"]
    job = _stale_job(File.objects.get(pk=file_id), attempts=1)

    assert processing.processing_jobs_reap() == {"requeued": 1, "failed": 0}
    finished = wait_for_job(alice, file_id)

    assert finished["id"] == str(job.pk)
    assert finished["state"] == "indexed"
    assert finished["attempts"] == 2
    assert Chunk.objects.filter(file_id=file_id).count() == finished["chunks_total"]


def test_reaper_fails_a_job_after_too_many_starts(alice: APIClient, settings) -> None:
    settings.FILE_JOB_MAX_ATTEMPTS = 2
    file_id = upload(alice, "a.md", b"# Cursed").json()["id"]
    _stale_job(File.objects.get(pk=file_id), attempts=2)

    assert processing.processing_jobs_reap() == {"requeued": 0, "failed": 1}

    job = alice.get(f"/api/files/{file_id}/job").json()
    assert job["state"] == "failed"
    assert "stopped 2 times" in job["error"]


def test_reaper_leaves_live_runs_alone(alice: APIClient) -> None:
    file_id = upload(alice, "a.md", b"# Alive").json()["id"]
    ProcessingJob.objects.create(
        file_id=file_id, state="embedding", lease=uuid.uuid4(), heartbeat_at=timezone.now()
    )

    assert processing.processing_jobs_reap() == {"requeued": 0, "failed": 0}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket closes


def test_unreachable_embedder_is_retried_then_fails_clearly(alice: APIClient, settings) -> None:
    settings.RAG_EMBEDDING_ENGINE = "openai"
    settings.RAG_EMBEDDING_MODEL = "text-embedding-3-small"
    settings.RAG_OPENAI_API_BASE_URL = f"http://127.0.0.1:{_closed_port()}/v1"
    settings.RAG_EMBEDDING_RETRIES = 0
    settings.FILE_JOB_RETRIES = 1

    file_id, job = ingest(alice, "a.md", b"# Nobody embeds this")

    assert job["state"] == "failed"
    assert job["error"].startswith("Gave up after 2 tries")
    assert job["attempts"] == 0  # retries of a transient error are not counted as restarts
    assert not Chunk.objects.filter(file_id=file_id).exists()


def test_deleting_a_file_removes_bytes_chunks_and_memberships(alice: APIClient) -> None:
    file_id, _ = ingest(alice, "a.md", b"# Delete me")
    name = File.objects.get(pk=file_id).storage_name

    response = alice.delete(f"/api/files/{file_id}")

    assert response.status_code == 204
    assert not default_storage.exists(name)
    assert not Chunk.objects.filter(file_id=file_id).exists()
    assert alice.get(f"/api/files/{file_id}").status_code == 404
    assert alice.get("/api/knowledge/").json()[0]["data"]["file_ids"] == []


def test_deleted_collection_leaves_search_scope_but_files_stay(
    alice: APIClient, owner: User
) -> None:
    file_id = upload(alice, "a.md", b"# Wombats dig burrows").json()["id"]
    knowledge_id = collection(alice)
    add(alice, knowledge_id, file_id)
    wait_for_job(alice, file_id)

    alice.delete(f"/api/knowledge/{knowledge_id}/delete")

    assert alice.get(f"/api/files/{file_id}").json()["status"] == "indexed"
    assert chunks_search(user=owner, query="wombats", file_ids=[file_id]).hits
    from knowledge.errors import KnowledgeNotFound

    with pytest.raises(KnowledgeNotFound):
        chunks_search(user=owner, query="wombats", knowledge_ids=[knowledge_id])


def test_reprocess_all_queues_files_with_chunks_or_collections(alice: APIClient) -> None:
    in_collection, _ = ingest(alice, "a.md", b"# One")
    upload(alice, "loose.md", b"# Never added")

    assert files_reprocess_all() == 1
    assert wait_for_job(alice, in_collection)["state"] == "indexed"
    assert ProcessingJob.objects.filter(file_id=in_collection).count() == 2


def test_user_deletion_removes_stored_bytes(
    alice: APIClient, owner: User, admin_user: User, client_of: Callable[[User], APIClient]
) -> None:
    file_id, _ = ingest(alice, "a.md", b"# Mine")
    name = File.objects.get(pk=file_id).storage_name

    response = client_of(admin_user).delete(f"/api/users/{owner.pk}")

    assert response.status_code == 200
    assert not default_storage.exists(name)
    assert not File.objects.filter(pk=file_id).exists()


def test_embedder_outage_is_retried_until_it_comes_back(
    alice: APIClient, owner: User, settings
) -> None:
    from tests.retrieval.servers import EmbeddingsServer

    server = EmbeddingsServer().start()
    try:
        server.fault = "503"
        settings.RAG_EMBEDDING_ENGINE = "openai"
        settings.RAG_EMBEDDING_MODEL = "bag-of-words"
        settings.RAG_OPENAI_API_BASE_URL = f"{server.root}/v1"
        settings.RAG_EMBEDDING_RETRIES = 0
        settings.FILE_JOB_RETRIES = 5
        channel = async_to_sync(_listen)(room_group(user_room(owner.pk)))
        file_id = upload(alice, "a.md", b"# Outage\n\nthe embedder is down for a while").json()[
            "id"
        ]
        add(alice, collection(alice), file_id)

        events = async_to_sync(_drain)(channel, "queued", 10, after="embedding")
        assert [e["data"]["state"] for e in events][-2:] == ["embedding", "queued"]
        assert "Waiting to retry" in events[-1]["data"]["error"]
        server.fault = ""
        job = wait_for_job(alice, file_id)
    finally:
        server.stop()

    assert job["state"] == "indexed", job
    assert job["error"] == ""
    assert job["attempts"] == 1
    assert Chunk.objects.filter(file_id=file_id).count() == job["chunks_total"] > 0


def test_the_celery_tasks_are_safe_to_run_twice_and_the_reaper_is_scheduled(
    alice: APIClient, settings
) -> None:
    from knowledge.tasks import file_process_task, processing_jobs_reap_task

    file_id, job = ingest(alice, "a.md", b"# Tasks\n\nrun by celery twice")
    chunks = list(Chunk.objects.filter(file_id=file_id).values_list("pk", flat=True))

    file_process_task.apply(args=[job["id"]]).get()
    file_process_task.apply(args=[job["id"]]).get()
    reaped = processing_jobs_reap_task.apply().get()

    assert reaped == {"requeued": 0, "failed": 0}
    assert list(Chunk.objects.filter(file_id=file_id).values_list("pk", flat=True)) == chunks
    assert ProcessingJob.objects.get(pk=job["id"]).state == "indexed"
    schedule = settings.CELERY_BEAT_SCHEDULE["processing-jobs-reap"]
    assert schedule["task"] == processing_jobs_reap_task.name
    assert schedule["schedule"] <= settings.FILE_JOB_STALE_SECONDS


def test_tasks_call_services_and_never_the_reverse() -> None:
    """The project's shape rule: only knowledge.tasks imports processing, and the job that a
    broker runs is found by the name processing sends it under."""
    import ast
    from pathlib import Path

    from knowledge import processing
    from knowledge.tasks import file_process_task

    root = Path(processing.__file__).resolve().parent.parent
    importers = []
    for path in [*root.glob("knowledge/*.py"), *root.glob("retrieval/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n.endswith("tasks") and n.startswith(("knowledge", "retrieval")) for n in names):
                importers.append(path.name)
    assert importers == []
    assert file_process_task.name == processing.FILE_PROCESS_TASK


def test_an_admin_changing_the_embedding_model_reindexes_every_file(
    alice: APIClient, admin_user: User, client_of: Callable[[User], APIClient]
) -> None:
    from tests.retrieval.servers import EmbeddingsServer

    file_id, first = ingest(alice, "lighthouse.md", b"The lighthouse keeper's cat is Biscuit.")
    knowledge_id = first["knowledge_id"]
    embeddings = EmbeddingsServer().start()
    try:
        changed = client_of(admin_user).post(
            "/api/retrieval/embedding",
            {
                "engine": "openai",
                "model": "bag-of-words",
                "openai_base_url": f"{embeddings.root}/v1",
            },
            format="json",
        )
        assert changed.status_code == 200, changed.content
        deadline = time.monotonic() + 60
        while (job := alice.get(f"/api/files/{file_id}/job").json())["id"] == first["id"] or (
            job["state"] not in ("indexed", "failed")
        ):
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        found = alice.post(
            "/api/retrieval/query",
            {"query": "cat Biscuit", "knowledge_ids": [knowledge_id]},
            format="json",
        )
    finally:
        embeddings.stop()

    assert job["state"] == "indexed", job
    assert embeddings.requests, "the new model's server was never asked"
    assert set(Chunk.objects.filter(file_id=file_id).values_list("model", flat=True)) == {
        "openai:bag-of-words"
    }
    assert found.status_code == 200, found.content
    assert found.json()["pending_file_ids"] == []
    assert "Biscuit" in found.json()["results"][0]["content"]


async def _progress_events(channel: str, knowledge_id: str, done: int, timeout: float) -> list:
    """The collection's ``knowledge:progress`` events up to the first with ``done`` files done."""
    layer, events = get_channel_layer(), []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            message = await asyncio.wait_for(layer.receive(channel), 1)
        except TimeoutError:
            continue
        data = message["data"]
        if message["event"] == "knowledge:progress" and data["knowledge_id"] == knowledge_id:
            events.append(data)
            if data["indexed"] + data["failed"] >= done:
                break
    return events


def test_a_batch_add_indexes_every_file_and_a_failed_one_does_not_stall_the_rest(
    alice: APIClient, owner: User
) -> None:
    channel = async_to_sync(_listen)(room_group(user_room(owner.pk)))
    ids = [
        upload(alice, "a.md", b"# Alpha\n\nThe first page of the batch.").json()["id"],
        upload(alice, "empty.html", b"<html><body><script>x()</script></body></html>").json()["id"],
        upload(alice, "c.md", b"# Gamma\n\nThe third page of the batch.").json()["id"],
    ]
    knowledge_id = collection(alice)

    response = alice.post(
        f"/api/knowledge/{knowledge_id}/files/batch/add",
        [{"file_id": file_id} for file_id in [*ids, ids[0]]],  # a repeat is added once
        format="json",
    )
    jobs = [wait_for_job(alice, file_id) for file_id in ids]
    events = async_to_sync(_progress_events)(channel, knowledge_id, 3, 30)
    detail = alice.get(f"/api/knowledge/{knowledge_id}").json()

    assert response.status_code == 200, response.content
    assert [f["id"] for f in response.json()["files"]] == ids
    assert response.json()["progress"]["total"] == 3
    assert [job["state"] for job in jobs] == ["indexed", "failed", "indexed"]
    assert detail["progress"] == {
        "total": 3,
        "queued": 0,
        "indexing": 0,
        "indexed": 2,
        "failed": 1,
        "cancelled": 0,
    }
    # Events arrive in order: files done never go down, and the last one tells the end state.
    done = [e["indexed"] + e["failed"] for e in events]
    assert done == sorted(done)
    assert events[0]["total"] == 3
    assert events[-1] == {"knowledge_id": knowledge_id, **detail["progress"]}


def test_a_batch_add_is_all_or_nothing_and_checks_its_input(
    alice: APIClient, eve: APIClient
) -> None:
    mine = upload(alice, "a.md", b"# Mine\n\nText.").json()["id"]
    theirs = upload(eve, "b.md", b"# Theirs\n\nText.").json()["id"]
    knowledge_id = collection(alice)
    url = f"/api/knowledge/{knowledge_id}/files/batch/add"

    foreign = alice.post(url, [{"file_id": mine}, {"file_id": theirs}], format="json")
    malformed = alice.post(url, [{"file_id": mine}, {"file_id": "nope"}], format="json")
    empty = alice.post(url, [], format="json")
    not_a_list = alice.post(url, {"file_id": mine}, format="json")
    too_many = alice.post(url, [{"file_id": mine}] * 1001, format="json")
    not_mine = eve.post(url, [{"file_id": theirs}], format="json")

    assert foreign.status_code == 404
    assert foreign.json()["code"] == "file_not_found"
    assert theirs in foreign.json()["detail"]
    assert malformed.status_code == 404
    assert [r.status_code for r in (empty, not_a_list, too_many)] == [400, 400, 400]
    assert not_mine.status_code == 404
    assert alice.get(f"/api/knowledge/{knowledge_id}").json()["files"] == []  # nothing added
