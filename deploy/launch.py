#!/usr/bin/env python3
"""Run the whole server locally: several web processes, Celery workers and beat.

    DATABASE_URL=postgresql://... REDIS_URL=redis://... .venv/bin/python deploy/launch.py
    [--web 2] [--port 8081] [--workers 1] [--no-beat] [--migrate] [--logs DIR]

Web process i listens on ``port + i`` (daphne with graceful shutdown:
``python -m webui_backend.server``). Everything runs on the configured PostgreSQL and Redis;
the embedded default cannot be shared by processes, so both are required. Ctrl-C or SIGTERM
stops everything it started: web processes first (they drain), then workers (warm shutdown:
running jobs finish or go back to the queue), then beat.

Tests and benchmarks use ``Launcher`` directly (``tests/deploy/conftest.py``)::

    with Launcher(env={...}, web=2).start() as cluster:
        cluster.urls            # ["http://127.0.0.1:8081", "http://127.0.0.1:8082"]
        cluster.kill("worker-0"); cluster.start_worker("worker-0")   # crash and restart one
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Process:
    name: str
    kind: str  # web, worker, beat
    command: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    url: str = ""
    lines: list[str] = field(default_factory=list)  # recent output, for readiness and errors
    ready: threading.Event = field(default_factory=threading.Event)


class LaunchError(RuntimeError):
    pass


class Launcher:
    """Starts and stops the processes of one local cluster (web, worker, beat)."""

    def __init__(
        self,
        *,
        env: dict[str, str] | None = None,
        web: int = 2,
        port: int = 8081,
        host: str = "127.0.0.1",
        workers: int = 1,
        beat: bool = True,
        migrate: bool = False,
        logs: Path | None = None,
        echo: bool = False,
        worker_args: list[str] | None = None,
        python: str = sys.executable,
    ) -> None:
        self.env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        for name in ("DATABASE_URL", "REDIS_URL"):
            if not self.env.get(name):
                raise LaunchError(
                    f"{name} is not set: several processes need a shared PostgreSQL and Redis"
                )
        self.web, self.port, self.host = web, port, host
        self.workers, self.beat, self.migrate = workers, beat, migrate
        self.logs = Path(logs or tempfile.mkdtemp(prefix="webui-launch-"))
        self.logs.mkdir(parents=True, exist_ok=True)
        self.echo = echo
        self.worker_args = worker_args or ["--concurrency=2"]
        self.python = python
        self.processes: dict[str, Process] = {}

    # --- starting --------------------------------------------------------------------------

    @property
    def urls(self) -> list[str]:
        return [p.url for p in self.processes.values() if p.kind == "web"]

    def start(self, timeout: float = 60) -> "Launcher":
        if self.migrate:
            subprocess.run(  # noqa: S603 - our own manage.py
                [self.python, "manage.py", "migrate", "--no-input"],
                cwd=ROOT,
                env=self.env,
                check=True,
            )
        try:
            for i in range(self.web):
                self.start_web(f"web-{i}", self.port + i, wait=False)
            for i in range(self.workers):
                self.start_worker(f"worker-{i}", wait=False)
            if self.beat:
                self.start_beat(wait=False)
            for process in self.processes.values():
                self._wait_ready(process, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def start_web(self, name: str, port: int, *, wait: bool = True, **env: str) -> Process:
        command = [
            self.python,
            "-m",
            "webui_backend.server",
            "-b",
            self.host,
            "-p",
            str(port),
            "--proxy-headers",  # websocket limits: webui_backend.server adds them
            "webui_backend.asgi:application",
        ]
        process = self._spawn(name, "web", command, env)
        process.url = f"http://{self.host}:{port}"
        if wait:
            self._wait_ready(process, 60)
        return process

    def start_worker(self, name: str = "worker-0", *, wait: bool = True, **env: str) -> Process:
        command = [
            self.python,
            "-m",
            "celery",
            "-A",
            "webui_backend",
            "worker",
            "-n",
            f"{name}@%h",
            "-l",
            "info",
            "--without-gossip",
            "--without-mingle",
            *self.worker_args,
        ]
        # SIGTERM as Celery's cold shutdown with its soft-shutdown wait: running jobs get
        # WORKER_SHUTDOWN_TIMEOUT seconds, then are cancelled and go back to the queue (a plain
        # SIGTERM would wait for them without limit).
        env = {"REMAP_SIGTERM": "SIGQUIT", **env}
        process = self._spawn(name, "worker", command, env)
        if wait:
            self._wait_ready(process, 60)
        return process

    def start_beat(self, *, wait: bool = True, **env: str) -> Process:
        schedule = self.logs / "celerybeat-schedule"
        command = [
            self.python,
            "-m",
            "celery",
            "-A",
            "webui_backend",
            "beat",
            "-l",
            "info",
            "--schedule",
            str(schedule),
        ]
        process = self._spawn("beat", "beat", command, env)
        if wait:
            self._wait_ready(process, 60)
        return process

    def _spawn(self, name: str, kind: str, command: list[str], env: dict[str, str]) -> Process:
        old = self.processes.get(name)
        if old is not None and old.popen is not None and old.popen.poll() is None:
            raise LaunchError(f"{name} is already running")
        process = Process(name, kind, command, self.logs / f"{name}.log")
        # A session of its own: a terminal's Ctrl-C reaches the launcher only, which then
        # stops the children in order.
        process.popen = subprocess.Popen(  # noqa: S603 - our own commands
            command,
            cwd=ROOT,
            env={**self.env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._read, args=(process,), daemon=True).start()
        self.processes[name] = process
        return process

    def _read(self, process: Process) -> None:
        assert process.popen is not None  # noqa: S101
        assert process.popen.stdout is not None  # noqa: S101
        out: IO[bytes] = process.popen.stdout
        with process.log.open("ab") as log:
            for raw in out:
                log.write(raw)
                log.flush()
                line = raw.decode("utf-8", "replace").rstrip()
                process.lines = [*process.lines[-199:], line]
                if process.kind == "worker" and " ready." in line:
                    process.ready.set()
                if process.kind == "beat" and "beat: Starting" in line:
                    process.ready.set()
                if self.echo:
                    sys.stdout.write(f"{process.name:>9} | {line}\n")
                    sys.stdout.flush()

    def _wait_ready(self, process: Process, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        assert process.popen is not None  # noqa: S101
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise LaunchError(f"{process.name} exited early:\n" + "\n".join(process.lines))
            if process.kind == "web":
                try:
                    if httpx.get(f"{process.url}/health", timeout=2).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            elif process.ready.wait(0.1):
                return
            time.sleep(0.1)
        raise LaunchError(f"{process.name} did not become ready:\n" + "\n".join(process.lines))

    # --- stopping --------------------------------------------------------------------------

    def signal(self, name: str, sig: int) -> None:
        popen = self.processes[name].popen
        if popen is not None and popen.poll() is None:
            popen.send_signal(sig)

    def kill(self, name: str) -> None:
        """SIGKILL: a crash, as far as the process can tell."""
        self.signal(name, signal.SIGKILL)
        self.wait(name, 10)

    def terminate(self, name: str, timeout: float = 60) -> int | None:
        """SIGTERM and wait: the graceful way (web drains, worker finishes or requeues)."""
        self.signal(name, signal.SIGTERM)
        return self.wait(name, timeout)

    def wait(self, name: str, timeout: float) -> int | None:
        popen = self.processes[name].popen
        assert popen is not None  # noqa: S101
        try:
            return popen.wait(timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            return popen.wait(10)

    def stop(self, timeout: float = 60) -> None:
        """Stop everything still running: web processes, then workers, then beat."""
        for kind in ("web", "worker", "beat"):
            group = [p for p in self.processes.values() if p.kind == kind and p.popen]
            for process in group:
                if process.popen and process.popen.poll() is None:
                    process.popen.send_signal(signal.SIGTERM)
            for process in group:
                self.wait(process.name, timeout)

    def __enter__(self) -> "Launcher":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--web", type=int, default=2, help="web processes (default 2)")
    parser.add_argument("--port", type=int, default=8081, help="port of the first (default 8081)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--workers", type=int, default=1, help="Celery workers (default 1)")
    parser.add_argument("--no-beat", action="store_true", help="no Celery beat")
    parser.add_argument("--migrate", action="store_true", help="run migrations first")
    parser.add_argument("--logs", type=Path, help="folder for the logs (default: a temp dir)")
    args = parser.parse_args()
    try:
        launcher = Launcher(
            web=args.web,
            port=args.port,
            host=args.host,
            workers=args.workers,
            beat=not args.no_beat,
            migrate=args.migrate,
            logs=args.logs,
            echo=True,
        )
    except LaunchError as exc:
        print(f"launch.py: {exc}", file=sys.stderr)
        return 2
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    launcher.start()
    print(f"up: {' '.join(launcher.urls)} (logs in {launcher.logs}); Ctrl-C stops")
    while not stopping.wait(1):
        for process in launcher.processes.values():
            if process.popen is not None and process.popen.poll() is not None:
                print(f"launch.py: {process.name} exited ({process.popen.returncode})")
                stopping.set()
    print("stopping ...")
    launcher.stop()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
