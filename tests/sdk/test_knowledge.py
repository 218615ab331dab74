"""KnowledgeClient / AsyncKnowledgeClient: uploads, collections, indexing, search, and an
answer from knowledge, against a real server (real processing, the local embedder)."""

import io
from pathlib import Path

import pytest
from webui_client import (
    APITimeoutError,
    Collection,
    ConflictError,
    File,
    Job,
    NotFoundError,
    SearchResults,
    WebUIError,
)

from knowledge.models import File as FileRow
from tests.sdk.conftest import Both

pytestmark = pytest.mark.django_db(transaction=True)

FACT = "The Falcon project's launch code is 7421 and it ships on a Tuesday."


def test_upload_index_search_and_answer(
    both: Both, sdk_server: str, ann_key: str, tmp_path: Path
) -> None:
    knowledge = both.knowledge(api_key=ann_key, base_url=sdk_server)
    chat = both.chat(api_key=ann_key, base_url=sdk_server)
    run = both.run
    path = tmp_path / "falcon.txt"
    path.write_text(FACT + "\n")
    progress: list[Job] = []

    collection = run(knowledge.new_collection("Projects", description="facts"))
    file = run(
        knowledge.upload_and_index(
            path, collection.id, poll_interval=0.1, on_progress=progress.append
        )
    )
    found = run(knowledge.search("Falcon launch code", knowledge_ids=[collection.id]))
    answer = run(
        chat.complete("What is Falcon's launch code?", model="mock", knowledge_ids=[collection.id])
    )
    stream = run(chat.stream("Falcon launch code?", model="mock", knowledge_ids=[collection.id]))
    chunks = both.iterate(stream)

    assert isinstance(collection, Collection)
    assert isinstance(file, File)
    assert file.filename == "falcon.txt"
    assert file.job is not None
    assert file.job.state == "indexed"
    assert file.job.progress == 1.0
    assert progress[-1].state == "indexed"
    assert isinstance(found, SearchResults)
    assert "7421" in found.results[0].content
    assert found.results[0].metadata["file_id"] == file.id
    assert answer.sources is not None
    assert answer.sources[0]["metadata"]["file_id"] == file.id
    assert stream.sources == answer.sources
    assert chunks[-1].sources == stream.sources  # our final chunk, before [DONE]
    assert run(knowledge.fetch_collection(collection.id)).file_ids == [file.id]


def test_file_and_collection_methods(
    both: Both, sdk_server: str, ann_key: str, tmp_path: Path
) -> None:
    knowledge = both.knowledge(api_key=ann_key, base_url=sdk_server)
    run = both.run

    from_bytes = run(knowledge.upload_file(b"alpha beta gamma\n", filename="a.txt"))
    again = run(knowledge.upload_file(io.BytesIO(b"alpha beta gamma\n"), filename="a.txt"))
    with (tmp_path / "b.md").open("wb") as handle:
        handle.write(b"# Notes\n\ndelta epsilon\n")
    with (tmp_path / "b.md").open("rb") as handle:
        from_object = run(knowledge.upload_file(handle, process=True))
    file_id = from_bytes.json()["id"]
    other_id = from_object.json()["id"]

    listed = run(knowledge.list_files(limit=10))
    got = run(knowledge.get_file(file_id))
    content = run(knowledge.download_file(file_id))
    processed = run(knowledge.process_file(file_id))
    job = run(knowledge.get_file_job(file_id))
    run(knowledge.wait_until_indexed(file_id, poll_interval=0.1))
    with pytest.raises(ConflictError):  # nothing runs any more
        run(knowledge.cancel_file_job(file_id)).raise_for_status()

    created = run(knowledge.create_collection("Docs", public=False))
    collection_id = created.json()["id"]
    added = run(knowledge.add_file(collection_id, file_id))
    updated = run(knowledge.update_collection(collection_id, name="Renamed docs"))
    collections = run(knowledge.list_collections())
    reindexed = run(knowledge.reindex_collection(collection_id))
    run(knowledge.wait_until_indexed(file_id, poll_interval=0.1))  # processed again
    removed = run(knowledge.remove_file(collection_id, file_id))
    fetched = run(knowledge.fetch_collections())
    searched = run(knowledge.search_test("alpha", file_ids=[file_id], top_k=1))
    web = run(knowledge.web_search("anything"))

    assert from_bytes.status_code == 201
    assert again.status_code == 200  # the same bytes: the stored file
    assert again.json()["id"] == file_id
    assert from_object.status_code == 201
    assert from_object.json()["filename"] == "b.md"
    assert {f["id"] for f in listed.json()} == {file_id, other_id}
    assert got.json()["sha256"] == from_bytes.json()["sha256"]
    assert content.content == b"alpha beta gamma\n"
    assert processed.json()["file_id"] == file_id
    assert job.json()["file_id"] == file_id
    assert added.json()["data"]["file_ids"] == [file_id]
    assert updated.json()["name"] == "Renamed docs"
    assert [c["id"] for c in collections.json()] == [collection_id]
    assert reindexed.status_code == 200
    assert removed.json()["data"]["file_ids"] == []
    assert [c.name for c in fetched] == ["Renamed docs"]
    assert searched.json()["results"][0]["metadata"]["file_id"] == file_id
    assert web.status_code >= 400  # no SearxNG here: an error of ours, never a crash
    assert set(web.json()) >= {"detail", "code"}

    assert run(knowledge.delete_collection(collection_id, delete_files=False)).status_code == 204
    assert run(knowledge.delete_file(other_id)).status_code == 204
    assert FileRow.objects.filter(pk=other_id).count() == 0
    with pytest.raises(NotFoundError):
        run(knowledge.fetch_file(other_id))


def test_waiting_for_a_file_that_will_not_be_indexed(
    both: Both, sdk_server: str, ann_key: str
) -> None:
    knowledge = both.knowledge(api_key=ann_key, base_url=sdk_server)
    never_processed = both.run(knowledge.upload(b"nobody asked to process me\n", filename="n.txt"))
    broken = both.run(knowledge.upload(b"%PDF-1.4\nnot really a pdf\n", filename="broken.pdf"))

    with pytest.raises(APITimeoutError) as timed_out:
        both.run(knowledge.wait_until_indexed(never_processed.id, timeout=0))
    both.run(knowledge.process_file(broken.id))
    with pytest.raises(WebUIError) as failed:
        both.run(knowledge.wait_until_indexed(broken.id, poll_interval=0.1))

    assert timed_out.value.code == "index_timeout"
    assert failed.value.code == "file_failed"
    assert failed.value.detail
