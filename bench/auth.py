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

import httpx
from harness import PASSWORD, run_bench_main, run_scenarios, scenario_parser, signup


def parse_args() -> argparse.Namespace:
    return scenario_parser(__doc__.splitlines()[0]).parse_args()


async def bench(base_url: str, pid: int, args: argparse.Namespace) -> int:
    """Run every scenario, print a row for each, and return the total number of errors."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        email, token = await signup(client)
    auth = {"Authorization": f"Bearer {token}"}
    credentials = {"email": email, "password": PASSWORD}

    async def signin(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/api/auths/signin", json=credentials)

    async def me(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/api/auths/")

    scenarios = [
        ("POST /api/auths/signin", signin, None),
        ("GET /api/auths/", me, auth),
    ]
    return await run_scenarios(scenarios, base_url=base_url, pid=pid, args=args)


def main() -> None:
    run_bench_main(bench, parse_args())


if __name__ == "__main__":
    main()
