"""Ours against Open WebUI on the same machine, the same data and one load generator.

    .venv/bin/python bench/vs_openwebui.py                     # 10 s rows, 3 rounds (~25 min)
    .venv/bin/python bench/vs_openwebui.py --duration 3 --rounds 3 \\
        --openwebui-venv /path/to/a/venv/with/open-webui        # an existing install, read-only
    .venv/bin/python bench/vs_openwebui.py --postgres postgresql://... --redis redis://.../6

Open WebUI is a package this script installs and runs, nothing more: ``open-webui==0.12.4``
(``--openwebui-version``) goes into a virtualenv of its own, by default under the temporary
folder (``$OPENWEBUI_VENV`` or ``--openwebui-venv`` to choose one), with the CPU build of
PyTorch first, as our own install has; an existing virtualenv is reused as it is and never
installed into. Both servers run on loopback with their defaults and one process each, on
fresh data folders under ``--work-dir``: Open WebUI as ``open-webui serve`` (one uvicorn
worker, SQLite, offline), ours as ``python3 dev.py serve`` does it (``python -m
webui_backend.server --migrate``: the migrations, then daphne, in one process). One stand-in
upstream (tests/upstream.py) serves both; its streams are 200 chunks.

Each side is seeded through its own API with the same data: one account (the first, so an
admin on both), 1,000 chats of two messages and one chat of 100 messages of ~500 characters
(imported: Open WebUI's ``POST /api/v1/chats/import``, ours ``POST /api/chats/import``). Then
one load generator measures, for each row and concurrency, ``--rounds`` rounds of one
``--duration`` block per server, the servers alternating block by block so that the
machine's drift falls on both alike:

- list the first page (Open WebUI pages by 60: ours is asked for ``limit=60``), page 10;
- get the 100-message chat;
- create a chat (Open WebUI's frontend body on both, when ours accepts it; else ours gets
  its own shape and the table says so);
- append a message (Open WebUI: ``POST /api/v1/chats/{id}/messages/{new id}``, its upsert of
  one message; ours ``POST /api/chats/{id}/messages``), each block on a fresh chat;
- update a chat's title (``POST .../chats/{id}`` with ``{"chat": {"title": ...}}`` on both);
- a streamed completion of 200 chunks through ``POST /api/chat/completions`` (both have that
  route): chunks/s over all streams and time to first token, at ``--stream-concurrency``.

Before the load: start to healthy on a fresh data folder and again on the existing one, and
the idle RSS; after it, the RSS. The table gives the median of the rounds with the range and
the ratio ours / Open WebUI (for latencies, lower is better).

With ``--postgres`` (an empty database: the script runs ``manage.py flush`` on it first) and
``--redis``, a third server runs ours on PostgreSQL + Redis and joins the alternation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from harness import (
    BENCH_ENV,
    PASSWORD,
    PROJECT_DIR,
    LoadResult,
    MemorySampler,
    cpu_seconds,
    loadavg,
    process_tree,
    rss_mib,
    run_load,
)

OPENWEBUI_VERSION = "0.12.4"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
STREAM_CHUNKS = 200
LONG_CHAT_MESSAGES = 100
PAGE = 60  # Open WebUI's page size
EMAIL = "bench@example.com"
QUESTION = ("How does this part of the system work? Could you give me an example, please? " * 7)[
    :500
]
ANSWER = (
    "The request goes through the router, which picks a handler; the handler validates the "
    "input, does one or two queries and serializes the result, for example like this. "
) * 4
ANSWER = ANSWER[:500]

RequestFn = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


# --- the data, in Open WebUI's shape (ours is derived from it) -------------------------------


def message_tree(count: int, stamp: int, question: str, answer: str) -> list[dict[str, Any]]:
    """``count`` messages alternating user and assistant, each the child of the one before."""
    return [
        {
            "id": f"m{index}",
            "parentId": f"m{index - 1}" if index else None,
            "childrenIds": [f"m{index + 1}"] if index + 1 < count else [],
            "role": "user" if index % 2 == 0 else "assistant",
            "content": question if index % 2 == 0 else answer,
            "timestamp": stamp + index,
            **({"model": "mock"} if index % 2 else {"models": ["mock"]}),
        }
        for index in range(count)
    ]


def openwebui_chat(title: str, messages: list[dict[str, Any]], *, stamp_ms: int) -> dict:
    """The ``chat`` object Open WebUI's frontend sends to ``POST /api/v1/chats/new``."""
    return {
        "id": "",
        "title": title,
        "models": ["mock"],
        "params": {},
        "history": {
            "messages": {m["id"]: m for m in messages},
            "currentId": messages[-1]["id"] if messages else None,
        },
        "messages": messages,
        "tags": [],
        "timestamp": stamp_ms,
    }


