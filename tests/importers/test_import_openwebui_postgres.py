"""manage.py import_openwebui reading an Open WebUI deployment on PostgreSQL (its DATABASE_URL).

The real Open WebUI 0.12.4 database of tests/fixtures/openwebui/ is copied, table by table and
row by row, into a schema of the test database with the column types Open WebUI's SQLAlchemy
models give on PostgreSQL (JSON as json, BIGINT, BOOLEAN, text), then imported through a
postgresql:// URL. Runs on the PostgreSQL suite only (DATABASE_URL set).
"""

import gzip
import io
import json
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection

from chats.models import Chat, ChatShare, Message
from knowledge.models import File, Knowledge
from users.models import User

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "openwebui"
MANIFEST = json.loads((FIXTURE / "manifest.json").read_text())

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL (run the suite with DATABASE_URL)",
    ),
]

TYPES = {"JSON": "json", "BIGINT": "bigint", "BOOLEAN": "boolean", "INTEGER": "integer"}


def _url(database: dict[str, Any], schema: str) -> str:
    auth = quote(database["USER"] or "", safe="")
    if database.get("PASSWORD"):
        auth += ":" + quote(database["PASSWORD"], safe="")
    host = f"{database.get('HOST') or '127.0.0.1'}:{database.get('PORT') or 5432}"
    options = quote(f"-c search_path={schema}", safe="")
    return f"postgresql://{auth}@{host}/{database['NAME']}?options={options}"


@pytest.fixture
def postgres_source(tmp_path: Path, db: None) -> Iterator[tuple[str, Path]]:
    import psycopg
    from psycopg.types.json import Json

    with gzip.open(FIXTURE / "webui.db.gz") as packed, open(tmp_path / "webui.db", "wb") as out:
        shutil.copyfileobj(packed, out)
    shutil.copytree(FIXTURE / "uploads", tmp_path / "uploads")
    lite = sqlite3.connect(tmp_path / "webui.db")
    database = django_settings.DATABASES["default"]
    schema = f"owui_{uuid.uuid4().hex[:8]}"
    url = _url(database, schema)
    admin = psycopg.connect(url.split("?")[0], autocommit=True)
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        tables = [r[0] for r in lite.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = lite.execute(f'PRAGMA table_info("{table}")').fetchall()
            kinds = {c[1]: TYPES.get(c[2].split("(")[0].upper(), "text") for c in columns}
            ddl = ", ".join(f'"{name}" {kind}' for name, kind in kinds.items())
            admin.execute(f'CREATE TABLE "{schema}"."{table}" ({ddl})')
            names = list(kinds)
            marks = ", ".join(["%s"] * len(names))
            quoted = ", ".join(f'"{n}"' for n in names)
            for row in lite.execute(f'SELECT {quoted} FROM "{table}"'):  # noqa: S608
                values = []
                for name, value in zip(names, row, strict=True):
                    if value is not None and kinds[name] == "json":
                        value = Json(json.loads(value) if isinstance(value, str) else value)
                    elif value is not None and kinds[name] == "boolean":
                        value = bool(value)
                    elif value is not None and kinds[name] == "text":
                        value = str(value)
                    values.append(value)
                admin.execute(
                    f'INSERT INTO "{schema}"."{table}" ({quoted}) VALUES ({marks})',  # noqa: S608
                    values,
                )
        yield url, tmp_path / "uploads"
    finally:
        lite.close()
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


def test_import_from_an_open_webui_postgresql(
    postgres_source: tuple[str, Path], settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path / "ours"
    url, uploads = postgres_source
    out = io.StringIO()
    call_command(
        "import_openwebui", url, "--uploads", str(uploads), stdout=out, stderr=io.StringIO()
    )
    assert User.objects.count() == 4, out.getvalue()
    assert Chat.objects.count() == 5
    branched = Chat.objects.get(pk=MANIFEST["chats"]["branched"])
    assert branched.messages.count() == 7
    assert sorted(t.name for t in branched.tags.all()) == ["Europe", "geo"]
    assert branched.pinned is True
    assert ChatShare.objects.get(share_id=MANIFEST["share_id"]).chat == branched
    assert File.objects.count() == 3
    assert Knowledge.objects.get(pk=MANIFEST["knowledge"]).public is True
    before = Message.objects.count()
    again = io.StringIO()
    call_command(
        "import_openwebui", url, "--uploads", str(uploads), stdout=again, stderr=io.StringIO()
    )
    assert Message.objects.count() == before
    assert "chats                    0             5             0" in again.getvalue()
