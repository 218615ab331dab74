"""Retrieval quality and ingestion speed on real documentation, through the HTTP API.

    .venv/bin/python bench/retrieval_docs.py                 # embedded default (SQLite)
    DATABASE_URL=postgresql://... .venv/bin/python bench/retrieval_docs.py
    .venv/bin/python bench/retrieval_docs.py --one-by-one     # file/add per file (the old way)
    .venv/bin/python bench/retrieval_docs.py --env RAG_HYBRID_LEXICAL_WEIGHT=0.3 ...

The set is bench/docs_set.py's (built on first use: FAQ questions of six manuals, labelled with
the pages their answers link to). The real server is started (bench/harness.py: migrate, daphne,
a fresh DATA_DIR); then, as a user would: every page is uploaded (``POST /api/files/``,
concurrency 4), the pages are added to one collection (``POST /api/knowledge/{id}/files/batch/
add``, or ``file/add`` one by one with --one-by-one), ``GET /api/knowledge/{id}`` is polled until
every file is indexed; then every question is asked once (``POST /api/retrieval/query``,
``top_k`` 10, hybrid as configured).

A question is answered at k when one of the first k chunks returned comes from one of its
labelled pages (what the model would be shown with RAG_TOP_K = k). R@1/5/10 are the share of
questions answered at 1/5/10, MRR@10 the mean of 1/rank of the first such chunk (0 past 10).
Intervals are 95 % bootstrap percentiles over questions (2,000 resamples).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR)]

import httpx  # noqa: E402
from docs_set import DEFAULT_OUT, MANUALS, load, visible_chars  # noqa: E402
from harness import BENCH_ENV, loadavg, mode, rss_mib, running_server, signup  # noqa: E402

KS = (1, 5, 10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def metrics(ranks: list[int | None]) -> dict[str, float]:
    out = {f"R@{k}": sum(1 for r in ranks if r is not None and r <= k) / len(ranks) for k in KS}
    out["MRR@10"] = sum(1 / r for r in ranks if r is not None and r <= 10) / len(ranks)
    return out


def interval(ranks: list[int | None], name: str, rounds: int = 2000) -> tuple[float, float]:
    rng = random.Random(7)
    values = sorted(metrics([rng.choice(ranks) for _ in ranks])[name] for _ in range(rounds))
    return values[int(0.025 * rounds)], values[int(0.975 * rounds) - 1]


async def wait_all_indexed(client: httpx.AsyncClient, knowledge_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = (await client.get(f"/api/knowledge/{knowledge_id}")).json()
        states = [f["status"] for f in body["files"]]
        if all(s in ("indexed", "failed") for s in states):
            return body
        if time.monotonic() > deadline:
            raise RuntimeError(f"not indexed after {timeout} s: {body.get('progress')}")
        await asyncio.sleep(0.5)


async def ingest(base_url: str, args: argparse.Namespace) -> dict:
    """Sign up, upload every page, add them to a collection, wait until all are indexed."""
    corpus = load(args.set)
    async with httpx.AsyncClient(base_url=base_url, timeout=600) as client:
        _, token = await signup(client)
        client.headers["Authorization"] = f"Bearer {token}"
        # Warm up: the model is loaded (or exported) once, outside the timings.
        warm = (await client.post("/api/knowledge/create", json={"name": "warm"})).json()["id"]
        up = await client.post("/api/files/", files={"file": ("warm.md", b"# Warm\n\nup")})
        await client.post(f"/api/knowledge/{warm}/file/add", json={"file_id": up.json()["id"]})
        await wait_all_indexed(client, warm, 600)

        created = await client.post("/api/knowledge/create", json={"name": "docs"})
        knowledge_id = created.json()["id"]
        names = corpus["documents"]
        chars = 0  # of visible text, counted only for a speed run at a given size
        if args.ingest_chars:  # the first pages up to that size
            names = list(names)
            for count, name in enumerate(names):
                chars += visible_chars((args.set / "docs" / name).read_text(errors="replace"))
                if chars >= args.ingest_chars:
                    names = names[: count + 1]
                    break
        doc_of_file: dict[str, str] = {}
        queue = iter(names)
        started = time.perf_counter()

        async def uploader() -> None:
            for name in queue:
                data = (args.set / "docs" / name).read_bytes()
                response = await client.post(
                    "/api/files/", files={"file": (name.replace("/", "~"), data, "text/html")}
                )
                response.raise_for_status()
                doc_of_file[response.json()["id"]] = name

        await asyncio.gather(*(uploader() for _ in range(4)))
        uploaded_s = time.perf_counter() - started
        started = time.perf_counter()
        if args.one_by_one:
            for file_id in doc_of_file:
                response = await client.post(
                    f"/api/knowledge/{knowledge_id}/file/add", json={"file_id": file_id}
                )
                response.raise_for_status()
        else:
            response = await client.post(
                f"/api/knowledge/{knowledge_id}/files/batch/add",
                json=[{"file_id": file_id} for file_id in doc_of_file],
            )
            response.raise_for_status()
        body = await wait_all_indexed(client, knowledge_id, args.timeout)
        indexed_s = time.perf_counter() - started
    return {
        "token": token,
        "knowledge_id": knowledge_id,
        "chars": chars,
        "doc_of_file": doc_of_file,
        "questions": corpus["questions"],
        "documents": len(names),
        "failed": [f["filename"] for f in body["files"] if f["status"] == "failed"],
        "uploaded_s": uploaded_s,
        "indexed_s": indexed_s,
    }


async def ask(base_url: str, pid: int, ingested: dict) -> dict:
    """Every question once; the rank of the first chunk from a labelled page."""
    headers = {"Authorization": f"Bearer {ingested['token']}"}
    ranks: list[int | None] = []
    times: list[float] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=600, headers=headers) as client:
        for q in ingested["questions"]:
            started = time.perf_counter()
            response = await client.post(
                "/api/retrieval/query",
                json={
                    "query": q["question"],
                    "knowledge_ids": [ingested["knowledge_id"]],
                    "top_k": 10,
                },
            )
            times.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            docs = [
                ingested["doc_of_file"].get(r["metadata"]["file_id"])
                for r in response.json()["results"]
            ]
            ranks.append(next((i + 1 for i, d in enumerate(docs) if d in q["labels"]), None))
    return {**ingested, "ranks": ranks, "query_ms": times, "rss_mib": rss_mib(pid)}


def report(result: dict, label: str) -> None:
    ranks, questions = result["ranks"], result["questions"]
    overall = metrics(ranks)
    print(f"\n## {label}")
    print(
        f"{len(questions)} questions over {result['documents']} pages; uploaded in "
        f"{result['uploaded_s']:.1f} s, indexed in {result['indexed_s']:.1f} s "
        f"({result['documents'] / result['indexed_s']:.2f} pages/s); failed: "
        f"{result['failed'] or 'none'}; server RSS {result['rss_mib']:.0f} MiB"
    )
    times = result["query_ms"]
    print(
        f"query over HTTP: p50 {percentile(times, 50):.1f} ms, p99 {percentile(times, 99):.1f} ms, "
        f"mean {statistics.mean(times):.1f} ms"
    )
    print(f"{'source':<12} {'n':>4} " + " ".join(f"{m:>19}" for m in overall))
    groups = {"all": list(range(len(questions)))}
    for source in MANUALS:
        groups[source] = [i for i, q in enumerate(questions) if q["source"] == source]
    for source, picked in groups.items():
        if not picked:
            continue
        sub = [ranks[i] for i in picked]
        values = metrics(sub)
        cells = []
        for name, value in values.items():
            low, high = interval(sub, name)
            cells.append(f"{value:.3f} [{low:.2f}-{high:.2f}]")
        print(f"{source:<12} {len(picked):>4} " + " ".join(f"{c:>19}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--set", type=Path, default=DEFAULT_OUT, help="the built set's folder")
    parser.add_argument("--one-by-one", action="store_true", help="file/add per file")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--env", action="append", default=[], help="NAME=value for the server")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="NAME=value[,NAME=value]: ask the questions again on a server with these settings "
        "(the same index: query-time settings only)",
    )
    parser.add_argument("--json", type=Path, help="write the ranks and timings here")
    parser.add_argument(
        "--keep", action="store_true", help="keep the server's DATA_DIR (its index) and print it"
    )
    parser.add_argument(
        "--ingest-chars",
        type=int,
        default=0,
        help="ingestion only, of the set's first pages up to this many characters of visible "
        "text (e.g. 1500000: the issue's 178 pages); no questions asked",
    )
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    print(f"mode: {mode()}; load average: {loadavg()}; server env: {extra or 'defaults'}")
    data_dir = Path(tempfile.mkdtemp(prefix="bench-docs-"))
    results = {}
    try:
        with running_server({**BENCH_ENV, **extra}, startup_timeout=120, data_dir=data_dir) as s:
            ingested = asyncio.run(ingest(s.base_url, args))
            if args.ingest_chars:
                print(
                    f"{ingested['documents']} pages, {ingested['chars'] / 1e6:.2f} M chars of "
                    f"visible text: uploaded in {ingested['uploaded_s']:.1f} s, indexed in "
                    f"{ingested['indexed_s']:.1f} s; failed: {len(ingested['failed'])}"
                )
                return
            results[" ".join(args.env) or "as configured"] = asyncio.run(
                ask(s.base_url, s.pid, ingested)
            )
        for variant in args.variant:
            env = dict(item.split("=", 1) for item in variant.split(","))
            with running_server(
                {**BENCH_ENV, **extra, **env}, startup_timeout=120, data_dir=data_dir
            ) as s:
                results[variant] = asyncio.run(ask(s.base_url, s.pid, ingested))
    finally:
        if args.keep:
            print(f"DATA_DIR kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(f"load average at the end: {loadavg()}")
    for label, result in results.items():
        report(result, label)
    if args.json:
        for result in results.values():
            result.pop("token", None)
        args.json.write_text(json.dumps(results))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
