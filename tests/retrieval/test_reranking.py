"""An external reranker orders a hybrid search's candidates (Open WebUI's external contract),
and a reranker that fails leaves the search as it was."""

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from knowledge.models import File, Knowledge
from retrieval.search import chunks_search
from tests.retrieval.servers import RerankServer
from tests.startup import manage_check
from users.models import User

pytestmark = pytest.mark.django_db

BIRDS = [
    "Penguins live in the southern hemisphere, from Antarctica to the Galapagos.",
    "Emperor penguins breed during the Antarctic winter and huddle against the cold.",
    "Puffins nest in burrows on North Atlantic cliffs.",
    "Albatrosses glide over the Southern Ocean for hours without flapping.",
    "Kiwi birds are flightless and live in New Zealand.",
]
QUERY = "Where do penguins live?"


@pytest.fixture(autouse=True)
def _vectors_as_the_model_gives_them(settings: Any) -> None:
    """These tests are about what the reranker does to the first ranking, which they take to
    put the first sentence first: the model's own vectors do, by a wide margin (0.77 against
    0.65). The int8 default's vectors are 0.92-0.94 cosine to them, and with one release of
    the tools or another they rank the two penguin sentences either way (0.66 against 0.67)."""
    settings.RAG_EMBEDDING_PRECISION = "fp32"


@pytest.fixture
def reranker(settings: Any) -> Iterator[RerankServer]:
    server = RerankServer().start()
    settings.RAG_RERANKING_ENGINE = "external"
    settings.RAG_RERANKING_MODEL = "stand-in-reranker"
    settings.RAG_EXTERNAL_RERANKER_URL = f"{server.root}/v1/rerank"
    settings.RAG_EXTERNAL_RERANKER_API_KEY = "sk-rerank"
    settings.RAG_EXTERNAL_RERANKER_TIMEOUT = 1
    yield server
    server.stop()


@pytest.fixture
def birds(
    owner: User, indexed_file: Callable[..., File], make_knowledge: Callable[..., Knowledge]
) -> Knowledge:
    return make_knowledge(
        owner, *[indexed_file(owner, t, filename=f"bird{i}.txt") for i, t in enumerate(BIRDS)]
    )


def search(owner: User, knowledge: Knowledge, **options: Any) -> list[str]:
    hits = chunks_search(user=owner, query=QUERY, knowledge_ids=[str(knowledge.pk)], **options)
    return [hit.content for hit in hits.hits]


def test_the_reranker_orders_the_candidates_and_its_scores_are_shown(
    owner: User, birds: Knowledge, reranker: RerankServer
) -> None:
    reranker.favourite = "Kiwi"  # last for the fusion, first for the reranker

    result = chunks_search(user=owner, query=QUERY, knowledge_ids=[str(birds.pk)], top_k=2)

    assert [hit.content for hit in result.hits] == [BIRDS[4], BIRDS[0]]
    assert result.hits[0].score == pytest.approx(0.9)
    assert 0 < result.hits[1].score < 0.9
    (call,) = reranker.requests
    assert call["authorization"] == "Bearer sk-rerank"
    assert call["body"]["model"] == "stand-in-reranker"
    assert call["body"]["query"] == QUERY
    # Every candidate, not only the top_k asked for (here fewer than RAG_RERANKING_CANDIDATES).
    assert sorted(call["body"]["documents"]) == sorted(BIRDS)
    assert call["body"]["top_n"] == len(BIRDS)


def test_without_a_reranker_the_fused_order_stands(owner: User, birds: Knowledge) -> None:
    assert search(owner, birds, top_k=1) == [BIRDS[0]]


def test_text_embeddings_inference_answers_are_read_too(
    owner: User, birds: Knowledge, reranker: RerankServer
) -> None:
    reranker.fault, reranker.favourite = "tei", "Puffins"
    assert search(owner, birds, top_k=1) == [BIRDS[2]]


@pytest.mark.parametrize("fault", ["503", "garbage", "bad_index", "hang"])
def test_a_failing_reranker_leaves_the_fused_order(
    owner: User,
    birds: Knowledge,
    reranker: RerankServer,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    settings.RAG_RERANKING_ENGINE = ""
    fused = search(owner, birds, top_k=3)
    settings.RAG_RERANKING_ENGINE = "external"
    reranker.fault, reranker.favourite = fault, "Kiwi"

    with caplog.at_level(logging.WARNING, logger="retrieval.reranking"):
        assert search(owner, birds, top_k=3) == fused
    assert "the search keeps its own order" in caplog.text
    # Errors worth another try (5xx, 429, no answer) get one; a wrong answer does not.
    assert len(reranker.requests) == (2 if fault in ("503", "hang") else 1)


def test_a_reranker_the_upstream_policy_refuses_is_not_reached(
    owner: User,
    birds: Knowledge,
    reranker: RerankServer,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.RAG_RERANKING_ENGINE = ""
    fused = search(owner, birds, top_k=3)
    settings.RAG_RERANKING_ENGINE = "external"
    settings.UPSTREAM_ALLOW_PRIVATE_NETWORKS = ["none"]  # loopback too
    reranker.favourite = "Kiwi"

    with caplog.at_level(logging.WARNING, logger="retrieval.reranking"):
        assert search(owner, birds, top_k=3) == fused
    assert "may not be reached" in caplog.text
    assert reranker.requests == []


def test_a_reranker_that_fails_once_is_asked_again(
    owner: User, birds: Knowledge, reranker: RerankServer
) -> None:
    reranker.fault, reranker.favourite = "flaky", "Kiwi"
    assert search(owner, birds, top_k=1) == [BIRDS[4]]
    assert len(reranker.requests) == 2


def test_vector_only_searches_are_not_reranked(
    owner: User, birds: Knowledge, reranker: RerankServer
) -> None:
    reranker.favourite = "Kiwi"
    assert search(owner, birds, top_k=1, hybrid=False) == [BIRDS[0]]
    assert reranker.requests == []


def test_min_score_applies_to_the_rerankers_scores(
    owner: User, birds: Knowledge, reranker: RerankServer
) -> None:
    reranker.favourite = "Albatrosses"
    assert search(owner, birds, top_k=5, min_score=0.5) == [BIRDS[3]]


def test_the_query_api_answers_in_the_rerankers_order(
    client_of: Callable[[User], APIClient], owner: User, birds: Knowledge, reranker: RerankServer
) -> None:
    reranker.favourite = "Puffins"
    response = client_of(owner).post(
        "/api/retrieval/query",
        {"query": QUERY, "knowledge_ids": [str(birds.pk)], "top_k": 2},
        format="json",
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["content"] for r in results] == [BIRDS[2], BIRDS[0]]
    assert results[0]["score"] == pytest.approx(0.9)
    assert all(0 <= r["score"] <= 1 for r in results)


def test_an_external_engine_without_a_url_stops_start_up(tmp_path: Path) -> None:
    done = manage_check(tmp_path, {"RAG_RERANKING_ENGINE": "external"})
    assert done.returncode != 0
    assert "RAG_EXTERNAL_RERANKER_URL" in done.stderr
