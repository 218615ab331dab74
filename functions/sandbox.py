"""Run one user function in a fresh, confined child process. The server never runs user code.

A run is one command line, built here and nowhere else::

    prlimit --cpu --as --nproc --nofile --fsize --core   (limits, inherited by everything below)
      bwrap --unshare-all --disable-userns --die-with-parent --new-session --clearenv
            --uid 65534 --gid 65534  (inside; outside, the run's own unprivileged uid)
            --ro-bind <the interpreter, its stdlib, the system's shared libraries>
            --size N --tmpfs /tmp  --proc /proc  --dev /dev (read-only)  --remount-ro /
            --seccomp FD  (functions/seccomp.py)
        python -I -S -B -X utf8 -c <functions/sandbox_child.py> <report fd>

- The process is started as root only long enough to switch (``Popen(user=, group=,
  extra_groups=[])``) to a uid of its own from a pool (``FUNCTIONS_SANDBOX_UID_BASE``, leased
  host-wide with ``flock``), so RLIMIT_NPROC, which the kernel does not enforce for root, counts
  exactly this run's processes, and nothing of the run can signal or trace another.
- bubblewrap gives it new user, mount, PID, IPC, UTS, network and cgroup namespaces: no network
  interface but a downed loopback, no view of other processes, and a root filesystem holding only
  the Python runtime (read-only), a small scratch ``/tmp``, ``/proc`` and a few device nodes.
  Nothing of the project, its data, its settings or its environment exists in there.
- Arguments go in on stdin and the report comes back on its own pipe, as JSON; stdout and stderr
  are read up to ``output_bytes`` together, and past it, or past the wall-clock limit, the whole
  process group is killed (and with it, through ``--die-with-parent`` and the PID namespace, every
  process the code started). The report is parsed as JSON only, never evaluated or unpickled.

If any of this cannot be had, ``availability()`` says why and nothing runs (no fallback).
"""

import contextlib
import fcntl
import json
import logging
import math
import os
import random
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from functions import seccomp
from functions.errors import (
    FunctionArgsInvalid,
    FunctionBusy,
    FunctionOutputTooLarge,
    FunctionRaised,
    FunctionResourceLimit,
    FunctionResultInvalid,
    FunctionRunError,
    FunctionTimedOut,
    SandboxUnavailable,
)
from webui_backend import jsondepth

logger = logging.getLogger(__name__)

CHILD_SOURCE = (Path(__file__).with_name("sandbox_child.py")).read_text()
SANDBOX_UID = 65534  # the uid and gid the code sees inside its user namespace ("nobody")
SYSTEM_LIB_DIRS = ("/usr/lib", "/usr/lib64", "/lib", "/lib64")
READ_CHUNK = 65536
REPORT_TEXT_MAX = 2000


@dataclass(frozen=True)
class Limits:
    wall_seconds: float
    cpu_seconds: int
    memory_bytes: int
    processes: int
    open_files: int
    file_bytes: int
    output_bytes: int
    result_bytes: int

    @classmethod
    def from_settings(cls) -> "Limits":
        return cls(
            wall_seconds=settings.FUNCTIONS_RUN_TIMEOUT,
            cpu_seconds=settings.FUNCTIONS_RUN_CPU_SECONDS,
            memory_bytes=settings.FUNCTIONS_RUN_MEMORY_MB * 1024 * 1024,
            processes=settings.FUNCTIONS_RUN_MAX_PROCESSES,
            open_files=settings.FUNCTIONS_RUN_MAX_OPEN_FILES,
            file_bytes=settings.FUNCTIONS_RUN_MAX_FILE_MB * 1024 * 1024,
            output_bytes=settings.FUNCTIONS_RUN_MAX_OUTPUT_BYTES,
            result_bytes=settings.FUNCTIONS_RUN_MAX_RESULT_BYTES,
        )


@dataclass(frozen=True)
class RunResult:
    """A successful run: the function's return value (parsed JSON), its output, its time."""

    result: Any
    stdout: str
    duration_ms: float


@dataclass(frozen=True)
class Runtime:
    """The interpreter the sandbox runs, and the host paths it needs (bound read-only)."""

    executable: str
    binds: tuple[str, ...]
    hidden: tuple[str, ...]  # site-packages folders covered by an empty read-only tmpfs


# --- Finding what the sandbox needs ----------------------------------------------------------


