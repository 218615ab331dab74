"""The list's two readers: the plain statement for pages by number, the ORM for cursors, tags
and search. Every page of every filter reads the same from both (and from the API)."""

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from chats import selectors
from chats.models import Chat
from tests.chats.helpers import create_chat
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def chats(client_of: Callable[[User], APIClient], owner: User, stranger: User) -> APIClient:
    """17 chats: pinned, archived, in folders, tagged, some with equal ``updated_at`` (the id
    breaks the tie), one with microseconds; and another user's chat that must never show."""
    client = client_of(owner)
    base = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for n in range(17):
        chat = create_chat(
            client,
            title=f"chat {n}",
            pinned=n % 5 == 0,
            archived=n % 7 == 3,
            folder_id="work" if n % 3 == 0 else "",
            tags=["b-tag", "a-tag"] if n % 4 == 0 else [],
        )
        updated = base + timedelta(minutes=n // 3, microseconds=123456 if n == 8 else 0)
        Chat.objects.filter(pk=chat["id"]).update(updated_at=updated, created_at=updated)
    create_chat(client_of(stranger), title="not yours")
    return client


FILTERS = [
    {},
    {"archived": True},
    {"pinned": True},
    {"pinned": False},
    {"folder_id": "work"},
    {"folder_id": ""},
    {"archived": False, "pinned": False, "folder_id": "work"},
]


@pytest.mark.parametrize("options", FILTERS)
def test_the_plain_reader_reads_what_the_orm_reads(
    chats: APIClient, owner: User, options: dict
) -> None:
    orm = list(selectors.chat_list_rows_for_user(user=owner, **options))
    assert orm, "the filter should match something"
    for offset, limit in itertools.product(range(0, len(orm) + 2), (1, 2, 5, 50)):
        plain = selectors.chat_list_rows_plain(user=owner, **options, limit=limit, offset=offset)
        assert plain == orm[offset : offset + limit]
    assert selectors.chat_list_items(orm) == selectors.chat_list_items(
        selectors.chat_list_rows_plain(user=owner, **options, limit=100)
    )


def test_pages_by_number_and_by_cursor_list_the_same_chats(chats: APIClient) -> None:
    by_page, page = [], 1
    while True:
        response = chats.get("/api/chats/", {"limit": 4, "page": page})
        assert response.status_code == 200
        by_page.append((response.json(), response.headers.get("X-Next-Cursor")))
        if len(response.json()) < 4:
            break
        page += 1
    by_cursor, cursor = [], None
    while True:
        response = chats.get("/api/chats/", {"limit": 4, **({"cursor": cursor} if cursor else {})})
        cursor = response.headers.get("X-Next-Cursor")
        by_cursor.append((response.json(), cursor))
        if cursor is None:
            break
    listed = [item for items, _ in by_page for item in items]
    assert listed == [item for items, _ in by_cursor for item in items]
    assert len(listed) == len({item["id"] for item in listed}) == 15  # unarchived, mine
    # Each page names the same next page either way (the last page by number may be empty).
    assert [c for _, c in by_page if c] == [c for _, c in by_cursor if c]
    tagged = [item for item in listed if item["tags"]]
    assert tagged
    assert all(item["tags"] == ["a-tag", "b-tag"] for item in tagged)
    assert all(item["title"] != "not yours" for item in listed)
