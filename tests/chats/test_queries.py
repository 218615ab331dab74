"""The number of queries of list and get does not grow with the data."""

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from chats import services
from realtime.models import RoomEvent
from tests.chats.helpers import contents, create_chat, msg
from users.models import User

pytestmark = pytest.mark.django_db


def count_queries(client: APIClient, url: str, **query: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, query)
    assert response.status_code == 200
    return len(captured)


def test_list_queries_are_constant(client_of: Callable[[User], APIClient], owner: User) -> None:
    client = client_of(owner)
    create_chat(client, title="one", tags=["a"])
    small = count_queries(client, "/api/chats/")
    for n in range(30):
        create_chat(client, title=f"c{n}", tags=[f"t{n}", "shared"], messages=[msg("user", "x")])

    assert count_queries(client, "/api/chats/") == small
    assert count_queries(client, "/api/chats/", q="x") == small


def test_get_queries_are_constant(client_of: Callable[[User], APIClient], owner: User) -> None:
    client = client_of(owner)
    chat = create_chat(client, messages=[msg("user", "q")], tags=["a"])
    url = f"/api/chats/{chat['id']}"
    client.post(f"/api/chats/{chat['id']}/share", format="json")
    small = count_queries(client, url)
    stored = services.Chat.objects.get(pk=chat["id"])
    services.chat_update(
        stored,
        messages=[{"id": "q0", "role": "user", "content": "q"}]
        + [{"role": "assistant", "content": f"a{n}"} for n in range(200)],
        tags=["a", "b", "c"],
    )

    assert count_queries(client, url) == small


@pytest.mark.parametrize("key", [None, "append-1"])
def test_an_append_reads_the_chat_once_or_twice_with_a_key(
    client_of: Callable[[User], APIClient], owner: User, key: str | None
) -> None:
    """Without an Idempotency-Key the chat is read once, under its lock (on PostgreSQL in the
    one statement that writes); with one it is checked first (before the key is looked up) and
    locked by the write."""
    client = client_of(owner)
    chat = create_chat(client, messages=[msg("user", "q")])
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    table = services.Chat._meta.db_table
    with CaptureQueriesContext(connection) as captured:
        response = client.post(
            f"/api/chats/{chat['id']}/messages", msg("assistant", "a"), format="json", **headers
        )
    assert response.status_code == 201
    selects = [q["sql"] for q in captured if q["sql"].startswith("SELECT")]
    chat_reads = [sql for sql in selects if f'FROM "{table}"' in sql]
    if connection.vendor == "postgresql" and not key:
        statements = [q["sql"] for q in captured]
        assert len(statements) == 1, statements
        assert statements[0].startswith("WITH chat AS (SELECT")
        assert "FOR UPDATE" in statements[0]
    else:
        assert len(chat_reads) == (2 if key else 1), chat_reads
    stored = client.get(f"/api/chats/{chat['id']}").json()
    assert contents(stored) == ["q", "a"]


@pytest.mark.parametrize(
    ("body", "reads"),
    [({}, 0), ({"id": "client-id"}, 1), ({"parent_id": "q0"}, 1), ({"parent_id": None}, 1)],
)
def test_an_append_to_the_current_leaf_looks_up_no_message(
    client_of: Callable[[User], APIClient], owner: User, body: dict[str, object], reads: int
) -> None:
    """A new message under the current leaf needs no lookup (a fresh id, a parent that every
    write keeps stored); a client's own id or parent is looked up once."""
    client = client_of(owner)
    chat = create_chat(client, messages=[{"id": "q0", "role": "user", "content": "q"}])
    table = services.Message._meta.db_table
    with CaptureQueriesContext(connection) as captured:
        response = client.post(
            f"/api/chats/{chat['id']}/messages", {**msg("assistant", "a"), **body}, format="json"
        )
    assert response.status_code == 201
    message_reads = [q["sql"] for q in captured if q["sql"].startswith(f'SELECT "{table}"')]
    message_reads += [q["sql"] for q in captured if f'FROM "{table}"' in q["sql"]]
    assert len(set(message_reads)) == reads, message_reads
    stored = client.get(f"/api/chats/{chat['id']}").json()
    expected_parent = None if body.get("parent_id", "q0") is None else "q0"
    answer = stored["chat"]["history"]["messages"][response.json()["id"]]
    assert answer["parent_id"] == expected_parent


