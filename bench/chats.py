"""Benchmark the chat list, a long chat, chat creation and message appends against the real server.

    .venv/bin/python bench/chats.py [--duration 10] [--concurrency 1,32] [--chats 10000]

Starts the server through bench/harness.py, signs up one user and seeds, through the real
``POST /api/chats/import``, 10,000 chats of two messages each (distinct ``updated_at``, so the
list order is meaningful) plus one chat of 1,000 messages in a linear chain. Then, for each
concurrency, runs for ``--duration`` seconds each:

- ``GET /api/chats/`` first page (default limit 50);
- a deep page by offset, ``?page=150&limit=50`` (~7,450 chats deep);
- the same depth by keyset, ``?cursor=...&limit=50``, with a cursor found once during setup by
  walking ``X-Next-Cursor``;
- ``GET /api/chats/{id}`` of the 1,000-message chat (its response size is printed);
- ``POST /api/chats/new`` with one short message;
- ``POST /api/chats/{id}/messages`` appending to one dedicated chat. Appends to one chat take
  that chat's row lock (on SQLite: the database's write lock), so they serialize by design;
  the chat also grows by every append of the run.

The writes go to the same user, so the list grows by the chats created (the offset page shifts;
the cursor page does not). DATABASE_URL and REDIS_URL are passed through from the environment;
the mode is printed above the table.
"""

from __future__ import annotations

import argparse
import time

import httpx
from harness import run_bench_main, run_scenarios, scenario_parser, signup

EXPORT = {"format": "webui-backend.chats", "version": 1}
IMPORT_BATCH = 2_000  # chats per import request (~1 MB of JSON)
LONG_CHAT_MESSAGES = 1_000
DEEP_PAGE = 150  # ?page=150&limit=50 starts after 7,450 chats
PAGE_LIMIT = 50
WALK_LIMIT = 200  # the largest page the list accepts, to walk to the deep cursor quickly

# Message bodies of the long chat: a short question and a few paragraphs of answer.
QUESTION = "Could you explain how this part of the system works, with an example? " * 2
ANSWER = (
    "Sure. The request goes through the router, which picks a handler; the handler validates "
    "the input, does one or two queries and serializes the result. For example: ... "
) * 5


def exported_chat(title: str, stamp: int, messages: list[dict]) -> dict:
    return {
        "title": title,
        "models": [],
        "folder_id": None,
        "pinned": False,
        "archived": False,
        "tags": [],
        "current_id": messages[-1]["id"] if messages else None,
        "created_at": stamp,
        "updated_at": stamp,
        "messages": messages,
    }


def chain(count: int, stamp: int, question: str, answer: str) -> list[dict]:
    """``count`` messages alternating user and assistant, each the child of the one before."""
    return [
        {
            "id": f"m{index}",
            "parent_id": f"m{index - 1}" if index else None,
            "role": "user" if index % 2 == 0 else "assistant",
            "content": question if index % 2 == 0 else answer,
            "model": "",
            "usage": None,
            "timestamp": stamp + index,
        }
        for index in range(count)
    ]


async def seed(client: httpx.AsyncClient, chats: int) -> str:
    """Import the many short chats and the long one; returns the long chat's id."""
    base = int(time.time()) - chats * 60 - 86_400
    started = time.perf_counter()
    for first in range(0, chats, IMPORT_BATCH):
        batch = [
            exported_chat(f"Chat {i}", base + i * 60, chain(2, base + i * 60, "hello", "hi there"))
            for i in range(first, min(first + IMPORT_BATCH, chats))
        ]
        t0 = time.perf_counter()
        response = await client.post("/api/chats/import", json={**EXPORT, "chats": batch})
        response.raise_for_status()
        print(
            f"  imported chats {first}-{first + len(batch) - 1} in {time.perf_counter() - t0:.1f} s"
        )
    # Older than all the others: last in the list, so it never shows on the pages measured.
    stamp = base - 86_400
    long_chat = exported_chat(
        "Long chat", stamp, chain(LONG_CHAT_MESSAGES, stamp, QUESTION, ANSWER)
    )
    t0 = time.perf_counter()
    response = await client.post("/api/chats/import", json={**EXPORT, "chats": [long_chat]})
    response.raise_for_status()
    print(
        f"  imported one chat of {LONG_CHAT_MESSAGES} messages in {time.perf_counter() - t0:.1f} s"
    )
    print(f"seeding took {time.perf_counter() - started:.1f} s")
    return response.json()[0]["id"]


