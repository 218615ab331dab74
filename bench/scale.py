"""How throughput grows with web processes: one daphne against two, behind no balancer.

    DATABASE_URL=... REDIS_URL=... .venv/bin/python bench/scale.py [--duration 8]
                                   [--concurrency 64] [--processes 1,2]

For each process count, ``deploy/launch.py``'s Launcher starts that many web processes
(``python -m webui_backend.server``; no worker or beat, nothing here queues jobs) on the
configured PostgreSQL and Redis, and the stand-in upstream (tests/upstream.py) runs in a process
of its own. One client process sends each scenario at the given concurrency, requests going
round-robin to the processes (as a balancer would), for ``--duration`` seconds:

- ``GET /api/auths/`` (authentication, the request limit, one user read),
- ``GET /api/chats/`` (a page of 20 chats), ``GET /api/chats/{id}`` (a chat of 20 messages),
- ``POST /api/chats/{id}/messages`` (a write that locks the chat row; spread over 16 chats),
- a non-streaming completion and a streaming one (20 chunks) through the proxy.

The user is not an admin (admins skip the request limit) and the limit is set out of reach.
Everything shares the machine's cores: the client, the upstream, the server processes,
PostgreSQL and Redis, so read the ratio between the rows, not the absolute figures. The
server processes' CPU time per request (from /proc, all web processes together) does not
depend on how busy the machine is: ``req/CPU-s`` is what one fully used core would serve.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from harness import (
    BENCH_ENV,
    PASSWORD,
    PROJECT_DIR,
    free_port,
    loadavg,
    mode,
    run_load,
)

sys.path.insert(0, str(PROJECT_DIR))
from deploy.launch import Launcher

CHAT_MESSAGES = 20
WRITE_CHATS = 16


def upstream_process() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own stand-in
        [sys.executable, "-m", "tests.upstream", "--port", str(port)],
        cwd=PROJECT_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{url}/models", timeout=1).raise_for_status()
            return process, url
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def consecutive_ports(count: int) -> int:
    while True:
        base = free_port()
        if base + count < 65535 and all(_free(base + i) for i in range(count)):
            return base


def _free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def prepare(url: str) -> tuple[dict[str, str], list[str], list[str]]:
    """A non-admin user with chats to read and write; returns (headers, read ids, write ids)."""
    with httpx.Client(base_url=url, timeout=30) as client:
        for name in ("admin", "user"):  # the first account of a fresh database is the admin
            email = f"scale-{name}-{secrets.token_hex(4)}@example.com"
            signup = client.post(
                "/api/auths/signup", json={"name": name, "email": email, "password": PASSWORD}
            )
            signup.raise_for_status()
        assert signup.json()["user"]["role"] == "user", "bench user must not be an admin"  # noqa: S101
        headers = {"Authorization": f"Bearer {signup.json()['token']}"}
        messages = [{"role": "user", "content": f"message {n} " * 20} for n in range(CHAT_MESSAGES)]
        chats = []
        for n in range(20 + WRITE_CHATS):
            response = client.post(
                "/api/chats/new",
                json={"chat": {"title": f"chat {n}", "messages": messages}},
                headers=headers,
            )
            response.raise_for_status()
            chats.append(response.json()["id"])
    return headers, chats[:20], chats[20:]


def scenarios(urls: list[str], read: list[str], write: list[str]) -> list[tuple[str, object]]:
    turn = itertools.count()

    def base() -> str:
        return urls[next(turn) % len(urls)]

    async def me(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(f"{base()}/api/auths/")

    async def chat_list(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(f"{base()}/api/chats/")

    async def chat_get(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(f"{base()}/api/chats/{read[next(turn) % len(read)]}")

    async def message_append(client: httpx.AsyncClient) -> httpx.Response:
        chat = write[next(turn) % len(write)]
        return await client.post(
            f"{base()}/api/chats/{chat}/messages", json={"role": "user", "content": "hello"}
        )

    body = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}

    async def completion(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(f"{base()}/api/openai/v1/chat/completions", json=body)

    async def completion_stream(client: httpx.AsyncClient) -> httpx.Response:
        payload = {**body, "stream": True, "mock_chunks": 20}
        async with client.stream(
            "POST", f"{base()}/api/openai/v1/chat/completions", json=payload
        ) as response:
            async for _ in response.aiter_bytes():
                pass
        return response

    return [
        ("GET /api/auths/", me),
        ("GET /api/chats/", chat_list),
        ("GET /api/chats/{id}", chat_get),
        ("POST messages", message_append),
        ("completion", completion),
        ("completion stream", completion_stream),
    ]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def row(label: str, concurrency: int, result: object, cpu_ms: float) -> None:
    r = result
    print(
        f"{label:<24}{concurrency:>5}{r.rps:>9.1f}{r.p50 or 0:>9.1f}{r.p99 or 0:>9.1f}"  # type: ignore[attr-defined]
        f"{r.errors:>7}{cpu_ms:>14.2f}{1000 / cpu_ms if cpu_ms else 0:>12.0f}",  # type: ignore[attr-defined]
        flush=True,
    )


HEADER = (
    f"{'scenario':<24}{'conc':>5}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>7}"
    f"{'CPU ms/req':>14}{'req/CPU-s':>12}"
)


async def measure(
    urls: list[str],
    headers: dict[str, str],
    read: list[str],
    write: list[str],
    args: argparse.Namespace,
    label: str,
    pids: list[int],
) -> int:
    errors = 0
    for concurrency in args.concurrency:
        for name, request in scenarios(urls, read, write):
            before = cpu_seconds(pids)
            result = await run_load(
                request,  # type: ignore[arg-type]
                base_url=urls[0],
                concurrency=concurrency,
                duration=args.duration,
                headers=headers,
            )
            used = cpu_seconds(pids) - before
            row(f"{label} {name}", concurrency, result, 1000 * used / max(result.requests, 1))
            errors += result.errors
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per scenario")
    parser.add_argument(
        "--concurrency", type=lambda t: [int(p) for p in t.split(",") if p], default=[64]
    )
    parser.add_argument(
        "--processes", type=lambda t: [int(p) for p in t.split(",") if p], default=[1, 2]
    )
    args = parser.parse_args()
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        raise SystemExit("bench/scale.py needs DATABASE_URL and REDIS_URL (several processes)")
    print(f"mode: {mode()}")
    print(
        f"{args.duration:g} s per scenario; client, upstream and servers share "
        f"{os.cpu_count()} CPUs; load average before: {loadavg()}"
    )
    upstream, upstream_url = upstream_process()
    errors = 0
    try:
        print(HEADER)
        print("-" * len(HEADER))
        for count in args.processes:
            env = {
                **BENCH_ENV,
                "RATE_LIMIT": "1000000000/minute",
                "OPENAI_API_BASE_URLS": upstream_url,
                "LOG_LEVEL": "WARNING",
                "ACCESS_LOG": "false",
                "DATA_DIR": tempfile.mkdtemp(prefix="webui-scale-"),
            }
            logs = Path(tempfile.mkdtemp(prefix="webui-scale-logs-"))
            launcher = Launcher(
                env=env,
                web=count,
                port=consecutive_ports(count),
                workers=0,
                beat=False,
                migrate=True,
                logs=logs,
            )
            with launcher.start():
                pids = [p.popen.pid for p in launcher.processes.values() if p.popen]
                headers, read, write = prepare(launcher.urls[0])
                errors += asyncio.run(
                    measure(launcher.urls, headers, read, write, args, f"{count}p", pids)
                )
    finally:
        upstream.terminate()
        upstream.wait(10)
    print(f"load average at the end: {loadavg()} (ours included)")
    raise SystemExit(1 if errors else 0)


if __name__ == "__main__":
    main()
