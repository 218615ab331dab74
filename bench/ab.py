"""Two checkouts of ours side by side on one machine, alternating short blocks of load: the
before/after check of a change on a host too noisy for two runs one after the other.

    .venv/bin/python bench/ab.py --before /tmp/wt-before --after . [--rows append,title]
        [--blocks 8] [--block 3] [--concurrency 32]
        [--env KEY=VALUE] [--env-before KEY=VALUE] [--env-after KEY=VALUE]
        [--labels embedded,postgres]

Both servers run at once, each from its own checkout (``git worktree add /tmp/wt-before
<commit>``) with this interpreter, on a fresh DATA_DIR and whatever ``--env`` and
``--env-<side>`` give (on PostgreSQL, give each side a database of its own). Both are seeded
as request_cpu.py seeds. Each row then runs ``--blocks`` blocks of ``--block`` seconds per
side, after one second of warm-up each, in the order before, after, after, before, ... so that
a slow minute of the host falls on both. It prints, per row and side, the median requests/s
and its range over the blocks, the median server CPU per request, and after/before.

The two sides may be one checkout with two configurations: ``--before . --after .
--env-after DATABASE_URL=... --env-after REDIS_URL=... --labels embedded,postgres`` compares
PostgreSQL + Redis with the embedded default in the same alternating way.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from contextlib import ExitStack
from pathlib import Path

import httpx
import request_cpu
from harness import BENCH_ENV, Server, cpu_seconds, run_load, running_server, signup


async def prepare(server: Server, chats: int) -> tuple[dict[str, str], dict[str, str]]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        _, token = await signup(client)
        client.headers["Authorization"] = f"Bearer {token}"
        ids = await request_cpu.seed(client, chats)
    return ids, {"Authorization": f"Bearer {token}"}


async def block(
    server: Server, request: request_cpu.vs_openwebui.RequestFn, **load: object
) -> tuple[float, float, int]:
    """One block of load: requests/s, the server's CPU ms per request, errors."""
    cpu = cpu_seconds(server.pid)
    result = await run_load(request, base_url=server.base_url, **load)  # type: ignore[arg-type]
    cpu = cpu_seconds(server.pid) - cpu
    return result.rps, cpu / max(1, result.requests) * 1000, result.errors


async def main(args: argparse.Namespace) -> None:
    sides = {"before": Path(args.before).resolve(), "after": Path(args.after).resolve()}
    common = dict(item.split("=", 1) for item in args.env)
    own = {"before": args.env_before, "after": args.env_after}
    with ExitStack() as stack:
        servers: dict[str, Server] = {}
        for name, root in sides.items():
            env = {**BENCH_ENV, "LOG_LEVEL": "WARNING", **common}
            env.update(dict(item.split("=", 1) for item in own[name]))
            servers[name] = stack.enter_context(running_server(env, project_dir=root))
        seeded = {name: await prepare(server, args.chats) for name, server in servers.items()}
        label = dict(zip(("before", "after"), args.labels.split(","), strict=True))
        width = max(len(name) for name in label.values())
        print(
            f"{'row':8} {'side':{width}} {'req/s median (range)':>26} {'CPU ms/req':>11}"
            f"  {label['after']}/{label['before']}"
        )
        for row in args.rows.split(","):
            figures: dict[str, list[tuple[float, float, int]]] = {"before": [], "after": []}
            load = {"concurrency": args.concurrency}
            for name, server in servers.items():
                ids, headers = seeded[name]
                await block(server, request_cpu.rows(ids)[row], duration=1, headers=headers, **load)
            order = ["before", "after"]
            for _ in range(args.blocks):
                for name in order:
                    ids, headers = seeded[name]
                    request = request_cpu.rows(ids)[row]
                    figures[name].append(
                        await block(
                            servers[name], request, duration=args.block, headers=headers, **load
                        )
                    )
                order.reverse()
            medians = {}
            for name in ("before", "after"):
                rps = [f[0] for f in figures[name]]
                cpu = statistics.median(f[1] for f in figures[name])
                errors = sum(f[2] for f in figures[name])
                medians[name] = statistics.median(rps)
                ratio = f"  {medians['after'] / medians['before']:.3f}x" if name == "after" else ""
                print(
                    f"{row:8} {label[name]:{width}} {medians[name]:9.1f}"
                    f" ({min(rps):6.1f}-{max(rps):6.1f}) {cpu:11.2f}{ratio}"
                    + (f"  errors {errors}" if errors else ""),
                    flush=True,
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="the checkout before the change")
    parser.add_argument("--after", default=".", help="the checkout after it")
    parser.add_argument("--rows", default="list1,get100,create,append,title")
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--block", type=float, default=3.0, help="seconds per block")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for both")
    parser.add_argument("--env-before", action="append", default=[], help="KEY=VALUE")
    parser.add_argument("--env-after", action="append", default=[], help="KEY=VALUE")
    parser.add_argument("--labels", default="before,after", help="names of the two sides")
    asyncio.run(main(parser.parse_args()))
