"""How long manage.py import_openwebui takes on a large Open WebUI database.

Makes a copy of the real Open WebUI 0.12.4 fixture (tests/fixtures/openwebui/) with
``--chats`` more chats of ``--messages`` messages each for its admin (Open WebUI's JSON blob,
a branch every tenth message), then, in a fresh temporary DATA_DIR (or on DATABASE_URL), times
``migrate``-then the import, a second run (all already here) and a dry run.

    .venv/bin/python bench/import_openwebui.py --chats 2000 --messages 20
"""

import argparse
import gzip
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "openwebui"


def synthetic(folder: Path, chats: int, messages: int) -> None:
    shutil.copytree(FIXTURE / "uploads", folder / "uploads")
    with gzip.open(FIXTURE / "webui.db.gz") as packed, open(folder / "webui.db", "wb") as out:
        shutil.copyfileobj(packed, out)
    manifest = json.loads((FIXTURE / "manifest.json").read_text())
    admin = manifest["users"][0]["id"]
    db = sqlite3.connect(folder / "webui.db")
    rows = []
    for n in range(chats):
        history: dict[str, dict] = {}
        parent = None
        for i in range(messages):
            mid = str(uuid.uuid4())
            role = "user" if i % 2 == 0 else "assistant"
            history[mid] = {
                "id": mid,
                "parentId": parent,
                "childrenIds": [],
                "role": role,
                "content": f"message {i} of chat {n} " + "lorem ipsum " * 40,
                "timestamp": 1_760_000_000 + i,
                "model": "gpt-4o-mini",
                "usage": {"prompt_tokens": 10, "completion_tokens": 20},
            }
            if parent:
                history[parent]["childrenIds"].append(mid)
            if i % 10 == 9 and parent:  # a regenerated sibling
                sib = str(uuid.uuid4())
                history[sib] = {**history[mid], "id": sib, "content": "another answer"}
                history[parent]["childrenIds"].append(sib)
            parent = mid
        blob = {
            "title": f"chat {n}",
            "models": ["gpt-4o-mini"],
            "history": {"messages": history, "currentId": parent},
        }
        rows.append(
            (
                str(uuid.uuid4()),
                admin,
                f"chat {n}",
                1_760_000_000,
                1_760_000_000,
                json.dumps(blob),
                0,
                0,
                "{}",
                parent,
            )
        )
    db.executemany(
        "INSERT INTO chat (id, user_id, title, created_at, updated_at, chat, archived, pinned, "
        "meta, current_message_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    db.commit()
    db.close()


def timed(env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chats", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    try:
        source = work / "openwebui"
        source.mkdir()
        synthetic(source, args.chats, args.messages)
        env = {**os.environ, "DATA_DIR": str(work / "ours"), "LOG_LEVEL": "WARNING"}
        mode = "PostgreSQL" if env.get("DATABASE_URL") else "SQLite (embedded default)"
        size = (source / "webui.db").stat().st_size // (1024 * 1024)
        print(f"{mode}; Open WebUI database {size} MiB, {args.chats + 5} chats")
        timed(env, "migrate", "-v0")
        first = timed(env, "import_openwebui", str(source))
        second = timed(env, "import_openwebui", str(source))
        dry = timed(env, "import_openwebui", str(source), "--dry-run")
        total = args.chats * (args.messages + args.messages // 10)
        print(f"import:        {first:6.1f} s  ({total / first:,.0f} messages/s)")
        print(f"second run:    {second:6.1f} s  (everything already here)")
        print(f"dry run again: {dry:6.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
