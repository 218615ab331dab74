"""Reads of chats, already scoped to the acting user."""

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.fields.tuple_lookups import Tuple, TupleLessThan
from django.db.models.functions import Lower
from django.utils import timezone

from chats.errors import ChatNotFound, ShareNotFound, TagNotFound
from chats.models import Chat, ChatShare, Message, Tag
from chats.serializers import EXPORT_FORMAT, EXPORT_VERSION, exported_chat
from chats.tree import active_branch
from users.models import User
from webui_backend.pagination import InvalidCursor, cursor_decode, cursor_encode


def parse_chat_id(chat_id: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(chat_id))
    except ValueError:
        raise ChatNotFound() from None


def chat_get_for_user(
    *, chat_id: Any, user: User, lock: bool = False, with_tags: bool = False
) -> Chat:
    """The user's chat, with its share link; missing, malformed and not-yours are one 404.

    With ``with_tags`` its tag names come in the same statement (``tag_names``, which
    ``serializers.chat_output`` reads); otherwise they are read when asked for
    (``chat.tags.all()``: one query), so the writes that never show them (appends, edits) do
    not pay for them. With ``lock`` (inside a transaction) the row stays locked until the
    transaction ends, so a write need not read it again.
    """
    return _owned_chat(parse_chat_id(chat_id), user.pk, lock=lock, with_tags=with_tags)


def chat_get_again(*, chat: Chat) -> Chat:
    """``chat`` as stored now, with its share link and tag names, read after a write: the same
    404 if it is gone meanwhile, and no read of its owner (``chat.user``) to scope it."""
    return _owned_chat(chat.pk, chat.user_id, with_tags=True)


def _owned_chat(
    chat_id: uuid.UUID, user_id: Any, *, lock: bool = False, with_tags: bool = False
) -> Chat:
    query = Chat.objects.select_related("share")
    if lock:
        query = query.select_for_update(of=("self",))
    if with_tags:
        query = query.annotate(tag_names=_tag_names_of_row())
    chats = list(query.filter(pk=chat_id, user_id=user_id))
    if not chats:
        raise ChatNotFound()
    chat = chats[0]
    if with_tags:
        chat.tag_names = _as_names(chat.tag_names)
    return chat


# A chat's share link as a write's answer shows it: all but the snapshot (the whole chat).
_SHARE_SHOWN = ("id", "chat_id", "share_id", "require_auth", "expires_at", "created_at")


def chat_shown_sql(rows: str) -> str:
    """A SELECT of the chats in ``rows`` (a CTE of the caller's with the chat table's
    columns, such as an UPDATE's RETURNING) with their share links and tag names, which
    ``chat_from_shown`` turns back into the chat ``chat_get_for_user(with_tags=True)`` reads."""
    quote = connection.ops.quote_name
    share = quote(ChatShare._meta.db_table)
    columns = [f"{rows}.{quote(f.column)}" for f in Chat._meta.concrete_fields]
    columns += [f"s.{quote(ChatShare._meta.get_field(n).column)}" for n in _SHARE_SHOWN]
    columns.append(_tag_names_of_row(rows).sql)
    return (
        f"SELECT {', '.join(columns)} FROM {rows}"  # noqa: S608 - our tables and columns
        f" LEFT JOIN {share} s ON s.{quote('chat_id')} = {rows}.{quote('id')}"
    )


def chat_from_shown(row: tuple[Any, ...]) -> Chat:
    """The chat of a ``chat_shown_sql`` row, its share link loaded (the snapshot deferred)."""
    chat_fields = Chat._meta.concrete_fields
    width = len(chat_fields)
    values = [  # as the ORM's reads convert them (a JSON column comes as its text)
        f.from_db_value(value, None, connection) if hasattr(f, "from_db_value") else value
        for f, value in zip(chat_fields, row[:width], strict=True)
    ]
    chat = Chat.from_db(connection.alias, [f.attname for f in chat_fields], values)
    share_values = row[width : width + len(_SHARE_SHOWN)]
    share = None
    if share_values[0] is not None:
        names = [ChatShare._meta.get_field(n).attname for n in _SHARE_SHOWN]
        share = ChatShare.from_db(connection.alias, names, share_values)
    Chat._meta.get_field("share").set_cached_value(chat, share)
    chat.tag_names = _as_names(row[-1])
    return chat


def _tag_names_of_row(chat: str = "") -> RawSQL:
    """The chat row's tag names, as one value of the row: in name order on PostgreSQL (an
    array), as a JSON array on SQLite (put in order by ``_as_names``). ``chat`` names the row
    (the chat table unless given).

    A statement with an OFFSET may compute it for the rows it skips as well (PostgreSQL
    evaluates it below the Limit): the plain reader keeps it outside its page's statement."""
    quote = connection.ops.quote_name
    names = (
        f" FROM {_tags_joined()}"
        f" WHERE c.{quote('chat_id')} = {chat or quote(Chat._meta.db_table)}.{quote('id')}"
    )
    name = f"t.{quote('name')}"
    if connection.vendor == "postgresql":
        sql = f"ARRAY(SELECT {name}{names} ORDER BY {name})"
    else:
        sql = f"(SELECT json_group_array({name}){names})"
    return RawSQL(sql, [])  # noqa: S611 - our tables and columns, no input


