#!/usr/bin/env python3
"""The two commands of the README, needing nothing but Python 3.11+.

    python3 dev.py serve   # virtualenv, install, migrate, daphne on http://127.0.0.1:8080
    python3 dev.py test    # virtualenv, install with test tools, pytest (arguments pass through)

The virtualenv lives in .venv and is reinstalled only when pyproject.toml changes.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
MARKER = VENV / ".installed"


def ensure_installed(extras: str) -> None:
    """Create .venv and install the project (with ``extras``) unless that is already done."""
    if sys.version_info < (3, 11):
        sys.exit("Python 3.11 or newer is needed.")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    need = f"{digest}:{extras or 'base'}"
    if not PYTHON.exists():
        print("Creating the virtualenv in .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    have = set(MARKER.read_text().split()) if MARKER.exists() else set()
    if need in have or (not extras and f"{digest}:test" in have):
        return
    print(
        f"Installing the project{f' with {extras}' if extras else ''}: the first time takes a"
        " few minutes (PyTorch for the embedding model is large); pip shows each step.",
        flush=True,
    )
    spec = f".[{extras}]" if extras else "."
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check"]
    subprocess.run([*pip, "--quiet", "--upgrade", "pip"], check=True, cwd=ROOT)  # noqa: S603
    # pip's own lines (Collecting, Downloading with a progress bar, Installing), so a long
    # download never looks like a hang.
    subprocess.run(  # noqa: S603
        [*pip, "--progress-bar", "on", "--editable", spec], check=True, cwd=ROOT
    )
    print("Installed.", flush=True)
    MARKER.write_text(" ".join({h for h in have if h.startswith(digest)} | {need}))


def serve() -> int:
    ensure_installed("")
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8080")
    print(f"Serving on http://{host}:{port} (API docs at /docs)", flush=True)
    # daphne with a graceful stop and our websocket limits (webui_backend/server.py), as in
    # production: Ctrl-C lets streams finish, a second Ctrl-C stops at once.
    # --migrate: the migrations first, in the same process (one start-up instead of two).
    daphne = [str(PYTHON), "-m", "webui_backend.server", "--migrate", "-b", host, "-p", port]
    return subprocess.call([*daphne, "webui_backend.asgi:application"], cwd=ROOT)  # noqa: S603


def test(args: list[str]) -> int:
    ensure_installed("test")
    # With REDIS_URL set the tests delete the keys under this prefix, and only those.
    env = {**os.environ, "CACHE_KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "webui-test")}
    # The tests' files (the SQLite test database with its -wal/-shm, uploads) go to a folder of
    # their own, never beside the served database in ./data, unless DATA_DIR says where.
    scratch = None if env.get("DATA_DIR") else tempfile.mkdtemp(prefix="webui-test-data-")
    if scratch:
        env["DATA_DIR"] = scratch
    try:
        code = subprocess.call([str(PYTHON), "-m", "pytest", *args], cwd=ROOT, env=env)  # noqa: S603
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    if code == 5:  # pytest's "no tests collected" must never pass for green
        print("dev.py: pytest collected no tests; failing.", file=sys.stderr)
        return 1
    return code


def main() -> int:
    command, *rest = sys.argv[1:] or ["help"]
    if command == "serve":
        return serve()
    if command == "test":
        return test(rest)
    print(__doc__)
    return 0 if command in {"help", "-h", "--help"} else 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
