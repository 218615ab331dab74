"""A small load-test harness that runs the real server and measures it from the outside.

Usage from a benchmark script (see bench/auth.py)::

    import asyncio
    import httpx
    from harness import print_header, print_row, run_load, running_server

    async def health(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/health")

    with running_server({"AUTH_RATE_PER_IP": "1000000/minute"}) as server:
        result = asyncio.run(
            run_load(health, base_url=server.base_url, pid=server.pid, concurrency=8, duration=5)
        )
    print_header()
    print_row("health", 8, result)

``running_server`` runs ``manage.py migrate`` and then ours (``webui_backend.server``, as
``dev.py serve`` runs it; or uvicorn) on a free loopback port, always
with a fresh temporary DATA_DIR (database file, secret key, uploads), so ``./data`` is never
touched. DATABASE_URL and REDIS_URL are taken from the calling environment as they are: with a
DATABASE_URL the rows live in that database instead of the temporary SQLite file.

``run_load`` drives one request callable from N concurrent workers sharing one
``httpx.AsyncClient`` (HTTP/1.1, pool sized to N) until a deadline or a request budget, whichever
comes first. Every non-2xx response or exception counts as an error. While it runs a thread
samples the server's RSS (process and children) from /proc; at the end it also reads the
process's VmHWM (lifetime peak, not just this run).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

PROJECT_DIR = Path(__file__).resolve().parent.parent
PAGE_MIB = os.sysconf("SC_PAGE_SIZE") / 2**20

RequestFn = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


# --- Server ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    base_url: str
    pid: int
    data_dir: Path
    log_path: Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(
    extra_env: Mapping[str, str] | None = None,
    *,
    startup_timeout: float = 60.0,
    stop_timeout: float = 10.0,
    data_dir: Path | None = None,
    daphne_args: Sequence[str] = (),
    server: str = "daphne",
    project_dir: Path = PROJECT_DIR,
) -> Iterator[Server]:
    """Migrate, start ours (daphne, as ``dev.py serve`` starts it) on a free loopback port,
    wait for /health, and clean up on exit. ``project_dir`` is the checkout whose code runs
    (bench/ab.py runs two).

    With ``data_dir`` the server uses that folder (several servers may share one: same SQLite
    file and secret key) and leaves it in place; the caller removes it. ``daphne_args`` are
    added to daphne's command line (e.g. the websocket size limits ``dev.py serve`` passes).
    """
    owns_dir = data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="webui-bench-")) if data_dir is None else data_dir
    port = free_port()
    log_path = data_dir / ("server.log" if owns_dir else f"server-{port}.log")
    env = {**os.environ, **(extra_env or {}), "DATA_DIR": str(data_dir)}
    env.setdefault("PYTHONUNBUFFERED", "1")
    proc: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=project_dir,
            env=env,
            check=True,
        )
        with log_path.open("wb") as log:
            if server == "uvicorn":  # the alternative (tests/e2e/test_server.py runs it)
                command = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1"]
                command += ["--port", str(port), "--no-access-log", *daphne_args]
                daphne_args = ()
            else:
                # What `dev.py serve` runs: daphne with our graceful stop, websocket limits and
                # no access logger of daphne's own (the request middleware logs each request).
                command = [sys.executable, "-m", "webui_backend.server"]
                command += ["-b", "127.0.0.1", "-p", str(port)]
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
                [*command, *daphne_args, "webui_backend.asgi:application"],
                cwd=project_dir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches us, not the server
            )
        started = Server(f"http://127.0.0.1:{port}", proc.pid, data_dir, log_path)
        wait_healthy(started, proc, timeout=startup_timeout)
        yield started
    finally:
        if proc is not None:
            stop_process(proc, timeout=stop_timeout)
        if owns_dir:
            shutil.rmtree(data_dir, ignore_errors=True)


def wait_healthy(server: Server, proc: subprocess.Popen[bytes], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_tail(server)}")
        try:
            response = httpx.get(f"{server.base_url}/health", timeout=2)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}: {response.text[:200]}"
        except httpx.TransportError as exc:
            last = type(exc).__name__
        time.sleep(0.1)
    raise RuntimeError(f"server not healthy after {timeout:.0f} s ({last}):\n{log_tail(server)}")


def log_tail(server: Server, lines: int = 30) -> str:
    try:
        return "\n".join(server.log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def log_errors(server: Server, limit: int = 5) -> list[tuple[str, int]]:
    """The most frequent exception lines (``SomeError: message``) in the server's log."""
    try:
        lines = server.log_path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    pattern = re.compile(r"^[\w.]+(Error|Exception)\b.*")
    return Counter(line for line in lines if pattern.match(line)).most_common(limit)


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float) -> None:
    """SIGTERM, then SIGKILL if the process is still there after ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- Memory ---------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, read from /proc/<pid>/task/<tid>/children."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            with suppress(OSError):  # the thread or process may be gone by now
                todo.extend(int(child) for child in children.read_text().split())
    return pids


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants (0 for processes that are gone)."""
    total_pages = 0
    for member in process_tree(pid):
        with suppress(OSError, IndexError, ValueError):
            total_pages += int(Path(f"/proc/{member}/statm").read_text().split()[1])
    return total_pages * PAGE_MIB


