"""File uploads through the server we ship: how long one takes, and what it costs everyone else.

    .venv/bin/python bench/uploads.py [--size-mib 10] [--count 8] [--project /tmp/wt-before]

Starts ours through bench/harness.py (migrate, ``webui_backend.server``, a fresh DATA_DIR; the
environment's DATABASE_URL and REDIS_URL when set), signs up, and uploads ``--count`` files of
``--size-mib`` MiB one after another (``POST /api/files/``, multipart, no processing asked)
while a second client asks ``GET /health`` every 10 ms. It prints the uploads' median and
slowest time and the health checks' p50, p99 and slowest: an upload that holds the event loop
shows in the second figure, not the first. ``--project`` runs another checkout's code (a git
worktree) with this interpreter, to compare two versions one after the other.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path

import httpx
from harness import BENCH_ENV, running_server, signup


async def measure(base_url: str, token: str, size: int, count: int) -> tuple[list, list]:
    body = os.urandom(size // 2).hex().encode()
    headers = {"Authorization": f"Bearer {token}"}
    uploads: list[float] = []
    health: list[float] = []
    done = asyncio.Event()

    async def ping() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            while not done.is_set():
                start = time.perf_counter()
                (await client.get("/health")).raise_for_status()
                health.append((time.perf_counter() - start) * 1000)
                await asyncio.sleep(0.01)

    pinger = asyncio.create_task(ping())
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120) as client:
        for index in range(count):
            start = time.perf_counter()
            files = {"file": (f"upload-{index}.txt", body, "text/plain")}
            (await client.post("/api/files/", files=files)).raise_for_status()
            uploads.append((time.perf_counter() - start) * 1000)
    done.set()
    await pinger
    return uploads, sorted(health)


async def main(args: argparse.Namespace) -> None:
    env = {**BENCH_ENV, "LOG_LEVEL": "WARNING"}
    project = {"project_dir": Path(args.project).resolve()} if args.project else {}
    with running_server(env, **project) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
            _, token = await signup(client)
        uploads, health = await measure(
            server.base_url, token, args.size_mib * 1024 * 1024, args.count
        )
    p99 = health[min(len(health) - 1, int(len(health) * 0.99))]
    print(
        f"{args.size_mib} MiB upload: median {statistics.median(uploads):6.0f} ms,"
        f" slowest {max(uploads):6.0f} ms | GET /health meanwhile:"
        f" p50 {statistics.median(health):5.1f} ms, p99 {p99:6.1f} ms, slowest {health[-1]:6.1f} ms"
        f" ({len(health)} checks)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=10)
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--project", help="another checkout whose code runs (a git worktree)")
    asyncio.run(main(parser.parse_args()))
