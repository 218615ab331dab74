"""POST /api/retrieval/query: results, scoping (404 for what is not yours), bad input."""

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from knowledge.models import File, Knowledge
from users.models import User

URL = "/api/retrieval/query"
DOCS = {
    "penguins.txt": "Penguins are flightless birds that live in the southern hemisphere.\n\n"
    "Emperor penguins breed during the Antarctic winter.",
    "paris.txt": "The Eiffel Tower in Paris was completed in 1889.",
    "plants.txt": "Photosynthesis converts light energy into chemical energy in plants.",
}


@pytest.fixture
def collection(
    owner: User,
    indexed_file: Callable[..., File],
    make_knowledge: Callable[..., Knowledge],
) -> Knowledge:
    files = [indexed_file(owner, text, filename=name) for name, text in DOCS.items()]
    return make_knowledge(owner, *files, name="Facts")


def test_query_answers_with_the_best_chunk_and_its_source(
    owner: User, collection: Knowledge, client_of: Callable[[User], APIClient]
) -> None:
    response = client_of(owner).post(
        URL,
        {"query": "When was the Eiffel Tower built?", "knowledge_ids": [str(collection.pk)]},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    best = body["results"][0]
    assert best["content"] == DOCS["paris.txt"]
    assert best["metadata"]["filename"] == "paris.txt"
    assert best["metadata"]["knowledge_id"] == str(collection.pk)
    assert best["metadata"]["page"] == 1
    assert best["metadata"]["chunk_index"] == 0
    assert body["pending_file_ids"] == []
    scores = [r["score"] for r in body["results"]]
    assert all(0 <= s <= 1 for s in scores)
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("hybrid", [True, False])
def test_top_k_and_min_score_limit_the_results(
    owner: User, collection: Knowledge, client_of: Callable[[User], APIClient], hybrid: bool
) -> None:
    client = client_of(owner)
    ids = [str(collection.pk)]
    one = client.post(
        URL,
        {"query": "penguins", "knowledge_ids": ids, "top_k": 1, "hybrid": hybrid},
        format="json",
    )
    assert len(one.json()["results"]) == 1
    assert "enguin" in one.json()["results"][0]["content"]
    strict = client.post(
        URL,
        {"query": "penguins", "knowledge_ids": ids, "min_score": 1.0, "hybrid": hybrid},
        format="json",
    )
    assert all(r["score"] >= 1.0 for r in strict.json()["results"])


def test_file_ids_search_only_those_files(
    owner: User, indexed_file: Callable[..., File], client_of: Callable[[User], APIClient]
) -> None:
    paris = indexed_file(owner, DOCS["paris.txt"], filename="paris.txt")
    indexed_file(owner, DOCS["penguins.txt"], filename="penguins.txt")

    response = client_of(owner).post(
        URL, {"query": "penguins", "file_ids": [str(paris.pk)]}, format="json"
    )

    assert [r["metadata"]["filename"] for r in response.json()["results"]] == ["paris.txt"]
    assert response.json()["results"][0]["metadata"]["knowledge_id"] is None


def test_strangers_collection_and_file_are_404(
    owner: User,
    stranger: User,
    collection: Knowledge,
    client_of: Callable[[User], APIClient],
) -> None:
    client = client_of(stranger)
    file_id = str(collection.files.first().pk)
    k = client.post(
        URL, {"query": "penguins", "knowledge_ids": [str(collection.pk)]}, format="json"
    )
    f = client.post(URL, {"query": "penguins", "file_ids": [file_id]}, format="json")

    assert (k.status_code, k.json()["code"]) == (404, "knowledge_not_found")
    assert k.json()["detail"] == "Knowledge collection not found."
    assert (f.status_code, f.json()["code"]) == (404, "file_not_found")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("knowledge_ids", ["00000000-0000-0000-0000-000000000000"]),
        ("knowledge_ids", ["nope"]),
        ("file_ids", ["00000000-0000-0000-0000-000000000000"]),
        ("file_ids", ["../etc"]),
    ],
)
def test_unknown_or_malformed_ids_are_404(
    owner: User,
    collection: Knowledge,
    client_of: Callable[[User], APIClient],
    field: str,
    value: list[str],
) -> None:
    body = {"query": "penguins", "knowledge_ids": [str(collection.pk)], field: value}
    response = client_of(owner).post(URL, body, format="json")
    assert response.status_code == 404


