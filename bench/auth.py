"""Benchmark sign-in and the authenticated "who am I" call against the real server.

    .venv/bin/python bench/auth.py [--duration 10] [--concurrency 1,32]

Starts the server through bench/harness.py, signs up one user, then for each concurrency runs
``POST /api/auths/signin`` and ``GET /api/auths/`` (with that user's access token) for
``--duration`` seconds each. Sign-in is dominated by the argon2 password hash, which is slow
and memory-hungry by design; ``GET /api/auths/`` measures the JWT check plus one user lookup.

DATABASE_URL and REDIS_URL are passed through from the environment, so the same script measures
PostgreSQL and Redis when they are set; the mode is printed above the table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
from urllib.parse import urlsplit

import httpx
from harness import log_errors, print_header, print_row, run_load, running_server

PASSWORD = "correct horse battery staple"  # noqa: S105 - a throwaway account on a temp server

BENCH_ENV = {
    # The defaults (5 per email, 20 per address per minute) would answer 429 within a second.
    "AUTH_RATE_PER_EMAIL": "1000000/minute",
    "AUTH_RATE_PER_IP": "1000000/minute",
    "JWT_ACCESS_TTL": "86400",  # the token must outlive the longest run
}


def describe(url: str | None, default: str) -> str:
    """A service URL without its credentials, for the header line."""
    if not url:
        return default
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}{parts.path}"


def mode() -> str:
    database = describe(os.environ.get("DATABASE_URL"), "SQLite (embedded)")
    redis = describe(os.environ.get("REDIS_URL"), "none (local-memory cache)")
    pooling = os.environ.get("DB_CONN_MAX_AGE")
    return f"database: {database}; redis: {redis}" + (
        f"; DB_CONN_MAX_AGE={pooling}" if pooling is not None else ""
    )


def loadavg() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(part) for part in text.split(",") if part],
        default=[1, 32],
        help="comma-separated worker counts (default 1,32)",
    )
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap per scenario")
    return parser.parse_args()


async def bench(base_url: str, pid: int, args: argparse.Namespace) -> int:
    """Run every scenario, print a row for each, and return the total number of errors."""
    email = f"bench-{secrets.token_hex(4)}@example.com"
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(
            "/api/auths/signup", json={"name": "Bench", "email": email, "password": PASSWORD}
        )
        response.raise_for_status()
    auth = {"Authorization": f"Bearer {response.json()['token']}"}
    credentials = {"email": email, "password": PASSWORD}

    async def signin(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/api/auths/signin", json=credentials)

    async def me(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/api/auths/")

    scenarios = [
        ("POST /api/auths/signin", signin, None),
        ("GET /api/auths/", me, auth),
    ]
    print_header()
    errors = 0
    for concurrency in args.concurrency:
        for name, request, headers in scenarios:
            result = await run_load(
                request,
                base_url=base_url,
                concurrency=concurrency,
                duration=args.duration,
                max_requests=args.max_requests,
                pid=pid,
                headers=headers,
            )
            print_row(name, concurrency, result)
            errors += result.errors
    return errors


def main() -> None:
    args = parse_args()
    print(f"mode: {mode()}")
    print(f"{args.duration:g} s per scenario; server and load share {os.cpu_count()} CPUs")
    # Other work on the machine skews the figures; the load average says how much.
    print(f"load average before: {loadavg()}")
    with running_server(BENCH_ENV) as server:
        errors = asyncio.run(bench(server.base_url, server.pid, args))
        for line, count in log_errors(server) if errors else []:
            print(f"  server log x{count}: {line}")
    print(f"load average at the end: {loadavg()} (ours included)")
    raise SystemExit(1 if errors else 0)


if __name__ == "__main__":
    main()
