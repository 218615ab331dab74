"""The two indexes behind one interface, chosen by the database vendor.

- ``InProcessIndex`` (SQLite, the embedded default): vectors are float32 BLOBs in the chunk
  table, searched with numpy from matrices each process keeps in memory per file; SQLite FTS5
  (kept in step by triggers) for the lexical side.
- ``PgvectorIndex`` (PostgreSQL): a pgvector column with one partial HNSW index (cosine) per
  embedding model, and a generated ``tsvector`` column with a GIN index for the lexical side.

Both return ``(chunk_id, score)`` pairs, best first: cosine similarity for vectors, the
engine's own relevance (bm25 / ts_rank_cd) for words.
"""

import hashlib
import logging
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from retrieval.fields import vector_literal
from retrieval.models import Chunk, FileIndex

logger = logging.getLogger(__name__)
HNSW_MAX_DIM = 2000

_WORD = re.compile(r"\w+", re.UNICODE)
# PostgreSQL's English stop words (its `english` text search configuration drops the same), so
# both lexical sides ignore "how do I ..." alike.
STOP_WORDS = frozenset(
    [
        "i",
        "me",
        "my",
        "myself",
        "we",
        "our",
        "ours",
        "ourselves",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "he",
        "him",
        "his",
        "himself",
        "she",
        "her",
        "hers",
        "herself",
        "it",
        "its",
        "itself",
        "they",
        "them",
        "their",
        "theirs",
        "themselves",
        "what",
        "which",
        "who",
        "whom",
        "this",
        "that",
        "these",
        "those",
        "am",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "have",
        "has",
        "had",
        "having",
        "do",
        "does",
        "did",
        "doing",
        "a",
        "an",
        "the",
        "and",
        "but",
        "if",
        "or",
        "because",
        "as",
        "until",
        "while",
        "of",
        "at",
        "by",
        "for",
        "with",
        "about",
        "against",
        "between",
        "into",
        "through",
        "during",
        "before",
        "after",
        "above",
        "below",
        "to",
        "from",
        "up",
        "down",
        "in",
        "out",
        "on",
        "off",
        "over",
        "under",
        "again",
        "further",
        "then",
        "once",
        "here",
        "there",
        "when",
        "where",
        "why",
        "how",
        "all",
        "any",
        "both",
        "each",
        "few",
        "more",
        "most",
        "other",
        "some",
        "such",
        "no",
        "nor",
        "not",
        "only",
        "own",
        "same",
        "so",
        "than",
        "too",
        "very",
        "s",
        "t",
        "can",
        "will",
        "just",
        "don",
        "should",
        "now",
    ]
)


