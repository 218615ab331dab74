"""PostgreSQL's backend (webui_backend/postgresql): timestamps are read by psycopg's own loader
(C when installed) and still come back as the instant that was stored, aware and in UTC; a
pooled connection that died while idle is replaced before anyone uses it."""

import copy
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from django.db import connection
from psycopg.pq import Format
from rest_framework.test import APIClient

from chats.models import Chat
from users.models import User
from webui_backend.postgresql.base import (
    CHECK_AFTER_IDLE,
    TIMESTAMPTZ_OID,
    DatabaseWrapper,
    UtcTimestamptzLoader,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's backend"),
]


def test_a_time_stored_in_any_zone_reads_back_as_the_same_instant_in_utc(
    owner: User, client_of: Callable[[User], APIClient]
) -> None:
    api = client_of(owner)
    chat_id = api.post("/api/chats/new", {"chat": {"title": "zones"}}, format="json").json()["id"]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE chats_chat SET updated_at = %s::timestamptz, created_at = %s::timestamptz"
            " WHERE id = %s",
            ["2026-01-02 03:04:05.123456+05", "1999-12-31 23:59:59-08:30", chat_id],
        )

    chat = Chat.objects.get(pk=chat_id)
    shown = api.get(f"/api/chats/{chat_id}").json()
    listed = api.get("/api/chats/").json()

    assert chat.updated_at == datetime(2026, 1, 1, 22, 4, 5, 123456, tzinfo=UTC)
    assert chat.updated_at.tzinfo is UTC
    assert chat.created_at.tzinfo is UTC
    assert chat.created_at == datetime(2000, 1, 1, 8, 29, 59, tzinfo=UTC)
    expected = int(datetime(2026, 1, 1, 22, 4, 5, tzinfo=UTC).timestamp())
    assert shown["updated_at"] == expected
    assert [(c["id"], c["updated_at"]) for c in listed] == [(chat_id, expected)]


def test_connections_read_timestamps_with_the_fast_loader() -> None:
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)

    assert loader is UtcTimestamptzLoader


@pytest.mark.django_db(transaction=True)
def test_a_pooled_connection_that_died_while_idle_is_replaced_before_use() -> None:
    settings = copy.deepcopy(connection.settings_dict)
    settings["OPTIONS"]["pool"] = {"min_size": 1, "max_size": 1, "timeout": 5}
    settings["CONN_HEALTH_CHECKS"] = False
    pooled = DatabaseWrapper(settings, alias="idle-check")  # a pool of one, its own
    try:
        pooled.ensure_connection()
        first_pid = pooled.connection.info.backend_pid
        pooled.close()  # back to the pool
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [first_pid])
        time.sleep(CHECK_AFTER_IDLE + 0.2)

        with pooled.cursor() as cursor:  # no error: the dead one was found and replaced
            cursor.execute("SELECT pg_backend_pid()")
            second_pid = cursor.fetchone()[0]
        pooled.close()
    finally:
        pooled.close_pool()

    assert second_pid != first_pid
