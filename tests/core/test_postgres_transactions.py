"""PostgreSQL's backend sends a transaction's BEGIN with its first statement (one message, one
round trip, not two), and transactions behave as they did: atomic, isolated, rolled back on
error, one after another on the same connection, with named cursors and executemany inside.
Statements outside a transaction are bound by the server and prepared once repeated."""

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction

from chats.models import Chat
from users.models import User

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's backend"),
]


# A Parse message in libpq's trace: the statement's name, its text, the parameter types.
PARSE = re.compile(r'^"(?P<name>[^"]*)" "(?P<sql>.*)"(?: \d+)+$')


@contextmanager
def sent() -> Iterator[list[str]]:
    """The queries this connection sends meanwhile, as libpq's protocol trace records them."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    queries: list[str] = []
    with tempfile.TemporaryFile() as trace:
        pgconn.trace(trace.fileno())
        try:
            yield queries
        finally:
            pgconn.untrace()
            trace.seek(0)
            for line in trace.read().decode().splitlines():
                fields = line.split("\t")
                if fields[1] == "F" and fields[3] == "Query":
                    queries.append(fields[4].strip().strip('"'))
                elif fields[1] == "F" and fields[3] == "Parse":  # extended protocol
                    parsed = PARSE.match(fields[4].strip())
                    assert parsed is not None, fields[4]
                    queries.append(parsed["sql"])


def other_connection() -> psycopg.Connection:
    db = settings.DATABASES["default"]
    return psycopg.connect(
        dbname=connection.settings_dict["NAME"],
        user=db["USER"],
        host=db["HOST"],
        port=db["PORT"] or 5432,
        password=db["PASSWORD"] or None,
        autocommit=True,
    )


def titles_seen_elsewhere() -> list[str]:
    with other_connection() as other:
        return [row[0] for row in other.execute("SELECT title FROM chats_chat ORDER BY title")]


def test_a_transaction_sends_its_begin_with_its_first_statement(owner: User) -> None:
    with sent() as queries, transaction.atomic():
        Chat.objects.create(user=owner, title="one")
        Chat.objects.filter(user=owner).update(title="two")

    assert len(queries) == 3
    assert queries[0].startswith("BEGIN; INSERT INTO")
    assert queries[1].startswith("UPDATE")
    assert queries[2] == "COMMIT"
    assert titles_seen_elsewhere() == ["two"]


def test_a_transaction_that_runs_nothing_sends_nothing() -> None:
    with sent() as queries, transaction.atomic():
        pass

    assert queries == []


def test_statements_outside_transactions_send_no_begin(owner: User) -> None:
    with sent() as queries:
        Chat.objects.create(user=owner, title="alone")
        list(Chat.objects.all())

    assert [q.split()[0] for q in queries] == ["INSERT", "SELECT"]
    assert connection.connection.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_writes_are_seen_elsewhere_only_after_commit(owner: User) -> None:
    with transaction.atomic():
        Chat.objects.create(user=owner, title="pending")
        seen_inside = titles_seen_elsewhere()

    assert seen_inside == []
    assert titles_seen_elsewhere() == ["pending"]


def test_an_error_rolls_back_the_whole_transaction(owner: User) -> None:
    chat = Chat.objects.create(user=owner, title="kept")

    def change_then_fail() -> None:
        with transaction.atomic():
            Chat.objects.filter(pk=chat.pk).update(title="changed")
            Chat.objects.create(pk=chat.pk, user=owner, title="duplicate id")

    with pytest.raises(IntegrityError):
        change_then_fail()

    assert titles_seen_elsewhere() == ["kept"]
    assert Chat.objects.get().title == "kept"  # the connection is usable after the rollback


def test_a_first_statement_that_fails_leaves_no_transaction_open(owner: User) -> None:
    chat = Chat.objects.create(user=owner, title="first")

    with pytest.raises(IntegrityError), transaction.atomic():
        Chat.objects.create(pk=chat.pk, user=owner, title="duplicate id")

    assert connection.connection.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    Chat.objects.create(user=owner, title="second")  # autocommit again
    assert titles_seen_elsewhere() == ["first", "second"]


def test_transactions_one_after_another_are_each_their_own(owner: User) -> None:
    transaction.set_autocommit(False)
    try:
        Chat.objects.create(user=owner, title="committed")
        transaction.commit()
        with sent() as queries:
            Chat.objects.create(user=owner, title="rolled back")
        seen_before_rollback = titles_seen_elsewhere()
        transaction.rollback()
    finally:
        transaction.set_autocommit(True)

    assert queries[0].startswith("BEGIN; INSERT")
    assert seen_before_rollback == ["committed"]
    assert titles_seen_elsewhere() == ["committed"]


def test_a_savepoint_rolls_back_alone(owner: User) -> None:
    def create_then_fail() -> None:
        with transaction.atomic():
            chat = Chat.objects.create(user=owner, title="inner")
            Chat.objects.create(pk=chat.pk, user=owner, title="duplicate id")

    with transaction.atomic():
        with pytest.raises(IntegrityError):
            create_then_fail()
        Chat.objects.create(user=owner, title="after the savepoint")

    assert titles_seen_elsewhere() == ["after the savepoint"]


def test_a_named_cursor_inside_a_transaction_reads_its_writes(owner: User) -> None:
    with transaction.atomic():
        for n in range(5):
            Chat.objects.create(user=owner, title=f"chat {n}")
        titles = [chat.title for chat in Chat.objects.order_by("title").iterator(chunk_size=2)]

    with transaction.atomic():  # a named cursor as the transaction's first statement
        first = [chat.title for chat in Chat.objects.order_by("title").iterator(chunk_size=2)]
    outside = [chat.title for chat in Chat.objects.order_by("title").iterator(chunk_size=2)]

    assert titles == first == outside == [f"chat {n}" for n in range(5)]


def test_executemany_inside_a_transaction_rolls_back_with_it(owner: User) -> None:
    chats = [Chat.objects.create(user=owner, title=f"before {n}") for n in range(3)]

    seen: dict[str, list[str]] = {}

    def update_then_fail() -> None:
        with transaction.atomic():
            with connection.cursor() as cursor:  # the transaction's first statement
                cursor.executemany(
                    "UPDATE chats_chat SET title = %s WHERE id = %s",
                    [(f"after {n}", chat.pk) for n, chat in enumerate(chats)],
                )
            seen["elsewhere"] = titles_seen_elsewhere()
            seen["mine"] = sorted(Chat.objects.values_list("title", flat=True))
            raise RuntimeError("undo")

    with pytest.raises(RuntimeError):
        update_then_fail()

    assert seen["mine"] == ["after 0", "after 1", "after 2"]
    assert seen["elsewhere"] == ["before 0", "before 1", "before 2"]
    assert titles_seen_elsewhere() == ["before 0", "before 1", "before 2"]


def test_a_statement_outside_a_transaction_is_bound_by_the_server_and_prepared_once_repeated(
    owner: User,
) -> None:
    Chat.objects.create(user=owner, title="read me")
    connection.ensure_connection()
    threshold = connection.connection.prepare_threshold
    with sent() as queries:
        titles = [Chat.objects.filter(user=owner).values_list("title", flat=True)[0]]
        for _ in range(threshold + 2):
            titles.append(Chat.objects.filter(user=owner).values_list("title", flat=True)[0])

    assert set(titles) == {"read me"}
    # Values apart from the text ($1), and parsed (planned) once more when prepared; after
    # that only bound and executed.
    assert all("$1" in q for q in queries), queries
    assert len(queries) == threshold + 1


def test_a_cursor_opened_before_a_transaction_still_runs_inside_it(owner: User) -> None:
    with connection.cursor() as cursor, transaction.atomic():
        cursor.execute(
            "INSERT INTO chats_chat (id, user_id, title, model_ids, folder_id,"
            " pinned, archived, current_id, last_seq, created_at, updated_at)"
            " VALUES (gen_random_uuid(), %s, 'inside', '[]', '', false, false, '', 0,"
            " now(), now())",
            [owner.pk],
        )
        seen_inside = titles_seen_elsewhere()

    assert seen_inside == []
    assert titles_seen_elsewhere() == ["inside"]