def test_a_public_collection_is_searchable_by_others(
    owner: User,
    stranger: User,
    indexed_file: Callable[..., File],
    make_knowledge: Callable[..., Knowledge],
    client_of: Callable[[User], APIClient],
) -> None:
    public = make_knowledge(owner, indexed_file(owner, DOCS["plants.txt"]), public=True)
    response = client_of(stranger).post(
        URL, {"query": "photosynthesis", "knowledge_ids": [str(public.pk)]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["results"][0]["content"] == DOCS["plants.txt"]


def test_a_collection_still_processing_is_searched_and_says_so(
    owner: User,
    indexed_file: Callable[..., File],
    make_file: Callable[..., File],
    make_knowledge: Callable[..., Knowledge],
    client_of: Callable[[User], APIClient],
) -> None:
    ready = indexed_file(owner, DOCS["plants.txt"])
    waiting = make_file(owner, "later.txt")
    knowledge = make_knowledge(owner, ready, waiting)

    response = client_of(owner).post(
        URL, {"query": "plants", "knowledge_ids": [str(knowledge.pk)]}, format="json"
    )

    assert response.status_code == 200
    assert [r["content"] for r in response.json()["results"]] == [DOCS["plants.txt"]]
    assert response.json()["pending_file_ids"] == [str(waiting.pk)]


def test_a_file_added_to_a_collection_later_is_searched(
    owner: User,
    indexed_file: Callable[..., File],
    make_knowledge: Callable[..., Knowledge],
    client_of: Callable[[User], APIClient],
) -> None:
    client = client_of(owner)
    knowledge = make_knowledge(owner, indexed_file(owner, DOCS["plants.txt"]))
    body = {"query": "Eiffel Tower", "knowledge_ids": [str(knowledge.pk)]}
    assert DOCS["paris.txt"] not in [
        r["content"] for r in client.post(URL, body, format="json").json()["results"]
    ]

    knowledge.files.add(indexed_file(owner, DOCS["paris.txt"]))

    assert (
        client.post(URL, body, format="json").json()["results"][0]["content"] == DOCS["paris.txt"]
    )
    knowledge.files.clear()
    assert client.post(URL, body, format="json").json()["results"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "x" * 10_000}, "query"),
        ({"query": 42}, "query"),
        ({"query": "ok", "top_k": 0}, "top_k"),
        ({"query": "ok", "top_k": -1}, "top_k"),
        ({"query": "ok", "top_k": 10_000}, "top_k"),
        ({"query": "ok", "top_k": "many"}, "top_k"),
        ({"query": "ok", "min_score": 2}, "min_score"),
        ({"query": "ok", "knowledge_ids": "abc"}, "knowledge_ids"),
        ({"query": "ok", "knowledge_ids": [], "file_ids": []}, "non_field_errors"),
        ({"query": "ok", "extra": 1}, "extra"),
    ],
)
def test_bad_input_is_400_naming_the_field(
    owner: User,
    make_knowledge: Callable[..., Knowledge],
    client_of: Callable[[User], APIClient],
    body: dict,
    field: str,
) -> None:
    if field not in ("knowledge_ids", "non_field_errors"):
        body = {"knowledge_ids": [str(make_knowledge(owner).pk)], **body}
    response = client_of(owner).post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    if body.get("query") == "x" * 10_000:
        assert "2000" in response.json()["detail"]  # the limit is said


def test_signed_out_is_401(api: APIClient) -> None:
    assert api.post(URL, {"query": "x", "file_ids": []}, format="json").status_code == 401