def _world_readable(path: str) -> bool:
    """Whether an unprivileged user can reach ``path``: every parent searchable by others."""
    try:
        target = Path(path).resolve(strict=True)
        mode = target.stat().st_mode
        if not mode & stat.S_IROTH:
            return False
        return all(parent.stat().st_mode & stat.S_IXOTH for parent in target.parents)
    except OSError:
        return False


_PROBE = (
    "import json, site, sys, sysconfig\n"
    "v = sysconfig.get_config_var\n"
    "lib = ''\n"
    "if v('Py_ENABLE_SHARED') and v('LIBDIR') and v('INSTSONAME'):\n"
    "    lib = v('LIBDIR') + '/' + v('INSTSONAME')\n"
    "print(json.dumps({'stdlib': sysconfig.get_paths()['stdlib'],\n"
    "    'platstdlib': sysconfig.get_paths()['platstdlib'], 'libpython': lib,\n"
    "    'site': site.getsitepackages(), 'version': sys.version_info[:2]}))\n"
)


def _runtime_of(executable: str) -> Runtime:
    """Ask the (trusted) interpreter where its stdlib and libpython are."""
    probe = subprocess.run(  # noqa: S603 - our interpreter, our probe
        [executable, "-I", "-S", "-c", _PROBE],
        capture_output=True,
        text=True,
        timeout=30,
        env={},
        check=True,
    )
    paths = json.loads(probe.stdout)
    binds = [executable, paths["stdlib"], paths["platstdlib"]]
    if paths["libpython"] and os.path.exists(paths["libpython"]):
        binds.append(paths["libpython"])
    for path in binds:
        if not _world_readable(path):
            raise OSError(f"{path} cannot be read by an unprivileged user")
    hidden = tuple(p for p in paths["site"] if os.path.isdir(p))
    return Runtime(executable=executable, binds=tuple(dict.fromkeys(binds)), hidden=hidden)


def _candidate_interpreters() -> list[str]:
    if settings.FUNCTIONS_SANDBOX_PYTHON:
        return [settings.FUNCTIONS_SANDBOX_PYTHON]
    # The server's own interpreter when an unprivileged user can read it (a system or container
    # install); else the system's (the server may live in a private folder such as /root).
    base = getattr(sys, "_base_executable", sys.executable)
    return [os.path.realpath(base), "/usr/bin/python3"]


def _find_runtime() -> Runtime:
    problems = []
    for candidate in _candidate_interpreters():
        path = os.path.realpath(candidate)
        if not _world_readable(path):
            problems.append(f"{candidate} is missing or not readable by an unprivileged user")
            continue
        try:
            return _runtime_of(path)
        except (OSError, ValueError, KeyError, subprocess.SubprocessError) as exc:
            problems.append(f"{candidate}: {exc}")
    raise SandboxUnavailable(
        "Functions cannot run: no Python interpreter usable inside the sandbox ("
        + "; ".join(problems)
        + "). Install python3 or set FUNCTIONS_SANDBOX_PYTHON."
    )


@dataclass(frozen=True)
class Host:
    bwrap: str
    prlimit: str
    runtime: Runtime
    seccomp: bytes | None


def _find_host() -> Host:
    if not sys.platform.startswith("linux"):
        raise SandboxUnavailable("Functions cannot run: the sandbox needs Linux namespaces.")
    bwrap = shutil.which(settings.FUNCTIONS_SANDBOX_BWRAP)
    if not bwrap:
        raise SandboxUnavailable(
            "Functions cannot run: bubblewrap (bwrap) is not installed on the server "
            "(Debian package bubblewrap). Code is never run without the sandbox."
        )
    prlimit = shutil.which("prlimit")
    if not prlimit:
        raise SandboxUnavailable(
            "Functions cannot run: prlimit is missing (Debian package util-linux)."
        )
    if os.geteuid() != 0:
        raise SandboxUnavailable(
            "Functions cannot run: the server must start as root so that every run gets an "
            "unprivileged user id of its own (the kernel does not limit processes of root, "
            "and the runs themselves never have root)."
        )
    arch = seccomp.current_arch()
    if arch is None:
        logger.warning("No seccomp filter for this architecture; namespaces and limits only.")
    return Host(
        bwrap=bwrap,
        prlimit=prlimit,
        runtime=_find_runtime(),
        seccomp=seccomp.program(arch) if arch else None,
    )


