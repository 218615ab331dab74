"""Reads of chats, already scoped to the acting user."""

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleLessThan
from django.db.models.functions import Lower
from django.utils import timezone

from chats.errors import ChatNotFound, ShareNotFound, TagNotFound
from chats.models import Chat, ChatShare, Message, Tag
from chats.serializers import EXPORT_FORMAT, EXPORT_VERSION, exported_chat
from chats.tree import active_branch
from users.models import User
from webui_backend.pagination import InvalidCursor, cursor_decode, cursor_encode


def _parse_id(chat_id: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(chat_id))
    except ValueError:
        raise ChatNotFound() from None


def chat_get_for_user(*, chat_id: Any, user: User) -> Chat:
    """The user's chat, with its share link; missing, malformed and not-yours are one 404.

    Its tags are read when asked for (``chat.tags.all()``: one query, as a prefetch would
    be), so the writes that never show them (appends, edits) do not pay for them.
    """
    chats = list(Chat.objects.select_related("share").filter(pk=_parse_id(chat_id), user=user))
    if not chats:
        raise ChatNotFound()
    return chats[0]


def chat_get_any(*, chat_id: Any) -> Chat:
    """Any user's chat (the admin route: its callers log the access)."""
    chat = (
        Chat.objects.select_related("share")
        .prefetch_related("tags")
        .filter(pk=_parse_id(chat_id))
        .first()
    )
    if chat is None:
        raise ChatNotFound()
    return chat


def chat_active_branch(*, chat: Chat) -> list[Message]:
    """The chat's active branch, root first (the whole tree is read once, walked in memory)."""
    by_id = {m.message_id: m for m in chat.messages.all()}
    return active_branch(by_id, chat.current_id)


def chat_list_for_user(
    *,
    user: User,
    archived: bool = False,
    pinned: bool | None = None,
    tag: str | None = None,
    folder_id: str | None = None,
    q: str | None = None,
) -> QuerySet[Chat]:
    """The user's chats, pinned first then newest first; a stable order (id breaks ties)."""
    return _chat_list(
        user=user, archived=archived, pinned=pinned, tag=tag, folder_id=folder_id, q=q
    ).prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))


# What a chat list item shows (chats.serializers.ChatListItemOutputSerializer), in its order.
LIST_ITEM_FIELDS = ("id", "user_id", "title", "created_at", "updated_at", "pinned", "archived")


def chat_list_rows_for_user(
    *,
    user: User,
    archived: bool = False,
    pinned: bool | None = None,
    tag: str | None = None,
    folder_id: str | None = None,
    q: str | None = None,
) -> QuerySet[Chat]:
    """``chat_list_for_user`` as plain rows (``values()``) for ``chat_list_items``: the list
    route's reader, which builds no model instances and runs no serializer."""
    chats = _chat_list(
        user=user, archived=archived, pinned=pinned, tag=tag, folder_id=folder_id, q=q
    )
    return chats.values(*LIST_ITEM_FIELDS, "folder_id")