def _tags_joined() -> str:
    """A chat's tag links (``c``) joined to their tags (``t``), for a FROM clause."""
    quote = connection.ops.quote_name
    through, tag = Chat.tags.through._meta.db_table, Tag._meta.db_table
    return f"{quote(through)} c JOIN {quote(tag)} t ON t.{quote('id')} = c.{quote('tag_id')}"


def _as_names(value: Any) -> list[str]:
    if isinstance(value, str):  # SQLite's JSON: sorted as its BINARY collation would
        return sorted(json.loads(value))
    return list(value or [])


def chat_get_any(*, chat_id: Any) -> Chat:
    """Any user's chat (the admin route: its callers log the access)."""
    chat = (
        Chat.objects.select_related("share")
        .prefetch_related("tags")
        .filter(pk=parse_chat_id(chat_id))
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
    chats = chats.annotate(tag_names=_tag_names_of_row())
    return chats.values(*LIST_ITEM_FIELDS, "folder_id", "tag_names")


def chat_list_items(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of ``chat_list_rows_for_user`` (or ``chat_list_rows_plain``) as the list shows
    them, with their tag names (read in the rows' own statement)."""
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
            "tags": _as_names(row["tag_names"]),
        }
        for row in rows
    ]


# --- the list's plain reader ---------------------------------------------------------------
#
# The list's everyday request (the first page, or a page by number; filtered at most by
# archived, pinned and folder) is read by one statement written here instead of built by
# the ORM: building the ORM's queries, compiling them and converting their rows took 1.3 ms of
# the route's 2.5 ms, the statements themselves 0.2 ms (bench/README.md). The rows are
# ``chat_list_rows_for_user``'s, in the same shape and order: tests/chats/test_list_reader.py
# compares the two readers on both databases.

_PLAIN_COLUMNS = ("id", "user_id", "title", "created_at", "updated_at", "pinned", "archived")


def chat_list_rows_plain(
    *,
    user: User,
    archived: bool = False,
    pinned: bool | None = None,
    folder_id: str | None = None,
    limit: int,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """``chat_list_rows_for_user(...)[offset : offset + limit]``, in one statement."""
    quote = connection.ops.quote_name
    where = [f"{quote('user_id')} = %s", f"{quote('archived')} = %s"]
    params: list[Any] = [_USER_FK.get_db_prep_value(user.pk, connection), archived]
    if pinned is not None:
        where.append(f"{quote('pinned')} = %s")
        params.append(pinned)
    if folder_id is not None:
        where.append(f"{quote('folder_id')} = %s")
        params.append(folder_id)
    names = (*_PLAIN_COLUMNS, "folder_id")
    columns = ", ".join(quote(name) for name in names)
    order = f"{quote('pinned')} DESC, {quote('updated_at')} DESC, {quote('id')} DESC"
    # Identifiers from the model (quoted), every value a parameter. The page is cut first and
    # its tag names read for its own rows only (not for the rows an OFFSET skips).
    page = (
        f"SELECT {columns} FROM {quote(Chat._meta.db_table)} WHERE {' AND '.join(where)}"  # noqa: S608
        f" ORDER BY {order} LIMIT %s OFFSET %s"
    )
    sql = (
        f"SELECT {', '.join(f'page.{quote(name)}' for name in names)},"  # noqa: S608
        f" {_tag_names_of_row('page').sql} FROM ({page}) page ORDER BY {order}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit, offset])
        fetched = cursor.fetchall()
    return [
        {
            "id": _as_uuid(chat_id),
            "user_id": _as_uuid(user_id),
            "title": title,
            "created_at": _as_datetime(created_at),
            "updated_at": _as_datetime(updated_at),
            "pinned": bool(is_pinned),
            "archived": bool(is_archived),
            "folder_id": folder,
            "tag_names": tag_names,
        }
        for (
            chat_id,
            user_id,
            title,
            created_at,
            updated_at,
            is_pinned,
            is_archived,
            folder,
            tag_names,
        ) in fetched
    ]


_USER_FK = Chat._meta.get_field("user")


def _as_uuid(value: Any) -> uuid.UUID:
    """A UUID column's value: PostgreSQL gives a UUID, SQLite its 32 hex digits."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def _as_datetime(value: Any) -> datetime:
    """A datetime column's value, aware: PostgreSQL gives one; SQLite the UTC time, naive
    (Django's SQLite backend stores UTC, and reads it back as UTC)."""
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


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
