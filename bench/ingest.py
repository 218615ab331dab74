"""Benchmark document ingestion end to end: upload → add to a collection → ``indexed``.

    .venv/bin/python bench/ingest.py [--files 1000] [--pages 100] [--duration 10]
    REDIS_URL=... DATABASE_URL=... .venv/bin/python bench/ingest.py --worker

Starts the real server through bench/harness.py (embedded default unless DATABASE_URL /
REDIS_URL are set); with ``--worker`` also one real Celery worker (``--pool=solo``) on the same
DATA_DIR, database and broker, which then does all processing. Then, over HTTP:

1. one generated PDF of ``--pages`` pages (~25 lines of text each): upload, add to a
   collection, poll ``GET /api/files/{id}`` until ``indexed``; seconds and pages/s;
2. ``--files`` small Markdown files (~1.5 KB each): uploaded and added at concurrency 8, then
   ``GET /api/knowledge/{id}`` polled until every file is ``indexed``; files/s end to end;
3. ``POST /api/files/`` of distinct small Markdown files (stored only, not processed) at
   concurrency 8 for ``--duration`` seconds: the harness's request table.

Processing uses the default local embedding model (all-MiniLM-L6-v2 on the CPU); the server,
the worker and the load generator share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from harness import (
    BENCH_ENV,
    PROJECT_DIR,
    loadavg,
    mode,
    print_header,
    print_row,
    run_load,
    running_server,
    signup,
    stop_process,
)

WORDS = [
    "harbour",
    "lantern",
    "granite",
    "meadow",
    "orchard",
    "copper",
    "willow",
    "thunder",
    "saffron",
    "glacier",
    "compass",
    "velvet",
    "ember",
    "quarry",
    "tidal",
    "beacon",
    "cedar",
    "falcon",
    "marble",
    "summit",
    "canyon",
    "prairie",
    "lagoon",
]


def sentence(n: int) -> str:
    picked = [WORDS[(n * 7 + i * 3) % len(WORDS)] for i in range(12)]
    return f"Line {n}: the " + " ".join(picked) + "."


def pdf_document(pages: int) -> bytes:
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    counter = itertools.count()
    for _ in range(pages):
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        lines = " ".join(f"({sentence(next(counter))}) Tj T*" for _ in range(25))
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 10 Tf 14 TL 50 750 Td {lines} ET".encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def markdown_document(n: int) -> bytes:
    body = "\n".join(sentence(n * 20 + i) for i in range(12))
    return f"# Note {n}\n\n{body}\n".encode()


def start_worker(data_dir: Path) -> subprocess.Popen[bytes]:
    log = data_dir / "worker.log"
    env = {**os.environ, **BENCH_ENV, "DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "celery", "-A", "webui_backend", "worker", "--pool=solo"]
    command += ["--without-gossip", "--without-mingle", "-l", "INFO"]
    with log.open("wb") as out:
        worker = subprocess.Popen(  # noqa: S603 - our own worker, fixed arguments
            [*command], cwd=PROJECT_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 60
    while b"ready" not in log.read_bytes():
        if worker.poll() is not None or time.monotonic() > deadline:
            stop_process(worker, timeout=10)
            raise RuntimeError(f"worker did not start:\n{log.read_text()}")
        time.sleep(0.2)
    return worker


async def wait_indexed(client: httpx.AsyncClient, path: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = (await client.get(path)).raise_for_status().json()
        states = [body["job"]["state"]] if "job" in body else [f["status"] for f in body["files"]]
        if all(state in {"indexed", "failed", "cancelled"} for state in states):
            failed = sum(state != "indexed" for state in states)
            if failed:
                raise RuntimeError(f"{failed} files did not end indexed")
            return body
        await asyncio.sleep(0.2)
    raise RuntimeError(f"not indexed after {timeout:.0f} s")


async def bench(base_url: str, pid: int, args: argparse.Namespace) -> int:
    async with httpx.AsyncClient(base_url=base_url, timeout=600) as client:
        _, token = await signup(client)
        client.headers["Authorization"] = f"Bearer {token}"

        async def collection(name: str) -> str:
            response = await client.post("/api/knowledge/create", json={"name": name})
            return response.raise_for_status().json()["id"]

        # 0. A first small file loads the embedding model; the figures below exclude that.
        knowledge_id = await collection("Warm-up")
        started = time.perf_counter()
        uploaded = await client.post("/api/files/", files={"file": ("w.md", b"# Warm up")})
        file_id = uploaded.raise_for_status().json()["id"]
        await client.post(f"/api/knowledge/{knowledge_id}/file/add", json={"file_id": file_id})
        await wait_indexed(client, f"/api/files/{file_id}", timeout=600)
        print(f"first file (loads the model): {time.perf_counter() - started:.1f} s", flush=True)

        # 1. One large PDF.
        pdf = pdf_document(args.pages)
        knowledge_id = await collection("PDF")
        started = time.perf_counter()
        uploaded = await client.post("/api/files/", files={"file": ("big.pdf", pdf)})
        file_id = uploaded.raise_for_status().json()["id"]
        await client.post(f"/api/knowledge/{knowledge_id}/file/add", json={"file_id": file_id})
        body = await wait_indexed(client, f"/api/files/{file_id}", timeout=1800)
        seconds = time.perf_counter() - started
        print(
            f"PDF, {args.pages} pages ({len(pdf) / 1024:.0f} KiB, {body['job']['chunks_total']} "
            f"chunks): indexed in {seconds:.1f} s, {args.pages / seconds:.1f} pages/s",
            flush=True,
        )

        # 2. Many small Markdown files.
        knowledge_id = await collection("Notes")
        queue = iter(range(args.files))
        started = time.perf_counter()

        async def feeder() -> None:
            for n in queue:
                response = await client.post(
                    "/api/files/", files={"file": (f"note-{n}.md", markdown_document(n))}
                )
                added = await client.post(
                    f"/api/knowledge/{knowledge_id}/file/add",
                    json={"file_id": response.raise_for_status().json()["id"]},
                )
                added.raise_for_status()

        await asyncio.gather(*(feeder() for _ in range(8)))
        accepted = time.perf_counter() - started
        await wait_indexed(client, f"/api/knowledge/{knowledge_id}", timeout=3600)
        seconds = time.perf_counter() - started
        print(
            f"Markdown, {args.files} files: uploaded and added in {accepted:.1f} s "
            f"({args.files / accepted:.1f} files/s), all indexed in {seconds:.1f} s "
            f"({args.files / seconds:.1f} files/s)",
            flush=True,
        )

    # 3. Upload throughput (distinct bytes each time, so every request stores a new file).
    counter = itertools.count(10_000_000)

    async def upload(client: httpx.AsyncClient) -> httpx.Response:
        n = next(counter)
        return await client.post("/api/files/", files={"file": (f"u{n}.md", markdown_document(n))})

    result = await run_load(
        upload,
        base_url=base_url,
        concurrency=8,
        duration=args.duration,
        pid=pid,
        headers={"Authorization": f"Bearer {token}"},
    )
    print_header()
    print_row("upload 1.5 KB .md", 8, result)
    return result.errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of upload load")
    parser.add_argument("--worker", action="store_true", help="process on a real Celery worker")
    args = parser.parse_args()
    if args.worker and not os.environ.get("REDIS_URL"):
        parser.error("--worker needs REDIS_URL (and DATABASE_URL: the worker shares the rows)")
    print(f"mode: {mode()}; processing on {'a Celery worker' if args.worker else 'the server'}")
    print(f"load average before: {loadavg()}")
    env = {**BENCH_ENV, "RATE_LIMIT": "100000000/minute"}
    with running_server(env) as server:
        worker = start_worker(server.data_dir) if args.worker else None
        try:
            errors = asyncio.run(bench(server.base_url, server.pid, args))
        finally:
            if worker is not None:
                stop_process(worker, timeout=20)
    print(f"load average at the end: {loadavg()} (ours included)")
    raise SystemExit(1 if errors else 0)


if __name__ == "__main__":
    main()