def our_export_chat(title: str, messages: list[dict[str, Any]], *, stamp: int) -> dict:
    """The same chat in ours' export format (what ``POST /api/chats/import`` reads)."""
    return {
        "title": title,
        "models": ["mock"],
        "folder_id": None,
        "pinned": False,
        "archived": False,
        "tags": [],
        "current_id": messages[-1]["id"] if messages else None,
        "created_at": stamp,
        "updated_at": stamp,
        "messages": [
            {
                "id": m["id"],
                "parent_id": m["parentId"],
                "role": m["role"],
                "content": m["content"],
                "model": m.get("model", ""),
                "timestamp": m["timestamp"],
            }
            for m in messages
        ],
    }


@dataclass(frozen=True)
class Dataset:
    base: int  # Unix seconds of the oldest short chat
    chats: int

    def short(self) -> list[tuple[str, int, list[dict[str, Any]]]]:
        return [
            (
                f"Chat {i}",
                self.base + i * 60,
                message_tree(2, self.base + i * 60, "hello", "hi there"),
            )
            for i in range(self.chats)
        ]

    def long(self) -> tuple[str, int, list[dict[str, Any]]]:
        stamp = self.base - 86_400  # older than all the others: last in the list
        return "Long chat", stamp, message_tree(LONG_CHAT_MESSAGES, stamp, QUESTION, ANSWER)


def new_chat_body() -> dict[str, Any]:
    """What Open WebUI's frontend posts for a new chat with one question."""
    now = int(time.time())
    question = {
        "id": str(uuid.uuid4()),
        "parentId": None,
        "childrenIds": [],
        "role": "user",
        "content": "hi",
        "timestamp": now,
        "models": ["mock"],
    }
    return {"chat": openwebui_chat("New Chat", [question], stamp_ms=now * 1000)}


# --- processes --------------------------------------------------------------------------------


