"""The completion proxy's overhead against calling the stand-in upstream directly.

    .venv/bin/python bench/completions.py [--sequential 100] [--concurrency 64,256] [--chunks 500]
                                          [--rounds 3]

Starts the stand-in OpenAI-compatible upstream (tests/upstream.py) in its own process and the
real server (daphne, through bench/harness.py) pointed at it, signs up one user (the first
account is an admin, so the request limit does not apply), then streams the same requests
twice — straight to the upstream, and through ``POST /api/openai/v1/chat/completions``:

- time to first token at concurrency 1 (``--sequential`` streams of 20 chunks each way, one
  at a time, direct and proxy alternating);
- at each ``--concurrency``, that many simultaneous streams of ``--chunks`` chunks each, sent
  by the upstream as fast as it can: chunks/s over all streams, p50/p99 time to first token,
  errors, the server's peak RSS and CPU time per chunk (the upstream's process for "direct",
  ours for "proxy"); ``--rounds`` direct/proxy pairs, the median ratio counts.

Direct and proxy alternate because a shared machine's speed drifts from minute to minute:
back-to-back blocks measured the drift as much as the proxy.

Everything shares the machine's cores (client, upstream, server), so the direct run is the
yardstick, not an absolute figure. DATABASE_URL and REDIS_URL pass through to the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
from harness import (
    BENCH_ENV,
    PASSWORD,
    PROJECT_DIR,
    MemorySampler,
    cpu_seconds,
    free_port,
    loadavg,
    log_errors,
    mode,
    running_server,
)

STREAM_BODY = {
    "model": "mock",
    "stream": True,
    "messages": [{"role": "user", "content": "Tell me a long story."}],
}


@dataclass
class StreamRun:
    concurrency: int
    elapsed_s: float = 0.0
    chunks: int = 0
    errors: int = 0
    ttft_ms: list[float] = field(default_factory=list)
    error_kinds: Counter[str] = field(default_factory=Counter)
    peak_rss_mib: float | None = None
    cpu_s: float = 0.0  # of the process serving the streams (the upstream's for "direct")

    def pct(self, q: float) -> float | None:
        if not self.ttft_ms:
            return None
        ordered = sorted(self.ttft_ms)
        return ordered[max(1, math.ceil(len(ordered) * q / 100)) - 1]


async def one_stream(client: httpx.AsyncClient, url: str, body: dict, run: StreamRun) -> None:
    started = time.perf_counter()
    first = None
    chunks = 0
    try:
        async with client.stream("POST", url, json=body) as response:
            if response.status_code != 200:
                await response.aread()
                run.errors += 1
                run.error_kinds[f"HTTP {response.status_code}: {response.text[:120]}"] += 1
                return
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                if line == "data: [DONE]":
                    break
                data = json.loads(line[6:])
                if "error" in data:
                    run.errors += 1
                    run.error_kinds[f"error event {data['error'].get('code')}"] += 1
                    return
                choices = data.get("choices") or []
                if choices and choices[0].get("delta", {}).get("content"):
                    chunks += 1
                    if first is None:
                        first = time.perf_counter()
    except httpx.HTTPError as exc:
        run.errors += 1
        run.error_kinds[type(exc).__name__] += 1
        return
    if chunks != body["mock_chunks"]:
        run.errors += 1
        run.error_kinds["short stream"] += 1
        return
    run.chunks += chunks
    run.ttft_ms.append(((first or time.perf_counter()) - started) * 1000)


async def streams(
    url: str, headers: dict[str, str], *, concurrency: int, total: int, chunks: int, pid: int
) -> StreamRun:
    run = StreamRun(concurrency)
    body = {**STREAM_BODY, "mock_chunks": chunks}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=120) as client:
        sem = asyncio.Semaphore(concurrency)

        async def guarded() -> None:
            async with sem:
                await one_stream(client, url, body, run)

        # Open the connections first: the figures are about streaming, not TCP set-up.
        warm_url = url.rsplit("/", 2)[0] + "/models"
        await asyncio.gather(
            *(client.get(warm_url) for _ in range(concurrency)), return_exceptions=True
        )
        cpu_before = cpu_seconds(pid)
        with MemorySampler(pid) as memory:
            started = time.perf_counter()
            await asyncio.gather(*(guarded() for _ in range(total)))
            run.elapsed_s = time.perf_counter() - started
        run.cpu_s = cpu_seconds(pid) - cpu_before
        run.peak_rss_mib = memory.peak_mib
    return run


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def row(label: str, run: StreamRun) -> None:
    rate = run.chunks / run.elapsed_s if run.elapsed_s else 0
    cpu = run.cpu_s * 1e6 / run.chunks if run.chunks and run.cpu_s else None
    print(
        f"| {label} | {run.concurrency} | {rate:,.0f} | {fmt(run.pct(50))} | "
        f"{fmt(run.pct(99))} | {run.errors} | {fmt(run.peak_rss_mib, 0)} | {fmt(cpu)} |"
    )
    for kind, count in run.error_kinds.most_common(3):
        print(f"|  error x{count}: {kind} | | | | | | | |")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=100)
    parser.add_argument("--concurrency", default="64,256")
    parser.add_argument("--chunks", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3, help="direct/proxy pairs per level")
    return parser.parse_args()


async def bench(base_url: str, server_pid: int, upstream: str, upstream_pid: int, args) -> int:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        signup = await client.post(
            "/api/auths/signup",
            json={"name": "Bench", "email": "bench@example.com", "password": PASSWORD},
        )
        signup.raise_for_status()
        token = signup.json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    proxy = f"{base_url}/api/openai/v1/chat/completions"
    direct = f"{upstream}/v1/chat/completions"
    # Warm both paths (connections, the model list cache).
    await streams(proxy, auth, concurrency=4, total=8, chunks=20, pid=server_pid)
    await streams(direct, {}, concurrency=4, total=8, chunks=20, pid=upstream_pid)

    print(
        "| path | concurrency | chunks/s | TTFT p50 ms | TTFT p99 ms | errors | peak RSS MiB "
        "| CPU µs per chunk |"
    )
    print("|---|---|---|---|---|---|---|---|")
    errors = 0
    # Time to first token: direct and proxy requests alternate, one at a time, so a slow
    # patch of a shared machine hits both alike.
    seq = {"direct": StreamRun(1), "proxy": StreamRun(1)}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with (
        httpx.AsyncClient(limits=limits, timeout=120) as to_direct,
        httpx.AsyncClient(headers=auth, limits=limits, timeout=120) as to_proxy,
    ):
        body = {**STREAM_BODY, "mock_chunks": 20}
        started = {"direct": 0.0, "proxy": 0.0}
        floor: list[float] = []  # any authenticated request on this server, for scale
        for _ in range(args.sequential):
            for label, client, url in (("direct", to_direct, direct), ("proxy", to_proxy, proxy)):
                began = time.perf_counter()
                await one_stream(client, url, body, seq[label])
                started[label] += time.perf_counter() - began
            began = time.perf_counter()
            (await to_proxy.get(f"{base_url}/api/auths/")).raise_for_status()
            floor.append((time.perf_counter() - began) * 1000)
    for label in ("direct", "proxy"):
        seq[label].elapsed_s = started[label]
        row(label, seq[label])
        errors += seq[label].errors
    added = (seq["proxy"].pct(50) or 0) - (seq["direct"].pct(50) or 0)
    # Throughput: direct and proxy runs alternate, --rounds times; the median round counts.
    ratios: dict[int, list[float]] = {}
    for concurrency in [int(c) for c in args.concurrency.split(",")]:
        for _ in range(args.rounds):
            rates = {}
            for label, url, headers, pid in (
                ("direct", direct, {}, upstream_pid),
                ("proxy", proxy, auth, server_pid),
            ):
                run = await streams(
                    url,
                    headers,
                    concurrency=concurrency,
                    total=concurrency,
                    chunks=args.chunks,
                    pid=pid,
                )
                rates[label] = run.chunks / run.elapsed_s if run.elapsed_s else 0
                row(label, run)
                errors += run.errors
            if rates["direct"]:
                ratios.setdefault(concurrency, []).append(rates["proxy"] / rates["direct"])
    print()
    print(f"added time to first token at concurrency 1 (p50): {added:.1f} ms")
    print(
        f"for scale, an authenticated GET /api/auths/ on the same server: "
        f"p50 {statistics.median(floor):.1f} ms"
    )
    for concurrency, shares in ratios.items():
        each = ", ".join(f"{r:.0%}" for r in shares)
        print(
            f"proxy throughput at {concurrency} streams: {statistics.median(shares):.0%} "
            f"of direct (median of rounds: {each})"
        )
    return errors


def main() -> None:
    args = parse_args()
    print(f"mode: {mode()}; load average at the start: {loadavg()}")
    port = free_port()
    upstream = subprocess.Popen(  # noqa: S603 - our own stand-in, fixed arguments
        [sys.executable, "-m", "tests.upstream", "--port", str(port)],
        cwd=PROJECT_DIR,
        env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}/v1/models", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        env = {**BENCH_ENV, "OPENAI_API_BASE_URLS": f"{base}/v1", "LOG_LEVEL": "WARNING"}
        with running_server(env) as server:
            errors = asyncio.run(bench(server.base_url, server.pid, base, upstream.pid, args))
            for line, count in log_errors(server) if errors else []:
                print(f"  server log x{count}: {line}")
    finally:
        upstream.terminate()
        upstream.wait(10)
    print(f"load average at the end: {loadavg()} (ours included)")
    raise SystemExit(1 if errors else 0)


if __name__ == "__main__":
    main()
