"""Turning a file's pages into stored, searchable chunks (called by document processing)."""

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from knowledge.models import File
from retrieval.backends import index_current
from retrieval.batching import embed_batched
from retrieval.chunking import PieceOfText, chunks_of_sections, heading_line
from retrieval.embedders import Embedder, LocalEmbedder, embedder_current
from retrieval.errors import EmbeddingUnavailable, IndexingFailed
from retrieval.models import Chunk, FileIndex

logger = logging.getLogger(__name__)

#: Chunks of a file handed to the embedder at a time, in batches (RAG_EMBEDDING_BATCH_SIZE):
#: cancellation is checked and progress reported between slices. Several batches, so that the
#: local model's batcher can sort many chunks (of this file and of files indexed at the same
#: time) by length: less padding per pass.
SLICE_BATCHES = 8

__all__ = [
    "EmbeddingUnavailable",
    "IndexingCancelled",
    "IndexingFailed",
    "Page",
    "file_chunks_delete",
    "file_index",
]


@dataclass(frozen=True)
class Page:
    text: str
    page: int | None = None  # 1-based page number (PDF), None for other formats
    title: str = ""  # the document's title (HTML <title>, Markdown's first # heading)
    # (character offset, heading path) where each section of the text starts (HTML, Markdown)
    sections: tuple[tuple[int, tuple[str, ...]], ...] = ()


class IndexingCancelled(Exception):
    """Raised by file_index when its ``cancelled()`` turned true; nothing was changed."""


def file_index(
    *,
    file: File,
    pages: Sequence[Page],
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> int:
    """Chunk, embed and store the file's chunks with the current embedding model, replacing the
    file's earlier chunks in one transaction (never duplicated; old ones searchable until the new
    set commits). Safe to run twice. Returns the number of chunks.

    Raises EmbeddingUnavailable (transient), IndexingFailed (permanent: no text, file gone) and
    IndexingCancelled (``cancelled()`` turned true between two batches).
    """
    embedder = embedder_current()
    size = max(16, min(settings.CHUNK_SIZE, embedder.max_tokens - 2))
    overlap = min(settings.CHUNK_OVERLAP, size // 2)
    pieces: list[PieceOfText] = []
    contents: list[str] = []  # what is embedded and indexed: the heading line, then the text
    for p in pages:
        for piece in chunks_of_sections(
            text=p.text or "",
            page=p.page,
            title=p.title,
            sections=p.sections,
            offsets=embedder.offsets,
            size=size,
            overlap=overlap,
        ):
            line = (
                heading_line(p.title, piece.headings, piece.text)
                if settings.RAG_CHUNK_HEADINGS
                else ""
            )
            pieces.append(piece)
            contents.append(f"{line}\n\n{piece.text}" if line else piece.text)
    if not pieces:
        raise IndexingFailed("The file has no text to index.")
    total = len(pieces)
    step = SLICE_BATCHES * settings.RAG_EMBEDDING_BATCH_SIZE
    parts: list[np.ndarray] = []
    for start in range(0, total, step):
        if cancelled is not None and cancelled():
            raise IndexingCancelled()
        parts.append(_embed(embedder, contents[start : start + step]))
        if progress is not None:
            progress(min(start + step, total), total)
    if cancelled is not None and cancelled():
        raise IndexingCancelled()
    vectors = np.vstack(parts)
    if vectors.shape[0] != total:
        raise EmbeddingUnavailable("The embedder answered a wrong number of vectors.")
    dim = int(vectors.shape[1])
    index = index_current()
    index.prepare(model=embedder.key, dim=dim)
    chunks = [
        Chunk(
            file_id=file.pk,
            model=embedder.key,
            chunk_index=i,
            page=piece.page,
            char_start=piece.char_start,
            char_end=piece.char_end,
            content=contents[i],
            headings=list(piece.headings),
            embedding=vectors[i],
        )
        for i, piece in enumerate(pieces)
    ]
    try:
        with transaction.atomic():
            Chunk.objects.filter(file_id=file.pk).delete()
            Chunk.objects.bulk_create(chunks, batch_size=500)
            FileIndex.objects.update_or_create(
                file_id=file.pk,
                defaults={
                    "model": embedder.key,
                    "dim": dim,
                    "chunk_count": total,
                    "version": uuid.uuid4(),
                    "indexed_at": timezone.now(),
                },
            )
    except IntegrityError:
        if not File.objects.filter(pk=file.pk).exists():
            raise IndexingFailed("The file was deleted while it was being indexed.") from None
        raise
    index.forget([file.pk])
    index.written()
    return total


def _embed(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """The local model through the process's batcher (chunks of files indexed at the same time
    share forward passes); an embeddings server directly (it batches on its side)."""
    if isinstance(embedder, LocalEmbedder):
        batch = settings.RAG_EMBEDDING_BATCH_SIZE
        return embed_batched(embedder, texts, max_texts=4 * SLICE_BATCHES * batch)
    return embedder.embed(texts)


def file_chunks_delete(*, file_ids: Iterable[uuid.UUID]) -> None:
    """Remove the files' chunks and vectors (rows AND any in-process caches). Idempotent."""
    ids = [uuid.UUID(str(f)) for f in file_ids]
    if not ids:
        return
    with transaction.atomic():
        Chunk.objects.filter(file_id__in=ids).delete()
        FileIndex.objects.filter(file_id__in=ids).delete()
    index_current().forget(ids)
