"""Build tests/fixtures/openwebui/ from a REAL Open WebUI, filled through its own API.

Not run in CI (it needs Open WebUI's ~3 GB install and minutes). Run it when the fixture must
change, with a virtualenv holding ``open-webui==0.12.4`` (CPU torch):

    python3 -m venv /tmp/owui
    /tmp/owui/bin/pip install --index-url https://download.pytorch.org/whl/cpu torch  # CPU first
    /tmp/owui/bin/pip install open-webui==0.12.4
    .venv/bin/python tests/tools/build_openwebui_fixture.py --venv /tmp/owui [--port 18171]

It starts Open WebUI offline on loopback with a fresh data folder (no model downloads: the
embedding engine is set to a remote one and embedding is bypassed), signs up an admin, adds
users with known passwords (one pending, one with a profile image and an API key), makes chats
with branches (an edited question, a regenerated answer), models, timestamps, usage and sources,
tags, pins, an archived chat, a folder, a share link, files, a knowledge collection, a custom
model, a function and a tool, and an upstream connection. It stops the server, then writes
``webui.db.gz`` (vacuumed, gzipped), the ``uploads/`` it made and ``manifest.json`` (passwords
and what was made, for the test to compare against) into tests/fixtures/openwebui/.
"""

import argparse
import gzip
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "openwebui"
NEW_CHAT_BODY = ROOT / "tests" / "chats" / "fixtures" / "openwebui_chats_new.json"
PNG_1PX = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8Bw"
    "HwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)

USERS = [
    # (name, email, password, role); the first signs up and becomes the admin.
    ("Ada Admin", "ada@example.com", "Ada-old-password-1", "admin"),
    ("Bob Builder", "bob@example.com", "Bob-old-password-2", "user"),
    ("Cy Pending", "cy@example.com", "Cy-old-password-3", "pending"),
    ("Dee Second", "dee@example.com", "Dee-old-password-4", "user"),
]

TOOL_SOURCE = '''"""
title: Weather
description: Tells the weather.
"""


class Tools:
    def __init__(self):
        pass

    def get_weather(self, city: str) -> str:
        """
        Get the weather of a city.
        :param city: The city.
        """
        return f"Sunny in {city}"
'''

FUNCTION_SOURCE = '''"""
title: Shout
description: Upper-cases every answer.
"""

from pydantic import BaseModel


class Filter:
    class Valves(BaseModel):
        priority: int = 0

    def __init__(self):
        self.valves = self.Valves()

    def outlet(self, body: dict) -> dict:
        for message in body.get("messages", []):
            if message.get("role") == "assistant":
                message["content"] = message["content"].upper()
        return body
'''


class Client:
    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.token = token

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> Any:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": content_type}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                text = response.read()
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from None
        return json.loads(text) if text else None

    def upload(self, path: str, filename: str, content: bytes, mime: str) -> Any:
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{filename}"\r\nContent-Type: {mime}\r\n\r\n'
            ).encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return self.call(
            "POST", path, raw=body, content_type=f"multipart/form-data; boundary={boundary}"
        )


