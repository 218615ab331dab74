"""Benchmark sockets: many connections on one process, fan-out across two, sustained messages/s.

    .venv/bin/python bench/realtime.py [--parts connections,fanout,sustained]
        [--connections 1000] [--messages 200] [--rate 20] [--duration 10]

Three parts, each printing its own table with the mode it ran in:

1. ``connections``: one server (the mode of the environment: embedded by default). Opens
   ``--connections`` Socket.IO websocket connections in batches of ``--batch`` concurrent
   connects, samples the server's RSS, then has every socket join the same chat (one user's
   chat, as many tabs: only the owner may join a chat's room) and samples again. Reports the
   connect and join rates, RSS before/after, the memory per connection and the CPU time the
   server and the bench process used. Every join is announced (``user_join``) to the sockets
   already in the room, so joining N sockets sends at least N(N+1)/2 events; the part waits
   (bounded) until they are delivered. ``--rooms K`` spreads the sockets over K chats instead.
2. ``fanout``: two servers on one PostgreSQL database and one Redis (``--database-url``,
   ``--redis-url``; the database is created with ``createdb`` and dropped at the end).
   ``--members`` sockets, half on each server, join one chat; a separate socket on the first
   server sends ``--messages`` messages at ``--rate`` per second, each carrying its send time.
   Reports the send-to-receive latency for members on the sender's process and on the other,
   and lost deliveries.
3. ``sustained``: ``--senders`` sockets send messages as fast as their acknowledgements come
   back, for ``--duration`` seconds, into a chat with ``--listeners`` listening sockets. Runs on
   one server in the environment's mode and, when ``fanout`` runs too, on the two-server pair
   (senders and listeners split across both).

The server runs with the connection and event limits raised (see BENCH_ENV) and with the
websocket size limits that ``dev.py serve`` passes to daphne. The bench process is the only
client; it shares the machine's CPUs with the servers, so its own event loop is part of every
latency measured here. Exits with status 1 if anything failed or was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import resource
import secrets
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import socketio
from harness import BENCH_ENV as AUTH_ENV
from harness import (
    PASSWORD,
    MemorySampler,
    Server,
    describe,
    loadavg,
    log_errors,
    mode,
    process_tree,
    rss_mib,
    running_server,
)

from webui_backend.server import WEBSOCKET_LIMITS

DAPHNE_ARGS = WEBSOCKET_LIMITS  # as webui_backend.server adds them
BENCH_ENV = {
    **AUTH_ENV,
    "REALTIME_MAX_CONNECTIONS_PER_USER": "5000",  # all sockets are one user's tabs
    "REALTIME_EVENTS_PER_SECOND": "1000",
    "REALTIME_EVENT_BURST": "2000",
}
CONNECT_TIMEOUT = 60.0  # per connect or call, seconds
SETTLE_QUIET = 5.0  # a wait for deliveries ends after this long without progress


# --- Small helpers ---------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (the same definition as harness.LoadResult)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * q / 100)) - 1]


def num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A fixed-width table: first column left-aligned, the others right-aligned."""
    rows = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        first, *rest = zip(cells, widths, strict=True)
        return f"{first[0]:<{first[1]}}" + "".join(f"  {c:>{w}}" for c, w in rest)

    print(line(headers))
    print("-" * len(line(headers)))
    for row in rows:
        print(line(row))
    print(flush=True)


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def raise_open_files_limit() -> int:
    """Raise RLIMIT_NOFILE to the hard limit (the servers we start inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def settle(progress: Callable[[], int], target: int, limit: float) -> float:
    """Wait until ``progress()`` reaches ``target``, stalls for SETTLE_QUIET s, or ``limit`` s."""
    started = time.perf_counter()
    last, last_change = progress(), started
    while progress() < target:
        now = time.perf_counter()
        if now - started > limit or now - last_change > SETTLE_QUIET:
            break
        await asyncio.sleep(0.05)
        if progress() != last:
            last, last_change = progress(), time.perf_counter()
    return time.perf_counter() - started


def report_log(server: Server, label: str) -> int:
    """Print the server log's ERROR lines and most frequent exceptions; returns the ERROR count.

    Call it while the server's context is still open: the harness deletes the log on exit.
    """
    try:
        lines = server.log_path.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    logged = Counter(line.split(" ", 3)[-1][:120] for line in lines if " ERROR " in line)
    errors = log_errors(server, limit=5)
    if not logged and not errors:
        print(f"  server log ({label}): no errors")
        return 0
    print(f"  server log ({label}): {sum(logged.values())} ERROR lines")
    for line, count in logged.most_common(5):
        print(f"    x{count}: {line}")
    for line, count in errors:
        print(f"    exception x{count}: {line[:160]}")
    return sum(logged.values())


def keep_log(server: Server, log_dir: Path | None, name: str) -> None:
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(server.log_path, log_dir / f"{name}.log")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its descendants so far (0 for those gone)."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


class CpuClock:
    """CPU seconds used by the server and by this process since the last ``lap()``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._last = self._now()

    def _now(self) -> tuple[float, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return cpu_seconds(self.pid), usage.ru_utime + usage.ru_stime

    def lap(self) -> tuple[float, float]:
        now = self._now()
        used = (now[0] - self._last[0], now[1] - self._last[1])
        self._last = now
        return used


# --- REST setup ------------------------------------------------------------------------------


async def sign_up(base_url: str) -> str:
    """A fresh account's access token."""
    email = f"bench-rt-{secrets.token_hex(4)}@example.com"
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(
            "/api/auths/signup", json={"name": "Bench", "email": email, "password": PASSWORD}
        )
        response.raise_for_status()
        return response.json()["token"]


async def new_chat(base_url: str, token: str) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        response = await client.post("/api/chats/new", json={"chat": {}})
        response.raise_for_status()
        return response.json()["id"]


# --- Sockets ---------------------------------------------------------------------------------

Handler = Callable[..., Awaitable[None]]


@dataclass
class Opened:
    """The outcome of opening (or joining) a batch of sockets."""

    clients: list[socketio.AsyncClient] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0


def error_kind(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text[:80]}" if text else type(exc).__name__


async def open_sockets(
    url: str, token: str, count: int, *, batch: int, handlers: dict[str, Handler], limit: float
) -> Opened:
    """Connect ``count`` Socket.IO clients (websocket transport), ``batch`` at a time."""
    result = Opened()
    started = time.perf_counter()

    async def one() -> None:
        client = socketio.AsyncClient(reconnection=False)
        for event, handler in handlers.items():
            client.on(event, handler)
        began = time.perf_counter()
        try:
            await asyncio.wait_for(
                client.connect(
                    url,
                    auth={"token": token},
                    transports=["websocket"],
                    wait_timeout=CONNECT_TIMEOUT,
                ),
                CONNECT_TIMEOUT + 5,
            )
        except Exception as exc:
            result.errors[error_kind(exc)] += 1
            with contextlib.suppress(Exception):
                await client.disconnect()
            return
        result.latencies_ms.append((time.perf_counter() - began) * 1000)
        result.clients.append(client)

    for group in chunks(range(count), batch):
        if time.perf_counter() - started > limit:
            result.errors["not tried (time limit)"] += count - len(result.clients)
            break
        await asyncio.gather(*(one() for _ in group))
    result.elapsed_s = time.perf_counter() - started
    return result


async def call_all(
    clients: Sequence[socketio.AsyncClient],
    event: str,
    data: dict[str, Any],
    *,
    batch: int,
    limit: float,
) -> Opened:
    """``call(event, data)`` on every client, ``batch`` at a time; acks with ok false are errors."""
    result = Opened()
    started = time.perf_counter()

    async def one(client: socketio.AsyncClient) -> None:
        began = time.perf_counter()
        try:
            ack = await client.call(event, data, timeout=CONNECT_TIMEOUT)
        except Exception as exc:
            result.errors[error_kind(exc)] += 1
            return
        if isinstance(ack, dict) and ack.get("ok"):
            result.latencies_ms.append((time.perf_counter() - began) * 1000)
            result.clients.append(client)
        else:
            code = ack.get("code") if isinstance(ack, dict) else ack
            result.errors[f"ack {code}"] += 1

    for group in chunks(list(clients), batch):
        if time.perf_counter() - started > limit:
            result.errors["not tried (time limit)"] += len(clients) - len(result.clients)
            break
        await asyncio.gather(*(one(client) for client in group))
    result.elapsed_s = time.perf_counter() - started
    return result


async def close_all(clients: Sequence[socketio.AsyncClient], *, batch: int, limit: float) -> float:
    """Disconnect every client (bounded); returns the time it took."""
    started = time.perf_counter()

    async def one(client: socketio.AsyncClient) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), 10)

    for group in chunks(list(clients), batch):
        remaining = limit - (time.perf_counter() - started)
        if remaining <= 0:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(one(c) for c in group)), remaining)
    return time.perf_counter() - started


