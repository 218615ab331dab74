"""Custom models and connections through the public API (no upstream needed)."""

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from knowledge.models import Knowledge
from llm.models import Connection, CustomModel
from users.models import ApiKey, User

pytestmark = pytest.mark.django_db


def test_owner_creates_updates_and_deletes_a_custom_model(
    owner: User, client_of: Callable[[User], APIClient]
) -> None:
    api = client_of(owner)
    docs = [str(Knowledge.objects.create(user=owner, name=n).pk) for n in ("a", "b")]

    created = api.post(
        "/api/models/create",
        {
            "name": "coder",
            "base_model": "llama3.3:70b",
            "params": {"system": "You write code.", "temperature": 0.7, "top_p": 0.9},
            "knowledge_ids": docs,
        },
        format="json",
    )
    updated = api.post(
        "/api/models/coder/update", {"params": {"seed": 4, "num_ctx": 8192}}, format="json"
    )
    listed = api.get("/api/models/")
    deleted = api.delete("/api/models/coder")

    assert created.status_code == 201, created.content
    assert created.json()["id"] == "coder"
    assert created.json()["knowledge_ids"] == docs
    assert created.json()["is_public"] is False
    assert updated.json()["params"] == {"seed": 4, "num_ctx": 8192}
    assert "coder" in {m["id"] for m in listed.json()["models"]}
    assert listed.json()["errors"] == []
    assert deleted.status_code == 204
    assert not CustomModel.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "base_model": "m", "knowledge_ids": "k1"},
        {"name": "x", "base_model": "m", "knowledge_ids": [1, 2]},
        {"name": "x", "base_model": "m", "params": {"temperature": "hot"}},
        {"name": "x", "base_model": "m", "params": {"system": 5}},
        {"name": "x", "base_model": "m", "params": "hot"},
        {"name": "has space", "base_model": "m"},
        {"name": "x"},
        {"name": "x", "base_model": "m", "is_public": "yes"},
    ],
)
def test_malformed_custom_models_are_refused(
    owner: User, client_of: Callable[[User], APIClient], body: dict
) -> None:
    response = client_of(owner).post("/api/models/create", body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"


def test_model_ids_are_unique_and_private_to_their_owner(
    owner: User, stranger: User, admin_user: User, client_of: Callable[[User], APIClient]
) -> None:
    client_of(owner).post("/api/models/create", {"name": "mine", "base_model": "m"}, format="json")

    taken = client_of(stranger).post(
        "/api/models/create", {"name": "mine", "base_model": "m"}, format="json"
    )
    hidden = client_of(stranger).get("/api/models/mine")
    not_theirs = client_of(stranger).post(
        "/api/models/mine/update", {"is_public": True}, format="json"
    )
    listed = client_of(stranger).get("/api/models/").json()["models"]
    published = client_of(admin_user).post(
        "/api/models/mine/update", {"is_public": True}, format="json"
    )
    visible = client_of(stranger).get("/api/models/mine")

    assert taken.status_code == 409
    assert taken.json()["code"] == "model_id_taken"
    assert hidden.status_code == 404
    assert not_theirs.status_code == 404
    assert "mine" not in {m["id"] for m in listed}
    assert published.status_code == 200
    assert visible.status_code == 200


def test_connections_are_admin_only_and_validated(
    owner: User, admin_user: User, client_of: Callable[[User], APIClient]
) -> None:
    refused = client_of(owner).post(
        "/api/connections/", {"name": "x", "base_url": "http://127.0.0.1:1/v1"}, format="json"
    )
    bad_url = client_of(admin_user).post(
        "/api/connections/", {"name": "x", "base_url": "not a url"}, format="json"
    )
    bad_kind = client_of(admin_user).post(
        "/api/connections/",
        {"name": "x", "base_url": "http://127.0.0.1:1", "kind": "gopher"},
        format="json",
    )
    unsendable_key = client_of(admin_user).post(
        "/api/connections/",
        {"name": "x", "base_url": "http://127.0.0.1:1", "api_key": "sk-caf\u00e9 key"},
        format="json",
    )
    missing = client_of(admin_user).delete("/api/connections/not-a-uuid")

    assert refused.status_code == 403
    assert bad_url.status_code == 400
    assert bad_kind.status_code == 400
    assert unsendable_key.status_code == 400
    assert "printable ASCII" in str(unsendable_key.json())
    assert missing.status_code == 404
    assert not Connection.objects.exists()


def test_completions_only_key_lists_models_in_openai_format(
    owner: User, make_key: Callable[..., tuple[ApiKey, str]]
) -> None:
    _, raw = make_key(owner, scope=ApiKey.Scope.COMPLETIONS)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    listed = api.get("/api/openai/v1/models")
    elsewhere = api.get("/api/models/")

    assert listed.status_code == 200
    assert listed.json() == {"object": "list", "data": []}
    assert elsewhere.status_code == 403


@pytest.mark.parametrize("model", ["connection", "custommodel", "generation"])
def test_llm_models_have_admin_pages(admin_user: User, model: str) -> None:
    from django.test import Client

    Connection.objects.create(name="c", base_url="http://127.0.0.1:1/v1", api_key="sk-secret-9876")
    client = Client()
    client.force_login(admin_user)

    page = client.get(f"/admin/llm/{model}/")

    assert page.status_code == 200
    assert b"sk-secret-9876" not in page.content
