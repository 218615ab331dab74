"""Server CPU per request on the everyday routes, ours only: the quick check between changes.

    .venv/bin/python bench/request_cpu.py [--concurrency 32] [--duration 5] [--rows list1,get100]
        [--env REQUEST_SLOTS=0] [--spy /tmp/profile] [--server uvicorn [--server-arg=--http=h11]]

Starts ours through bench/harness.py (migrate, daphne, a fresh DATA_DIR), seeds it as
vs_openwebui.py seeds it (1,000 two-message chats and one of 100 messages, imported), then per
row: one second of warm-up and ``--duration`` seconds of load from ``--concurrency`` workers.
It prints requests/s, p50/p99 and the server's own CPU time per request, the figure that the
load generator sharing the machine disturbs least. With ``--spy`` each row is also sampled by
py-spy (``pip install py-spy``) into ``<spy>-<row>.txt`` (raw, one line per stack).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import vs_openwebui
from harness import BENCH_ENV, cpu_seconds, run_load, running_server, signup

PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))


async def seed(client: httpx.AsyncClient, chats: int) -> dict[str, str]:
    data = vs_openwebui.Dataset(int(time.time()) - 30 * 86400, chats)
    export = {"format": "webui-backend.chats", "version": 1}
    short = data.short()
    for first in range(0, len(short), 500):
        batch = [vs_openwebui.our_export_chat(t, m, stamp=s) for t, s, m in short[first:][:500]]
        (await client.post("/api/chats/import", json={**export, "chats": batch})).raise_for_status()
    title, stamp, messages = data.long()
    body = {**export, "chats": [vs_openwebui.our_export_chat(title, messages, stamp=stamp)]}
    response = await client.post("/api/chats/import", json=body)
    response.raise_for_status()
    ids = {"long": response.json()[0]["id"]}
    for name in ("append", "title"):
        body = {"chat": {"title": name, "messages": [{"role": "user", "content": "hello"}]}}
        response = await client.post("/api/chats/new", json=body)
        response.raise_for_status()
        ids[name] = response.json()["id"]
    return ids


def rows(ids: dict[str, str]) -> dict[str, vs_openwebui.RequestFn]:
    message = {"role": "user", "content": "more text"}
    return {
        "list1": lambda c: c.get("/api/chats/", params={"limit": 60}),
        "list10": lambda c: c.get("/api/chats/", params={"page": 10, "limit": 60}),
        "get100": lambda c: c.get(f"/api/chats/{ids['long']}"),
        "create": lambda c: c.post("/api/chats/new", json=vs_openwebui.new_chat_body()),
        "append": lambda c: c.post(f"/api/chats/{ids['append']}/messages", json=message),
        "title": lambda c: c.post(
            f"/api/chats/{ids['title']}", json={"chat": {"title": str(uuid.uuid4())}}
        ),
        "auths": lambda c: c.get("/api/auths/"),
        "health": lambda c: c.get("/health"),
    }


async def main(args: argparse.Namespace) -> None:
    env = {**BENCH_ENV, "LOG_LEVEL": "WARNING"}
    env.update(dict(item.split("=", 1) for item in args.env))
    server_args = args.server_arg if args.server == "uvicorn" else []
    with running_server(env, server=args.server, daphne_args=server_args) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
            _, token = await signup(client)
            client.headers["Authorization"] = f"Bearer {token}"
            ids = await seed(client, args.chats)
        headers = {"Authorization": f"Bearer {token}"}
        table = rows(ids)
        for name in args.rows.split(","):
            request = table[name]
            load = {"base_url": server.base_url, "concurrency": args.concurrency}
            await run_load(request, duration=1, headers=headers, **load)
            spy = None
            if args.spy:
                out = Path(f"{args.spy}-{name}.txt")
                command = [PY_SPY, "record", "-p", str(server.pid), "-o", str(out), "-f", "raw"]
                command += ["-r", "500", "-d", str(int(args.duration))]
                spy = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603
            cpu = cpu_seconds(server.pid)
            result = await run_load(request, duration=args.duration, headers=headers, **load)
            cpu = cpu_seconds(server.pid) - cpu
            if spy is not None:
                spy.wait()
            print(
                f"{name:8} c={args.concurrency:<3} {result.rps:7.1f} req/s"
                f"  p50 {result.p50:6.1f} ms  p99 {result.p99:7.1f} ms  errors {result.errors}"
                f"  CPU {cpu / max(1, result.requests) * 1000:.2f} ms/request",
                flush=True,
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="list1,list10,get100,create,append,title")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    parser.add_argument("--spy", help="py-spy each row into <spy>-<row>.txt")
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument(
        "--server-arg", action="append", default=[], help="for uvicorn, e.g. --http=httptools"
    )
    asyncio.run(main(parser.parse_args()))