def chat_list_items(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of ``chat_list_rows_for_user`` as the list shows them, with their tag names (one
    query for the whole page; none for an empty page)."""
    tags: dict[Any, list[str]] = {row["id"]: [] for row in rows}
    if tags:
        through = Chat.tags.through.objects.filter(chat_id__in=list(tags))
        for chat_id, name in through.order_by("tag__name").values_list("chat_id", "tag__name"):
            tags[chat_id].append(name)
    return [
        {
            "id": str(row["id"]),
            "user_id": str(row["user_id"]),
            "title": row["title"],
            "created_at": int(row["created_at"].timestamp()),
            "updated_at": int(row["updated_at"].timestamp()),
            "pinned": row["pinned"],
            "archived": row["archived"],
            "folder_id": row["folder_id"] or None,
            "tags": tags[row["id"]],
        }
        for row in rows
    ]


def _chat_list(
    *,
    user: User,
    archived: bool,
    pinned: bool | None,
    tag: str | None,
    folder_id: str | None,
    q: str | None,
) -> QuerySet[Chat]:
    # ``archived__in`` rather than ``archived=``: Django writes a false boolean as ``NOT col``,
    # which SQLite cannot match to the chat_list_order index (it would sort every chat).
    chats = Chat.objects.filter(user=user, archived__in=[archived])
    if pinned is not None:
        chats = chats.filter(pinned=pinned)
    if folder_id is not None:
        chats = chats.filter(folder_id=folder_id)
    if tag is not None:
        found = (
            Tag.objects.annotate(lname=Lower("name"))
            .filter(user=user, lname=" ".join(tag.split()).lower())
            .first()
        )
        if found is None:
            raise TagNotFound()
        chats = chats.filter(tags=found)
    if q:
        in_messages = Message.objects.filter(chat=OuterRef("pk"), text__icontains=q)
        chats = chats.filter(Q(title__icontains=q) | Exists(in_messages))
    return chats.order_by("-pinned", "-updated_at", "-id")


def chat_list_by_ids(*, user: User, ids: list[Any]) -> QuerySet[Chat]:
    return (
        Chat.objects.filter(user=user, pk__in=ids)
        .prefetch_related("tags")
        .order_by("-pinned", "-updated_at", "-id")
    )


def encode_cursor(chat: Chat | dict[str, Any]) -> str:
    """The position of a chat (or a row of ``chat_list_rows_for_user``) in the list order."""
    if isinstance(chat, dict):
        return cursor_encode([chat["pinned"], chat["updated_at"].isoformat(), str(chat["id"])])
    return cursor_encode([chat.pinned, chat.updated_at.isoformat(), str(chat.pk)])


def after_cursor(chats: QuerySet[Chat], cursor: str) -> QuerySet[Chat]:
    """The chats that come after ``cursor`` in the list order (keyset pagination)."""
    pinned, updated_raw, chat_id = cursor_decode(cursor, 3)
    try:
        updated = datetime.fromisoformat(updated_raw)
        if not isinstance(pinned, bool) or timezone.is_naive(updated):
            raise ValueError
        chat_uuid = uuid.UUID(chat_id)
    except (ValueError, TypeError):
        raise InvalidCursor() from None
    # One row comparison, (pinned, updated_at, id) < (...): PostgreSQL and SQLite seek to it in
    # the chat_list_order index, where the equivalent OR of three conditions is a filter that
    # scans every row before the cursor. (Django 5.2's tuple lookups; not yet public API.)
    position = Tuple(F("pinned"), F("updated_at"), F("id"))
    return chats.filter(TupleLessThan(position, (pinned, updated, chat_uuid)))


def tag_list_for_user(*, user: User) -> QuerySet[Tag]:
    return Tag.objects.filter(user=user).order_by("name")


def share_get(*, share_id: str) -> ChatShare:
    """A live share link; unknown, revoked and expired are one 404."""
    share = ChatShare.objects.filter(share_id=share_id).first()
    if share is None or not share.is_live():
        raise ShareNotFound()
    return share


def chats_export_for_user(*, user: User, batch: int = 200) -> Iterator[str]:
    """The user's chats as one JSON document, produced in pieces (never all in memory)."""
    header = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION}
    header["exported_at"] = int(timezone.now().timestamp())
    yield json.dumps(header)[:-1] + ', "chats": ['
    ids = list(
        Chat.objects.filter(user=user).order_by("created_at", "id").values_list("pk", flat=True)
    )
    first = True
    for start in range(0, len(ids), batch):
        chunk = (
            Chat.objects.filter(pk__in=ids[start : start + batch])
            .order_by("created_at", "id")
            .prefetch_related(
                "tags", Prefetch("messages", queryset=Message.objects.order_by("seq"))
            )
        )
        for chat in chunk:
            yield ("" if first else ",") + json.dumps(
                exported_chat(chat, list(chat.messages.all()))
            )
            first = False
    yield "]}"