class Ports:
    def __init__(self, first: int | None) -> None:
        self.next = first

    def take(self) -> int:
        if self.next is None:
            from harness import free_port

            return free_port()
        port, self.next = self.next, self.next + 1
        return port


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> float:
    """Seconds from now until ``url`` answers 200 (raises if the process dies or times out)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"{log.name}: exited with {proc.returncode}:\n{tail}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} not healthy after {timeout:.0f} s (log: {log})")


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class Side:
    """One server under test: how to start it and how to ask it for each row."""

    name = ""
    chats_prefix = ""
    health_path = "/health"

    def __init__(self, work: Path, port: int, upstream: str) -> None:
        self.work, self.port, self.upstream = work, port, upstream
        self.base_url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""
        self.long_id = ""
        self.title_id = ""
        self.append_id = ""
        self.create_note = ""
        self.start_fresh_s: float | None = None
        self.start_existing_s: float | None = None
        self.idle_rss: float | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def command(self) -> tuple[list[str], dict[str, str], Path]:
        raise NotImplementedError

    def start(self, timeout: float = 900) -> float:
        """Start the server and return the seconds until it was healthy."""
        command, env, cwd = self.command()
        log = self.work / f"{self.name.replace(' ', '_')}-{int(time.time())}.log"
        started = time.perf_counter()
        with log.open("wb") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - fixed commands of ours
                command,
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_healthy(self.base_url + self.health_path, self.proc, log, timeout)
        return time.perf_counter() - started

    def stop(self) -> None:
        stop(self.proc)
        self.proc = None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.proc.pid

    # what differs between the two APIs
    async def signup(self, client: httpx.AsyncClient) -> None:
        raise NotImplementedError

    async def seed(self, client: httpx.AsyncClient, data: Dataset) -> None:
        raise NotImplementedError

    async def new_chat(self, client: httpx.AsyncClient) -> str:
        """A fresh two-message chat (the target of the title updates and appends)."""
        raise NotImplementedError

    def rows(self) -> dict[str, RequestFn]:
        raise NotImplementedError

    def stream_request(self) -> tuple[str, dict[str, Any]]:
        body = {
            "model": "mock",
            "stream": True,
            "messages": [{"role": "user", "content": "Tell me a long story."}],
            "mock_chunks": STREAM_CHUNKS,
        }
        return "/api/chat/completions", body


class OpenWebUI(Side):
    name = "Open WebUI"

    def __init__(self, work: Path, port: int, upstream: str, venv: Path) -> None:
        super().__init__(work, port, upstream)
        self.venv = venv
        self.data = work / "openwebui-data"

    def command(self) -> tuple[list[str], dict[str, str], Path]:
        self.data.mkdir(parents=True, exist_ok=True)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DATABASE_", "REDIS_", "CACHE_", "DJANGO_"))
        }
        env.update(
            {
                "DATA_DIR": str(self.data),
                "WEBUI_SECRET_KEY": "bench-secret-key-not-for-production",
                "OFFLINE_MODE": "true",  # no model downloads, no update checks
                "UVICORN_WORKERS": "1",
                "ENABLE_OLLAMA_API": "false",
                "OPENAI_API_BASE_URL": self.upstream,
                "OPENAI_API_KEY": "sk-stand-in",
                "PATH": f"{self.venv / 'bin'}:{env.get('PATH', '')}",
            }
        )
        command = [str(self.venv / "bin" / "open-webui"), "serve"]
        return [*command, "--host", "127.0.0.1", "--port", str(self.port)], env, self.data

    async def signup(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/api/v1/auths/signup", json={"name": "Bench", "email": EMAIL, "password": PASSWORD}
        )
        response.raise_for_status()
        self.token = response.json()["token"]

    async def seed(self, client: httpx.AsyncClient, data: Dataset) -> None:
        def form(title: str, stamp: int, messages: list[dict]) -> dict:
            return {
                "chat": openwebui_chat(title, messages, stamp_ms=stamp * 1000),
                "meta": {},
                "pinned": False,
                "archived": False,
                "created_at": stamp,
                "updated_at": stamp,
            }

        short = data.short()
        for first in range(0, len(short), 500):
            batch = [form(*chat) for chat in short[first : first + 500]]
            response = await client.post("/api/v1/chats/import", json={"chats": batch})
            response.raise_for_status()
        response = await client.post("/api/v1/chats/import", json={"chats": [form(*data.long())]})
        response.raise_for_status()
        self.long_id = response.json()[0]["id"]

    async def new_chat(self, client: httpx.AsyncClient) -> str:
        response = await client.post("/api/v1/chats/new", json=new_chat_body())
        response.raise_for_status()
        return response.json()["id"]

    def rows(self) -> dict[str, RequestFn]:
        def get(path: str, params: dict | None = None) -> RequestFn:
            return lambda client: client.get(path, params=params)

        async def create(client: httpx.AsyncClient) -> httpx.Response:
            return await client.post("/api/v1/chats/new", json=new_chat_body())

        async def append(client: httpx.AsyncClient) -> httpx.Response:
            path = f"/api/v1/chats/{self.append_id}/messages/{uuid.uuid4()}"
            return await client.post(path, json={"content": "hi"})

        async def title(client: httpx.AsyncClient) -> httpx.Response:
            body = {"chat": {"title": f"Title {time.perf_counter_ns()}"}}
            return await client.post(f"/api/v1/chats/{self.title_id}", json=body)

        return {
            "list page 1": get("/api/v1/chats/", {"page": 1}),
            "list page 10": get("/api/v1/chats/", {"page": 10}),
            "get 100-msg chat": get(f"/api/v1/chats/{self.long_id}"),
            "create chat": create,
            "append message": append,
            "update title": title,
        }


class Ours(Side):
    name = "ours"

    def __init__(
        self, work: Path, port: int, upstream: str, *, env: dict[str, str], label: str
    ) -> None:
        super().__init__(work, port, upstream)
        self.name = label
        self.extra_env = env
        self.data = work / f"{label.replace(' ', '_').replace('+', '')}-data"
        self.create_shape = "openwebui"

    def environment(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("DATABASE_URL", "REDIS_URL", "CACHE_KEY_PREFIX")
        }
        env.update(BENCH_ENV)
        env.update(
            {
                "DATA_DIR": str(self.data),
                "OPENAI_API_BASE_URLS": self.upstream,
                "LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def command(self) -> tuple[list[str], dict[str, str], Path]:
        self.data.mkdir(parents=True, exist_ok=True)
        python = sys.executable
        # As ``python3 dev.py serve``: migrate, then daphne with our graceful stop.
        command = [python, "-m", "webui_backend.server", "--migrate"]
        command += ["-b", "127.0.0.1", "-p", str(self.port), "webui_backend.asgi:application"]
        return command, self.environment(), PROJECT_DIR

    def flush(self) -> None:
        """Empty the configured database (its tables made first if it has none)."""
        for command in (["migrate", "--no-input", "-v", "0"], ["flush", "--no-input"]):
            subprocess.run(  # noqa: S603 - manage.py, fixed arguments
                [sys.executable, "manage.py", *command],
                cwd=PROJECT_DIR,
                env=self.environment(),
                check=True,
            )

    async def signup(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/api/auths/signup", json={"name": "Bench", "email": EMAIL, "password": PASSWORD}
        )
        response.raise_for_status()
        self.token = response.json()["token"]

    async def seed(self, client: httpx.AsyncClient, data: Dataset) -> None:
        export = {"format": "webui-backend.chats", "version": 1}
        short = data.short()
        for first in range(0, len(short), 500):
            batch = [our_export_chat(t, m, stamp=s) for t, s, m in short[first : first + 500]]
            response = await client.post("/api/chats/import", json={**export, "chats": batch})
            response.raise_for_status()
        title, stamp, messages = data.long()
        body = {**export, "chats": [our_export_chat(title, messages, stamp=stamp)]}
        response = await client.post("/api/chats/import", json=body)
        response.raise_for_status()
        self.long_id = response.json()[0]["id"]
        # Open WebUI's own body for a new chat, if ours takes it (else ours' own shape).
        response = await client.post("/api/chats/new", json=new_chat_body())
        if response.status_code == 400:
            self.create_shape = "ours"
            self.create_note = (
                "ours answered 400 to Open WebUI's new-chat body, so its creates used ours' "
                f"own shape: {response.text[:200]}"
            )
        else:
            response.raise_for_status()

    def our_new_chat_body(self) -> dict[str, Any]:
        if self.create_shape == "openwebui":
            return new_chat_body()
        question = {"role": "user", "content": "hi"}
        return {"chat": {"title": "New Chat", "models": ["mock"], "messages": [question]}}

    async def new_chat(self, client: httpx.AsyncClient) -> str:
        body = {
            "chat": {
                "title": "target",
                "messages": [
                    {"role": "user", "content": "hello"},
                    {"role": "assistant", "content": "hi there"},
                ],
            }
        }
        response = await client.post("/api/chats/new", json=body)
        response.raise_for_status()
        return response.json()["id"]

    def rows(self) -> dict[str, RequestFn]:
        def get(path: str, params: dict | None = None) -> RequestFn:
            return lambda client: client.get(path, params=params)

        async def create(client: httpx.AsyncClient) -> httpx.Response:
            return await client.post("/api/chats/new", json=self.our_new_chat_body())

        async def append(client: httpx.AsyncClient) -> httpx.Response:
            path = f"/api/chats/{self.append_id}/messages"
            return await client.post(path, json={"role": "user", "content": "hi"})

        async def title(client: httpx.AsyncClient) -> httpx.Response:
            body = {"chat": {"title": f"Title {time.perf_counter_ns()}"}}
            return await client.post(f"/api/chats/{self.title_id}", json=body)

        return {
            "list page 1": get("/api/chats/", {"limit": PAGE}),
            "list page 10": get("/api/chats/", {"page": 10, "limit": PAGE}),
            "get 100-msg chat": get(f"/api/chats/{self.long_id}"),
            "create chat": create,
            "append message": append,
            "update title": title,
        }


# --- installing Open WebUI ------------------------------------------------------------------


def installed_version(venv: Path) -> str | None:
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    result = subprocess.run(  # noqa: S603
        [str(python), "-c", "import importlib.metadata as m; print(m.version('open-webui'))"],
        capture_output=True,
        text=True,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def ensure_openwebui(venv: Path, version: str, torch_index: str) -> None:
    """Install ``open-webui==version`` into ``venv`` unless it is there already.

    A virtualenv that exists is used as it is (never installed into); one this function made
    carries a marker until its installation finished, so an interrupted install is resumed.
    """
    marker = venv / ".bench-installing"
    found = installed_version(venv)
    if found == version and not marker.exists():
        return
    if venv.exists() and not marker.exists():
        raise SystemExit(
            f"{venv} exists but has open-webui {found or 'not installed'}, not {version}; "
            "give another --openwebui-venv (this script never installs into a virtualenv it "
            "did not make)"
        )
    print(f"installing open-webui=={version} into {venv} (a few GB, minutes) ...", flush=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base_python, "-m", "venv", str(venv)], check=True)  # noqa: S603
    marker.touch()
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)  # noqa: S603
    # CPU PyTorch first: a bare "torch" dependency pulls the CUDA build (GBs more).
    subprocess.run([*pip, "torch", "--index-url", torch_index], check=True)  # noqa: S603
    subprocess.run([*pip, f"open-webui=={version}"], check=True)  # noqa: S603
    marker.unlink()


# --- the load -------------------------------------------------------------------------------


@dataclass
class StreamResult:
    elapsed_s: float = 0.0
    chunks: int = 0
    streams: int = 0
    errors: int = 0
    ttft_ms: list[float] = field(default_factory=list)
    error_kinds: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.chunks / self.elapsed_s if self.elapsed_s else 0.0


def nearest_rank(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * q / 100)) - 1]


async def one_stream(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], result: StreamResult
) -> None:
    started = time.perf_counter()
    first = None
    chunks = 0
    try:
        async with client.stream("POST", path, json=body) as response:
            if response.status_code != 200:
                await response.aread()
                result.errors += 1
                result.error_kinds[f"HTTP {response.status_code}: {response.text[:100]}"] += 1
                return
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                if line == "data: [DONE]":
                    break
                data = json.loads(line[6:])
                choices = data.get("choices") or []
                if choices and (choices[0].get("delta") or {}).get("content"):
                    chunks += 1
                    if first is None:
                        first = time.perf_counter()
    except httpx.HTTPError as exc:
        result.errors += 1
        result.error_kinds[type(exc).__name__] += 1
        return
    if chunks != STREAM_CHUNKS:
        result.errors += 1
        result.error_kinds[f"{chunks} chunks, not {STREAM_CHUNKS}"] += 1
    result.chunks += chunks
    result.streams += 1
    result.ttft_ms.append(((first or time.perf_counter()) - started) * 1000)


async def run_streams(side: Side, *, concurrency: int, duration: float) -> StreamResult:
    path, body = side.stream_request()
    result = StreamResult()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=side.base_url, headers=side.headers, limits=limits, timeout=120
    ) as client:
        deadline = time.perf_counter() + duration

        async def worker() -> None:
            while time.perf_counter() < deadline:
                await one_stream(client, path, body, result)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.elapsed_s = time.perf_counter() - started
    return result


# --- the table ------------------------------------------------------------------------------


@dataclass
class Cell:
    """One row, concurrency and server, over the rounds."""

    rates: list[float] = field(default_factory=list)
    p50s: list[float] = field(default_factory=list)
    p99s: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # the server's CPU per request (chunk)
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)

    def add(self, rate: float, p50: float | None, p99: float | None, errors: int, kinds) -> None:
        self.rates.append(rate)
        if p50 is not None:
            self.p50s.append(p50)
        if p99 is not None:
            self.p99s.append(p99)
        self.errors += errors
        self.error_kinds.update(kinds)

    @staticmethod
    def _median(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    @property
    def rate(self) -> float | None:
        return self._median(self.rates)

    @property
    def p50(self) -> float | None:
        return self._median(self.p50s)

    @property
    def p99(self) -> float | None:
        return self._median(self.p99s)

    @property
    def cpu(self) -> float | None:
        return self._median(self.cpu_ms)

    def rate_text(self) -> str:
        if not self.rates:
            return "-"
        low, high = min(self.rates), max(self.rates)
        return f"{self.rate:,.1f} ({low:,.0f}-{high:,.0f})"


def tree_cpu_seconds(pid: int) -> float:
    """CPU time used so far by ``pid`` and its descendants."""
    return sum(cpu_seconds(member) for member in process_tree(pid))


def num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def ratio(ours: float | None, theirs: float | None) -> str:
    if not ours or not theirs:
        return "-"
    return f"{ours / theirs:.2f}x"


def print_table(
    sides: list[Side], cells: dict[tuple[str, int, str], Cell], keys: list[tuple[str, int]]
) -> None:
    theirs, *ours = sides
    head = ["row", "conc"]
    for side in sides:
        head += [f"{side.name} req/s (range)", "p50 ms", "p99 ms", "CPU ms"]
    head += [f"{side.name} / {theirs.name} req/s" for side in ours]
    head += [f"{side.name} / {theirs.name} CPU" for side in ours]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---", "--:"] + ["--:"] * (len(head) - 2)) + "|")
    for row, conc in keys:
        unit = "chunks/s" if row.startswith("stream") else ""
        line = [row + (f" ({unit}; p50/p99: TTFT)" if unit else ""), str(conc)]
        for side in sides:
            cell = cells[(row, conc, side.name)]
            errors = f" **{cell.errors} err**" if cell.errors else ""
            digits = 3 if row.startswith("stream") else 2
            line += [cell.rate_text() + errors, num(cell.p50), num(cell.p99), num(cell.cpu, digits)]
        for side in ours:
            line.append(
                ratio(cells[(row, conc, side.name)].rate, cells[(row, conc, theirs.name)].rate)
            )
        for side in ours:
            line.append(
                ratio(cells[(row, conc, side.name)].cpu, cells[(row, conc, theirs.name)].cpu)
            )
        print("| " + " | ".join(line) + " |")


# --- main -----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_venv = os.environ.get("OPENWEBUI_VENV") or str(
        Path(tempfile.gettempdir()) / "webui-bench-openwebui" / "venv"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per block")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,32", help="for the REST rows")
    parser.add_argument("--stream-concurrency", default="1,32,64")
    parser.add_argument("--chats", type=int, default=1000, help="short chats to seed")
    parser.add_argument("--rows", default="", help="only these rows (comma-separated prefixes)")
    parser.add_argument("--openwebui-venv", type=Path, default=Path(default_venv))
    parser.add_argument("--openwebui-version", default=OPENWEBUI_VERSION)
    parser.add_argument("--torch-index", default=TORCH_CPU_INDEX)
    parser.add_argument("--work-dir", type=Path, help="data folders and logs (default: a temp dir)")
    parser.add_argument("--first-port", type=int, help="ports from here on (default: any free)")
    parser.add_argument("--postgres", help="also ours on this (empty) PostgreSQL database")
    parser.add_argument("--redis", help="... and this Redis (with --postgres)")
    parser.add_argument("--skip-openwebui", action="store_true", help="ours only (quick checks)")
    parser.add_argument("--ours-env", action="append", default=[], help="KEY=VALUE for ours")
    return parser.parse_args()


async def prepare(side: Side, data: Dataset) -> None:
    async with httpx.AsyncClient(base_url=side.base_url, timeout=600) as client:
        await side.signup(client)
        client.headers.update(side.headers)
        started = time.perf_counter()
        await side.seed(client, data)
        side.title_id = await side.new_chat(client)
        print(f"  {side.name}: seeded in {time.perf_counter() - started:.1f} s", flush=True)
        # The 100-message chat, for the record.
        rows = side.rows()
        response = await rows["get 100-msg chat"](client)
        response.raise_for_status()
        print(f"  {side.name}: the 100-message chat is {len(response.content):,} bytes")


async def measure(
    sides: list[Side], args: argparse.Namespace
) -> tuple[dict[tuple[str, int, str], Cell], list[tuple[str, int]]]:
    cells: dict[tuple[str, int, str], Cell] = {}
    keys: list[tuple[str, int]] = []
    wanted = [p.strip() for p in args.rows.split(",") if p.strip()]
    rest_rows = list(sides[0].rows())
    plan = [(row, int(c)) for c in args.concurrency.split(",") for row in rest_rows]
    plan += [("stream 200 chunks", int(c)) for c in args.stream_concurrency.split(",")]
    plan = [(r, c) for r, c in plan if not wanted or any(r.startswith(w) for w in wanted)]
    for row, conc in plan:
        keys.append((row, conc))
        for round_number in range(args.rounds):
            # Alternate the order too, so neither server always runs first.
            order = sides if round_number % 2 == 0 else list(reversed(sides))
            for side in order:
                cell = cells.setdefault((row, conc, side.name), Cell())
                if row == "append message":
                    async with httpx.AsyncClient(
                        base_url=side.base_url, headers=side.headers, timeout=60
                    ) as client:
                        side.append_id = await side.new_chat(client)
                cpu_before = tree_cpu_seconds(side.pid)
                if row.startswith("stream"):
                    s = await run_streams(side, concurrency=conc, duration=args.duration)
                    cell.cpu_ms.append(
                        (tree_cpu_seconds(side.pid) - cpu_before) * 1000 / max(1, s.chunks)
                    )
                    cell.add(
                        s.rate,
                        nearest_rank(s.ttft_ms, 50),
                        nearest_rank(s.ttft_ms, 99),
                        s.errors,
                        s.error_kinds,
                    )
                else:
                    result: LoadResult = await run_load(
                        side.rows()[row],
                        base_url=side.base_url,
                        concurrency=conc,
                        duration=args.duration,
                        headers=side.headers,
                    )
                    used = tree_cpu_seconds(side.pid) - cpu_before
                    cell.cpu_ms.append(used * 1000 / max(1, result.requests))
                    cell.add(result.rps, result.p50, result.p99, result.errors, result.error_kinds)
        summary = "; ".join(
            f"{side.name} {cells[(row, conc, side.name)].rate_text()}" for side in sides
        )
        print(f"  {row} @ {conc}: {summary}", flush=True)
    return cells, keys


def main() -> None:
    args = parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="webui-vs-openwebui-"))
    work.mkdir(parents=True, exist_ok=True)
    ports = Ports(args.first_port)
    print(f"load average at the start: {loadavg()}; {os.cpu_count()} CPUs; work dir {work}")
    if not args.skip_openwebui:
        ensure_openwebui(args.openwebui_venv, args.openwebui_version, args.torch_index)

    upstream_port = ports.take()
    upstream_url = f"http://127.0.0.1:{upstream_port}/v1"
    upstream = subprocess.Popen(  # noqa: S603 - our stand-in, fixed arguments
        [sys.executable, "-m", "tests.upstream", "--port", str(upstream_port)],
        cwd=PROJECT_DIR,
        env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)},
        start_new_session=True,
    )
    extra = dict(item.split("=", 1) for item in args.ours_env)
    sides: list[Side] = []
    if not args.skip_openwebui:
        sides.append(OpenWebUI(work, ports.take(), upstream_url, args.openwebui_venv))
    sides.append(Ours(work, ports.take(), upstream_url, env=extra, label="ours"))
    if args.postgres:
        env = {**extra, "DATABASE_URL": args.postgres}
        if args.redis:
            env |= {"REDIS_URL": args.redis, "CACHE_KEY_PREFIX": f"bench-{uuid.uuid4().hex[:8]}"}
        sides.append(Ours(work, ports.take(), upstream_url, env=env, label="ours PG+Redis"))
    errors = 0
    try:
        wait_healthy(f"{upstream_url}/models", upstream, work / "upstream", 30)
        # Start to healthy: a fresh data folder, then the same folder again.
        for side in sides:
            if isinstance(side, Ours) and "DATABASE_URL" in side.extra_env:
                side.flush()
            side.start_fresh_s = side.start()
            side.stop()
            side.start_existing_s = side.start()
            time.sleep(2)
            side.idle_rss = rss_mib(side.pid)
            print(
                f"  {side.name}: healthy after {side.start_fresh_s:.1f} s (fresh), "
                f"{side.start_existing_s:.1f} s (existing); idle RSS {side.idle_rss:.0f} MiB",
                flush=True,
            )
        data = Dataset(base=int(time.time()) - args.chats * 60 - 86_400, chats=args.chats)
        for side in sides:
            asyncio.run(prepare(side, data))
        for side in sides:
            if side.create_note:
                print(f"  note: {side.create_note}")
        samplers = [MemorySampler(side.pid) for side in sides]
        for sampler in samplers:
            sampler.__enter__()
        cells, keys = asyncio.run(measure(sides, args))
        for sampler in samplers:
            sampler.__exit__(None, None, None)
        after = {side.name: rss_mib(side.pid) for side in sides}
        print()
        print(
            f"{args.duration:g} s per block, {args.rounds} rounds, servers alternating; "
            f"median (range) of the rounds; load average at the end: {loadavg()}. CPU ms: the "
            "server's own CPU time per request (per chunk for streams), which a shared "
            "machine's load disturbs less than throughput"
        )
        print()
        print_table(sides, cells, keys)
        print()
        print("| | " + " | ".join(side.name for side in sides) + " |")
        print("|---|" + "--:|" * len(sides))
        print(
            "| start to healthy, fresh data folder (s) | "
            + " | ".join(num(side.start_fresh_s) for side in sides)
            + " |"
        )
        print(
            "| start to healthy, existing data folder (s) | "
            + " | ".join(num(side.start_existing_s) for side in sides)
            + " |"
        )
        print("| idle RSS (MiB) | " + " | ".join(num(side.idle_rss, 0) for side in sides) + " |")
        print(
            "| RSS after load (MiB) | "
            + " | ".join(num(after[side.name], 0) for side in sides)
            + " |"
        )
        print(
            "| peak RSS under load (MiB) | "
            + " | ".join(num(sampler.peak_mib, 0) for sampler in samplers)
            + " |"
        )
        for (row, conc, name), cell in cells.items():
            errors += cell.errors
            if cell.error_kinds:
                kinds = ", ".join(f"{k} x{n}" for k, n in cell.error_kinds.most_common(3))
                print(f"  errors {name} {row} @ {conc}: {kinds}")
    finally:
        for side in sides:
            side.stop()
        stop(upstream)
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    raise SystemExit(1 if errors else 0)


if __name__ == "__main__":
    main()
