"""chunks_search as completions use it: hybrid vs vector, caches across processes."""

import uuid
from collections.abc import Callable

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from knowledge.errors import FileNotFound, KnowledgeNotFound
from knowledge.models import File, Knowledge
from retrieval.embedders import embedder_current
from retrieval.models import Chunk, FileIndex
from retrieval.search import chunks_search
from users.models import User

PARTS = [
    "Shipping note: QX-1871 leaves the Ohio warehouse on Mondays.",
    "Which part do I need? Use the part finder to identify the right part for your pump.",
    "Identifying parts: every pump part has a code printed on its side.",
    "Part codes QX-1187 and QX-1178 belong to the valve family of pump parts.",
]


@pytest.fixture
def parts(
    owner: User, indexed_file: Callable[..., File], make_knowledge: Callable[..., Knowledge]
) -> Knowledge:
    return make_knowledge(
        owner, *[indexed_file(owner, t, filename=f"{i}.txt") for i, t in enumerate(PARTS)]
    )


def test_hybrid_finds_an_exact_code_that_vectors_rank_last(owner: User, parts: Knowledge) -> None:
    ids = [str(parts.pk)]
    query = "Which pump part is QX-1871?"

    vector = chunks_search(user=owner, query=query, knowledge_ids=ids, top_k=4, hybrid=False)
    hybrid = chunks_search(user=owner, query=query, knowledge_ids=ids, top_k=4, hybrid=True)

    rank_vector = [h.content for h in vector.hits].index(PARTS[0])
    rank_hybrid = [h.content for h in hybrid.hits].index(PARTS[0])
    assert rank_vector == 3
    assert rank_hybrid < rank_vector
    assert hybrid.hits[0].score <= 1.0


def test_vector_scores_are_cosine_similarities(owner: User, parts: Knowledge) -> None:
    result = chunks_search(user=owner, query=PARTS[2], knowledge_ids=[str(parts.pk)], hybrid=False)
    assert result.hits[0].content == PARTS[2]
    assert result.hits[0].score == pytest.approx(1.0, abs=1e-4)


def test_ids_the_user_may_not_read_raise_not_found(
    owner: User, stranger: User, parts: Knowledge
) -> None:
    with pytest.raises(KnowledgeNotFound):
        chunks_search(user=stranger, query="pump", knowledge_ids=[str(parts.pk)])
    with pytest.raises(FileNotFound):
        chunks_search(user=owner, query="pump", file_ids=[str(uuid.uuid4())])


def test_a_reindex_by_another_process_is_seen(
    owner: User, indexed_file: Callable[..., File]
) -> None:
    """Another process's commit changes the rows and the version; this process's cached matrix
    of the file must not be used again."""
    file = indexed_file(owner, "The first text is about apples.")
    assert chunks_search(user=owner, query="apples", file_ids=[str(file.pk)]).hits  # now cached

    text = "The second text is about volcanoes."
    vector = embedder_current().embed([text])[0]
    chunk = Chunk.objects.get(file=file)  # what file_index in another process would commit
    Chunk.objects.filter(pk=chunk.pk).update(content=text, embedding=vector)
    FileIndex.objects.filter(file=file).update(version=uuid.uuid4())

    hits = chunks_search(
        user=owner, query="volcano eruption", file_ids=[str(file.pk)], hybrid=False
    ).hits
    assert [h.content for h in hits] == [text]
    assert hits[0].score > 0.5


def test_a_delete_by_another_process_is_seen(
    owner: User, indexed_file: Callable[..., File]
) -> None:
    file = indexed_file(owner, "Bananas are yellow.")
    assert chunks_search(user=owner, query="bananas", file_ids=[str(file.pk)]).hits
    Chunk.objects.filter(file=file).delete()
    FileIndex.objects.filter(file=file).delete()

    result = chunks_search(user=owner, query="bananas", file_ids=[str(file.pk)])
    assert result.hits == []
    assert result.pending_file_ids == [file.pk]


def test_a_file_in_two_collections_is_indexed_once(
    owner: User, indexed_file: Callable[..., File], make_knowledge: Callable[..., Knowledge]
) -> None:
    file = indexed_file(owner, "Shared facts about comets.")
    first = make_knowledge(owner, file, name="A")
    second = make_knowledge(owner, file, name="B")

    result = chunks_search(
        user=owner, query="comets", knowledge_ids=[str(second.pk), str(first.pk)]
    )

    assert len(result.hits) == 1
    assert result.hits[0].knowledge_id == second.pk
    assert Chunk.objects.filter(file=file).count() == 1
    assert np.isclose(np.linalg.norm(Chunk.objects.get(file=file).embedding), 1.0, atol=1e-4)


def test_search_queries_stay_constant(
    owner: User,
    parts: Knowledge,
    indexed_file: Callable[..., File],
    make_knowledge: Callable[..., Knowledge],
) -> None:
    small = make_knowledge(owner, indexed_file(owner, "A lone file about pumps."))

    def count(**scope: list[str]) -> int:
        chunks_search(user=owner, query="pump", **scope)  # warm the cache
        with CaptureQueriesContext(connection) as queries:
            chunks_search(user=owner, query="pump", top_k=10, **scope)
        return len(queries)

    assert count(knowledge_ids=[str(small.pk)]) == count(knowledge_ids=[str(parts.pk)])


