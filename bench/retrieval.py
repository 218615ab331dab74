"""Retrieval benchmarks, run in process against a real database (no HTTP, except `memory`).

    .venv/bin/python bench/retrieval.py quality      # recall@5 and MRR: vector, lexical, hybrid
    .venv/bin/python bench/retrieval.py scale        # query p50/p99 at 10,000 and 100,000 chunks
    .venv/bin/python bench/retrieval.py throughput   # local model: chunks embedded per second
    .venv/bin/python bench/retrieval.py memory       # RSS of a web process without/with the model

With DATABASE_URL set (a database of its own: the script migrates it) it runs on PostgreSQL +
pgvector, else on SQLite in a temporary DATA_DIR. Rows it makes belong to a throwaway user that
is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR.parent), str(BENCH_DIR)]

from harness import loadavg, mode  # noqa: E402

if "DATABASE_URL" not in os.environ:
    os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="bench-retrieval-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webui_backend.settings")


def setup_django() -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def bench_user():  # type: ignore[no-untyped-def]
    from users.models import User

    return User.objects.create(email=f"bench-{uuid.uuid4().hex[:8]}@example.com", name="Bench")


def make_file(user, name: str):  # type: ignore[no-untyped-def]
    from knowledge.models import File

    digest = uuid.uuid4().hex * 2
    return File.objects.create(
        user=user,
        filename=name,
        content_type="text/plain",
        size=1,
        sha256=digest,
        storage_name=f"bench/{digest}",
    )


# --- quality --------------------------------------------------------------------------------


def quality(args: argparse.Namespace) -> None:
    from retrieval_set import DOCUMENTS, PARAPHRASES, QUERIES

    import retrieval.search as search
    from knowledge.models import Knowledge
    from retrieval.backends import IndexedFile
    from retrieval.embedders import embedder_current
    from retrieval.indexing import Page, file_index
    from retrieval.models import Chunk, FileIndex

    user = bench_user()
    try:
        knowledge = Knowledge.objects.create(user=user, name="bench")
        doc_of_file = {}
        for name, text in DOCUMENTS.items():
            file = make_file(user, name)
            file_index(file=file, pages=[Page(text)])
            knowledge.files.add(file)
            doc_of_file[file.pk] = name
        embedder = embedder_current()
        files = [
            IndexedFile(*row)
            for row in FileIndex.objects.filter(file__in=list(doc_of_file)).values_list(
                "file_id", "version", "chunk_count"
            )
        ]
        doc_of_chunk = {
            cid: doc_of_file[fid]
            for cid, fid in Chunk.objects.filter(file__in=list(doc_of_file)).values_list(
                "id", "file_id"
            )
        }
        vectors = embedder.embed([q for q, _ in QUERIES])
        print(
            f"{len(DOCUMENTS)} documents, {len(QUERIES)} queries ({len(PARAPHRASES)} "
            "paraphrases, the rest exact terms); MRR over the top 10"
        )
        print(
            f"{'mode':<22} {'recall@5':>8} {'MRR':>6} {'recall@5 para':>14} {'recall@5 exact':>15}"
        )
        runs = [("vector", "vector", None), ("lexical", "lexical", None)]
        runs += [
            (f"hybrid k={k} w={w} c={c} floor={f}", "hybrid", (k, w, c, f))
            for k in args.rrf_k
            for w in args.weights
            for c in args.candidates
            for f in args.floors
        ]
        knobs_of = ("RRF_K", "LEXICAL_WEIGHT", "CANDIDATES_MIN", "LEXICAL_MIN_RELATIVE")
        from django.conf import settings

        def owner(name: str):  # type: ignore[no-untyped-def]
            return (settings, f"RAG_{name}") if name.startswith("LEXICAL") else (search, name)

        defaults = {name: getattr(*owner(name)) for name in (*knobs_of, "CANDIDATES_PER_RESULT")}
        for label, mode_name, knobs in runs:
            if mode_name == "hybrid":
                for name, value in zip(knobs_of, knobs, strict=True):
                    setattr(*owner(name), value)
                search.CANDIDATES_PER_RESULT = 1
            ranks = []
            for (query, answer), vector in zip(QUERIES, vectors, strict=True):
                ranked = search.ranked_chunks(
                    model=embedder.key,
                    vector=vector,
                    query=query,
                    files=files,
                    limit=10,
                    mode=mode_name,
                )
                docs = [doc_of_chunk[cid] for cid, _ in ranked]
                ranks.append(docs.index(answer) + 1 if answer in docs else None)
            half = len(PARAPHRASES)

            def recall(rs: list[int | None]) -> float:
                return sum(1 for r in rs if r is not None and r <= 5) / len(rs)

            mrr = sum(1 / r for r in ranks if r is not None) / len(ranks)
            if args.verbose:
                print(label, ranks)
            print(
                f"{label:<22} {recall(ranks):>8.3f} {mrr:>6.3f} {recall(ranks[:half]):>14.3f} "
                f"{recall(ranks[half:]):>15.3f}"
            )
        for name, value in defaults.items():
            setattr(*owner(name), value)
    finally:
        user.delete()


# --- scale ----------------------------------------------------------------------------------

VOCABULARY = [f"w{i}" for i in range(5000)]
DIM = 384
MODEL = "local:all-MiniLM-L6-v2"


CENTRES = np.random.default_rng(11).standard_normal((200, DIM)).astype(np.float32)


def random_unit(rng: np.random.Generator, n: int, clustered: bool = True) -> np.ndarray:
    """Unit vectors: uniform on the sphere (HNSW's worst case), or clustered around 200 centres
    as sentence embeddings are (topics), which is what an index of real documents looks like."""
    matrix = rng.standard_normal((n, DIM)).astype(np.float32)
    if clustered:
        matrix = CENTRES[rng.integers(0, len(CENTRES), n)] + 0.6 * matrix
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def load_chunks(user, n: int, per_file: int, rng: np.random.Generator, clustered: bool):  # type: ignore[no-untyped-def]
    """n synthetic chunks in files of per_file chunks; returns the files' IndexedFile rows."""
    from django.db import connection

    from retrieval.backends import IndexedFile, PgvectorIndex
    from retrieval.fields import vector_literal
    from retrieval.models import Chunk, FileIndex

    files = [make_file(user, f"synthetic-{i}.txt") for i in range(max(1, n // per_file))]
    words = np.array(VOCABULARY)
    index_name = PgvectorIndex.index_name(MODEL, DIM)
    postgres = connection.vendor == "postgresql"
    if postgres:  # build the HNSW index once after loading, not row by row
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {index_name}")
    started = time.perf_counter()
    for file in files:
        vectors = random_unit(rng, per_file, clustered)
        texts = [" ".join(words[rng.integers(0, len(words), 30)]) for _ in range(per_file)]
        if postgres:
            with (
                connection.cursor() as cursor,
                cursor.cursor.copy(
                    "COPY retrieval_chunk (file_id, model, chunk_index, page, char_start, char_end,"
                    " content, embedding) FROM STDIN"
                ) as copy,
            ):
                for i in range(per_file):
                    copy.write_row(
                        (
                            file.pk,
                            MODEL,
                            i,
                            None,
                            0,
                            len(texts[i]),
                            texts[i],
                            vector_literal(vectors[i]),
                        )
                    )
        else:
            Chunk.objects.bulk_create(
                [
                    Chunk(
                        file=file,
                        model=MODEL,
                        chunk_index=i,
                        char_start=0,
                        char_end=len(texts[i]),
                        content=texts[i],
                        embedding=vectors[i],
                    )
                    for i in range(per_file)
                ],
                batch_size=1000,
            )
        FileIndex.objects.create(file=file, model=MODEL, dim=DIM, chunk_count=per_file)
    load_s = time.perf_counter() - started
    build_s = 0.0
    if postgres:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '512MB'")
            cursor.execute(
                f"CREATE INDEX {index_name} ON retrieval_chunk USING hnsw "
                f"((embedding::vector({DIM})) vector_cosine_ops) WHERE model = '{MODEL}'"
            )
            cursor.execute("ANALYZE retrieval_chunk")
        build_s = time.perf_counter() - started
    indexed = [
        IndexedFile(*row)
        for row in FileIndex.objects.filter(file__in=files).values_list(
            "file_id", "version", "chunk_count"
        )
    ]
    return indexed, load_s, build_s


def timed(fn, queries: int) -> tuple[float, float, list]:  # type: ignore[no-untyped-def]
    times, results = [], []
    for i in range(queries):
        started = time.perf_counter()
        results.append(fn(i))
        times.append((time.perf_counter() - started) * 1000)
    return percentile(times, 50), percentile(times, 99), results


def row(
    n: int, scope: str, how: str, p50: float, p99: float | None = None, recall: str = ""
) -> None:
    tail = f"{p99:>8.1f}" if p99 is not None else " " * 8
    print(f"{n:>8} {scope:<14} {how:<22} {p50:>8.1f} {tail} {recall:>9}")


def scale_scope(
    n: int, scope_name: str, scope: list, queries: np.ndarray, texts: list[str]
) -> None:  # type: ignore[type-arg]
    from django.db import connection
    from django.test.utils import override_settings

    from retrieval.backends import _in_process, index_current
    from retrieval.search import ranked_chunks

    index = index_current()
    count = len(texts)

    def vector(i: int) -> list:  # type: ignore[type-arg]
        return index.vector_search(model=MODEL, vector=queries[i], files=scope, limit=10)

    def lexical(i: int) -> list:  # type: ignore[type-arg]
        return index.lexical_search(model=MODEL, query=texts[i], files=scope, limit=20)

    def hybrid(i: int) -> list:  # type: ignore[type-arg]
        return ranked_chunks(
            model=MODEL, vector=queries[i], query=texts[i], files=scope, limit=5, mode="hybrid"
        )

    if connection.vendor == "postgresql":
        with override_settings(RAG_EXACT_SCAN_MAX_CHUNKS=10**9):
            p50, p99, exact = timed(vector, count)
            row(n, scope_name, "vector, exact scan", p50, p99, "1.000")
        with override_settings(RAG_EXACT_SCAN_MAX_CHUNKS=0):
            p50, p99, approx = timed(vector, count)
            recall = statistics.mean(
                len({c for c, _ in a} & {c for c, _ in b}) / 10
                for a, b in zip(approx, exact, strict=True)
            )
            row(n, scope_name, "vector, HNSW iterative", p50, p99, f"{recall:.3f}")
    else:
        _in_process.clear()
        started = time.perf_counter()
        vector(0)
        row(n, scope_name, "vector, 1st (loads)", (time.perf_counter() - started) * 1000)
        p50, p99, _ = timed(vector, count)
        row(n, scope_name, "vector, numpy", p50, p99, "1.000")
    p50, p99, _ = timed(lexical, count)
    row(n, scope_name, "lexical", p50, p99)
    p50, p99, _ = timed(hybrid, count)
    row(n, scope_name, "hybrid (as configured)", p50, p99)


def scale(args: argparse.Namespace) -> None:
    from django.db import connection

    from retrieval.backends import _in_process

    rng = np.random.default_rng(7)
    print(f"{'chunks':>8} {'scope':<14} {'how':<22} {'p50 ms':>8} {'p99 ms':>8} {'recall@10':>9}")
    for n in args.chunks:
        user = bench_user()
        try:
            files, load_s, build_s = load_chunks(
                user, n, args.per_file, rng, args.vectors == "clustered"
            )
            extra = f", HNSW build {build_s:.1f} s" if connection.vendor == "postgresql" else ""
            print(
                f"# {n} chunks ({args.vectors} vectors) in {len(files)} files "
                f"loaded in {load_s:.1f} s{extra}"
            )
            queries = random_unit(rng, args.queries, args.vectors == "clustered")
            texts = [" ".join(rng.choice(VOCABULARY, 3)) for _ in range(args.queries)]
            scale_scope(n, f"{len(files)} files", files, queries, texts)
            scale_scope(n, "1 file", files[:1], queries, texts)
        finally:
            user.delete()
            _in_process.clear()


# --- throughput -----------------------------------------------------------------------------


def throughput(args: argparse.Namespace) -> None:
    """Chunks embedded per second and one query's embedding time, for each runtime and thread
    count, measured in alternation (rounds of the same chunks) so that a busy machine's load
    falls on every variant alike."""
    from django.conf import settings
    from retrieval_set import DOCUMENTS

    from retrieval.chunking import chunks_of_page
    from retrieval.embedders import LocalEmbedder, minilm_offsets

    text = "\n\n".join(list(DOCUMENTS.values()) * 40)
    pieces = chunks_of_page(
        text=text,
        page=None,
        offsets=minilm_offsets,
        size=settings.CHUNK_SIZE,
        overlap=settings.CHUNK_OVERLAP,
    )[: args.count]
    texts = [p.text for p in pieces]
    tokens = statistics.mean(len(minilm_offsets(t)) for t in texts)
    cores = os.cpu_count() or 1
    variants = {
        f"{runtime}, {threads} thread{'s' if threads > 1 else ''}": LocalEmbedder(
            "all-MiniLM-L6-v2", settings.RAG_EMBEDDING_BATCH_SIZE, threads=threads, runtime=runtime
        )
        for runtime in args.runtimes
        for threads in sorted({1, cores})
    }
    for name, embedder in variants.items():
        started = time.perf_counter()
        embedder.embed(["warm up"])
        print(f"{name}: load {time.perf_counter() - started:.1f} s")
    rates: dict[str, list[float]] = {name: [] for name in variants}
    queries: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, embedder in variants.items():
            if embedder.runtime == "torch":
                import torch

                torch.set_num_threads(embedder.threads)
            started = time.perf_counter()
            embedder.embed(texts)
            rates[name].append(len(texts) / (time.perf_counter() - started))
            for _ in range(10):
                started = time.perf_counter()
                embedder.embed(["How do I work remotely on the company network?"])
                queries[name].append((time.perf_counter() - started) * 1000)
    print(f"{len(texts)} chunks of {tokens:.0f} tokens on average, {args.rounds} rounds")
    print(f"{'variant':<22} {'chunks/s median':>16} {'best':>7} {'query p50 ms':>13} {'p99':>7}")
    for name in variants:
        print(
            f"{name:<22} {statistics.median(rates[name]):>16.1f} {max(rates[name]):>7.1f} "
            f"{percentile(queries[name], 50):>13.1f} {percentile(queries[name], 99):>7.1f}"
        )
    print(f"load average at the end: {loadavg()}")


# --- memory ---------------------------------------------------------------------------------


def memory(args: argparse.Namespace) -> None:
    """A real daphne web process: RSS idle, after a search that needs no model (a query of a
    collection with no indexed file), and after a search that embeds a query (model loaded)."""
    import httpx
    from harness import BENCH_ENV, rss_mib, running_server, signup

    with running_server(BENCH_ENV) as server:
        env = {**os.environ, "DATA_DIR": str(server.data_dir)}

        async def run() -> None:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=120) as client:
                email, token = await signup(client)
                headers = {"Authorization": f"Bearer {token}"}
                await client.get("/api/auths/", headers=headers)
                print(f"web process after sign-up and a request: {rss_mib(server.pid):.0f} MiB")
                # An indexed file, made by another process (as a worker would).
                script = (
                    "from users.models import User;"
                    "from knowledge.models import File, Knowledge;"
                    "from retrieval.indexing import Page, file_index;"
                    f"u = User.objects.get(email='{email}');"
                    "f = File.objects.create(user=u, filename='a.txt', content_type='text/plain',"
                    " size=1, sha256='0'*64, storage_name='bench/a');"
                    "file_index(file=f, pages=[Page('Penguins cannot fly.')]);"
                    "k = Knowledge.objects.create(user=u, name='k'); k.files.add(f);"
                    "print(k.pk)"
                )
                out = subprocess.run(  # noqa: S603
                    [sys.executable, "manage.py", "shell", "-c", script],
                    cwd=BENCH_DIR.parent,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                knowledge_id = out.stdout.strip().splitlines()[-1]
                body = {"query": "birds", "knowledge_ids": [knowledge_id]}
                started = time.perf_counter()
                response = await client.post("/api/retrieval/query", json=body, headers=headers)
                first = time.perf_counter() - started
                if response.status_code != 200:
                    raise SystemExit(f"query failed: {response.status_code} {response.text}")
                print(
                    f"first query (loads the model): {first * 1000:.0f} ms; "
                    f"web process now: {rss_mib(server.pid):.0f} MiB"
                )
                times = []
                for _ in range(20):
                    started = time.perf_counter()
                    await client.post("/api/retrieval/query", json=body, headers=headers)
                    times.append((time.perf_counter() - started) * 1000)
                print(
                    f"later queries over HTTP: p50 {percentile(times, 50):.1f} ms; "
                    f"web process: {rss_mib(server.pid):.0f} MiB"
                )

        asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--verbose", action="store_true", help="print each query's rank")
    q.add_argument("--rrf-k", type=lambda t: [int(x) for x in t.split(",")], default=[60])
    q.add_argument("--weights", type=lambda t: [float(x) for x in t.split(",")], default=[1.0, 0.5])
    q.add_argument("--candidates", type=lambda t: [int(x) for x in t.split(",")], default=[20])
    q.add_argument("--floors", type=lambda t: [float(x) for x in t.split(",")], default=[0.0, 0.5])
    s = sub.add_parser("scale")
    s.add_argument(
        "--chunks", type=lambda t: [int(x) for x in t.split(",")], default=[10_000, 100_000]
    )
    s.add_argument("--per-file", type=int, default=1000)
    s.add_argument("--vectors", choices=["clustered", "uniform"], default="clustered")
    s.add_argument("--queries", type=int, default=200)
    t = sub.add_parser("throughput")
    t.add_argument("--count", type=int, default=128)
    t.add_argument("--rounds", type=int, default=3)
    t.add_argument(
        "--runtimes", type=lambda t: t.split(","), default=["torch", "onnx"], help="torch,onnx"
    )
    sub.add_parser("memory")
    args = parser.parse_args()
    print(f"mode: {mode()}; load average: {loadavg()}")
    if args.command != "memory":
        setup_django()
    {"quality": quality, "scale": scale, "throughput": throughput, "memory": memory}[args.command](
        args
    )


if __name__ == "__main__":
    main()