def start(venv: Path, data_dir: Path, port: int) -> subprocess.Popen:
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}},
        "DATA_DIR": str(data_dir),
        "WEBUI_SECRET_KEY": "fixture-builder",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OFFLINE_MODE": "true",
        "ENABLE_OLLAMA_API": "false",
        "RAG_EMBEDDING_ENGINE": "openai",
        "BYPASS_EMBEDDING_AND_RETRIEVAL": "true",
        "ENABLE_VERSION_UPDATE_CHECK": "false",
        "ANONYMIZED_TELEMETRY": "false",
        "SCARF_NO_ANALYTICS": "true",
        "DO_NOT_TRACK": "true",
        "ENABLE_SIGNUP": "true",
        "DEFAULT_USER_ROLE": "user",
        "ENABLE_API_KEYS": "true",
        # Users (not only admins) may make collections, models and tools, and API keys.
        "USER_PERMISSIONS_WORKSPACE_KNOWLEDGE_ACCESS": "true",
        "USER_PERMISSIONS_WORKSPACE_MODELS_ACCESS": "true",
        "USER_PERMISSIONS_WORKSPACE_TOOLS_ACCESS": "true",
        "USER_PERMISSIONS_FEATURES_API_KEYS": "true",
        "USER_PERMISSIONS_WORKSPACE_KNOWLEDGE_ALLOW_PUBLIC_SHARING": "true",
    }
    log = open(data_dir.parent / "openwebui.log", "w")  # noqa: SIM115 - lives with the process
    process = subprocess.Popen(
        [str(venv / "bin" / "open-webui"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"Open WebUI exited; see {log.name}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return process
        except OSError:
            pass
        time.sleep(1)
    os.killpg(process.pid, signal.SIGTERM)
    raise SystemExit("Open WebUI did not become healthy in 10 minutes")


def message(
    mid: str,
    parent: str | None,
    role: str,
    content: str,
    stamp: int,
    children: list[str],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": mid,
        "parentId": parent,
        "childrenIds": children,
        "role": role,
        "content": content,
        "timestamp": stamp,
        **extra,
    }


def branched_history() -> dict[str, Any]:
    """q1 → (a1, a1b regenerated); q1's edit q1e → a2 → q3 → a3 (current)."""
    t = 1_764_000_000
    sources = [
        {
            "source": {"id": "doc-1", "name": "atlas.txt", "type": "file"},
            "document": ["Paris is the capital of France."],
            "metadata": [{"source": "atlas.txt", "file_id": "doc-1"}],
            "distances": [0.87],
        }
    ]
    usage = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    messages = {
        "q1": message(
            "q1", None, "user", "Capital of France?", t, ["a1", "a1b"], models=["gpt-4o-mini"]
        ),
        "a1": message(
            "a1",
            "q1",
            "assistant",
            "Paris.",
            t + 1,
            [],
            model="gpt-4o-mini",
            modelName="GPT-4o mini",
            modelIdx=0,
            done=True,
            usage=usage,
            sources=sources,
        ),
        "a1b": message(
            "a1b",
            "q1",
            "assistant",
            "It is Paris.",
            t + 2,
            [],
            model="llama3:8b",
            modelName="Llama 3",
            modelIdx=0,
            done=True,
            info={"usage": {"prompt_tokens": 12, "completion_tokens": 4}},
        ),
        "q1e": message(
            "q1e", None, "user", "Capital of Italy?", t + 3, ["a2"], models=["gpt-4o-mini"]
        ),
        "a2": message(
            "a2",
            "q1e",
            "assistant",
            "Rome.",
            t + 4,
            ["q3"],
            model="gpt-4o-mini",
            done=True,
            usage=usage,
        ),
        "q3": message(
            "q3", "a2", "user", [{"type": "text", "text": "And its river?"}], t + 5, ["a3"]
        ),
        "a3": message(
            "a3", "q3", "assistant", "The Tiber.", t + 6, [], model="gpt-4o-mini", done=True
        ),
    }
    return {"messages": messages, "currentId": "a3"}


def linear_history(prefix: str, turns: int, stamp: int) -> dict[str, Any]:
    messages: dict[str, Any] = {}
    parent = None
    for i in range(turns):
        q, a = f"{prefix}-q{i}", f"{prefix}-a{i}"
        messages[q] = message(q, parent, "user", f"Question {i} of {prefix}", stamp + 2 * i, [a])
        messages[a] = message(
            a,
            q,
            "assistant",
            f"Answer {i} of {prefix}",
            stamp + 2 * i + 1,
            [],
            model="gpt-4o-mini",
            done=True,
        )
        if parent:
            messages[parent]["childrenIds"].append(q)
        parent = a
    return {"messages": messages, "currentId": parent}


def new_chat(client: Client, title: str, history: dict[str, Any], models: list[str]) -> dict:
    chain = []
    node = history["currentId"]
    while node:
        chain.append(history["messages"][node])
        node = history["messages"][node]["parentId"]
    body = {
        "chat": {
            "id": "",
            "title": title,
            "models": models,
            "params": {},
            "history": history,
            "messages": chain[::-1],
            "tags": [],
            "timestamp": int(time.time() * 1000),
        },
        "folder_id": None,
    }
    return client.call("POST", "/api/v1/chats/new", body)


def fill(base: str) -> dict[str, Any]:
    manifest: dict[str, Any] = {"openwebui_version": "0.12.4", "users": [], "chats": {}}
    anonymous = Client(base)
    clients: dict[str, Client] = {}
    name, email, password, _ = USERS[0]
    session = anonymous.call(
        "POST", "/api/v1/auths/signup", {"name": name, "email": email, "password": password}
    )
    admin = Client(base, session["token"])
    clients[email] = admin
    ids = {email: session["id"]}
    for name, email, password, role in USERS[1:]:
        added = admin.call(
            "POST",
            "/api/v1/auths/add",
            {"name": name, "email": email, "password": password, "role": role},
        )
        ids[email] = added["id"]
        if role != "pending":
            signed = anonymous.call(
                "POST", "/api/v1/auths/signin", {"email": email, "password": password}
            )
            clients[email] = Client(base, signed["token"])
    bob = clients["bob@example.com"]
    bob.call(
        "POST",
        "/api/v1/auths/update/profile",
        {"name": "Bob Builder", "profile_image_url": PNG_1PX},
    )
    api_key = admin.call("POST", "/api/v1/auths/api_key")["api_key"]
    for name, email, password, role in USERS:
        manifest["users"].append(
            {"id": ids[email], "name": name, "email": email, "password": password, "role": role}
        )
    manifest["admin_api_key"] = api_key

    # Chats: Ada's branched chat (tagged, pinned, shared, in a folder); the frontend's own
    # first-turn body; an archived chat; Bob's chats.
    folder = admin.call("POST", "/api/v1/folders/", {"name": "Geography"})
    tree = new_chat(admin, "Capitals", branched_history(), ["gpt-4o-mini"])
    for tag in ("geo", "Europe"):
        admin.call("POST", f"/api/v1/chats/{tree['id']}/tags", {"name": tag})
    # Moving a chat into a folder unpins it in Open WebUI: move first, then pin.
    admin.call("POST", f"/api/v1/chats/{tree['id']}/folder", {"folder_id": folder["id"]})
    admin.call("POST", f"/api/v1/chats/{tree['id']}/pin")
    share = admin.call("POST", f"/api/v1/chats/{tree['id']}/share")
    frontend = admin.call("POST", "/api/v1/chats/new", json.loads(NEW_CHAT_BODY.read_text()))
    old = new_chat(admin, "Old notes", linear_history("old", 2, 1_700_000_000), ["gpt-4o-mini"])
    admin.call("POST", f"/api/v1/chats/{old['id']}/archive")
    bob_chat = new_chat(bob, "Bob's plans", linear_history("bob", 3, 1_760_000_000), ["llama3:8b"])
    bob.call("POST", f"/api/v1/chats/{bob_chat['id']}/tags", {"name": "work"})
    dee = clients["dee@example.com"]
    new_chat(dee, "Dee's only chat", linear_history("dee", 1, 1_762_000_000), ["gpt-4o-mini"])
    manifest["chats"] = {
        "branched": tree["id"],
        "frontend": frontend["id"],
        "archived": old["id"],
        "bob": bob_chat["id"],
    }
    manifest["share_id"] = share.get("share_id")
    manifest["folder"] = {"id": folder["id"], "name": "Geography"}

    # Files and a knowledge collection (Bob's), and a file of Ada's outside any collection.
    notes = bob.upload(
        "/api/v1/files/?process=true&process_in_background=false",
        "notes.txt",
        b"The Tiber flows through Rome.\nThe Seine flows through Paris.\n",
        "text/plain",
    )
    guide = bob.upload(
        "/api/v1/files/?process=true&process_in_background=false",
        "guide.md",
        b"# Guide\n\nBring an umbrella to London.\n",
        "text/markdown",
    )
    ada_file = admin.upload(
        "/api/v1/files/?process=true&process_in_background=false",
        "ada.txt",
        b"Ada's own file.\n",
        "text/plain",
    )
    collection = bob.call(
        "POST", "/api/v1/knowledge/create", {"name": "Rivers", "description": "Where rivers flow"}
    )
    for item in (notes, guide):
        bob.call("POST", f"/api/v1/knowledge/{collection['id']}/file/add", {"file_id": item["id"]})
    # Shared with everyone (read), so Ada's model may use Bob's collection.
    admin.call(  # a user needs a sharing permission; an admin does not
        "POST",
        f"/api/v1/knowledge/{collection['id']}/access/update",
        {"access_grants": [{"principal_type": "user", "principal_id": "*", "permission": "read"}]},
    )
    manifest["files"] = {"notes": notes["id"], "guide": guide["id"], "ada": ada_file["id"]}
    manifest["knowledge"] = collection["id"]

    # A custom model on that collection, a tool, a function, a connection.
    admin.call(
        "POST",
        "/api/v1/models/create",
        {
            "id": "river-guide",
            "base_model_id": "gpt-4o-mini",
            "name": "River guide",
            "meta": {
                "description": "Answers about rivers",
                "knowledge": [{"id": collection["id"], "name": "Rivers", "type": "collection"}],
            },
            "params": {"system": "You know rivers.", "temperature": 0.2},
        },
    )
    admin.call(
        "POST",
        "/api/v1/tools/create",
        {
            "id": "weather",
            "name": "Weather",
            "content": TOOL_SOURCE,
            "meta": {"description": "Tells the weather"},
        },
    )
    admin.call(
        "POST",
        "/api/v1/functions/create",
        {
            "id": "shout",
            "name": "Shout",
            "content": FUNCTION_SOURCE,
            "meta": {"description": "Upper-cases answers"},
        },
    )
    admin.call(
        "POST",
        "/openai/config/update",
        {
            "ENABLE_OPENAI_API": True,
            "OPENAI_API_BASE_URLS": ["http://127.0.0.1:9/v1"],
            "OPENAI_API_KEYS": ["sk-upstream-fixture"],
            "OPENAI_API_CONFIGS": {"0": {"enable": True, "prefix_id": ""}},
        },
    )
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--venv", type=Path, default=Path(os.environ.get("OPENWEBUI_VENV", "")))
    parser.add_argument("--port", type=int, default=18171)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not (args.venv / "bin" / "open-webui").exists():
        sys.exit("--venv must be a virtualenv with open-webui==0.12.4 installed")
    work = Path(tempfile.mkdtemp(prefix="owui-fixture-"))
    data_dir = work / "data"
    data_dir.mkdir()
    process = start(args.venv, data_dir, args.port)
    try:
        manifest = fill(f"http://127.0.0.1:{args.port}")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    database = sqlite3.connect(data_dir / "webui.db")
    database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    database.execute("VACUUM")
    database.close()
    if args.out.exists():
        shutil.rmtree(args.out)
    (args.out / "uploads").mkdir(parents=True)
    # Gzipped: the vacuumed database is ~770 KiB of mostly empty pages and indexes, ~32 KiB so.
    with open(data_dir / "webui.db", "rb") as raw, gzip.open(args.out / "webui.db.gz", "wb") as gz:
        shutil.copyfileobj(raw, gz)
    for item in (data_dir / "uploads").iterdir():
        if item.is_file():
            shutil.copy2(item, args.out / "uploads" / item.name)
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {args.out} ({size // 1024} KiB)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
