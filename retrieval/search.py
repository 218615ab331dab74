"""Searching the chunks of the collections and files a user may read.

Scores are in [0, 1], higher is better:

- vector only (``hybrid=False``): the cosine similarity of query and chunk, below 0 shown as 0;
- hybrid (the default): weighted reciprocal rank fusion of the vector ranking (weight 1) and
  the lexical ranking (weight RAG_LEXICAL_WEIGHT, default 0.5; lexical candidates under
  RAG_LEXICAL_MIN_RELATIVE of the best lexical score left out), ``sum(weight / (RRF_K +
  rank))`` with RRF_K = 60, divided by its maximum ``(1 + weight) / (RRF_K + 1)``: 1.0 is a
  chunk ranked first by both. Then documents are ranked (``_by_document``: a file's best chunk
  plus RAG_DOCUMENT_SUM_WEIGHT, 0 by default, of its others) and each file gives the top
  results its best chunk before any file gives a second. The constants were chosen on
  bench/'s labelled sets (bench/README.md).
- hybrid with an external reranker (``RAG_RERANKING_ENGINE=external``, retrieval/reranking.py):
  the best RAG_RERANKING_CANDIDATES fused chunks (at least ``top_k``) in the reranker's order,
  its scores clamped to [0, 1] as theirs, then by document as above; if the reranker fails,
  the fused order.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings

from knowledge.errors import FileNotFound
from knowledge.models import KnowledgeFile
from knowledge.selectors import files_readable_by, knowledge_ids_readable
from retrieval.backends import IndexedFile, index_current
from retrieval.embedders import embedder_current
from retrieval.errors import EmbeddingUnavailable
from retrieval.models import Chunk, FileIndex
from retrieval.reranking import Reranker, reranker_current
from users.models import User

RRF_K = 60
# How much the lexical ranking counts against the vector ranking in the fusion, and the share
# of the best lexical score under which a lexical candidate is left out (a chunk that shares
# only a common word with the query is not evidence): settings RAG_LEXICAL_WEIGHT and
# RAG_LEXICAL_MIN_RELATIVE, tuned on bench/ (bench/README.md).
# Candidates each side brings to the fusion, per result asked for (at least CANDIDATES_MIN).
CANDIDATES_PER_RESULT = 4
CANDIDATES_MIN = 20
TOP_K_MAX = 50
# The embedding model reads its first 256 tokens anyway; the lexical side gets this much.
QUERY_MAX_CHARS = 4000


@dataclass(frozen=True)
class Hit:
    content: str
    score: float
    file_id: uuid.UUID
    filename: str
    knowledge_id: uuid.UUID | None
    page: int | None
    chunk_index: int
    headings: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """As ``/api/retrieval/query`` shows a result (and completions their ``sources``)."""
        return {
            "content": self.content,
            "score": self.score,
            "metadata": {
                "file_id": str(self.file_id),
                "filename": self.filename,
                "knowledge_id": str(self.knowledge_id) if self.knowledge_id else None,
                "page": self.page,
                "chunk_index": self.chunk_index,
                "headings": list(self.headings),
            },
        }

    def as_quote(self) -> dict[str, Any]:
        """As FastGPT's ``quoteList`` shows a quote."""
        return {
            "id": f"{self.file_id}:{self.chunk_index}",
            "q": self.content,
            "a": "",
            "source": self.filename,
            "sourceId": str(self.file_id),
            "datasetId": str(self.knowledge_id) if self.knowledge_id else None,
            "score": self.score,
        }


Scope = dict[uuid.UUID, uuid.UUID | None]  # file id -> the collection it was reached through


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    pending_file_ids: list[uuid.UUID]  # files in scope not (yet) indexed with the current model


def _uuids(values: Sequence[str]) -> list[uuid.UUID]:
    """The file ids as UUIDs, each once; a malformed one is FileNotFound."""
    out = []
    for value in values:
        try:
            out.append(uuid.UUID(str(value)))
        except (ValueError, TypeError, AttributeError):
            raise FileNotFound() from None
    return list(dict.fromkeys(out))


