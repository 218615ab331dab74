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
import secrets

import httpx
from harness import PASSWORD, run_bench_main, run_scenarios


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
    return await run_scenarios(scenarios, base_url=base_url, pid=pid, args=args)


def main() -> None:
    run_bench_main(bench, parse_args())


if __name__ == "__main__":
    main()
