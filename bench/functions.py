"""Overhead of one sandboxed function call, and calls per second at a given concurrency.

Times the service directly (``functions.services.function_run``, which every route and the
tool loop go through: checks, slots, then ``functions/sandbox.py``), not HTTP. The function is
the seed's ``my_function`` (``param.upper()``), so the figures are the sandbox's own cost:
starting prlimit, bubblewrap (namespaces, mounts, seccomp) and the interpreter, and reading
the result. For scale, the same figures for a bare ``python -I -S -B`` start without any
sandbox are printed first.

    .venv/bin/python bench/functions.py                  # 200 sequential calls, 10 s at 4
    .venv/bin/python bench/functions.py --calls 500 --duration 20 --concurrency 1,4,8

Needs what the sandbox needs (root, bubblewrap); nothing touches ./data or a database.
"""

import argparse
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webui_backend.settings")
os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="bench-functions-")
atexit.register(shutil.rmtree, os.environ["DATA_DIR"], ignore_errors=True)
os.environ.pop("DATABASE_URL", None)
os.environ.pop("REDIS_URL", None)
os.environ["FUNCTIONS_MAX_CONCURRENT_RUNS"] = "64"
os.environ["FUNCTIONS_MAX_RUNS_PER_USER"] = "64"
os.environ["FUNCTIONS_RUN_QUEUE_TIMEOUT"] = "30"

import django  # noqa: E402

django.setup()

from functions import sandbox  # noqa: E402
from functions.introspect import function_spec  # noqa: E402
from functions.models import Function  # noqa: E402
from functions.services import function_run  # noqa: E402
from users.models import User  # noqa: E402

SOURCE = "def my_function(param: str) -> str:\n    return param.upper()\n"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def sequential(call, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def throughput(call, concurrency: int, duration: float) -> tuple[float, int, int]:
    """Calls per second over ``duration`` with ``concurrency`` threads; (rate, done, errors)."""
    deadline = time.monotonic() + duration
    done = [0] * concurrency
    errors = [0] * concurrency

    def worker(index: int) -> None:
        while time.monotonic() < deadline:
            try:
                call()
                done[index] += 1
            except Exception:
                errors[index] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return sum(done) / elapsed, sum(done), sum(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", default="4")
    options = parser.parse_args()

    host = sandbox.availability()
    user = User(email="bench@example.com", role=User.Role.ADMIN)
    spec = function_spec(source=SOURCE, name="my_function")
    function = Function(user=user, name="my_function", content=SOURCE, parameters=spec.parameters)

    def sandboxed() -> None:
        run = function_run(function=function, args={"param": "test"}, user=user)
        assert run.result == "TEST"  # noqa: S101

    python = host.runtime.executable

    def bare() -> None:
        subprocess.run([python, "-I", "-S", "-B", "-c", "pass"], check=True)  # noqa: S603

    print(f"interpreter in the sandbox: {python}; seccomp: {host.seccomp is not None}")
    print(f"machine: {os.cpu_count()} cores; {options.calls} sequential calls each\n")
    print(f"{'what':<34}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}")
    scenarios = (("bare python -I -S -B start", bare), ("sandboxed function_run", sandboxed))
    for label, call in scenarios:
        call()  # warm up
        times = sequential(call, options.calls)
        mean = sum(times) / len(times)
        print(f"{label:<34}{percentile(times, 50):>9.1f}{percentile(times, 99):>9.1f}{mean:>9.1f}")
    print(f"\n{'concurrency':<14}{'calls/s':>9}{'calls':>8}{'errors':>8}", end="")
    print(f"   ({options.duration:g} s each)")
    for concurrency in [int(c) for c in options.concurrency.split(",")]:
        rate, done, errors = throughput(sandboxed, concurrency, options.duration)
        print(f"{concurrency:<14}{rate:>9.1f}{done:>8}{errors:>8}")


if __name__ == "__main__":
    main()
