"""A file added through one web process is indexed by the cluster's worker, and its progress
reaches the owner's socket on the other web process; then it answers queries on either."""

import httpx
import pytest
from channels.db import database_sync_to_async

from deploy.launch import Launcher
from tests.e2e.test_realtime import Recorder, token_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = (
    "\n\n".join(
        f"Section {n}. The lighthouse keeper logs ship number {n} passing at dawn."
        for n in range(60)
    )
    + "\n\nThe lighthouse keeper's cat is called Biscuit."
)


async def test_a_file_added_on_one_process_is_indexed_and_seen_live_on_the_other(
    cluster: Launcher,
) -> None:
    first, second = cluster.urls
    user = await database_sync_to_async(UserFactory)(email="files-cluster@example.com")
    headers = {"Authorization": f"Bearer {token_for(user)}"}
    tab = Recorder()
    await tab.client.connect(second, auth={"token": token_for(user)}, transports=["websocket"])
    try:
        async with httpx.AsyncClient(base_url=first, headers=headers, timeout=30) as api:
            uploaded = await api.post(
                "/api/files/", files={"file": ("keeper.md", TEXT.encode(), "text/markdown")}
            )
            assert uploaded.status_code in (200, 201), uploaded.text
            file_id = uploaded.json()["id"]
            made = await api.post("/api/knowledge/create", json={"name": "Lighthouse"})
            assert made.status_code in (200, 201), made.text
            knowledge_id = made.json()["id"]
            added = await api.post(
                f"/api/knowledge/{knowledge_id}/file/add", json={"file_id": file_id}
            )
            assert added.status_code in (200, 201), added.text

        events = await tab.wait_for("file:status", 1, timeout=60)
        while not any(e["state"] in ("indexed", "failed") for e in events):
            try:
                events = await tab.wait_for("file:status", len(events) + 1, timeout=90)
            except AssertionError:
                break  # the state check below says what was seen, with the worker's log
    finally:
        await tab.client.disconnect()

    ours = [e for e in tab.of("file:status") if e["file_id"] == file_id]
    states = [e["state"] for e in ours]
    assert states[-1] == "indexed", (ours, cluster.processes["worker-0"].lines[-40:])
    assert "embedding" in states
    assert ours[-1]["chunks_done"] == ours[-1]["chunks_total"] > 0
    async with httpx.AsyncClient(base_url=second, headers=headers, timeout=30) as api:
        found = await api.post(
            "/api/retrieval/query",
            json={"query": "What is the cat called?", "knowledge_ids": [knowledge_id]},
        )
        shown = await api.get(f"/api/files/{file_id}")
    assert found.status_code == 200, found.text
    assert "Biscuit" in found.json()["results"][0]["content"]
    assert shown.json()["status"] == "indexed"
