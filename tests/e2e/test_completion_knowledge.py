"""Completions that answer from knowledge: a real daphne, real indexing, a stand-in upstream.

The server embeds the query with the same local model the test indexed with, searches the
collections and files the request (or its custom model) names, puts the best chunks into the
last user message and returns them as ``sources``.
"""

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from knowledge.models import File, Knowledge, KnowledgeFile
from retrieval.indexing import Page, file_index
from tests.e2e.conftest import token_for
from tests.retrieval.servers import EmbeddingsServer
from tests.upstream import StandIn
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

FACT = "The Falcon project's launch code is 7421 and it ships on a Tuesday."
OTHER = "Bananas are rich in potassium and grow in tropical climates."


@pytest.fixture(scope="module")
def upstream() -> Iterator[StandIn]:
    server = StandIn("openai").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(start_server: Callable[..., str], upstream: StandIn) -> str:
    return start_server("daphne", OPENAI_API_BASE_URLS=upstream.url, MODELS_CACHE_TTL="0")


@pytest.fixture
def ann() -> User:
    return User.objects.create_user(email="ann@example.com", password="x", name="Ann")


@pytest.fixture
def bob() -> User:
    return User.objects.create_user(email="bob@example.com", password="x", name="Bob")


def indexed_file(user: User, text: str, filename: str) -> File:
    digest = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    file = File.objects.create(
        user=user,
        filename=filename,
        content_type="text/plain",
        size=len(text),
        sha256=digest,
        storage_name=f"test/{digest}",
    )
    file_index(file=file, pages=[Page(text=text)])
    return file


def collection(user: User, *files: File, public: bool = False) -> Knowledge:
    knowledge = Knowledge.objects.create(user=user, name="Docs", public=public)
    for file in files:
        KnowledgeFile.objects.create(knowledge=knowledge, file=file)
    return knowledge


def http(proxy: str, who: User) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token_for(who)}"}
    return httpx.Client(base_url=proxy, headers=headers, timeout=30)


def ask(question: str, **extra: Any) -> dict[str, Any]:
    return {"model": "mock", "messages": [{"role": "user", "content": question}], **extra}


def last_user_text(upstream: StandIn) -> str:
    return next(m for m in reversed(upstream.requests[-1]["messages"]) if m["role"] == "user")[
        "content"
    ]


def test_knowledge_ids_put_the_best_chunk_into_the_prompt_and_return_sources(
    proxy: str, upstream: StandIn, ann: User
) -> None:
    falcon = indexed_file(ann, FACT, "falcon.md")
    bananas = indexed_file(ann, OTHER, "bananas.md")
    knowledge = collection(ann, falcon, bananas)

    with http(proxy, ann) as client:
        answer = client.post(
            "/api/openai/v1/chat/completions",
            json=ask("What is the launch code of Falcon?", knowledge_ids=[str(knowledge.pk)]),
        )

    assert answer.status_code == 200, answer.text
    sources = answer.json()["sources"]
    assert sources[0]["metadata"]["filename"] == "falcon.md"
    assert sources[0]["metadata"]["knowledge_id"] == str(knowledge.pk)
    assert "7421" in sources[0]["content"]
    prompt = last_user_text(upstream)
    assert "7421" in prompt
    assert "What is the launch code of Falcon?" in prompt
    assert "knowledge_ids" not in upstream.requests[-1]


def test_open_webui_files_items_name_files_and_collections(
    proxy: str, upstream: StandIn, ann: User
) -> None:
    falcon = indexed_file(ann, FACT, "falcon.md")
    knowledge = collection(ann, indexed_file(ann, OTHER, "bananas.md"))
    files = [
        {"type": "file", "id": str(falcon.pk)},
        {"type": "collection", "id": str(knowledge.pk)},
    ]

    with http(proxy, ann) as client:
        answer = client.post(
            "/api/chat/completions", json=ask("Falcon launch code?", files=files, detail=True)
        )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {s["metadata"]["filename"] for s in body["sources"]} == {"falcon.md", "bananas.md"}
    quotes = body["responseData"][0]["quoteList"]
    assert quotes[0]["source"] == "falcon.md"
    assert "7421" in quotes[0]["q"]
    assert "files" not in upstream.requests[-1]


def test_a_chat_reply_keeps_its_sources_through_a_reload_and_an_export(
    proxy: str, ann: User
) -> None:
    """As Open WebUI keeps citations on the message: the saved reply has the sources the
    answer came with, in the chat and in its export, and an import brings them back."""
    knowledge = collection(ann, indexed_file(ann, FACT, "falcon.md"))
    body = ask(
        "What is the launch code of Falcon?",
        chat_id="cited",
        responseChatItemId="cited-reply",
        knowledge_ids=[str(knowledge.pk)],
    )

    with http(proxy, ann) as client:
        answer = client.post("/api/chat/completions", json=body)
        chat_id = answer.json()["chat_id"]
        chat = client.get(f"/api/chats/{chat_id}").json()["chat"]
        exported = client.get("/api/chats/export")
        imported = client.post("/api/chats/import", json=exported.json())
        copy = client.get(f"/api/chats/{imported.json()[0]['id']}").json()["chat"]

    assert answer.status_code == 200, answer.text
    reply = chat["history"]["messages"]["cited-reply"]
    assert reply["sources"] == answer.json()["sources"]
    assert reply["sources"][0]["metadata"]["filename"] == "falcon.md"
    question = next(m for m in chat["messages"] if m["role"] == "user")
    assert "sources" not in question
    assert imported.status_code == 200, imported.text
    assert copy["history"]["messages"]["cited-reply"]["sources"] == reply["sources"]