_host_lock = threading.Lock()
_host_cache: dict[tuple, tuple[float, Host | SandboxUnavailable]] = {}
RECHECK_FAILURE_AFTER = 10.0


def availability() -> Host:
    """The sandbox's parts, checked with a real run once per process; SandboxUnavailable if not.

    A failure is remembered for a few seconds (an operator may be installing bubblewrap).
    """
    key = (
        settings.FUNCTIONS_SANDBOX_BWRAP,
        settings.FUNCTIONS_SANDBOX_PYTHON,
        settings.FUNCTIONS_SANDBOX_UID_BASE,
    )
    with _host_lock:
        cached = _host_cache.get(key)
        if cached and (isinstance(cached[1], Host) or time.monotonic() < cached[0]):
            if isinstance(cached[1], SandboxUnavailable):
                raise SandboxUnavailable(cached[1].detail)
            return cached[1]
        try:
            host = _find_host()
            _smoke_test(host)
        except SandboxUnavailable as exc:
            _host_cache[key] = (time.monotonic() + RECHECK_FAILURE_AFTER, exc)
            raise
        _host_cache[key] = (math.inf, host)
        return host


def _smoke_test(host: Host) -> None:
    limits = Limits.from_settings()
    try:
        source = "def ok():\n    return 1\n"
        run = execute(host=host, source=source, name="ok", args={}, limits=limits)
    except SandboxUnavailable:
        raise
    except FunctionRunError as exc:
        raise SandboxUnavailable(f"Functions cannot run: a test run failed: {exc.detail}") from None
    if run.result != 1:
        raise SandboxUnavailable("Functions cannot run: a test run returned a wrong result.")


# --- User ids --------------------------------------------------------------------------------


class UidLease:
    """One uid of the pool, held (flock) by one run at a time across every process of the host."""

    def __init__(self, uid: int, fd: int) -> None:
        self.uid = uid
        self._fd = fd

    def release(self) -> None:
        os.close(self._fd)  # closing drops the flock


