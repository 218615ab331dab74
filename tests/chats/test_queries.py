"""The number of queries of list and get does not grow with the data."""

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from chats import services
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
    """Without an Idempotency-Key the chat is read once, under its lock; with one it is checked
    first (before the key is looked up) and locked by the write."""
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
