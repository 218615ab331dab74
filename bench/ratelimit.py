"""What authentication and the request limit cost per request, and how exact the limit is.

    .venv/bin/python bench/ratelimit.py [--duration 10] [--concurrency 32] [--repeat 3]
                                        [--rounds 3]

1. Layer cost: one server; ``GET /api/version`` (a view that does nothing) at the given
   concurrency with no credentials (no authentication, no limit), with a user's JWT (JWT check,
   user lookup, policy read, one limiter call), with the same user's API key (key lookup
   instead of the JWT check), and with an admin's JWT (authenticated but exempt: no limiter).
   The limit is set high (RATE_LIMIT=1000000000/minute) so nothing is refused.
2. Exactness: two server processes sharing the database and, with REDIS_URL, Redis; for each
   round a fresh user sends 3 x the default limit (100/minute) at once, alternating between
   the servers; the table shows how many were admitted. Without REDIS_URL each process counts
   on its own (the embedded default is meant to run as one process), which the figure shows.

DATABASE_URL and REDIS_URL are passed through from the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import statistics
import tempfile
from collections import Counter
from pathlib import Path

import httpx
from harness import log_errors, mode, print_header, print_row, run_load, running_server

PASSWORD = "correct horse battery staple"  # noqa: S105 - throwaway accounts on a temp server

BENCH_ENV = {
    "AUTH_RATE_PER_EMAIL": "1000000/minute",
    "AUTH_RATE_PER_IP": "1000000/minute",
    "JWT_ACCESS_TTL": "86400",
}


async def signup(client: httpx.AsyncClient, base_url: str, name: str) -> dict:
    email = f"{name}-{secrets.token_hex(4)}@example.com"
    response = await client.post(
        f"{base_url}/api/auths/signup", json={"name": name, "email": email, "password": PASSWORD}
    )
    response.raise_for_status()
    return response.json()


async def layer_cost(base_url: str, pid: int, args: argparse.Namespace) -> int:
    async with httpx.AsyncClient(timeout=30) as client:
        admin = await signup(client, base_url, "admin")  # the first account is the admin
        user = await signup(client, base_url, "user")
        key = await client.post(
            f"{base_url}/api/users/api_key",
            json={"name": "bench"},
            headers={"Authorization": f"Bearer {user['token']}"},
        )
        key.raise_for_status()

    async def version(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/api/version")

    scenarios = [
        ("none", None),
        ("JWT (user, limited)", user["token"]),
        ("API key (limited)", key.json()["api_key"]),
        ("JWT (admin, exempt)", admin["token"]),
    ]
    print(
        f"\nGET /api/version at concurrency {args.concurrency}, {args.duration:g} s per row,"
        f" {args.repeat} interleaved round(s)"
    )
    print_header()
    errors = 0
    rates: dict[str, list[float]] = {name: [] for name, _ in scenarios}
    for _ in range(args.repeat):
        for name, secret in scenarios:
            headers = {"Authorization": f"Bearer {secret}"} if secret else None
            result = await run_load(
                version,
                base_url=base_url,
                concurrency=args.concurrency,
                duration=args.duration,
                pid=pid,
                headers=headers,
            )
            print_row(name, args.concurrency, result)
            rates[name].append(result.rps)
            errors += result.errors
    # With the CPUs saturated, 1/throughput is the CPU time one request costs (server and load
    # generator together); the difference to "none" is what the layer adds.
    base = statistics.median(rates["none"])
    print("\nmedian req/s and the cost added per request relative to no credentials:")
    for name, values in rates.items():
        rps = statistics.median(values)
        added = (1 / rps - 1 / base) * 1000 if rps and base else float("nan")
        print(f"  {name:<22}{rps:>8.1f} req/s  {added:>+7.2f} ms/request")
    return errors


async def burst(urls: list[str], token: str, count: int) -> Counter[int]:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as client:
        responses = await asyncio.gather(
            *(client.get(f"{urls[n % len(urls)]}/api/version") for n in range(count)),
            return_exceptions=True,
        )
    return Counter(r.status_code if isinstance(r, httpx.Response) else 0 for r in responses)


async def exactness(urls: list[str], rounds: int) -> None:
    limit = 100
    print(f"\nexactness: 2 processes, default limit {limit}/minute, {3 * limit} requests at once")
    print(f"{'round':<6}{'admitted':>10}{'refused':>9}{'other':>7}{'limit':>7}")
    async with httpx.AsyncClient(timeout=30) as client:
        await signup(client, urls[0], "admin")  # the first account is the admin (exempt)
        for number in range(1, rounds + 1):
            user = await signup(client, urls[0], f"burst{number}")
            counts = await burst(urls, user["token"], 3 * limit)
            other = sum(n for status, n in counts.items() if status not in {200, 429})
            print(f"{number:<6}{counts[200]:>10}{counts[429]:>9}{other:>7}{limit:>7}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds of scenarios")
    parser.add_argument("--rounds", type=int, default=3, help="exactness rounds")
    args = parser.parse_args()
    print(f"mode: {mode()}; {os.cpu_count()} CPUs shared by servers and load")

    with running_server({**BENCH_ENV, "RATE_LIMIT": "1000000000/minute"}) as server:
        errors = asyncio.run(layer_cost(server.base_url, server.pid, args))
        for line, count in log_errors(server) if errors else []:
            print(f"  server log x{count}: {line}")

    shared = Path(tempfile.mkdtemp(prefix="webui-bench-shared-"))
    try:
        with (
            running_server(BENCH_ENV, data_dir=shared) as first,
            running_server(BENCH_ENV, data_dir=shared) as second,
        ):
            asyncio.run(exactness([first.base_url, second.base_url], args.rounds))
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    raise SystemExit(1 if errors else 0)


if __name__ == "__main__":
    main()
