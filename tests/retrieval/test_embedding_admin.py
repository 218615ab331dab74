"""GET/POST /api/retrieval/embedding: admins only; stored settings override the environment.

Re-indexing after a change runs on commit through knowledge.services.files_reprocess_all (built
with the knowledge issue); its end-to-end test lives with that code."""

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from retrieval.embedders import model_key_current
from users.models import User

URL = "/api/retrieval/embedding"


def test_admin_reads_the_environments_defaults(
    admin_user: User, client_of: Callable[[User], APIClient]
) -> None:
    response = client_of(admin_user).get(URL)
    assert response.status_code == 200
    assert response.json() == {
        "engine": "local",
        "model": "all-MiniLM-L6-v2",
        "openai_base_url": "",
        "openai_api_key_set": False,
        "model_key": "local:all-MiniLM-L6-v2",
    }


def test_admin_switches_to_an_openai_server(
    admin_user: User, client_of: Callable[[User], APIClient]
) -> None:
    response = client_of(admin_user).post(
        URL,
        {
            "engine": "openai",
            "model": "nomic-embed-text",
            "openai_base_url": "http://127.0.0.1:11434/v1/",
            "openai_api_key": "sk-secret",
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_key"] == "openai:nomic-embed-text"
    assert body["openai_base_url"] == "http://127.0.0.1:11434/v1"
    assert body["openai_api_key_set"] is True
    assert "sk-secret" not in response.content.decode()
    assert body["reindexing"] is True
    assert model_key_current() == "openai:nomic-embed-text"


def test_saving_the_same_model_does_not_reindex(
    admin_user: User, client_of: Callable[[User], APIClient]
) -> None:
    response = client_of(admin_user).post(URL, {"engine": "local"}, format="json")
    assert response.json()["reindexing"] is False


def test_stored_settings_override_the_environment(
    admin_user: User, client_of: Callable[[User], APIClient], settings: Any
) -> None:
    settings.RAG_EMBEDDING_ENGINE = "openai"
    settings.RAG_EMBEDDING_MODEL = "from-env"
    settings.RAG_OPENAI_API_BASE_URL = "http://env.example/v1"
    client_of(admin_user).post(URL, {"engine": "local", "model": "all-MiniLM-L6-v2"}, format="json")
    assert model_key_current() == "local:all-MiniLM-L6-v2"


@pytest.mark.parametrize(
    "body",
    [
        {"engine": "word2vec"},
        {"engine": "openai", "model": "x"},  # no base URL anywhere
        {"engine": "openai", "model": "x", "openai_base_url": "ftp://host/"},
        {"engine": "openai", "openai_base_url": "http://h/v1"},  # no model named
        {"engine": "local", "model": "some/hub-model"},
        {"engine": "local", "unknown": 1},
        {"model": 5},
        # Never sendable as a header: the re-index jobs would all fail on it.
        {
            "engine": "openai",
            "openai_base_url": "http://127.0.0.1:9/v1",
            "openai_api_key": "k\u00f4",
        },
        {"engine": "openai", "openai_base_url": "http://127.0.0.1:9/v1", "openai_api_key": "a b"},
    ],
)
def test_bad_settings_are_400(
    admin_user: User, client_of: Callable[[User], APIClient], body: dict
) -> None:
    response = client_of(admin_user).post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert model_key_current() == "local:all-MiniLM-L6-v2"


def test_users_may_not_read_or_change_it(
    owner: User, client_of: Callable[[User], APIClient]
) -> None:
    client = client_of(owner)
    assert client.get(URL).status_code == 403
    response = client.post(URL, {"engine": "openai"}, format="json")
    assert (response.status_code, response.json()["code"]) == (403, "admin_only")
    assert model_key_current() == "local:all-MiniLM-L6-v2"


def test_signed_out_is_401(api: APIClient) -> None:
    assert api.get(URL).status_code == 401
