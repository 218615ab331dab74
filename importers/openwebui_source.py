"""Reading an Open WebUI database (its SQLite ``webui.db`` or its PostgreSQL), read-only.

Only what the import needs is read, as plain dicts with JSON columns decoded. The schema is
checked first: Open WebUI records its schema revision in ``alembic_version``; a database of
another revision, one that is not Open WebUI's, or a corrupt file gives ``SourceError`` with a
sentence saying what is wrong, before anything of ours is touched.
"""

import json
import sqlite3
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Schema revisions this importer was written against and tested with (Open WebUI's alembic
# heads). 0bd252b206fb is 0.12.4's.
KNOWN_REVISIONS = {"0bd252b206fb": "0.12.4"}

# Tables and the columns read from them; a database lacking one is refused.
REQUIRED: dict[str, set[str]] = {
    "user": {"id", "name", "email", "role", "profile_image_url", "created_at", "last_active_at"},
    "auth": {"id", "password", "active"},
    "chat": {
        "id",
        "user_id",
        "title",
        "chat",
        "created_at",
        "updated_at",
        "archived",
        "pinned",
        "meta",
        "folder_id",
        "current_message_id",
    },
    "tag": {"id", "name", "user_id"},
    "folder": {"id", "user_id", "name", "parent_id"},
    "file": {"id", "user_id", "filename", "meta", "path", "created_at"},
    "knowledge": {"id", "user_id", "name", "description", "created_at"},
    "knowledge_file": {"knowledge_id", "file_id"},
    "model": {"id", "user_id", "base_model_id", "name", "params", "meta", "is_active"},
    "function": {"id", "user_id", "name", "type", "content", "meta", "is_active", "is_global"},
    "tool": {"id", "user_id", "name", "content", "meta"},
    "api_key": {"id", "user_id", "key", "created_at", "expires_at"},
    "shared_chat": {"id", "chat_id", "user_id", "created_at"},
    "config": {"key", "value"},
    "access_grant": {"resource_type", "resource_id", "principal_type", "principal_id"},
}


class SourceError(Exception):
    """The source cannot be read as an Open WebUI database; nothing was imported."""


def _json(value: Any) -> Any:
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


@dataclass
class Source:
    """An open Open WebUI database and where its uploaded files are."""

    connection: Any
    kind: str  # "sqlite" or "postgresql"
    uploads: Path | None
    revision: str
    label: str

    def rows(self, table: str, where: str = "", params: tuple = ()) -> list[dict[str, Any]]:
        quoted = f'"{table}"'
        cursor = self.connection.cursor()
        mark = "?" if self.kind == "sqlite" else "%s"
        # Table names and clauses are this module's constants; values go as parameters.
        sql = f"SELECT * FROM {quoted} {where}".replace("?", mark)  # noqa: S608
        cursor.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def json_rows(self, table: str, *columns: str, where: str = "", params: tuple = ()) -> list:
        rows = self.rows(table, where, params)
        for row in rows:
            for column in columns:
                row[column] = _json(row.get(column))
        return rows

    def iter_chats(self, user_id: str) -> Iterator[dict[str, Any]]:
        """One user's chats, one row at a time (a chat's JSON can be large)."""
        cursor = self.connection.cursor()
        mark = "?" if self.kind == "sqlite" else "%s"
        cursor.execute(
            f'SELECT * FROM "chat" WHERE user_id = {mark} ORDER BY created_at',  # noqa: S608
            (user_id,),
        )
        names = [d[0] for d in cursor.description]
        for row in cursor:
            item = dict(zip(names, row, strict=True))
            item["meta"] = _json(item.get("meta")) or {}
            raw = item.get("chat")
            item["chat"] = _json(raw)
            item["chat_corrupt"] = raw is not None and item["chat"] is None
            yield item

    def config(self) -> dict[str, Any]:
        return {row["key"]: _json(row["value"]) for row in self.rows("config")}

    def close(self) -> None:
        with suppress(Exception):
            self.connection.close()


def _columns(connection: Any, kind: str, table: str) -> set[str]:
    cursor = connection.cursor()
    if kind == "sqlite":
        cursor.execute(f'PRAGMA table_info("{table}")')
        return {row[1] for row in cursor.fetchall()}
    cursor.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = %s AND table_schema = current_schema()",
        (table,),
    )
    return {row[0] for row in cursor.fetchall()}


def _check(connection: Any, kind: str, label: str, *, any_revision: bool) -> str:
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT version_num FROM alembic_version")
        versions = [row[0] for row in cursor.fetchall()]
    except Exception as exc:  # sqlite3.DatabaseError, psycopg.Error: not Open WebUI's, corrupt
        raise SourceError(
            f"{label} is not a readable Open WebUI database ({exc.__class__.__name__}: "
            f"{str(exc).strip()}). Point at the data folder holding webui.db, at webui.db "
            "itself, or at Open WebUI's DATABASE_URL."
        ) from None
    if len(versions) != 1:
        raise SourceError(f"{label} has no single Open WebUI schema revision ({versions}).")
    revision = versions[0]
    if revision not in KNOWN_REVISIONS and not any_revision:
        known = ", ".join(f"{rev} (Open WebUI {ver})" for rev, ver in KNOWN_REVISIONS.items())
        raise SourceError(
            f"{label} is at Open WebUI schema revision {revision}, which this importer does not "
            f"know; it reads {known}. Upgrade that Open WebUI to 0.12.4 and start it once (it "
            "migrates its database), then import; or pass --any-revision to try anyway "
            "(the schema is still checked table by table)."
        )
    missing = []
    try:
        for table, columns in REQUIRED.items():
            lacking = columns - _columns(connection, kind, table)
            if lacking:
                missing.append(f"{table}({', '.join(sorted(lacking))})")
    except Exception as exc:
        raise SourceError(f"{label} cannot be read: {exc}") from None
    if missing:
        raise SourceError(
            f"{label} (schema revision {revision}) lacks what the import reads: "
            f"{'; '.join(missing)}."
        )
    return revision


def open_source(location: str, *, uploads: str | None = None, any_revision: bool = False) -> Source:
    """Open ``location``: a PostgreSQL URL, a ``webui.db`` file, or the folder holding it."""
    if location.startswith(("postgres://", "postgresql://")):
        import psycopg

        label = "The PostgreSQL database"
        try:
            connection = psycopg.connect(location, autocommit=False, connect_timeout=10)
            connection.read_only = True
        except psycopg.Error as exc:
            raise SourceError(f"Cannot connect to {label.lower()}: {exc}".strip()) from None
        kind = "postgresql"
        uploads_path = Path(uploads) if uploads else None
    else:
        path = Path(location)
        if path.is_dir():
            path = path / "webui.db"
        label = str(path)
        if not path.is_file():
            raise SourceError(f"{path} does not exist.")
        try:
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise SourceError(f"{label} cannot be opened: {exc}") from None
        kind = "sqlite"
        uploads_path = Path(uploads) if uploads else path.parent / "uploads"
    try:
        revision = _check(connection, kind, label, any_revision=any_revision)
    except SourceError:
        with suppress(Exception):
            connection.close()
        raise
    if uploads_path is not None and not uploads_path.is_dir():
        uploads_path = None
    return Source(connection, kind, uploads_path, revision, label)
