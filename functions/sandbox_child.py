"""The harness that runs inside the sandbox. The server never imports this module.

functions/sandbox.py reads this file as text and hands it to the sandboxed interpreter
(``python -I -S -B -c <this file> <report fd>``). It reads one JSON request from stdin
(``{"source", "name", "args"}``), defines the user's function from the source, calls it,
and writes one JSON report to the report pipe:

    {"ok": true, "result": <JSON value>}
    {"ok": false, "error": "<kind>", "message": "...", "traceback": "..."}

Whatever the user's code prints goes to stdout and stderr, which the server caps. The report
is still untrusted: the user's code could write to the pipe itself. The server only parses it
as JSON and checks its shape.
"""

import contextlib
import json
import os
import sys

# Only json, os and sys are imported up front: every run pays for its imports, and asyncio,
# inspect or traceback would cost more than the sandbox itself. The others come when needed.

FILENAME = "<function>"
MESSAGE_MAX = 2000


def report(fd: int, owner_pid: int, body: dict) -> None:
    """Write the one report, from the harness's own process only (not from a fork)."""
    if os.getpid() != owner_pid:
        os._exit(0)
    try:
        data = json.dumps(body, allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError, OverflowError) as exc:
        message = f"The result is not JSON-serialisable: {exc}"[:MESSAGE_MAX]
        data = json.dumps({"ok": False, "error": "result", "message": message}).encode()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.close(fd)


def failure(kind: str, exc: BaseException | None, message: str, source: str = "") -> dict:
    body = {"ok": False, "error": kind, "message": message[:MESSAGE_MAX]}
    if exc is not None:
        import linecache
        import traceback

        lines = source.splitlines(keepends=True)
        linecache.cache[FILENAME] = (len(source), None, lines, FILENAME)
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == FILENAME]
        if frames:
            lines = traceback.format_list(frames)
            body["traceback"] = "".join(lines)[-MESSAGE_MAX:]
    return body


def describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:  # an exception whose __str__ fails is still reported
        text = ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run(request: dict) -> dict:
    source, name, args = request["source"], request["name"], request["args"]
    namespace = {"__name__": "__function__", "__builtins__": __builtins__}
    try:
        exec(compile(source, FILENAME, "exec"), namespace)  # noqa: S102 - the sandbox's job
        function = namespace.get(name)
        if not callable(function):
            return failure("definition", None, f"The source defines no function {name!r}.")
        try:
            value = function(**args)
        except TypeError as exc:
            # Raised by the call itself (no frame of the function below ours): the arguments
            # do not fit the signature. From inside the function it is the code's own error.
            if exc.__traceback__ is not None and exc.__traceback__.tb_next is None:
                return failure("arguments", None, str(exc))
            raise
        if hasattr(value, "__await__"):
            import asyncio

            value = asyncio.run(_awaited(value))
    except MemoryError as exc:
        return failure("memory", exc, "The function ran out of memory.", source)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too: all are the code's
        return failure("exception", exc, describe(exc), source)
    return {"ok": True, "result": value}


async def _awaited(awaitable):
    return await awaitable


def main() -> None:
    fd = int(sys.argv[1])
    owner_pid = os.getpid()
    sys.stderr = sys.stdout  # warnings and tracebacks the code prints land in its output, in order
    request = json.loads(sys.stdin.buffer.read())
    sys.stdin.close()
    body = run(request)
    report(fd, owner_pid, body)


if __name__ == "__main__":
    main()