def query_words(query: str, limit: int = 64) -> list[str]:
    """The words of a query, deduplicated, stop words left out unless there is nothing else,
    as the SQLite side searches them (never the user's query syntax: quotes, operators and
    parentheses are just text)."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        seen.setdefault(word, None)
    words = [w for w in seen if w not in STOP_WORDS] or list(seen)
    return words[:limit]


@dataclass(frozen=True)
class IndexedFile:
    file_id: uuid.UUID
    version: uuid.UUID
    chunk_count: int


class Index(Protocol):
    def vector_search(
        self, *, model: str, vector: np.ndarray, files: Sequence[IndexedFile], limit: int
    ) -> list[tuple[int, float]]: ...

    def lexical_search(
        self, *, model: str, query: str, files: Sequence[IndexedFile], limit: int
    ) -> list[tuple[int, float]]: ...

    def prepare(self, *, model: str, dim: int) -> None: ...

    def forget(self, file_ids: Sequence[uuid.UUID]) -> None: ...

    def written(self) -> None: ...


# --- embedded default ---------------------------------------------------------------------------


@dataclass
class _Matrix:
    version: uuid.UUID
    ids: np.ndarray  # int64 chunk ids
    vectors: np.ndarray  # float32 (n, dim), normalized

    @property
    def nbytes(self) -> int:
        return self.ids.nbytes + self.vectors.nbytes


class InProcessIndex:
    """Per-file matrices, least recently used out past RAG_VECTOR_CACHE_MB. Each query compares
    the files' versions (read from FileIndex in the same query that finds the scope) with the
    cached ones, so a file re-indexed or deleted by another process is reloaded or dropped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._matrices: OrderedDict[tuple[uuid.UUID, str], _Matrix] = OrderedDict()
        self._bytes = 0

    def _load(self, model: str, files: Sequence[IndexedFile]) -> dict[uuid.UUID, _Matrix]:
        wanted = {f.file_id: f for f in files}
        for _attempt in range(3):
            rows = (
                Chunk.objects.filter(file_id__in=list(wanted), model=model)
                .order_by("file_id", "chunk_index")
                .values_list("file_id", "id", "embedding")
            )
            grouped: dict[uuid.UUID, tuple[list[int], list[np.ndarray]]] = {}
            for file_id, chunk_id, vector in rows:
                ids, vectors = grouped.setdefault(file_id, ([], []))
                ids.append(chunk_id)
                vectors.append(vector)
            # The chunks belong to the versions read before only if no commit came between.
            now = dict(
                FileIndex.objects.filter(file_id__in=list(wanted), model=model).values_list(
                    "file_id", "version"
                )
            )
            if all(now.get(fid) == f.version for fid, f in wanted.items()):
                break
            wanted = {
                fid: IndexedFile(fid, now[fid], f.chunk_count)
                for fid, f in wanted.items()
                if fid in now
            }
        out = {}
        for file_id, f in wanted.items():
            ids, vectors = grouped.get(file_id, ([], []))
            if not ids:
                continue
            out[file_id] = _Matrix(
                f.version, np.asarray(ids, dtype=np.int64), np.vstack(vectors).astype(np.float32)
            )
        return out

    def _matrices_for(self, model: str, files: Sequence[IndexedFile]) -> list[_Matrix]:
        found: list[_Matrix] = []
        missing: list[IndexedFile] = []
        with self._lock:
            for f in files:
                cached = self._matrices.get((f.file_id, model))
                if cached is not None and cached.version == f.version:
                    self._matrices.move_to_end((f.file_id, model))
                    found.append(cached)
                else:
                    missing.append(f)
        if missing:
            loaded = self._load(model, missing)
            found.extend(loaded.values())
            with self._lock:
                for file_id, matrix in loaded.items():
                    self._put((file_id, model), matrix)
        return found

    def _put(self, key: tuple[uuid.UUID, str], matrix: _Matrix) -> None:
        old = self._matrices.pop(key, None)
        if old is not None:
            self._bytes -= old.nbytes
        self._matrices[key] = matrix
        self._bytes += matrix.nbytes
        budget = settings.RAG_VECTOR_CACHE_MB * 1024 * 1024
        while self._bytes > budget and len(self._matrices) > 1:
            _, dropped = self._matrices.popitem(last=False)
            self._bytes -= dropped.nbytes

    def forget(self, file_ids: Sequence[uuid.UUID]) -> None:
        drop = set(file_ids)
        with self._lock:
            for key in [k for k in self._matrices if k[0] in drop]:
                self._bytes -= self._matrices.pop(key).nbytes

    def written(self) -> None:
        return

    def clear(self) -> None:
        with self._lock:
            self._matrices.clear()
            self._bytes = 0

    def vector_search(
        self, *, model: str, vector: np.ndarray, files: Sequence[IndexedFile], limit: int
    ) -> list[tuple[int, float]]:
        matrices = [
            m for m in self._matrices_for(model, files) if m.vectors.shape[1] == len(vector)
        ]
        if not matrices:
            return []
        scores = np.concatenate([m.vectors @ vector for m in matrices])
        ids = np.concatenate([m.ids for m in matrices])
        if limit < len(scores):
            top = np.argpartition(-scores, limit)[:limit]
        else:
            top = np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(ids[i]), float(scores[i])) for i in top]

    def lexical_search(
        self, *, model: str, query: str, files: Sequence[IndexedFile], limit: int
    ) -> list[tuple[int, float]]:
        words = query_words(query)
        if not words or not files:
            return []
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
        marks = ",".join(["%s"] * len(files))
        sql = (
            # Only placeholders are formatted in.
            "SELECT f.rowid, -bm25(retrieval_chunk_fts) AS rank "  # noqa: S608
            "FROM retrieval_chunk_fts f "
            "JOIN retrieval_chunk c ON c.id = f.rowid "
            f"WHERE retrieval_chunk_fts MATCH %s AND c.model = %s AND c.file_id IN ({marks}) "
            "ORDER BY rank DESC LIMIT %s"
        )
        params = [match, model, *[f.file_id.hex for f in files], limit]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [(int(r[0]), float(r[1])) for r in cursor.fetchall()]

    def prepare(self, *, model: str, dim: int) -> None:
        return


# --- PostgreSQL + pgvector ----------------------------------------------------------------------