async def deep_cursor(client: httpx.AsyncClient, depth: int) -> str:
    """The ``X-Next-Cursor`` after the first ``depth`` chats of the list, found by walking it."""
    cursor, seen = None, 0
    while seen < depth:
        params: dict[str, str | int] = {"limit": min(WALK_LIMIT, depth - seen)}
        if cursor:
            params["cursor"] = cursor
        response = await client.get("/api/chats/", params=params)
        response.raise_for_status()
        seen += len(response.json())
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            raise RuntimeError(f"the list ended after {seen} chats, before {depth}")
    return cursor


def parse_args() -> argparse.Namespace:
    parser = scenario_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--chats", type=int, default=10_000, help="short chats to seed (default 10000)"
    )
    return parser.parse_args()


async def bench(base_url: str, pid: int, args: argparse.Namespace) -> int:
    """Seed, run every scenario, print a row for each, and return the total number of errors."""
    async with httpx.AsyncClient(base_url=base_url, timeout=600) as client:
        _, token = await signup(client)
        auth = {"Authorization": f"Bearer {token}"}
        client.headers.update(auth)

        long_id = await seed(client, args.chats)
        response = await client.get(f"/api/chats/{long_id}")
        response.raise_for_status()
        messages = len(response.json()["chat"]["history"]["messages"])
        print(
            f"GET /api/chats/{{id}} of the long chat: {len(response.content):,} bytes "
            f"({len(response.content) / 2**20:.2f} MiB, {messages} messages)"
        )
        response = await client.post(
            "/api/chats/new", json={"chat": {"title": "append target", "messages": []}}
        )
        response.raise_for_status()
        target_id = response.json()["id"]
        depth = (DEEP_PAGE - 1) * PAGE_LIMIT
        cursor = await deep_cursor(client, min(depth, args.chats))
        print(f"cursor found after {min(depth, args.chats)} chats (walked with limit={WALK_LIMIT})")

    first_page = {"limit": PAGE_LIMIT}
    deep_page = {"page": DEEP_PAGE, "limit": PAGE_LIMIT}
    cursor_page = {"cursor": cursor, "limit": PAGE_LIMIT}
    new_chat = {"chat": {"title": "bench", "messages": [{"role": "user", "content": "hi"}]}}
    message = {"role": "user", "content": "hi"}

    async def list_first(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/api/chats/", params=first_page)

    async def list_deep(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/api/chats/", params=deep_page)

    async def list_cursor(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/api/chats/", params=cursor_page)

    async def get_long(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(f"/api/chats/{long_id}")

    async def create(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/api/chats/new", json=new_chat)

    async def append(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(f"/api/chats/{target_id}/messages", json=message)

    scenarios = [
        ("GET list page 1", list_first),
        (f"GET list page={DEEP_PAGE}", list_deep),
        (f"GET list cursor@{depth}", list_cursor),
        (f"GET chat {LONG_CHAT_MESSAGES} msgs", get_long),
        ("POST /api/chats/new", create),
        ("POST message append", append),
    ]
    scenarios_with_auth = [(name, request, auth) for name, request in scenarios]
    return await run_scenarios(scenarios_with_auth, base_url=base_url, pid=pid, args=args)


def main() -> None:
    run_bench_main(bench, parse_args())


if __name__ == "__main__":
    main()