@pytest.mark.parametrize(
    "body",
    [
        {"chat": {"title": "list", "messages": [msg("user", "q"), msg("assistant", "a")]}},
        {"chat": {"title": "empty"}},
    ],
)
def test_a_new_chat_is_written_once_with_its_messages(
    client_of: Callable[[User], APIClient], owner: User, body: dict
) -> None:
    """The chat's row is inserted already counting its messages: no update after. On
    PostgreSQL the chat and its messages are one statement (atomic alone: no transaction)."""
    client = client_of(owner)
    with CaptureQueriesContext(connection) as captured:
        response = client.post("/api/chats/new", body, format="json")
    writes = [  # of chats and messages (not the user's last_active_at)
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].split()[0] != "SELECT" and '"chats_' in q["sql"]
    ]
    chat_writes = [
        sql.split()[0]
        for sql in writes
        if sql.split()[0] in ("INSERT", "UPDATE", "WITH") and '"chats_chat"' in sql[:60]
    ]
    expected = len(body["chat"].get("messages", []))
    answer = client.get(f"/api/chats/{response.json()['id']}").json()
    appended = client.post(
        f"/api/chats/{answer['id']}/messages", {"role": "user", "content": "next"}, format="json"
    )

    assert response.status_code == 200
    if connection.vendor == "postgresql":
        assert len(writes) == 1, writes
        assert chat_writes == ["WITH" if body["chat"].get("messages") else "INSERT"]
    else:
        assert chat_writes == ["INSERT"]
    assert services.Chat.objects.get(pk=answer["id"]).last_seq == expected + 1
    assert len(answer["chat"]["messages"]) == expected
    assert appended.status_code == 201
    assert contents(client.get(f"/api/chats/{answer['id']}").json())[-1] == "next"


def test_a_chat_is_read_with_its_tags_in_one_statement(
    client_of: Callable[[User], APIClient], owner: User
) -> None:
    client = client_of(owner)
    chat = create_chat(client, messages=[msg("user", "q")], tags=["zeta", "alpha", "mid"])
    url = f"/api/chats/{chat['id']}"
    untagged = create_chat(client, messages=[msg("user", "q")])

    with CaptureQueriesContext(connection) as captured:
        shown = client.get(url).json()
    statements = len(captured)  # before the next request empties Django's log
    renamed = client.post(url, {"chat": {"title": "renamed"}}, format="json").json()
    retagged = client.post(url, {"chat": {"tags": ["new", "beta"]}}, format="json").json()

    assert statements == 2  # the chat with its share and tags, then its messages
    assert shown["tags"] == ["alpha", "mid", "zeta"]
    assert renamed["title"] == "renamed"
    assert renamed["tags"] == ["alpha", "mid", "zeta"]
    assert retagged["tags"] == ["beta", "new"]
    assert client.get(url).json()["tags"] == ["beta", "new"]
    assert client.get(f"/api/chats/{untagged['id']}").json()["tags"] == []