class Events:
    """Counts every event of the given names received by a set of sockets."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def handler(self, name: str) -> Handler:
        async def count(*_: Any) -> None:
            self.counts[name] += 1

        return count


# --- Part 1: connections ---------------------------------------------------------------------


async def connections_part(server: Server, args: argparse.Namespace) -> int:
    token = await sign_up(server.base_url)
    chats = [await new_chat(server.base_url, token) for _ in range(args.rooms)]
    events = Events()
    handlers = {name: events.handler(name) for name in ("user_join", "user_leave", "message")}
    handlers["error"] = events.handler("error")

    # Warm up: one socket connects, joins, sends and leaves, so lazily imported code and the
    # first database connection are not charged to the connections measured below.
    warm = await open_sockets(
        server.base_url, token, 1, batch=1, handlers={}, limit=CONNECT_TIMEOUT
    )
    if warm.clients:
        client, chat_id = warm.clients[0], await new_chat(server.base_url, token)
        await client.call("join_chat", {"chat_id": chat_id}, timeout=CONNECT_TIMEOUT)
        message = {"role": "user", "content": "warm-up"}
        await client.call("message", {"chat_id": chat_id, "message": message}, timeout=30)
        await close_all(warm.clients, batch=1, limit=15)
    await asyncio.sleep(2)
    before = rss_mib(server.pid)
    n = args.connections

    with MemorySampler(server.pid) as sampler:
        cpu = CpuClock(server.pid)
        opened = await open_sockets(
            server.base_url, token, n, batch=args.batch, handlers=handlers, limit=args.time_limit
        )
        connect_cpu = cpu.lap()
        await asyncio.sleep(2)
        connected_rss = rss_mib(server.pid)
        cpu.lap()
        joined = Opened()
        started = time.perf_counter()
        for room, chat_id in enumerate(chats):  # socket i joins chat i % rooms
            members = opened.clients[room :: args.rooms]
            done = await call_all(
                members,
                "join_chat",
                {"chat_id": chat_id},
                batch=args.batch,
                limit=args.time_limit - (time.perf_counter() - started),
            )
            joined.clients += done.clients
            joined.latencies_ms += done.latencies_ms
            joined.errors += done.errors
        joined.elapsed_s = time.perf_counter() - started
        # Every join is announced to every socket in its room, itself included. A socket hears
        # the joins stored after its own join started (the gap-filling sends any it missed), so
        # joining one at a time gives n(n+1)/2 deliveries per room of n and concurrent joins up
        # to n*n.
        sizes = [len(joined.clients[room :: args.rooms]) for room in range(args.rooms)]
        least_joins = sum(size * (size + 1) // 2 for size in sizes)
        most_joins = sum(size * size for size in sizes)
        settle_s = await settle(
            lambda: events.counts["user_join"], most_joins, limit=args.time_limit
        )
        join_cpu = cpu.lap()
        await asyncio.sleep(2)
        joined_rss = rss_mib(server.pid)
        alive = sum(client.connected for client in opened.clients)
        close_s = await close_all(opened.clients, batch=args.batch, limit=args.time_limit)
        leaves = events.counts["user_leave"]
    peak = sampler.peak_mib

    ok = len(opened.clients)
    room_text = "one chat" if args.rooms == 1 else f"{args.rooms} chats (socket i in chat i % K)"
    print(f"mode: {mode()}; one daphne process")
    print(
        f"{n} sockets, {args.batch} connects or joins at a time, joining {room_text}; "
        f"server RSS before: {before:.1f} MiB; peak: {peak:.1f} MiB"
    )
    headers = [
        "phase",
        "sockets ok",
        "errors",
        "time s",
        "per s",
        "p50 ms",
        "p99 ms",
        "RSS MiB",
        "+MiB",
        "KiB/socket",
        "CPU s server/bench",
    ]

    def row(name: str, done: Opened, rss: float, used: tuple[float, float]) -> list[object]:
        count = len(done.clients)
        grown = rss - before
        return [
            name,
            count,
            sum(done.errors.values()),
            num(done.elapsed_s, 2),
            num(count / done.elapsed_s if done.elapsed_s else None),
            num(percentile(done.latencies_ms, 50)),
            num(percentile(done.latencies_ms, 99)),
            num(rss),
            num(grown),
            num(grown * 1024 / count if count else None),
            f"{used[0]:.1f}/{used[1]:.1f}",
        ]

    print_table(
        headers,
        [
            row("connect", opened, connected_rss, connect_cpu),
            row("join (+ announcements)", joined, joined_rss, join_cpu),
        ],
    )
    per_connection = (joined_rss - before) / ok if ok else 0.0
    print(
        f"memory per joined connection: {per_connection:.3f} MiB ({per_connection * 1024:.1f} KiB)"
    )
    print(
        f"user_join deliveries: {events.counts['user_join']:,} (at least {least_joins:,}, at "
        f"most {most_joins:,}; waited {settle_s:.1f} s after the last join ack, included in the "
        f"join row's CPU); still connected before closing: {alive}/{ok}; error events: "
        f"{events.counts['error']}"
    )
    print(
        f"closing all sockets took {close_s:.1f} s (user_leave deliveries seen meanwhile: "
        f"{leaves:,})"
    )
    for name, done in (("connect", opened), ("join", joined)):
        for kind, count in done.errors.most_common(5):
            print(f"  {name} error x{count}: {kind}")
    failures = (
        sum(opened.errors.values())
        + sum(joined.errors.values())
        + events.counts["error"]
        + max(0, least_joins - events.counts["user_join"])
        + (ok - alive)
        + report_log(server, "connections")
    )
    print(flush=True)
    return failures


# --- Part 2: fan-out -------------------------------------------------------------------------


class FanoutTally:
    """Receive times of the benchmark's messages, per member socket."""

    def __init__(self) -> None:
        self.latencies_ms: dict[str, list[float]] = {}
        self.seen: dict[tuple[int, int], int] = {}  # (member, message) -> deliveries
        self.foreign = 0

    def handler(self, member: int, group: str) -> Handler:
        latencies = self.latencies_ms.setdefault(group, [])

        async def on_message(data: Any = None) -> None:
            received = time.perf_counter_ns()
            try:
                tag, index, sent = data["message"]["content"].split()
            except (TypeError, KeyError, ValueError, AttributeError):
                self.foreign += 1
                return
            if tag != "rt":
                self.foreign += 1
                return
            key = (member, int(index))
            self.seen[key] = self.seen.get(key, 0) + 1
            if self.seen[key] == 1:
                latencies.append((received - int(sent)) / 1e6)

        return on_message

    def delivered(self) -> int:
        return len(self.seen)

    def duplicates(self) -> int:
        return sum(count - 1 for count in self.seen.values())