def _lease_dir() -> Path:
    path = Path(tempfile.gettempdir()) / f"webui-sandbox-uids-{settings.FUNCTIONS_SANDBOX_UID_BASE}"
    path.mkdir(mode=0o700, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise SandboxUnavailable(f"Functions cannot run: {path} is not a private folder of ours.")
    return path


def uid_lease(*, wait_seconds: float) -> UidLease:
    folder = _lease_dir()
    base, count = settings.FUNCTIONS_SANDBOX_UID_BASE, settings.FUNCTIONS_SANDBOX_UID_COUNT
    deadline = time.monotonic() + wait_seconds
    while True:
        start = random.randrange(count)  # noqa: S311 - spreading, not secrecy
        for step in range(count):
            uid = base + (start + step) % count
            flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(folder / str(uid), flags, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return UidLease(uid, fd)
        if time.monotonic() >= deadline:
            raise FunctionBusy("Every sandbox slot of this server is busy; try again shortly.")
        time.sleep(0.02)


# --- The command -----------------------------------------------------------------------------


def command(*, host: Host, limits: Limits, report_fd: int, seccomp_fd: int | None) -> list[str]:
    rl = [
        # soft < hard: SIGXCPU at the soft limit tells "CPU" apart from a SIGKILL
        f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}",
        f"--as={limits.memory_bytes}",
        f"--nproc={limits.processes}",
        f"--nofile={limits.open_files}",
        f"--fsize={limits.file_bytes}",
        "--core=0",
    ]
    cmd = [host.prlimit, *rl, "--", host.bwrap]
    cmd += ["--unshare-all", "--unshare-user", "--disable-userns"]
    cmd += ["--die-with-parent", "--new-session"]
    cmd += ["--clearenv", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    cmd += ["--hostname", "sandbox"]
    for path in host.runtime.binds:
        cmd += ["--ro-bind", path, path]
    for path in SYSTEM_LIB_DIRS:
        if os.path.islink(path):
            cmd += ["--symlink", os.readlink(path), path]
        else:
            cmd += ["--ro-bind-try", path, path]
    for path in host.runtime.hidden:
        cmd += ["--tmpfs", path, "--remount-ro", path]
    # /tmp here is the sandbox's own small tmpfs, not the host's
    cmd += ["--size", str(limits.file_bytes), "--tmpfs", "/tmp"]  # noqa: S108
    cmd += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev", "--chdir", "/tmp"]  # noqa: S108
    cmd += ["--remount-ro", "/"]
    if seccomp_fd is not None:
        cmd += ["--seccomp", str(seccomp_fd)]
    python = [host.runtime.executable, "-I", "-S", "-B", "-X", "utf8"]
    return [*cmd, "--", *python, "-c", CHILD_SOURCE, str(report_fd)]


# --- Running ---------------------------------------------------------------------------------


@dataclass
class _Captured:
    output: bytearray
    report: bytearray
    returncode: int | None = None
    timed_out: bool = False
    output_overflow: bool = False
    report_overflow: bool = False


def _pipe_seccomp(program: bytes) -> int:
    read, write = os.pipe()
    os.write(write, program)  # a few hundred bytes: far below a pipe's buffer
    os.close(write)
    return read


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _pump(proc: subprocess.Popen, request: bytes, report_fd: int, limits: Limits) -> _Captured:
    """Feed stdin, read output and report under their caps until the end or the deadline."""
    captured = _Captured(output=bytearray(), report=bytearray())
    deadline = time.monotonic() + limits.wall_seconds
    selector = selectors.DefaultSelector()
    assert proc.stdin is not None  # noqa: S101 - Popen(stdin=PIPE) guarantees it
    os.set_blocking(proc.stdin.fileno(), False)
    pending = memoryview(request)
    selector.register(proc.stdin.fileno(), selectors.EVENT_WRITE, "stdin")
    for stream in (proc.stdout, proc.stderr):
        selector.register(stream.fileno(), selectors.EVENT_READ, "output")  # type: ignore[union-attr]
    selector.register(report_fd, selectors.EVENT_READ, "report")
    readers = 3
    try:
        while readers:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                captured.timed_out = True
                return captured
            for key, _ in selector.select(timeout=remaining):
                if key.data == "stdin":
                    try:
                        pending = pending[os.write(key.fd, pending[:READ_CHUNK]) :]
                    except BrokenPipeError:
                        pending = pending[:0]
                    if not pending:
                        selector.unregister(key.fd)
                        proc.stdin.close()
                    continue
                chunk = os.read(key.fd, READ_CHUNK)
                if not chunk:
                    selector.unregister(key.fd)
                    readers -= 1
                    continue
                if key.data == "output":
                    captured.output += chunk
                    if len(captured.output) > limits.output_bytes:
                        captured.output_overflow = True
                        return captured
                else:
                    captured.report += chunk
                    if len(captured.report) > limits.result_bytes:
                        captured.report_overflow = True
                        return captured
        try:
            captured.returncode = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            captured.timed_out = True
        return captured
    finally:
        selector.close()


def execute(*, host: Host, source: str, name: str, args: dict, limits: Limits) -> RunResult:
    """Run ``name(**args)`` from ``source`` in a new sandbox; raise a FunctionRunError if it fails.

    Blocks the calling thread for at most ``limits.wall_seconds`` (plus the kill).
    """
    request = json.dumps({"source": source, "name": name, "args": args}).encode()
    lease = uid_lease(wait_seconds=settings.FUNCTIONS_RUN_QUEUE_TIMEOUT)
    try:
        return _execute_as(lease.uid, host=host, request=request, limits=limits)
    finally:
        lease.release()


def _execute_as(uid: int, *, host: Host, request: bytes, limits: Limits) -> RunResult:
    report_read, report_write = os.pipe()
    seccomp_fd = _pipe_seccomp(host.seccomp) if host.seccomp is not None else None
    child_fds = [report_write] + ([seccomp_fd] if seccomp_fd is not None else [])
    started = time.monotonic()
    proc = None
    try:
        try:
            proc = subprocess.Popen(  # noqa: S603 - a fixed command line, no shell
                command(host=host, limits=limits, report_fd=report_write, seccomp_fd=seccomp_fd),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=child_fds,
                env={},
                cwd="/",
                user=uid,
                group=uid,
                extra_groups=[],
                start_new_session=True,  # one process group to kill
            )
        except OSError as exc:
            detail = f"Functions cannot run: the sandbox did not start ({exc})."
            raise SandboxUnavailable(detail) from None
        for fd in child_fds:
            os.close(fd)
        child_fds = []
        captured = _pump(proc, request, report_read, limits)
    finally:
        if proc is not None:
            _kill_group(proc)
        for fd in [report_read, *child_fds]:
            os.close(fd)
        if proc is not None:
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream and not stream.closed:
                    stream.close()
    duration_ms = (time.monotonic() - started) * 1000
    return _interpret(captured, limits=limits, duration_ms=duration_ms)


def _interpret(captured: _Captured, *, limits: Limits, duration_ms: float) -> RunResult:
    """Turn what came out of the sandbox into a result or one clear error. Trusts none of it."""
    stdout = bytes(captured.output[: limits.output_bytes]).decode("utf-8", "replace")
    extra = {"stdout": stdout, "duration_ms": duration_ms}
    if captured.timed_out:
        raise FunctionTimedOut(
            f"The function did not finish within {limits.wall_seconds:g} seconds and was stopped.",
            **extra,
        )
    if captured.output_overflow:
        raise FunctionOutputTooLarge(
            f"The function printed more than {limits.output_bytes} bytes and was stopped.",
            **extra,
        )
    if captured.report_overflow:
        raise FunctionResultInvalid(
            f"The function's result is larger than {limits.result_bytes} bytes.", **extra
        )
    if not captured.report:
        raise _no_report(captured, stdout=stdout, limits=limits, duration_ms=duration_ms)
    body = _parse_json(bytes(captured.report))
    if not isinstance(body, dict) or not isinstance(body.get("ok"), bool):
        raise FunctionResultInvalid("The sandbox returned a malformed report.", **extra)
    if body["ok"]:
        if "result" not in body:
            raise FunctionResultInvalid("The sandbox returned a malformed report.", **extra)
        return RunResult(result=body["result"], stdout=stdout, duration_ms=duration_ms)
    raise _failure(body, **extra)


class _BadJson(ValueError):
    pass


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _BadJson("number out of range")
    return value


def _reject_constant(name: str) -> None:
    raise _BadJson(f"{name} is not JSON")


def _parse_json(raw: bytes) -> Any:
    try:
        return jsondepth.loads(raw, parse_float=_finite, parse_constant=_reject_constant)
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None  # "malformed report" to the caller


def _text(value: Any) -> str:
    return value[:REPORT_TEXT_MAX] if isinstance(value, str) else ""


def _failure(body: dict, *, stdout: str, duration_ms: float) -> FunctionRunError:
    kind, message = body.get("error"), _text(body.get("message"))
    extra = {"stdout": stdout, "duration_ms": duration_ms}
    if kind == "arguments":
        return FunctionArgsInvalid(f"The arguments do not match the function: {message}", **extra)
    if kind == "memory":
        return FunctionResourceLimit(
            "The function ran out of memory (its limit is "
            f"{settings.FUNCTIONS_RUN_MEMORY_MB} MiB).",
            **extra,
        )
    if kind == "result":
        return FunctionResultInvalid(message or None, **extra)
    if kind == "exception":
        trace = _text(body.get("traceback"))
        detail = f"The function raised {message}" + (f"\n{trace}" if trace else "")
        return FunctionRaised(detail, **extra)
    if kind == "definition":
        return FunctionRaised(message or None, **extra)
    return FunctionResultInvalid("The sandbox returned a malformed report.", **extra)


def _no_report(
    captured: _Captured, *, stdout: str, limits: Limits, duration_ms: float
) -> FunctionRunError:
    code = captured.returncode
    extra = {"stdout": stdout, "duration_ms": duration_ms}
    if code is not None and code > 128:  # bwrap reports a child killed by signal N as 128 + N
        signum = code - 128
        if signum == signal.SIGXCPU:
            return FunctionResourceLimit(
                f"The function used more than {limits.cpu_seconds} seconds of CPU and was stopped.",
                **extra,
            )
        if signum == signal.SIGKILL:
            return FunctionResourceLimit(
                "The function was killed (CPU time or memory exhausted).", **extra
            )
        if signum == signal.SIGXFSZ:
            return FunctionResourceLimit(
                f"The function wrote a file larger than {limits.file_bytes} bytes and was stopped.",
                **extra,
            )
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = str(signum)
        return FunctionResourceLimit(f"The function was stopped by signal {name}.", **extra)
    if code == 1 and stdout.lstrip().startswith("bwrap:"):
        line = stdout.strip().splitlines()[0][:REPORT_TEXT_MAX]
        return SandboxUnavailable(f"Functions cannot run: the sandbox could not start ({line}).")
    return FunctionRaised(f"The function exited (status {code}) without returning.", **extra)