def test_a_stream_ends_with_a_sources_chunk_the_openai_client_passes_over(
    proxy: str, ann: User
) -> None:
    knowledge = collection(ann, indexed_file(ann, FACT, "falcon.md"))
    client = openai.OpenAI(base_url=f"{proxy}/api/openai/v1", api_key=token_for(ann))

    chunks = list(
        client.chat.completions.create(
            model="mock",
            messages=[{"role": "user", "content": "Falcon launch code?"}],
            stream=True,
            extra_body={"knowledge_ids": [str(knowledge.pk)], "mock_chunks": 3},
        )
    )

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "tok0 tok1 tok2 "
    )
    final = chunks[-1].model_dump()
    assert final["choices"] == []
    assert final["sources"][0]["metadata"]["filename"] == "falcon.md"


def test_a_public_custom_model_answers_from_its_owners_private_collection(
    proxy: str, upstream: StandIn, ann: User, bob: User
) -> None:
    knowledge = collection(ann, indexed_file(ann, FACT, "falcon.md"))
    with http(proxy, ann) as client:
        made = client.post(
            "/api/models/create",
            json={
                "name": "falcon-bot",
                "base_model": "mock",
                "knowledge_ids": [str(knowledge.pk)],
                "is_public": True,
            },
        )
    assert made.status_code == 201, made.text

    with http(proxy, bob) as client:
        answer = client.post(
            "/api/openai/v1/chat/completions",
            json={"model": "falcon-bot", "messages": [{"role": "user", "content": "Code?"}]},
        )
        peek = client.post(
            "/api/retrieval/query", json={"query": "code", "knowledge_ids": [str(knowledge.pk)]}
        )

    assert answer.status_code == 200, answer.text
    assert answer.json()["sources"][0]["metadata"]["filename"] == "falcon.md"
    assert "7421" in last_user_text(upstream)
    assert peek.status_code == 404  # the model answers from it; Bob still cannot read it


def test_a_model_cannot_be_given_a_collection_its_owner_cannot_read(
    proxy: str, ann: User, bob: User
) -> None:
    anns = collection(ann, indexed_file(ann, FACT, "falcon.md"))

    with http(proxy, bob) as client:
        stolen = client.post(
            "/api/models/create",
            json={"name": "thief", "base_model": "mock", "knowledge_ids": [str(anns.pk)]},
        )
        made_up = client.post(
            "/api/models/create",
            json={"name": "dreamer", "base_model": "mock", "knowledge_ids": ["kb-1"]},
        )

    assert (stolen.status_code, stolen.json()["code"]) == (404, "knowledge_not_found")
    assert (made_up.status_code, made_up.json()["code"]) == (404, "knowledge_not_found")


@pytest.mark.parametrize(
    ("extra", "status", "code"),
    [
        ({"files": [{"id": 1}]}, 400, "invalid"),
        ({"files": [{"type": "folder", "id": "x"}]}, 400, "invalid"),
        ({"knowledge_ids": ["not-a-uuid"]}, 404, "knowledge_not_found"),
        ({"files": [str(uuid.uuid4())]}, 404, "file_not_found"),
    ],
)
def test_bad_or_unknown_knowledge_is_a_clear_error(
    proxy: str, ann: User, extra: dict[str, Any], status: int, code: str
) -> None:
    with http(proxy, ann) as client:
        answer = client.post("/api/openai/v1/chat/completions", json=ask("x", **extra))

    assert answer.status_code == status, answer.text
    assert code in json.dumps(answer.json())


def test_another_users_collection_is_404_and_nothing_goes_upstream(
    proxy: str, upstream: StandIn, ann: User, bob: User
) -> None:
    anns = collection(ann, indexed_file(ann, FACT, "falcon.md"))
    before = len(upstream.requests)

    with http(proxy, bob) as client:
        answer = client.post(
            "/api/openai/v1/chat/completions",
            json=ask("Falcon launch code?", knowledge_ids=[str(anns.pk)], stream=True),
        )

    assert (answer.status_code, answer.json()["code"]) == (404, "knowledge_not_found")
    assert len(upstream.requests) == before


def test_the_embedding_server_down_is_a_502_and_nothing_goes_upstream(
    start_server: Callable[..., str], upstream: StandIn, ann: User, settings: Any
) -> None:
    embeddings = EmbeddingsServer().start()
    engine = {
        "RAG_EMBEDDING_ENGINE": "openai",
        "RAG_OPENAI_API_BASE_URL": f"{embeddings.root}/v1",
        "RAG_EMBEDDING_RETRIES": "0",
    }
    try:
        server = start_server("daphne", OPENAI_API_BASE_URLS=upstream.url, **engine)
        settings.RAG_EMBEDDING_ENGINE = "openai"  # index with the server's engine, here too
        settings.RAG_OPENAI_API_BASE_URL = f"{embeddings.root}/v1"
        knowledge = collection(ann, indexed_file(ann, FACT, "falcon.md"))
        embeddings.fault = "503"
        before = len(upstream.requests)

        with http(server, ann) as client:
            down = client.post(
                "/api/openai/v1/chat/completions",
                json=ask("Falcon?", knowledge_ids=[str(knowledge.pk)]),
            )
    finally:
        embeddings.stop()

    assert (down.status_code, down.json()["code"]) == (502, "embedding_unavailable")
    assert "embedding server" in down.json()["detail"]
    assert len(upstream.requests) == before