def scope_resolve(
    *,
    user: User,
    knowledge_ids: Sequence[str],
    file_ids: Sequence[str] = (),
    lenient: bool = False,
) -> Scope:
    """file id -> the collection it was reached through (None for files asked for by id).

    Raises KnowledgeNotFound / FileNotFound for any id the user may not read, is missing or
    malformed: the same answer for "not yours" and "no such thing". ``lenient`` leaves such
    collections out instead (a custom model's, some deleted since it was made)."""
    k_ids = knowledge_ids_readable(user=user, knowledge_ids=knowledge_ids, lenient=lenient)
    f_ids = _uuids(file_ids)
    if f_ids:
        readable = set(files_readable_by(user).filter(pk__in=f_ids).values_list("pk", flat=True))
        if len(readable) != len(f_ids):
            raise FileNotFound()
    scope: Scope = dict.fromkeys(f_ids)
    if k_ids:
        order = {k: i for i, k in enumerate(k_ids)}
        pairs = KnowledgeFile.objects.filter(knowledge_id__in=k_ids).values_list(
            "file_id", "knowledge_id"
        )
        for file_id, knowledge_id in sorted(pairs, key=lambda p: order[p[1]]):
            if scope.get(file_id) is None:
                scope[file_id] = knowledge_id
    return scope


