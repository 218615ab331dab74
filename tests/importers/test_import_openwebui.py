"""manage.py import_openwebui against a REAL Open WebUI 0.12.4 database.

tests/fixtures/openwebui/ was written by tests/tools/build_openwebui_fixture.py, which started
the real Open WebUI and filled it through its own API (manifest.json says what it made and the
passwords it used). Here it is imported, then every user signs in with the old password through
our API, and every chat is compared message by message with Open WebUI's own JSON.
"""

import gzip
import io
import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from chats.models import Chat, ChatShare, Message, Tag
from functions.models import Function
from knowledge.models import File, Knowledge, KnowledgeFile, ProcessingJob
from llm.models import Connection, CustomModel
from users.models import ApiKey, User
from webui_backend import settings as project_settings

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "openwebui"
MANIFEST = json.loads((FIXTURE / "manifest.json").read_text())


@pytest.fixture
def owui(tmp_path: Path, settings: Any) -> Path:
    """A copy of the Open WebUI data folder: webui.db and uploads/ (and our files apart)."""
    settings.MEDIA_ROOT = tmp_path / "ours"
    folder = tmp_path / "openwebui"
    shutil.copytree(FIXTURE / "uploads", folder / "uploads")
    with gzip.open(FIXTURE / "webui.db.gz") as packed, open(folder / "webui.db", "wb") as db:
        shutil.copyfileobj(packed, db)
    return folder