def test_the_default_models_hnsw_index_is_the_one_migration_made() -> None:
    from retrieval.backends import PgvectorIndex

    name = PgvectorIndex.index_name("local:all-MiniLM-L6-v2", 384)
    assert name == "retrieval_chunk_hnsw_557b59ddcf920a2e"  # retrieval/migrations/0001


@pytest.mark.parametrize("exact_max", [0, 1_000_000])
def test_large_scopes_use_the_index_and_find_the_same(
    owner: User, parts: Knowledge, settings: object, exact_max: int
) -> None:
    settings.RAG_EXACT_SCAN_MAX_CHUNKS = exact_max  # 0: every scope goes through HNSW
    result = chunks_search(
        user=owner, query=PARTS[1], knowledge_ids=[str(parts.pk)], top_k=4, hybrid=False
    )
    assert result.hits[0].content == PARTS[1]
    assert len(result.hits) == 4


def test_service_callers_get_top_k_clamped_and_long_queries_cut(
    owner: User, parts: Knowledge
) -> None:
    ids = [str(parts.pk)]
    assert len(chunks_search(user=owner, query="pump part", knowledge_ids=ids, top_k=0).hits) == 1
    long_query = "pump part " * 5000  # a whole chat message, as completions may pass
    assert len(chunks_search(user=owner, query=long_query, knowledge_ids=ids, top_k=999).hits) == 4


def test_scan_settings_do_not_leak_into_the_callers_transaction(
    owner: User, parts: Knowledge
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's planner settings")
    from django.db import transaction

    with transaction.atomic(), connection.cursor() as cursor:
        chunks_search(user=owner, query="pump", knowledge_ids=[str(parts.pk)])
        cursor.execute("SHOW enable_indexscan")
        assert cursor.fetchone()[0] == "on"


def test_the_top_results_cover_several_documents_before_a_second_chunk_of_one(
    owner: User,
    indexed_file: Callable[..., File],
    make_knowledge: Callable[..., Knowledge],
    settings,  # type: ignore[no-untyped-def]
) -> None:
    penguins = indexed_file(
        owner,
        "Penguins are flightless birds that live in the southern hemisphere.",
        "Emperor penguins are the largest penguins; they breed in the Antarctic winter.",
        "Penguins swim fast and catch fish, krill and squid under the ice.",
        filename="penguins.txt",
    )
    birds = indexed_file(owner, "Some birds cannot fly, such as penguins.", filename="birds.txt")
    knowledge = make_knowledge(owner, penguins, birds)

    def search() -> list:  # type: ignore[type-arg]
        return chunks_search(
            user=owner, query="Where do penguins live?", knowledge_ids=[str(knowledge.pk)], top_k=3
        ).hits

    settings.RAG_CHUNKS_PER_DOCUMENT = 1
    diverse = search()
    settings.RAG_CHUNKS_PER_DOCUMENT = 0
    plain = search()

    assert {hit.file_id for hit in diverse[:2]} == {penguins.pk, birds.pk}
    assert diverse[0] == plain[0]  # the best chunk stays first
    assert len(diverse) == 3  # then the remaining chunks, by score
    scores = [hit.score for hit in diverse]
    assert scores == sorted(scores, reverse=True)


def test_a_short_lexical_ranking_is_the_head_of_the_long_one(
    owner: User, indexed_file: Callable[..., File]
) -> None:
    """Asking for the best k lexical matches gives the first k of the whole ranking, ties and
    tie-breaks included, for every k (PostgreSQL reads only the chunks that can still make it)."""
    from retrieval.backends import IndexedFile, index_current

    texts = [
        "valve gasket",
        "valve gasket",  # a tie with the one before
        "valve valve valve gasket gasket",  # same words, denser: wins the tie-break
        "valve",
        "gasket",
        "pump valve gasket seal",
        "pump",
        "seal seal",
        "pump seal",
        "an unrelated sentence about weather",
        "valve pump",
        "gasket seal pump valve flange",
    ]
    files = [indexed_file(owner, t, filename=f"{i}.txt") for i, t in enumerate(texts)]
    scope = [
        IndexedFile(i.file_id, i.version, i.chunk_count)
        for i in FileIndex.objects.filter(file__in=files)
    ]
    index, model = index_current(), embedder_current().key
    query = "Which valve gasket fits the pump flange?"

    whole = index.lexical_search(model=model, query=query, files=scope, limit=50)

    assert len(whole) == 10  # every chunk that shares a word, none that does not
    assert whole[0][0] == Chunk.objects.get(file=files[-1]).pk  # the only one with "flange"
    for k in range(1, len(whole) + 1):
        assert index.lexical_search(model=model, query=query, files=scope, limit=k) == whole[:k]