def _fuse(rankings: Sequence[tuple[float, list[tuple[int, float]]]]) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion, normalized so that 1.0 is first in every ranking."""
    fused: dict[int, float] = {}
    for weight, ranking in rankings:
        for rank, (chunk_id, _score) in enumerate(ranking, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (RRF_K + rank)
    best = sum(weight for weight, _ in rankings) / (RRF_K + 1) or 1.0
    return sorted(((cid, s / best) for cid, s in fused.items()), key=lambda r: -r[1])


def ranked_chunks(
    *,
    model: str,
    vector: np.ndarray | None,
    query: str,
    files: Sequence[IndexedFile],
    limit: int,
    mode: str,
) -> list[tuple[int, float]]:
    """(chunk id, score) best first; ``mode`` is "hybrid", "vector" or "lexical" (benchmarks)."""
    index = index_current()
    candidates = max(CANDIDATES_MIN, CANDIDATES_PER_RESULT * limit)
    if mode == "lexical":
        ranking = index.lexical_search(model=model, query=query, files=files, limit=limit)
        top = ranking[0][1] if ranking else 1.0
        return [(cid, s / top if top > 0 else 0.0) for cid, s in ranking]
    if vector is None:
        raise ValueError("vector and hybrid ranking need the query's vector")
    if mode == "vector":
        ranking = index.vector_search(model=model, vector=vector, files=files, limit=limit)
        return [(cid, min(1.0, max(0.0, s))) for cid, s in ranking]
    by_vector = index.vector_search(model=model, vector=vector, files=files, limit=candidates)
    by_words = index.lexical_search(model=model, query=query, files=files, limit=candidates)
    if by_words and by_words[0][1] > 0:
        floor = settings.RAG_LEXICAL_MIN_RELATIVE * by_words[0][1]
        by_words = [(cid, s) for cid, s in by_words if s >= floor]
    fused = _fuse([(1.0, by_vector), (settings.RAG_LEXICAL_WEIGHT, by_words)])
    if settings.RAG_CHUNKS_PER_DOCUMENT:
        chunks = Chunk.objects.filter(pk__in=[cid for cid, _ in fused])
        fused = _by_document(fused, dict(chunks.values_list("id", "file_id")))
    return fused[:limit]


def _by_document(
    fused: list[tuple[int, float]], file_of: dict[int, Any]
) -> list[tuple[int, float]]:
    """Documents ranked, not only chunks: a file's evidence is its best chunk plus a small
    share (RAG_DOCUMENT_SUM_WEIGHT) of its other candidates' scores; the results give each
    file, best first, its RAG_CHUNKS_PER_DOCUMENT best chunks, then the remaining chunks by
    score (so the top results are not five chunks of one page when other pages also match).
    Scores stay the chunks' own, capped so that they never rise down the list. Chunks missing
    from ``file_of`` (replaced meanwhile) are left out."""
    per_file: dict[Any, list[tuple[int, float]]] = {}
    for cid, score in fused:
        if cid in file_of:
            per_file.setdefault(file_of[cid], []).append((cid, score))
    weight = settings.RAG_DOCUMENT_SUM_WEIGHT
    ranked_files = sorted(
        per_file.values(),
        key=lambda hits: -(hits[0][1] + weight * sum(s for _, s in hits[1:])),
    )
    take = settings.RAG_CHUNKS_PER_DOCUMENT
    first = [hit for hits in ranked_files for hit in hits[:take]]
    taken = {cid for cid, _ in first}
    rest = [(cid, s) for cid, s in fused if cid not in taken and cid in file_of]
    out, ceiling = [], 1.0
    for cid, score in [*first, *rest]:
        ceiling = min(ceiling, score)
        out.append((cid, ceiling))
    return out


def _reranked(
    reranker: Reranker, query: str, ranked: list[tuple[int, float]], by_id: dict[int, Chunk]
) -> list[tuple[int, float]]:
    """The candidates in the reranker's order, its scores (clamped to [0, 1]) as theirs, then
    ranked by document as the fusion is; the fused order as it was if the reranker failed."""
    ranked = [(cid, s) for cid, s in ranked if cid in by_id]
    if len(ranked) < 2:
        return ranked
    scores = reranker.scores(query, [by_id[cid].content for cid, _ in ranked])
    if scores is None:
        return ranked
    order = sorted(range(len(ranked)), key=lambda i: -scores[i])  # stable: ties keep fused order
    reranked = [(ranked[i][0], min(1.0, max(0.0, scores[i]))) for i in order]
    if settings.RAG_CHUNKS_PER_DOCUMENT:
        reranked = _by_document(reranked, {cid: by_id[cid].file_id for cid, _ in reranked})
    return reranked


def chunks_search(
    *,
    user: User,
    query: str,
    knowledge_ids: Sequence[str] = (),
    file_ids: Sequence[str] = (),
    top_k: int = 5,
    hybrid: bool = True,
    min_score: float = 0.0,
) -> SearchResult:
    """The ``top_k`` chunks of the collections and files the user named that best answer
    ``query``, with their sources. Ids the user may not read (or malformed, or missing) raise
    KnowledgeNotFound / FileNotFound (404). Files in scope that are not indexed with the current
    embedding model yet are searched without (``pending_file_ids`` lists them). Raises
    EmbeddingUnavailable (502) when the query cannot be embedded."""
    scope = scope_resolve(user=user, knowledge_ids=knowledge_ids, file_ids=file_ids)
    return scope_search(scope=scope, query=query, top_k=top_k, hybrid=hybrid, min_score=min_score)


def scope_search(
    *,
    scope: Scope,
    query: str,
    top_k: int = 5,
    hybrid: bool = True,
    min_score: float = 0.0,
) -> SearchResult:
    """``chunks_search`` over a scope already resolved (and checked) by ``scope_resolve``."""
    top_k = max(1, min(int(top_k), TOP_K_MAX))
    query = query[:QUERY_MAX_CHARS]  # callers other than the API (completions) pass whole messages
    if not scope:
        return SearchResult(hits=[], pending_file_ids=[])
    embedder = embedder_current()
    indexed: dict[uuid.UUID, IndexedFile] = {}
    dims = set()
    for file_id, version, chunk_count, dim in FileIndex.objects.filter(
        file_id__in=list(scope), model=embedder.key
    ).values_list("file_id", "version", "chunk_count", "dim"):
        indexed[file_id] = IndexedFile(file_id, version, chunk_count)
        dims.add(dim)
    pending = [f for f in scope if f not in indexed]
    if not indexed or not query.strip():
        return SearchResult(hits=[], pending_file_ids=pending)
    vector = embedder.for_query().embed([query])[0]
    if dims and dims != {len(vector)}:
        raise EmbeddingUnavailable(
            f"The embedding server answered vectors of {len(vector)} dimensions; "
            f"the index holds {sorted(dims)[0]}."
        )
    reranker = reranker_current() if hybrid else None
    ranked = ranked_chunks(
        model=embedder.key,
        vector=vector,
        query=query,
        files=list(indexed.values()),
        limit=max(top_k, settings.RAG_RERANKING_CANDIDATES) if reranker else top_k,
        mode="hybrid" if hybrid else "vector",
    )
    if not reranker:
        ranked = [(cid, s) for cid, s in ranked if s >= min_score]
    chunks = (
        Chunk.objects.filter(pk__in=[cid for cid, _ in ranked])
        .select_related("file")
        .only("id", "content", "page", "chunk_index", "headings", "file_id", "file__filename")
    )
    by_id = {c.pk: c for c in chunks}
    if reranker:
        ranked = _reranked(reranker, query, ranked, by_id)[:top_k]
        ranked = [(cid, s) for cid, s in ranked if s >= min_score]
    hits = [
        Hit(
            content=by_id[cid].content,
            score=round(score, 6),
            file_id=by_id[cid].file_id,
            filename=by_id[cid].file.filename,
            knowledge_id=scope.get(by_id[cid].file_id),
            page=by_id[cid].page,
            chunk_index=by_id[cid].chunk_index,
            headings=tuple(by_id[cid].headings or ()),
        )
        for cid, score in ranked
        if cid in by_id  # a chunk replaced meanwhile is left out
    ]
    return SearchResult(hits=hits, pending_file_ids=pending)