# The lexical ranking's tie-break on PostgreSQL: TIE_BREAK x ts_rank_cd, capped at RANK_CD_MAX
# (bench/'s set of real manuals peaks at 4.4), so that a chunk whose idf score is more than
# TIE_BREAK x RANK_CD_MAX under the limit-th best can be left unread: it cannot overtake.
TIE_BREAK = 0.01
RANK_CD_MAX = 10.0
# The chunk table is analyzed after a write once this share of its rows (and at least this
# many) changed since its statistics were taken (PgvectorIndex.written).
STATS_STALE_SHARE = 0.2
STATS_STALE_MIN = 200
STATS_LOCK = 0x7265_7472_6965_7661  # an advisory lock key of our own ("retrieva")
INSUFFICIENT_PRIVILEGE = "42501"


class PgvectorIndex:
    def __init__(self) -> None:
        self._prepared: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._upkeep = True

    @staticmethod
    def index_name(model: str, dim: int) -> str:
        return "retrieval_chunk_hnsw_" + hashlib.sha1(f"{model}|{dim}".encode()).hexdigest()[:16]  # noqa: S324

    def prepare(self, *, model: str, dim: int) -> None:
        """Make sure the model's partial HNSW index exists (created once, by the first file).

        pgvector's HNSW takes at most 2,000 dimensions: a larger model gets no index, and its
        searches scan the scope's rows exactly (correct, slower for large scopes)."""
        with self._lock:
            if (model, dim) in self._prepared:
                return
        if dim > HNSW_MAX_DIM:
            logger.warning("embedding model %s has %d dimensions: no HNSW index", model, dim)
            with self._lock:
                self._prepared.add((model, dim))
            return
        with connection.cursor() as cursor:
            literal = model.replace("'", "''")
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {self.index_name(model, int(dim))} ON retrieval_chunk "
                f"USING hnsw ((embedding::vector({int(dim)})) vector_cosine_ops) "
                f"WHERE model = '{literal}'"
            )
        with self._lock:
            self._prepared.add((model, dim))

    def forget(self, file_ids: Sequence[uuid.UUID]) -> None:
        return

    def written(self) -> None:
        """After a file's chunks were stored: keep what searches read fresh.

        - The GIN index's pending list is merged into it. New rows' lexemes wait in that list
          (``fastupdate``) until autovacuum or 4 MB of them, and every lexical search reads the
          whole list: after bench/'s 200 pages (113 pending pages) the lexical query took
          32.8 / 77.1 ms p50 / p99, and 4.4 / 10.3 once merged. Merging one file's rows in one
          go keeps the bulk insert ``fastupdate`` is for.
        - The table is analyzed when much of it changed since the planner's statistics were
          taken (STATS_STALE_SHARE of its rows, at least STATS_STALE_MIN): autovacuum would
          do it a minute or more later, and meanwhile the first collection uploaded was
          searched with an empty table's statistics (lexical query 40.7 / 83.6 ms). One
          process analyzes at a time; the others go on.
        """
        if not self._upkeep:
            return
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT gin_clean_pending_list('retrieval_chunk_tsv'::regclass)")
                cursor.execute(
                    "SELECT n_mod_since_analyze, n_live_tup FROM pg_stat_user_tables "
                    "WHERE relid = 'retrieval_chunk'::regclass"
                )
                row = cursor.fetchone()
                if row is None or row[0] < max(STATS_STALE_MIN, STATS_STALE_SHARE * row[1]):
                    return
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [STATS_LOCK])
                if cursor.fetchone()[0]:
                    cursor.execute("ANALYZE retrieval_chunk")
        except DatabaseError as exc:
            logger.warning("could not maintain retrieval_chunk; autovacuum will", exc_info=True)
            if getattr(exc.__cause__, "sqlstate", None) == INSUFFICIENT_PRIVILEGE:
                self._upkeep = False  # a role that may write the table but not maintain it

    def vector_search(
        self, *, model: str, vector: np.ndarray, files: Sequence[IndexedFile], limit: int
    ) -> list[tuple[int, float]]:
        if not files:
            return []
        dim = len(vector)
        literal = vector_literal(vector)
        total = sum(f.chunk_count for f in files)
        sql = (
            # dim is an int; the rest are placeholders.
            f"SELECT id, 1 - (embedding::vector({dim}) <=> %s::vector({dim})) "  # noqa: S608
            "FROM retrieval_chunk "
            "WHERE model = %s AND file_id = ANY(%s) "
            f"ORDER BY embedding::vector({dim}) <=> %s::vector({dim}) LIMIT %s"
        )
        params = [literal, model, [f.file_id for f in files], literal, limit]
        if total <= settings.RAG_EXACT_SCAN_MAX_CHUNKS:
            # A small scope: read its rows by the file index and sort them exactly.
            knobs = {"enable_indexscan": "off"}
        else:
            # HNSW with a filter: keep scanning the graph until enough rows pass it (pgvector
            # 0.8's iterative scans).
            ef_search = max(settings.RAG_HNSW_EF_SEARCH, 2 * limit)
            knobs = {"hnsw.iterative_scan": "relaxed_order", "hnsw.ef_search": str(ef_search)}
        with transaction.atomic(), connection.cursor() as cursor:
            for name, value in knobs.items():
                cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
            cursor.execute(sql, params)
            rows = [(int(r[0]), float(r[1])) for r in cursor.fetchall()]
            # Transaction-local, but a caller's outer transaction would keep them: undo (an
            # error instead rolls the savepoint, and them, back).
            for name in knobs:
                cursor.execute(f"SET LOCAL {name} TO DEFAULT")
        rows.sort(key=lambda r: -r[1])  # relaxed order: nearly sorted
        return rows

    def lexical_search(
        self, *, model: str, query: str, files: Sequence[IndexedFile], limit: int
    ) -> list[tuple[int, float]]:
        words = query_words(query)
        if not words or not files:
            return []
        # PostgreSQL's own parser reads the query as it read the chunks (so "QX-1871" gives the
        # same lexemes on both sides). ts_rank_cd knows no word rarity, so chunks are ranked by
        # BM25's idf of the query's lexemes they contain (document frequencies counted in the
        # scope), plus a hundredth of ts_rank_cd (capped at RANK_CD_MAX) to break ties: a rare
        # code outranks "part".
        # One index scan per lexeme gives its postings (lexeme, chunk) in the scope: their counts
        # are the document frequencies and their sums the idf scores, without reading a single
        # tsvector. Only chunks that can still reach the top ``limit`` (idf score within the
        # capped tie-break of the limit-th best) are read for ts_rank_cd: ranking every chunk
        # that shares any word with the question read each one's tsvector out of TOAST (3,553
        # candidates of 4,698 chunks: 89 ms, against 4 ms; same rankings on bench/'s set).
        # The postings and scores are MATERIALIZED: inlined, PostgreSQL would redo them per row.
        total = sum(f.chunk_count for f in files)
        sql = (
            "WITH terms AS (SELECT DISTINCT lexeme, quote_literal(lexeme)::tsquery AS tq "
            "  FROM unnest(tsvector_to_array(to_tsvector('english', %(q)s))) AS lexeme), "
            "postings AS MATERIALIZED (SELECT t.lexeme, c.id FROM terms t CROSS JOIN LATERAL "
            "  (SELECT c.id FROM retrieval_chunk c WHERE c.tsv @@ t.tq AND c.model = %(m)s "
            "   AND c.file_id = ANY(%(f)s)) c), "
            "idf AS (SELECT lexeme, ln(1 + (%(total)s - count(*) + 0.5) / (count(*) + 0.5)) AS w "
            "  FROM postings GROUP BY lexeme), "
            "scored AS MATERIALIZED (SELECT p.id, sum(idf.w) AS s "
            "  FROM postings p JOIN idf USING (lexeme) GROUP BY p.id), "
            "cut AS (SELECT s FROM scored ORDER BY s DESC LIMIT 1 OFFSET %(limit)s - 1), "
            "q AS (SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery AS query FROM terms) "
            "SELECT c.id, "
            "  scored.s + %(tie)s * least(ts_rank_cd(c.tsv, q.query), %(cd_max)s) AS rank "
            "FROM scored JOIN retrieval_chunk c ON c.id = scored.id CROSS JOIN q "
            "WHERE scored.s >= coalesce((SELECT s FROM cut), 0) - %(tie)s * %(cd_max)s "
            "ORDER BY rank DESC, c.id LIMIT %(limit)s"
        )
        params = {
            "q": query,
            "m": model,
            "f": [f.file_id for f in files],
            "total": float(max(total, 1)),
            "limit": limit,
            "tie": TIE_BREAK,
            "cd_max": RANK_CD_MAX,
        }
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [(int(r[0]), float(r[1])) for r in cursor.fetchall()]


_in_process = InProcessIndex()
_pgvector = PgvectorIndex()


def index_current() -> Index:
    return _pgvector if connection.vendor == "postgresql" else _in_process
