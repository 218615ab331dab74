"""The openai engine against a real embeddings server on loopback, faults included."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from knowledge.models import File, Knowledge
from retrieval.errors import EmbeddingUnavailable
from retrieval.indexing import Page, file_index
from retrieval.models import Chunk
from tests.retrieval.servers import DIM, EmbeddingsServer
from users.models import User

URL = "/api/retrieval/query"


@pytest.fixture
def server() -> Iterator[EmbeddingsServer]:
    server = EmbeddingsServer().start()
    yield server
    server.stop()


@pytest.fixture
def openai_engine(settings: Any, server: EmbeddingsServer) -> EmbeddingsServer:
    settings.RAG_EMBEDDING_ENGINE = "openai"
    settings.RAG_EMBEDDING_MODEL = "bag-of-words"
    settings.RAG_OPENAI_API_BASE_URL = f"{server.root}/v1"
    settings.RAG_OPENAI_API_KEY = "sk-embed"
    settings.RAG_EMBEDDING_BATCH_SIZE = 2
    settings.RAG_EMBEDDING_TIMEOUT = 1
    settings.RAG_EMBEDDING_RETRIES = 1
    return server


def test_indexes_in_batches_and_stores_the_model(
    owner: User, make_file: Callable[..., File], openai_engine: EmbeddingsServer
) -> None:
    file = make_file(owner)
    texts = ["alpha beta", "gamma delta", "epsilon zeta"]

    assert file_index(file=file, pages=[Page(t) for t in texts]) == 3

    assert [len(r["input"]) for r in openai_engine.requests] == [2, 1]
    assert openai_engine.requests[0]["model"] == "bag-of-words"
    chunk = Chunk.objects.filter(file=file).first()
    assert chunk.model == "openai:bag-of-words"
    assert chunk.embedding.shape == (DIM,)


def test_search_uses_the_servers_vectors(
    owner: User,
    make_file: Callable[..., File],
    make_knowledge: Callable[..., Knowledge],
    openai_engine: EmbeddingsServer,
    client_of: Callable[[User], APIClient],
) -> None:
    files = []
    for text in ["red apples grow on trees", "blue whales swim in oceans"]:
        file = make_file(owner)
        file_index(file=file, pages=[Page(text)])
        files.append(file)
    knowledge = make_knowledge(owner, *files)

    response = client_of(owner).post(
        URL,
        {"query": "whales oceans", "knowledge_ids": [str(knowledge.pk)], "hybrid": False},
        format="json",
    )

    assert response.json()["results"][0]["content"] == "blue whales swim in oceans"


def test_a_transient_failure_is_retried(
    owner: User, make_file: Callable[..., File], openai_engine: EmbeddingsServer
) -> None:
    openai_engine.fault = "flaky"
    assert file_index(file=make_file(owner), pages=[Page("retry me")]) == 1
    assert len(openai_engine.requests) == 2


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ("503", "unavailable (HTTP 503)"),
        ("401", "refused the request (HTTP 401)"),
        ("garbage", "not embeddings"),
        ("short", "not embeddings"),
        ("nan", "not usable"),
        ("hang", "ReadTimeout"),
    ],
)
def test_faults_raise_embedding_unavailable(
    owner: User,
    make_file: Callable[..., File],
    openai_engine: EmbeddingsServer,
    fault: str,
    says: str,
) -> None:
    openai_engine.fault = fault
    with pytest.raises(EmbeddingUnavailable, match=says.replace("(", r"\(").replace(")", r"\)")):
        file_index(file=make_file(owner), pages=[Page("one"), Page("two")])


def test_a_server_that_is_gone_is_unavailable(
    owner: User, make_file: Callable[..., File], openai_engine: EmbeddingsServer
) -> None:
    openai_engine.stop()
    with pytest.raises(EmbeddingUnavailable, match="ConnectError"):
        file_index(file=make_file(owner), pages=[Page("one")])


@pytest.mark.parametrize("fault", ["503", "garbage", "down"])
def test_query_with_the_embeddings_server_failing_is_502(
    owner: User,
    make_file: Callable[..., File],
    openai_engine: EmbeddingsServer,
    client_of: Callable[[User], APIClient],
    fault: str,
) -> None:
    file = make_file(owner)
    file_index(file=file, pages=[Page("some indexed words")])
    if fault == "down":
        openai_engine.stop()
    else:
        openai_engine.fault = fault

    response = client_of(owner).post(
        URL, {"query": "words", "file_ids": [str(file.pk)]}, format="json"
    )

    assert response.status_code == 502
    assert response.json()["code"] == "embedding_unavailable"
    assert "embedding server" in response.json()["detail"]


def test_files_of_another_model_are_pending_not_mixed(
    owner: User,
    indexed_file: Callable[..., File],
    settings: Any,
    server: EmbeddingsServer,
    client_of: Callable[[User], APIClient],
) -> None:
    local = indexed_file(owner, "made with the local model")  # MiniLM vectors
    settings.RAG_EMBEDDING_ENGINE = "openai"
    settings.RAG_EMBEDDING_MODEL = "bag-of-words"
    settings.RAG_OPENAI_API_BASE_URL = f"{server.root}/v1"

    response = client_of(owner).post(
        URL, {"query": "model", "file_ids": [str(local.pk)]}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {"results": [], "pending_file_ids": [str(local.pk)]}


def test_a_model_too_wide_for_hnsw_is_still_searchable(
    owner: User,
    make_file: Callable[..., File],
    openai_engine: EmbeddingsServer,
    client_of: Callable[[User], APIClient],
    settings: Any,
) -> None:
    openai_engine.dim = 2048  # pgvector's HNSW stops at 2,000 dimensions
    settings.RAG_EMBEDDING_MODEL = "wide"
    settings.RAG_EXACT_SCAN_MAX_CHUNKS = 0
    file = make_file(owner)
    file_index(file=file, pages=[Page("wide vectors of many dimensions")])

    response = client_of(owner).post(
        URL, {"query": "wide vectors", "file_ids": [str(file.pk)]}, format="json"
    )

    assert [r["content"] for r in response.json()["results"]] == ["wide vectors of many dimensions"]


def test_a_search_waits_less_than_indexing_for_a_hanging_server(
    owner: User,
    make_file: Callable[..., File],
    openai_engine: EmbeddingsServer,
    client_of: Callable[[User], APIClient],
    settings: Any,
) -> None:
    file = make_file(owner)
    file_index(file=file, pages=[Page("some indexed words")])
    settings.RAG_EMBEDDING_RETRIES = 5  # indexing would try six times
    openai_engine.fault = "hang"
    openai_engine.requests.clear()

    response = client_of(owner).post(
        URL, {"query": "words", "file_ids": [str(file.pk)]}, format="json"
    )

    assert response.status_code == 502
    assert len(openai_engine.requests) == 2  # one try and one retry
