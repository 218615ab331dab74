"""Indexing through the contract's functions: chunks replace, never duplicate; deletes cascade."""

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from knowledge.models import File, Knowledge
from retrieval.errors import IndexingFailed
from retrieval.indexing import IndexingCancelled, Page, file_chunks_delete, file_index
from retrieval.models import Chunk, FileIndex
from retrieval.search import chunks_search
from users.models import User

PARAGRAPHS = [
    "Penguins live in the southern hemisphere and cannot fly.",
    "The Eiffel Tower was finished in 1889 for the World's Fair in Paris.",
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen.",
]


def test_index_stores_chunks_with_their_source(owner: User, make_file: Callable[..., File]) -> None:
    file = make_file(owner, "facts.pdf")
    progress: list[tuple[int, int]] = []

    count = file_index(
        file=file,
        pages=[Page(PARAGRAPHS[0], 1), Page(PARAGRAPHS[1], 2)],
        progress=lambda done, total: progress.append((done, total)),
    )

    assert count == 2
    chunks = list(Chunk.objects.filter(file=file).order_by("chunk_index"))
    assert [(c.chunk_index, c.page, c.content) for c in chunks] == [
        (0, 1, PARAGRAPHS[0]),
        (1, 2, PARAGRAPHS[1]),
    ]
    assert (chunks[0].char_start, chunks[0].char_end) == (0, len(PARAGRAPHS[0]))
    assert chunks[0].model == "local:all-MiniLM-L6-v2"
    assert chunks[0].embedding.shape == (384,)
    assert progress[-1] == (2, 2)


def test_indexing_twice_replaces_and_never_duplicates(
    owner: User, make_file: Callable[..., File]
) -> None:
    file = make_file(owner)
    file_index(file=file, pages=[Page("\n\n".join(PARAGRAPHS))])
    first = FileIndex.objects.get(file=file).version
    file_index(file=file, pages=[Page(PARAGRAPHS[2])])

    assert list(Chunk.objects.filter(file=file).values_list("content", flat=True)) == [
        PARAGRAPHS[2]
    ]
    assert FileIndex.objects.get(file=file).version != first
    result = chunks_search(user=owner, query="Eiffel Tower", file_ids=[str(file.pk)])
    assert [h.content for h in result.hits] == [PARAGRAPHS[2]]  # the old text is gone


def test_search_sees_the_new_chunks_after_reindex(
    owner: User, indexed_file: Callable[..., File]
) -> None:
    file = indexed_file(owner, PARAGRAPHS[0])
    assert chunks_search(user=owner, query="penguins", file_ids=[str(file.pk)]).hits
    file_index(file=file, pages=[Page(PARAGRAPHS[1])])  # cached matrix must be dropped

    hits = chunks_search(user=owner, query="penguins", file_ids=[str(file.pk)]).hits
    assert [h.content for h in hits] == [PARAGRAPHS[1]]


def test_a_file_without_text_fails_permanently(owner: User, make_file: Callable[..., File]) -> None:
    with pytest.raises(IndexingFailed, match="no text"):
        file_index(file=make_file(owner), pages=[Page("   \n\n "), Page("")])


def test_cancelled_indexing_keeps_the_old_chunks(
    owner: User, indexed_file: Callable[..., File]
) -> None:
    file = indexed_file(owner, PARAGRAPHS[0])
    with pytest.raises(IndexingCancelled):
        file_index(file=file, pages=[Page(PARAGRAPHS[1])], cancelled=lambda: True)
    assert list(Chunk.objects.filter(file=file).values_list("content", flat=True)) == [
        PARAGRAPHS[0]
    ]


def test_chunks_delete_is_idempotent_and_unsearchable(
    owner: User, indexed_file: Callable[..., File]
) -> None:
    file = indexed_file(owner, PARAGRAPHS[0])
    assert chunks_search(user=owner, query="penguins", file_ids=[str(file.pk)]).hits

    file_chunks_delete(file_ids=[file.pk])
    file_chunks_delete(file_ids=[file.pk])

    assert not Chunk.objects.filter(file=file).exists()
    result = chunks_search(user=owner, query="penguins", file_ids=[str(file.pk)])
    assert result.hits == []
    assert result.pending_file_ids == [file.pk]


def test_deleting_the_file_or_the_user_removes_the_chunks(
    owner: User, indexed_file: Callable[..., File]
) -> None:
    file = indexed_file(owner, PARAGRAPHS[0])
    other = indexed_file(owner, PARAGRAPHS[1])
    file.delete()
    assert not Chunk.objects.filter(file_id=file.pk).exists()
    assert Chunk.objects.filter(file=other).exists()
    owner.delete()
    assert not Chunk.objects.exists()
    assert not FileIndex.objects.exists()


def test_the_dashboard_counts_chunks(
    admin_user: User, owner: User, indexed_file: Callable[..., File], client_of: Callable
) -> None:
    indexed_file(owner, PARAGRAPHS[0], PARAGRAPHS[1])
    response = client_of(admin_user).get("/api/admin/stats")
    assert response.json()["counts"]["chunks"] == 2


def test_chunks_know_their_section_and_the_heading_line_is_searchable(
    owner: User,
    make_file: Callable[..., File],
    make_knowledge: Callable[..., Knowledge],
    client_of: Callable[[User], APIClient],
) -> None:
    text = (
        "Quokka care\n\nThe basics of keeping one.\n\n"
        "Feeding\n\nGive leaves twice a day.\n\n"
        "Water\n\nA shallow bowl, changed daily."
    )
    feeding, water = text.index("Feeding"), text.index("Water")
    file = make_file(owner, "care.html")
    page = Page(
        text,
        title="Marsupial handbook",
        sections=((0, ()), (feeding, ("Feeding",)), (water, ("Feeding", "Water"))),
    )

    file_index(file=file, pages=[page])

    chunks = list(Chunk.objects.filter(file=file).order_by("chunk_index"))
    assert [c.headings for c in chunks] == [[], ["Feeding"], ["Feeding", "Water"]]
    # The heading path leads the chunk (the innermost heading is already its first line).
    assert chunks[0].content.startswith("Marsupial handbook\n\nQuokka care")
    assert chunks[2].content.startswith("Marsupial handbook \u203a Feeding\n\nWater\n\nA shallow")
    assert text[chunks[2].char_start : chunks[2].char_end].startswith("Water")  # offsets: page
    # The API shows each result's headings.
    knowledge = make_knowledge(owner, file)
    response = client_of(owner).post(
        "/api/retrieval/query",
        {"query": "marsupial handbook bowl", "knowledge_ids": [str(knowledge.pk)]},
        format="json",
    )
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert len(results) == 3
    assert results[0]["metadata"]["headings"] == ["Feeding", "Water"]