async def fanout_part(servers: Sequence[Server], token: str, args: argparse.Namespace) -> int:
    first, second = servers
    chat_id = await new_chat(first.base_url, token)
    tally = FanoutTally()
    events = Events()
    halves = [(first, "same process", args.members - args.members // 2)]
    halves.append((second, "other process", args.members // 2))
    members: list[socketio.AsyncClient] = []
    setup_errors: Counter[str] = Counter()
    member_index = 0
    for server, group, count in halves:
        opened = Opened()
        for _ in range(count):  # one at a time: each needs its own handler
            handler = tally.handler(member_index, group)
            member_index += 1
            batch = await open_sockets(
                server.base_url,
                token,
                1,
                batch=1,
                handlers={"message": handler, "error": events.handler("error")},
                limit=CONNECT_TIMEOUT,
            )
            opened.clients += batch.clients
            opened.errors += batch.errors
        joined = await call_all(
            opened.clients, "join_chat", {"chat_id": chat_id}, batch=args.batch, limit=120
        )
        members += joined.clients
        setup_errors += opened.errors + joined.errors
    sender_open = await open_sockets(
        first.base_url, token, 1, batch=1, handlers={}, limit=CONNECT_TIMEOUT
    )
    setup_errors += sender_open.errors
    if not sender_open.clients:
        print(f"fan-out: the sender could not connect: {dict(setup_errors)}")
        return 1
    sender = sender_open.clients[0]
    await asyncio.sleep(3)  # let the user_join announcements drain before timing anything

    ack_ms: list[float] = []
    ack_errors: Counter[str] = Counter()

    async def send(index: int) -> None:
        sent = time.perf_counter_ns()
        message = {"role": "user", "content": f"rt {index} {sent}"}
        try:
            ack = await sender.call(
                "message", {"chat_id": chat_id, "message": message}, timeout=CONNECT_TIMEOUT
            )
        except Exception as exc:
            ack_errors[error_kind(exc)] += 1
            return
        if isinstance(ack, dict) and ack.get("ok"):
            ack_ms.append((time.perf_counter_ns() - sent) / 1e6)
        else:
            ack_errors[f"ack {ack.get('code') if isinstance(ack, dict) else ack}"] += 1

    samplers = [MemorySampler(server.pid) for server in servers]
    for sampler in samplers:
        sampler.__enter__()
    try:
        clocks = [CpuClock(server.pid) for server in servers]
        tasks = []
        started = time.perf_counter()
        for index in range(args.messages):
            delay = started + index / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(index)))
        send_s = time.perf_counter() - started
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*tasks), CONNECT_TIMEOUT + 5)
        expected = args.messages * len(members)
        drain_s = await settle(tally.delivered, expected, limit=60)
        used = [clock.lap() for clock in clocks]
    finally:
        for sampler in samplers:
            sampler.__exit__(None, None, None)
    alive = sum(client.connected for client in members)
    await close_all([*members, sender], batch=args.batch, limit=60)

    print(
        f"mode: PostgreSQL {describe(args.database_url, '')} + Redis "
        f"{describe(args.redis_url, '')}, two daphne processes"
    )
    print(
        f"{len(members)} members in one chat ({halves[0][2]} on the sender's process, "
        f"{halves[1][2]} on the other); {args.messages} messages at {args.rate:g}/s "
        f"(sent in {send_s:.1f} s, {args.messages / send_s:.1f}/s); "
        f"waited {drain_s:.1f} s after the last ack"
    )
    rows = []
    for _, group, count in halves:
        latencies = tally.latencies_ms.get(group, [])
        rows.append(
            [
                f"{group} ({count})",
                f"{len(latencies):,}",
                f"{args.messages * count - len(latencies):,}",
                num(percentile(latencies, 50)),
                num(percentile(latencies, 99)),
                num(max(latencies) if latencies else None),
            ]
        )
    everything = [value for values in tally.latencies_ms.values() for value in values]
    rows.append(
        [
            f"all members ({len(members)})",
            f"{len(everything):,}",
            f"{expected - len(everything):,}",
            num(percentile(everything, 50)),
            num(percentile(everything, 99)),
            num(max(everything) if everything else None),
        ]
    )
    rows.append(
        [
            "sender's ack",
            f"{len(ack_ms):,}",
            f"{args.messages - len(ack_ms):,}",
            num(percentile(ack_ms, 50)),
            num(percentile(ack_ms, 99)),
            num(max(ack_ms) if ack_ms else None),
        ]
    )
    print_table(["fan-out latency", "delivered", "lost", "p50 ms", "p99 ms", "max ms"], rows)
    print(
        f"duplicates: {tally.duplicates()}; other message events: {tally.foreign}; "
        f"error events: {events.counts['error']}; members still connected: "
        f"{alive}/{len(members)}; peak RSS: "
        + ", ".join(f"{sampler.peak_mib:.1f} MiB" for sampler in samplers)
        + "; CPU s (servers, bench): "
        + ", ".join(f"{server:.1f}" for server, _ in used)
        + f", {used[0][1]:.1f}"
    )
    for kind, count in (setup_errors + ack_errors).most_common(5):
        print(f"  error x{count}: {kind}")
    logged = sum(
        report_log(server, name) for server, name in zip(servers, ("first", "second"), strict=True)
    )
    print(flush=True)
    return (
        logged
        + sum(setup_errors.values())
        + sum(ack_errors.values())
        + (expected - len(everything))
        + tally.duplicates()
        + events.counts["error"]
        + (args.members - len(members))
    )


