"""Knowledge collections through the API: shape, privacy, membership, deletion."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from knowledge.models import File, Knowledge, KnowledgeFile, ProcessingJob
from tests.knowledge.helpers import upload
from users.models import User

pytestmark = pytest.mark.django_db


def create(client: APIClient, name: str = "Docs", **fields: object) -> dict:
    response = client.post("/api/knowledge/create", {"name": name, **fields}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_create_and_list_in_the_seed_shape(alice: APIClient, owner: User) -> None:
    made = create(alice, "Project docs", description="All of them")
    file_id = upload(alice, "a.md", b"# A").json()["id"]
    alice.post(f"/api/knowledge/{made['id']}/file/add", {"file_id": file_id}, format="json")

    listed = alice.get("/api/knowledge/").json()

    assert listed == [
        {
            "id": made["id"],
            "user_id": str(owner.pk),
            "name": "Project docs",
            "description": "All of them",
            "public": False,
            "created_at": made["created_at"],
            "updated_at": listed[0]["updated_at"],
            "data": {"file_ids": [file_id]},
        }
    ]


def test_detail_lists_files_with_their_status(alice: APIClient) -> None:
    knowledge = create(alice)
    file_id = upload(alice, "a.md", b"# A").json()["id"]

    added = alice.post(
        f"/api/knowledge/{knowledge['id']}/file/add", {"file_id": file_id}, format="json"
    )
    detail = alice.get(f"/api/knowledge/{knowledge['id']}").json()

    assert added.status_code == 200
    assert detail["data"] == {"file_ids": [file_id]}
    assert [(f["id"], f["filename"], f["status"]) for f in detail["files"]] == [
        (file_id, "a.md", "queued")
    ]
    assert ProcessingJob.objects.get(file_id=file_id).knowledge_id is not None


def test_adding_a_file_twice_is_idempotent(alice: APIClient) -> None:
    knowledge = create(alice)
    file_id = upload(alice, "a.md", b"# A").json()["id"]
    url = f"/api/knowledge/{knowledge['id']}/file/add"

    first = alice.post(url, {"file_id": file_id}, format="json")
    second = alice.post(url, {"file_id": file_id}, format="json")

    assert first.status_code == second.status_code == 200
    assert second.json()["data"]["file_ids"] == [file_id]
    assert KnowledgeFile.objects.count() == 1
    assert ProcessingJob.objects.count() == 1  # the active job is not queued twice


def test_update_renames_and_publishes(alice: APIClient, eve: APIClient) -> None:
    knowledge = create(alice)
    url = f"/api/knowledge/{knowledge['id']}"
    assert eve.get(url).status_code == 404

    updated = alice.post(f"{url}/update", {"public": True, "name": "Shared"}, format="json")

    assert updated.status_code == 200
    assert updated.json()["name"] == "Shared"
    assert updated.json()["public"] is True
    assert eve.get(url).status_code == 200
    assert [k["id"] for k in eve.get("/api/knowledge/").json()] == [knowledge["id"]]


def test_public_collections_are_read_only_for_others(alice: APIClient, eve: APIClient) -> None:
    knowledge = create(alice, public=True)
    url = f"/api/knowledge/{knowledge['id']}"
    file_id = upload(eve, "e.md", b"# E").json()["id"]

    for response in (
        eve.post(f"{url}/update", {"name": "Mine now"}, format="json"),
        eve.post(f"{url}/file/add", {"file_id": file_id}, format="json"),
        eve.post(f"{url}/reindex"),
        eve.delete(f"{url}/delete"),
    ):
        assert response.status_code == 403
        assert response.json()["code"] == "knowledge_read_only"
    assert Knowledge.objects.get(pk=knowledge["id"]).name == "Docs"


def test_another_users_collection_is_404_everywhere(alice: APIClient, eve: APIClient) -> None:
    knowledge = create(alice)
    url = f"/api/knowledge/{knowledge['id']}"
    file_id = upload(eve, "e.md", b"# E").json()["id"]

    for response in (
        eve.get(url),
        eve.post(f"{url}/update", {"name": "x"}, format="json"),
        eve.post(f"{url}/file/add", {"file_id": file_id}, format="json"),
        eve.post(f"{url}/file/remove", {"file_id": file_id}, format="json"),
        eve.post(f"{url}/reindex"),
        eve.delete(url),
        eve.delete(f"{url}/delete"),
        eve.post(
            "/api/retrieval/process",
            {"file_id": file_id, "knowledge_id": knowledge["id"]},
            format="json",
        ),
    ):
        assert response.status_code == 404, response.content
        assert response.json() == {
            "detail": "Knowledge collection not found.",
            "code": "knowledge_not_found",
        }
    assert eve.get("/api/knowledge/").json() == []


def test_adding_another_users_file_is_404(alice: APIClient, eve: APIClient) -> None:
    knowledge = create(alice)
    theirs = upload(eve, "e.md", b"# E").json()["id"]

    response = alice.post(
        f"/api/knowledge/{knowledge['id']}/file/add", {"file_id": theirs}, format="json"
    )

    assert response.status_code == 404
    assert response.json()["code"] == "file_not_found"
    assert KnowledgeFile.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [{}, {"file_id": 12}, {"file_id": "not-a-uuid"}, {"file_id": "x", "extra": 1}, []],
)
def test_bad_add_bodies_are_400_or_404(alice: APIClient, body: object) -> None:
    knowledge = create(alice)

    response = alice.post(f"/api/knowledge/{knowledge['id']}/file/add", body, format="json")

    assert response.status_code in {400, 404}
    assert "detail" in response.json()


@pytest.mark.parametrize(
    "body", [{}, {"name": ""}, {"name": 5}, {"name": "x" * 256}, {"name": "ok", "public": "?"}]
)
def test_bad_create_bodies_are_400(alice: APIClient, body: dict) -> None:
    response = alice.post("/api/knowledge/create", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_remove_takes_the_file_out_but_keeps_it(alice: APIClient) -> None:
    knowledge = create(alice)
    file_id = upload(alice, "a.md", b"# A").json()["id"]
    url = f"/api/knowledge/{knowledge['id']}"
    alice.post(f"{url}/file/add", {"file_id": file_id}, format="json")

    removed = alice.post(f"{url}/file/remove", {"file_id": file_id}, format="json")

    assert removed.status_code == 200
    assert removed.json()["data"]["file_ids"] == []
    assert alice.get(f"/api/files/{file_id}").status_code == 200


def test_delete_keeps_files_unless_asked(alice: APIClient) -> None:
    kept, gone = create(alice, "Kept files"), create(alice, "Files go too")
    a = upload(alice, "a.md", b"# A").json()["id"]
    b = upload(alice, "b.md", b"# B").json()["id"]
    alice.post(f"/api/knowledge/{kept['id']}/file/add", {"file_id": a}, format="json")
    alice.post(f"/api/knowledge/{gone['id']}/file/add", {"file_id": b}, format="json")

    first = alice.delete(f"/api/knowledge/{kept['id']}")
    second = alice.delete(f"/api/knowledge/{gone['id']}/delete?delete_files=true")

    assert first.status_code == second.status_code == 204
    assert [str(pk) for pk in File.objects.values_list("id", flat=True)] == [a]
    assert Knowledge.objects.count() == 0
    assert alice.get(f"/api/knowledge/{kept['id']}").status_code == 404


def test_deleting_a_collection_with_its_files_takes_the_same_queries_for_many(
    alice: APIClient,
) -> None:
    def delete_with(count: int) -> int:
        knowledge = create(alice, f"{count} files")
        for n in range(count):
            file_id = upload(alice, f"{count}-{n}.md", f"# {count} {n}".encode()).json()["id"]
            alice.post(
                f"/api/knowledge/{knowledge['id']}/file/add", {"file_id": file_id}, format="json"
            )
        with CaptureQueriesContext(connection) as queries:
            response = alice.delete(f"/api/knowledge/{knowledge['id']}?delete_files=true")
        assert response.status_code == 204
        return len(queries)

    assert delete_with(2) == delete_with(6)
    assert File.objects.count() == 0


def test_adding_and_removing_answer_with_the_new_updated_at(alice: APIClient) -> None:
    knowledge = create(alice)
    file_id = upload(alice, "a.md", b"# A").json()["id"]
    url = f"/api/knowledge/{knowledge['id']}"
    day_ago = timezone.now() - timedelta(days=1)
    Knowledge.objects.filter(pk=knowledge["id"]).update(updated_at=day_ago)

    added = alice.post(f"{url}/file/add", {"file_id": file_id}, format="json").json()
    Knowledge.objects.filter(pk=knowledge["id"]).update(updated_at=day_ago)
    removed = alice.post(f"{url}/file/remove", {"file_id": file_id}, format="json").json()

    assert added["updated_at"] > day_ago.timestamp() + 3600
    assert removed["updated_at"] > day_ago.timestamp() + 3600
    assert removed["updated_at"] == alice.get(url).json()["updated_at"]


def test_bad_delete_flag_is_400(alice: APIClient) -> None:
    knowledge = create(alice)

    response = alice.delete(f"/api/knowledge/{knowledge['id']}?delete_files=maybe")

    assert response.status_code == 400
    assert Knowledge.objects.count() == 1


def test_list_takes_constant_queries(
    alice: APIClient, django_assert_max_num_queries: Callable
) -> None:
    for i in range(12):
        knowledge = create(alice, f"K{i}")
        for j in range(3):
            file_id = upload(alice, f"{i}-{j}.md", f"# {i} {j}".encode()).json()["id"]
            alice.post(
                f"/api/knowledge/{knowledge['id']}/file/add", {"file_id": file_id}, format="json"
            )

    with django_assert_max_num_queries(3):
        listed = alice.get("/api/knowledge/").json()
    with django_assert_max_num_queries(4):
        detail = alice.get(f"/api/knowledge/{listed[0]['id']}").json()

    assert len(listed) == 12
    assert all(len(k["data"]["file_ids"]) == 3 for k in listed)
    assert len(detail["files"]) == 3


def test_dashboard_counts_files_and_knowledge(
    alice: APIClient, admin_user: User, client_of: Callable[[User], APIClient]
) -> None:
    create(alice)
    upload(alice, "a.md", b"# A")

    counts = client_of(admin_user).get("/api/admin/stats").json()["counts"]

    assert counts["files"] == 1
    assert counts["knowledge"] == 1