def hwm_mib(pid: int) -> float | None:
    """VmHWM of ``pid``: the peak resident size over the process's whole life."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # reported in kB
    except OSError:
        pass
    return None


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MemorySampler:
    """Samples RSS of a process tree from a thread, so a busy event loop cannot delay it."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.peak_mib = max(self.peak_mib, rss_mib(self.pid))
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mib = max(self.peak_mib, rss_mib(self.pid))


# --- Load -----------------------------------------------------------------------------------


@dataclass
class LoadResult:
    concurrency: int
    elapsed_s: float
    ok: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # successful requests only
    error_kinds: Counter[str] = field(default_factory=Counter)
    peak_rss_mib: float | None = None
    hwm_mib: float | None = None

    @property
    def requests(self) -> int:
        return self.ok + self.errors

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile of the successful requests' latency, in ms."""
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[max(1, math.ceil(len(ordered) * q / 100)) - 1]

    @property
    def p50(self) -> float | None:
        return self.percentile(50)

    @property
    def p99(self) -> float | None:
        return self.percentile(99)


async def run_load(
    request: RequestFn,
    *,
    base_url: str,
    concurrency: int,
    duration: float,
    max_requests: int = 200_000,
    pid: int | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> LoadResult:
    """Run ``request`` from ``concurrency`` workers until ``duration`` s or ``max_requests``.

    Requests already in flight at the deadline are allowed to finish and are counted. With
    ``pid`` the server's memory is sampled during the run and its VmHWM read at the end.
    """
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    issued = 0
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=timeout, http2=False
    ) as client:
        result = LoadResult(concurrency=concurrency, elapsed_s=0.0)
        deadline = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal issued
            while time.perf_counter() < deadline and issued < max_requests:
                issued += 1
                started = time.perf_counter()
                try:
                    response = await request(client)
                except Exception as exc:
                    result.errors += 1
                    result.error_kinds[type(exc).__name__] += 1
                    continue
                if response.is_success:
                    result.ok += 1
                    result.latencies_ms.append((time.perf_counter() - started) * 1000)
                else:
                    result.errors += 1
                    result.error_kinds[f"HTTP {response.status_code}"] += 1

        with MemorySampler(pid) if pid is not None else nullcontext() as sampler:
            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            result.elapsed_s = time.perf_counter() - started
    if sampler is not None:
        result.peak_rss_mib = sampler.peak_mib
        result.hwm_mib = hwm_mib(pid)
    return result


# --- Output ---------------------------------------------------------------------------------

COLUMNS = [
    ("scenario", 22),
    ("conc", 5),
    ("req/s", 9),
    ("p50 ms", 9),
    ("p99 ms", 9),
    ("errors", 7),
    ("peak RSS MiB", 13),
    ("HWM MiB", 9),
]


def _cells(values: list[str]) -> str:
    first, *rest = zip(values, COLUMNS, strict=True)
    return f"{first[0]:<{first[1][1]}}" + "".join(f"{v:>{w + 1}}" for v, (_, w) in rest)


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_header() -> None:
    """Print the column titles and a rule, matching ``print_row``."""
    line = _cells([title for title, _ in COLUMNS])
    print(line)
    print("-" * len(line))


def print_row(scenario: str, concurrency: int, result: LoadResult) -> None:
    """Print one result as a fixed-width row; error kinds, if any, follow on their own line."""
    print(
        _cells(
            [
                scenario,
                str(concurrency),
                _num(result.rps),
                _num(result.p50),
                _num(result.p99),
                str(result.errors),
                _num(result.peak_rss_mib),
                _num(result.hwm_mib),
            ]
        ),
        flush=True,
    )
    if result.error_kinds:
        kinds = ", ".join(f"{kind} x{count}" for kind, count in result.error_kinds.most_common())
        print(f"  errors: {kinds}", flush=True)


# --- what every benchmark script shares ----------------------------------------------------

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


async def run_scenarios(
    scenarios: Sequence[tuple[str, Callable[..., Awaitable[Any]], Mapping[str, str] | None]],
    *,
    base_url: str,
    pid: int,
    args: argparse.Namespace,
) -> int:
    """Run each (name, request, headers) at each of ``args.concurrency`` for
    ``args.duration`` seconds, print a row each, and return the total number of errors."""
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


def run_bench_main(
    bench: Callable[[str, int, argparse.Namespace], Awaitable[int]], args: argparse.Namespace
) -> None:
    """Print the mode and load, run ``bench`` against a fresh server, exit 1 on any error."""
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


def scenario_parser(description: str) -> argparse.ArgumentParser:
    """The options every scenario-table benchmark takes; a script adds its own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(part) for part in text.split(",") if part],
        default=[1, 32],
        help="comma-separated worker counts (default 1,32)",
    )
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap per scenario")
    return parser


async def signup(client: httpx.AsyncClient) -> tuple[str, str]:
    """Sign up a fresh account on the benchmark server; returns (email, access token)."""
    email = f"bench-{secrets.token_hex(4)}@example.com"
    response = await client.post(
        "/api/auths/signup", json={"name": "Bench", "email": email, "password": PASSWORD}
    )
    response.raise_for_status()
    return email, response.json()["token"]