# --- Part 3: sustained -----------------------------------------------------------------------


async def sustained_part(
    servers: Sequence[Server], token: str, args: argparse.Namespace, label: str
) -> tuple[list[object], int]:
    """K senders as fast as acks come back into a chat with L listeners; returns a table row."""
    chat_id = await new_chat(servers[0].base_url, token)
    events = Events()
    handlers = {"message": events.handler("message"), "error": events.handler("error")}
    listeners: list[socketio.AsyncClient] = []
    errors: Counter[str] = Counter()
    for index, server in enumerate(servers):
        share = args.listeners // len(servers) + (index < args.listeners % len(servers))
        opened = await open_sockets(
            server.base_url, token, share, batch=args.batch, handlers=handlers, limit=120
        )
        joined = await call_all(
            opened.clients, "join_chat", {"chat_id": chat_id}, batch=args.batch, limit=120
        )
        listeners += joined.clients
        errors += opened.errors + joined.errors
    senders: list[socketio.AsyncClient] = []
    for index in range(args.senders):
        server = servers[index % len(servers)]
        opened = await open_sockets(
            server.base_url, token, 1, batch=1, handlers={}, limit=CONNECT_TIMEOUT
        )
        senders += opened.clients
        errors += opened.errors
    await asyncio.sleep(2)  # the user_join announcements drain
    events.counts.clear()

    ack_ms: list[float] = []
    acked = 0
    deadline = time.perf_counter() + args.duration

    async def sender_loop(client: socketio.AsyncClient, number: int) -> None:
        nonlocal acked
        for index in range(args.max_messages):
            if time.perf_counter() >= deadline:
                return
            began = time.perf_counter()
            message = {"role": "user", "content": f"s{number} {index}"}
            try:
                ack = await client.call(
                    "message", {"chat_id": chat_id, "message": message}, timeout=30
                )
            except Exception as exc:
                errors[error_kind(exc)] += 1
                continue
            if isinstance(ack, dict) and ack.get("ok"):
                acked += 1
                ack_ms.append((time.perf_counter() - began) * 1000)
            else:
                errors[f"ack {ack.get('code') if isinstance(ack, dict) else ack}"] += 1

    samplers = [MemorySampler(server.pid) for server in servers]
    for sampler in samplers:
        sampler.__enter__()
    try:
        clocks = [CpuClock(server.pid) for server in servers]
        started = time.perf_counter()
        await asyncio.gather(*(sender_loop(c, i) for i, c in enumerate(senders)))
        elapsed = time.perf_counter() - started
        used = [clock.lap() for clock in clocks]
        delivered_in_time = events.counts["message"]
        expected = acked * len(listeners)
        drain_s = await settle(lambda: events.counts["message"], expected, limit=60)
    finally:
        for sampler in samplers:
            sampler.__exit__(None, None, None)
    alive = sum(client.connected for client in listeners)
    await close_all([*listeners, *senders], batch=args.batch, limit=60)
    delivered = events.counts["message"]
    lost = max(0, expected - delivered)
    row = [
        label,
        len(senders),
        len(listeners),
        num(elapsed, 1),
        f"{acked:,}",
        num(acked / elapsed),
        num(percentile(ack_ms, 50)),
        num(percentile(ack_ms, 99)),
        f"{delivered:,}",
        num(delivered_in_time / elapsed),
        num(drain_s, 1),
        f"{lost:,}",
        sum(errors.values()) + events.counts["error"],
        "/".join(f"{sampler.peak_mib:.0f}" for sampler in samplers),
        "+".join(f"{server:.1f}" for server, _ in used) + f"/{used[0][1]:.1f}",
    ]
    for kind, count in errors.most_common(5):
        print(f"  {label} error x{count}: {kind}")
    if alive < len(listeners):
        print(f"  {label}: only {alive}/{len(listeners)} listeners still connected")
    failures = sum(errors.values()) + events.counts["error"] + lost + (len(listeners) - alive)
    return row, failures