@pytest.fixture
def real_hashers(settings: Any) -> None:
    """The project's own PASSWORD_HASHERS (tests/conftest.py swaps in a fast one)."""
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("import_openwebui", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def counts() -> dict[str, int]:
    models = [User, ApiKey, Chat, Message, Tag, ChatShare, File, Knowledge, KnowledgeFile]
    models += [CustomModel, Function, Connection]
    return {model.__name__: model.objects.count() for model in models}


def openwebui_rows(folder: Path, sql: str) -> list[sqlite3.Row]:
    db = sqlite3.connect(folder / "webui.db")
    db.row_factory = sqlite3.Row
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def summary_line(output: str, kind: str) -> list[int]:
    for line in output.splitlines():
        if line.startswith(f"{kind} "):
            return [int(n) for n in line.split()[1:4]]
    raise AssertionError(f"no {kind} line in:\n{output}")


def test_users_sign_in_with_their_old_passwords(
    owui: Path, api: APIClient, real_hashers: None
) -> None:
    run(str(owui))
    for account in MANIFEST["users"]:
        user = User.objects.get(email=account["email"])
        assert str(user.pk) == account["id"]
        assert user.name == account["name"]
        assert user.role == account["role"]
        assert user.password.startswith("bcrypt$$2b$")  # Open WebUI's hash, as it was
        wrong = api.post(
            "/api/auths/signin",
            {"email": account["email"], "password": account["password"] + "x"},
            format="json",
        )
        assert wrong.status_code == 401
        response = api.post(
            "/api/auths/signin",
            {"email": account["email"], "password": account["password"]},
            format="json",
        )
        assert response.status_code == 200, response.content
        assert response.json()["user"]["role"] == account["role"]
        user.refresh_from_db()
        assert user.password.startswith("argon2$argon2id$")  # upgraded at the first sign-in
        again = api.post(
            "/api/auths/signin",
            {"email": account["email"], "password": account["password"]},
            format="json",
        )
        assert again.status_code == 200
    bob = User.objects.get(email="bob@example.com")
    assert bob.profile_image_url.startswith("data:image/png;base64,")
    assert User.objects.get(email="ada@example.com").profile_image_url == ""  # "/user.png" there


def test_api_key_keeps_working(owui: Path, api: APIClient) -> None:
    run(str(owui))
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {MANIFEST['admin_api_key']}")
    response = api.get("/api/auths/")
    assert response.status_code == 200, response.content
    assert response.json()["email"] == "ada@example.com"


def _their_messages(blob: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return blob["history"]["messages"]


def test_every_chat_message_by_message(owui: Path, client_of: Callable[[User], APIClient]) -> None:
    run(str(owui))
    tags = {(r["user_id"], r["id"]): r["name"] for r in openwebui_rows(owui, "SELECT * FROM tag")}
    rows = openwebui_rows(owui, "SELECT * FROM chat")
    assert len(rows) == 5
    for row in rows:
        owner = User.objects.get(pk=row["user_id"])
        response = client_of(owner).get(f"/api/chats/{row['id']}")
        assert response.status_code == 200, row["title"]
        ours = response.json()
        blob = json.loads(row["chat"])
        assert ours["title"] == row["title"]
        assert ours["pinned"] == bool(row["pinned"])
        assert ours["archived"] == bool(row["archived"])
        assert ours["folder_id"] == row["folder_id"]
        assert ours["created_at"] == row["created_at"]
        meta = json.loads(row["meta"])
        assert sorted(ours["tags"]) == sorted(
            tags[(row["user_id"], t)] for t in meta.get("tags", [])
        )
        assert ours["chat"]["models"] == blob["models"]
        history = ours["chat"]["history"]
        assert history["current_id"] == row["current_message_id"]
        theirs = _their_messages(blob)
        assert set(history["messages"]) == set(theirs)
        for message_id, their in theirs.items():
            mine = history["messages"][message_id]
            assert mine["parent_id"] == their["parentId"], message_id
            assert mine["children_ids"] == their["childrenIds"], message_id  # same order
            assert mine["role"] == their["role"]
            assert mine["content"] == their["content"]
            assert mine["timestamp"] == their["timestamp"]
            assert mine["model"] == their.get("model", "")
            usage = their.get("usage") or (their.get("info") or {}).get("usage")
            assert mine["usage"] == usage
            assert mine.get("sources") == their.get("sources")
        # The active branch is the path to Open WebUI's current message.
        path, node = [], row["current_message_id"]
        while node:
            path.append(node)
            node = theirs[node]["parentId"]
        assert [m["id"] for m in ours["chat"]["messages"]] == path[::-1]
    branched = Chat.objects.get(pk=MANIFEST["chats"]["branched"])
    assert branched.messages.filter(parent_message_id="q1").count() == 2  # the regeneration
    assert branched.messages.filter(parent_message_id="").count() == 2  # the edited question


def test_share_link_keeps_its_id(owui: Path, client_of: Callable[[User], APIClient]) -> None:
    run(str(owui))
    dee = User.objects.get(email="dee@example.com")
    response = client_of(dee).get(f"/api/chats/share/{MANIFEST['share_id']}")
    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Capitals"
    assert (
        str(ChatShare.objects.get(share_id=MANIFEST["share_id"]).chat_id)
        == (MANIFEST["chats"]["branched"])
    )


def test_files_collections_models_plugins_connections(
    owui: Path, client_of: Callable[[User], APIClient]
) -> None:
    run(str(owui))
    bob = User.objects.get(email="bob@example.com")
    for row in openwebui_rows(owui, "SELECT * FROM file"):
        owner = User.objects.get(pk=row["user_id"])
        ours = File.objects.get(user=owner, filename=row["filename"])
        assert ours.sha256 == row["hash"]
        with default_storage.open(ours.storage_name) as stored:
            data = stored.read()
        assert data == (owui / "uploads" / Path(row["path"]).name).read_bytes()
    rivers = Knowledge.objects.get(pk=MANIFEST["knowledge"])
    assert rivers.user == bob
    assert rivers.name == "Rivers"
    assert rivers.public is True
    assert sorted(f.filename for f in rivers.files.all()) == ["guide.md", "notes.txt"]
    # Indexed again by our jobs: each file has a processing job.
    assert ProcessingJob.objects.filter(file__in=rivers.files.all()).count() == 2
    listed = client_of(bob).get(f"/api/knowledge/{rivers.pk}")
    assert listed.status_code == 200
    model = CustomModel.objects.get(model_id="river-guide")
    assert model.owner.email == "ada@example.com"
    assert model.base_model == "gpt-4o-mini"
    assert model.params == {"system": "You know rivers.", "temperature": 0.2}
    assert model.knowledge_ids == [str(rivers.pk)]
    plugins = {f.name: f for f in Function.objects.all()}
    assert set(plugins) == {"openwebui_filter_shout", "openwebui_tool_weather"}
    sources = {r["id"]: r["content"] for r in openwebui_rows(owui, "SELECT * FROM function")}
    sources |= {r["id"]: r["content"] for r in openwebui_rows(owui, "SELECT * FROM tool")}
    assert plugins["openwebui_filter_shout"].content == sources["shout"]
    assert plugins["openwebui_tool_weather"].content == sources["weather"]
    assert not any(f.is_active for f in plugins.values())
    openai = Connection.objects.get(kind="openai")
    assert (openai.base_url, openai.api_key, openai.enabled) == (
        "http://127.0.0.1:9/v1",
        "sk-upstream-fixture",
        True,
    )
    assert Connection.objects.get(kind="ollama").enabled is False


def test_imported_plugin_cannot_be_activated_unreviewed(
    owui: Path, client_of: Callable[[User], APIClient]
) -> None:
    run(str(owui))
    ada = User.objects.get(email="ada@example.com")
    tool = Function.objects.get(name="openwebui_tool_weather")
    response = client_of(ada).post(
        "/api/functions/update", {"id": str(tool.pk), "is_active": True}, format="json"
    )
    assert response.status_code == 400, response.content
    tool.refresh_from_db()
    assert tool.is_active is False


def test_what_stays_behind_is_listed(owui: Path) -> None:
    output = run(str(owui))
    assert "Geography" in output  # the folder's name
    assert summary_line(output, "chats") == [5, 0, 0]
    assert summary_line(output, "users") == [4, 0, 0]


def test_second_run_doubles_nothing(owui: Path) -> None:
    first = run(str(owui))
    before = counts()
    second = run(str(owui))
    assert counts() == before
    assert summary_line(first, "chats") == [5, 0, 0]
    assert summary_line(second, "chats") == [0, 5, 0]
    assert summary_line(second, "files") == [0, 3, 0]
    assert summary_line(second, "users") == [0, 4, 0]


def test_dry_run_changes_nothing(owui: Path, settings: Any) -> None:
    before = counts()
    output = run(str(owui), "--dry-run")
    assert counts() == before
    assert summary_line(output, "chats") == [5, 0, 0]
    assert summary_line(output, "users") == [4, 0, 0]
    assert "Dry run" in output
    assert "is not here" not in output  # later parts see the earlier ones, as in a real run
    assert summary_line(output, "models") == [1, 0, 0]
    media = Path(settings.MEDIA_ROOT)
    assert not [p for p in media.rglob("*") if p.is_file()]  # no bytes left behind


def test_an_account_already_here_receives_the_data(
    owui: Path, make_user: Callable[..., User]
) -> None:
    existing = make_user(email="ada@example.com", name="Ada Here", role=User.Role.ADMIN)
    output = run(str(owui))
    existing.refresh_from_db()
    assert existing.name == "Ada Here"  # kept, with its password
    assert Chat.objects.filter(user=existing).count() == 3
    assert "already here" in output


def test_corrupt_database_is_refused_and_ours_untouched(owui: Path) -> None:
    before = counts()
    (owui / "webui.db").write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(CommandError, match="not a readable Open WebUI database"):
        run(str(owui))
    assert counts() == before


def test_database_of_another_version_is_refused(owui: Path) -> None:
    db = sqlite3.connect(owui / "webui.db")
    db.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    db.commit()
    db.close()
    before = counts()
    with pytest.raises(CommandError, match="revision ffffffffffff"):
        run(str(owui))
    assert counts() == before


def test_another_schema_is_refused_even_when_asked_to_try(owui: Path) -> None:
    db = sqlite3.connect(owui / "webui.db")
    db.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    db.execute("ALTER TABLE chat RENAME COLUMN current_message_id TO current")
    db.commit()
    db.close()
    with pytest.raises(CommandError, match=r"chat\(current_message_id\)"):
        run(str(owui), "--any-revision")
    assert Chat.objects.count() == 0


def test_not_open_webui_at_all(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "webui.db")
    db.execute("CREATE TABLE something (id INTEGER)")
    db.commit()
    db.close()
    with pytest.raises(CommandError, match="not a readable Open WebUI database"):
        run(str(tmp_path))
    with pytest.raises(CommandError, match="does not exist"):
        run(str(tmp_path / "nowhere"))


def test_a_broken_chat_is_listed_and_the_rest_imported(owui: Path) -> None:
    db = sqlite3.connect(owui / "webui.db")
    db.execute("UPDATE chat SET chat = '{not json' WHERE id = ?", (MANIFEST["chats"]["bob"],))
    db.commit()
    db.close()
    output = run(str(owui))
    assert "JSON cannot be read" in output
    assert summary_line(output, "chats") == [4, 0, 1]
    assert not Chat.objects.filter(pk=MANIFEST["chats"]["bob"]).exists()


def test_branches_keep_open_webui_order() -> None:
    """Siblings come in the order of their parent's childrenIds (the branch arrows' order),
    whatever the order of the JSON object."""
    from importers.openwebui import chat_from_openwebui

    def node(mid: str, parent: str | None, children: list[str]) -> dict[str, Any]:
        role = "user" if mid.startswith("q") else "assistant"
        return {
            "id": mid,
            "parentId": parent,
            "childrenIds": children,
            "role": role,
            "content": mid,
            "timestamp": 1,
        }

    blob = {
        "history": {
            "currentId": "a1",
            "messages": {
                "a1": node("a1", "q", []),
                "a2": node("a2", "q", []),
                "q": node("q", None, ["a2", "a1"]),
            },
        }
    }
    row = {
        "id": "c",
        "title": "t",
        "chat": blob,
        "meta": {},
        "created_at": 1,
        "updated_at": 1,
        "current_message_id": "a1",
    }
    converted, notes = chat_from_openwebui(row, {}, user_key="u")
    assert [m["id"] for m in converted["messages"]] == ["q", "a2", "a1"]
    assert converted["current_id"] == "a1"
    assert notes == []


def test_its_admin_choices_apply_unless_ours_are_saved(owui: Path) -> None:
    from users.selectors import site_settings_effective
    from users.services import site_settings_update

    their = {
        r["key"]: json.loads(r["value"])
        for r in openwebui_rows(owui, "SELECT * FROM config WHERE key LIKE 'ui.%'")
    }
    assert their["ui.enable_signup"] is False  # Open WebUI's choice after its first account
    site_settings_update(enable_api_keys=False)  # an admin's choice here
    output = run(str(owui))
    effective = site_settings_effective()
    assert effective.enable_signup is False
    assert effective.default_user_role == their["ui.default_user_role"]
    assert effective.enable_api_keys is False  # ours, untouched
    assert summary_line(output, "settings") == [2, 0, 0]


def test_an_unreachable_postgresql_is_a_clear_error() -> None:
    with pytest.raises(CommandError, match="Cannot connect"):
        run("postgresql://nobody@127.0.0.1:1/none")