def test_a_title_update_writes_only_what_changed(
    client_of: Callable[[User], APIClient], owner: User
) -> None:
    client = client_of(owner)
    chat = create_chat(client, messages=[msg("user", "q")], tags=["kept"])
    url = f"/api/chats/{chat['id']}"
    client.post(url, {"chat": {"pinned": True, "models": ["m1"]}}, format="json")
    share_id = client.post(f"{url}/share", format="json").json()["share_id"]

    with CaptureQueriesContext(connection) as captured:
        renamed = client.post(url, {"chat": {"title": "renamed"}}, format="json").json()
    statements = [q["sql"] for q in captured.captured_queries]
    updates = [sql.removeprefix("WITH moved AS (") for sql in statements if "UPDATE " in sql]

    # The row is written first, with no lock taken and no read before it.
    assert updates[0] == statements[0].removeprefix("WITH moved AS ("), statements
    assert updates[0].startswith("UPDATE")
    assert not any("FOR UPDATE" in sql for sql in statements)
    assert len(updates) == 1
    assert updates[0].split(" WHERE ")[0].count(" = ") == 2  # the title and updated_at
    assert '"title"' in updates[0]
    # On PostgreSQL the UPDATE's row is read back with its share and tags in its statement.
    assert len(statements) == (2 if connection.vendor == "postgresql" else 3), statements
    assert (renamed["title"], renamed["pinned"], renamed["tags"]) == ("renamed", True, ["kept"])
    assert renamed["share_id"] == share_id
    assert renamed["chat"]["models"] == ["m1"]
    assert [m["content"] for m in renamed["chat"]["messages"]] == ["q"]


@pytest.mark.parametrize("route", ["append", "edit"])
def test_a_new_message_its_chat_and_its_event_are_written_in_one_statement_on_postgresql(
    client_of: Callable[[User], APIClient], owner: User, route: str
) -> None:
    client = client_of(owner)
    chat = create_chat(client, messages=[{"id": "q0", "role": "user", "content": "q"}])
    url = f"/api/chats/{chat['id']}"
    before = client.get(url).json()
    with CaptureQueriesContext(connection) as captured:
        if route == "append":
            response = client.post(f"{url}/messages", msg("assistant", "a"), format="json")
        else:
            response = client.post(f"{url}/messages/q0/edit", {"content": "q2"}, format="json")
    writes = [
        q["sql"].split()[0] for q in captured if q["sql"].split()[0] in ("INSERT", "UPDATE", "WITH")
    ]
    after = client.get(url).json()
    new_id = response.json()["id"]

    assert response.status_code in (200, 201)
    # The message with its chat's update and the room's event (its counter and itself).
    if connection.vendor == "postgresql":
        assert writes == ["WITH"]
    else:
        assert writes == ["INSERT", "UPDATE", "INSERT", "INSERT"]
    events = RoomEvent.objects.filter(room=f"chat:{chat['id']}").order_by("seq")
    *_, (seq, event, data) = [(e.seq, e.event, e.data) for e in events]
    assert (seq, event) == (len(events), "message")
    assert data["chat_id"] == chat["id"]
    assert data["message"]["id"] == new_id
    assert data["message"]["parent_id"] == ("q0" if route == "append" else None)
    assert data["message"]["content"] == ("a" if route == "append" else "q2")
    assert after["chat"]["history"]["current_id"] == new_id
    assert after["updated_at"] >= before["updated_at"]
    stored = services.Chat.objects.get(pk=chat["id"])
    assert stored.last_seq == 2
    assert stored.messages.get(message_id=new_id).seq == 2


@pytest.mark.parametrize(
    "query", [{}, {"page": 1}, {"page": 2, "limit": 1}, {"tag": "a"}, {"q": "one"}]
)
def test_a_list_page_reads_its_chats_and_their_tags_in_one_statement(
    client_of: Callable[[User], APIClient], owner: User, query: dict[str, object]
) -> None:
    """Both readers (the plain statement for pages by number, the ORM for tags and search)
    bring each chat's tag names in the chat's row."""
    client = client_of(owner)
    create_chat(client, title="one", tags=["b", "a"])
    create_chat(client, title="two one")
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/chats/", query)
    chat_reads = [q["sql"] for q in captured if '"chats_chat' in q["sql"]]

    assert response.status_code == 200
    expected = {"one": ["a", "b"], "two one": []}
    if "tag" in query or query.get("page") == 2:  # the newest, "two one", is not on page 2
        del expected["two one"]
    assert {c["title"]: c["tags"] for c in response.json()} == expected
    assert len(chat_reads) == 1, chat_reads  # (a tag filter reads the tag first, on its own)