SUSTAINED_HEADERS = [
    "mode",
    "senders",
    "listeners",
    "time s",
    "acked",
    "msg/s",
    "ack p50 ms",
    "ack p99 ms",
    "delivered",
    "deliv/s",
    "drain s",
    "lost",
    "errors",
    "peak RSS MiB",
    "CPU s server/bench",
]


def print_sustained(rows: list[list[object]], args: argparse.Namespace) -> None:
    print(
        f"sustained: {args.senders} senders as fast as acks come back for {args.duration:g} s; "
        f"deliv/s counts deliveries within that time, drain s is how long the rest took"
    )
    print_table(SUSTAINED_HEADERS, rows)


# --- PostgreSQL database for the pair ----------------------------------------------------------


@contextlib.contextmanager
def fresh_database(url: str) -> Iterator[None]:
    """createdb the database of ``url`` (it must not exist yet), dropdb it afterwards."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    options = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    options += ["-U", parts.username or "postgres"]
    subprocess.run(["createdb", *options, name], check=True)  # noqa: S603, S607
    try:
        yield
    finally:
        subprocess.run(["dropdb", *options, "--if-exists", name], check=False)  # noqa: S603, S607


# --- Main ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--parts",
        type=lambda text: [part for part in text.split(",") if part],
        default=["connections", "fanout", "sustained"],
        help="comma-separated: connections,fanout,sustained (default all three)",
    )
    parser.add_argument("--connections", type=int, default=1000, help="part 1 (default 1000)")
    parser.add_argument("--batch", type=int, default=50, help="concurrent connects or joins")
    parser.add_argument(
        "--rooms", type=int, default=1, help="part 1: chats the sockets are spread over"
    )
    parser.add_argument("--time-limit", type=float, default=300, help="part 1 phase cap, s")
    parser.add_argument("--members", type=int, default=100, help="part 2 room size")
    parser.add_argument("--messages", type=int, default=200, help="part 2 messages")
    parser.add_argument("--rate", type=float, default=20, help="part 2 messages per second")
    parser.add_argument("--duration", type=float, default=10, help="part 3 seconds")
    parser.add_argument("--senders", type=int, default=8, help="part 3 sender sockets")
    parser.add_argument("--listeners", type=int, default=20, help="part 3 listener sockets")
    parser.add_argument("--max-messages", type=int, default=20_000, help="part 3 cap per sender")
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:55432/bench_rt",
        help="part 2's database; created with createdb and dropped at the end",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12", help="part 2's Redis")
    parser.add_argument("--log-dir", type=Path, help="copy the servers' logs here")
    args = parser.parse_args()
    unknown = set(args.parts) - {"connections", "fanout", "sustained"}
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    return args


def main() -> None:
    args = parse_args()
    files = raise_open_files_limit()
    print(f"{os.cpu_count()} CPUs shared by the servers, this client and other work")
    print(f"open files limit: {files}; load average before: {loadavg()}", flush=True)
    failures = 0

    if "connections" in args.parts:
        with running_server(BENCH_ENV, daphne_args=DAPHNE_ARGS) as server:
            print("\n== 1. connections on one process ==", flush=True)
            failures += asyncio.run(connections_part(server, args))
            keep_log(server, args.log_dir, "connections")
    if "sustained" in args.parts:
        # A fresh server, so the connections part's leftovers do not weigh on it.
        with running_server(BENCH_ENV, daphne_args=DAPHNE_ARGS) as server:
            token = asyncio.run(sign_up(server.base_url))
            row, failed = asyncio.run(sustained_part([server], token, args, "one process"))
            failures += failed + report_log(server, "sustained, one process")
            keep_log(server, args.log_dir, "sustained")
        print(f"\n== 3. sustained messages/s ({mode()}) ==")
        print_sustained([row], args)

    if "fanout" in args.parts:
        print("\n== 2. fan-out across two processes ==", flush=True)
        pair_env = {
            **BENCH_ENV,
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "SECRET_KEY": secrets.token_urlsafe(50),  # one token is valid on both
        }
        with (
            fresh_database(args.database_url),
            running_server(pair_env, daphne_args=DAPHNE_ARGS) as first,
            running_server(pair_env, daphne_args=DAPHNE_ARGS) as second,
        ):
            token = asyncio.run(sign_up(first.base_url))
            failures += asyncio.run(fanout_part([first, second], token, args))
            if "sustained" in args.parts:
                row, failed = asyncio.run(
                    sustained_part([first, second], token, args, "two processes, PG + Redis")
                )
                print("\n== 3b. sustained messages/s on the pair ==")
                print_sustained([row], args)
                failures += failed + report_log(first, "first") + report_log(second, "second")
            keep_log(first, args.log_dir, "pair-first")
            keep_log(second, args.log_dir, "pair-second")

    print(f"load average at the end: {loadavg()} (ours included)")
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    main()
