"""Every write to chats, messages, tags and share links.

Writes that touch a chat's messages lock the chat row first (SELECT ... FOR UPDATE; SQLite's
IMMEDIATE transactions on the embedded default), so concurrent appends are serialised: each
gets the next sequence number and sees the leaf the previous one left. On PostgreSQL a new chat
and an append to the leaf are one statement each (the append takes its lock inside it), and a
rename reads its answer back in its UPDATE's statement.
"""

import functools
import secrets
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import AutoField, Model
from django.db.models.functions import Lower
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from chats.errors import (
    ChatNotFound,
    FeedbackNotAllowed,
    HistoryConflict,
    InvalidHistory,
    InvalidImport,
    MessageIdConflict,
    MessageNotFound,
    TagNotFound,
)
from chats.models import Chat, ChatShare, Message, Tag
from chats.selectors import chat_from_shown, chat_get_for_user, chat_shown_sql, parse_chat_id
from chats.serializers import (
    MessageIn,
    chat_body,
    content_text,
    feedback_value,
    message_payload,
)
from chats.tree import children_of, topological
from realtime.events import chat_room, publish, send_on_commit, store_ctes
from users.models import User


def new_message_id() -> str:
    return str(uuid.uuid4())


# --- building message lists from requests ----------------------------------------------------


def messages_from_list(items: list[dict[str, Any]]) -> list[MessageIn]:
    """A linear list of messages: each one's parent is the one before it."""
    result: list[MessageIn] = []
    previous = ""
    for item in items:
        message_id = item.get("id") or new_message_id()
        given_parent = item.get("parent_id")
        if given_parent is not None and given_parent != previous:
            raise InvalidHistory(
                f"Message {message_id!r} names parent {given_parent!r}, but in a list each "
                f"message's parent is the one before it ({previous or 'none'!r})."
            )
        result.append(MessageIn.from_validated(item, message_id=message_id, parent=previous))
        previous = message_id
    topological(result)  # duplicate ids
    return result


def messages_from_history(
    history: dict[str, Any], *, known_ids: Iterable[str] = ()
) -> tuple[list[MessageIn], str]:
    """Open WebUI's tree ``{messages: {id: message}, current_id}``, parents first.

    ``known_ids``: messages already stored in the chat that the tree's messages may hang from
    (Open WebUI's frontend saves just the messages that changed)."""
    nodes = []
    for key, item in history["messages"].items():
        if item.get("id") and item["id"] != key:
            raise InvalidHistory(f"Message keyed {key!r} says its id is {item['id']!r}.")
        parent = item.get("parent_id") or ""
        nodes.append(MessageIn.from_validated(item, message_id=key, parent=parent))
    ordered = topological(nodes, known_ids=known_ids)
    current = history.get("current_id") or history.get("currentId") or ""
    if current and current not in history["messages"]:
        raise InvalidHistory(f"current_id {current!r} is not one of the messages.")
    if not current and ordered:
        current = ordered[-1].message_id
    return ordered, current


# A stored message's fields a client's update may change (``text`` follows ``content``).
EDITABLE = ("role", "content", "model", "usage", "sources", "feedback")


def _insert_messages(chat: Chat, items: Iterable[MessageIn], now: datetime) -> list[Message]:
    """Insert ``items`` (parents first) after the chat's last sequence number, in one statement."""
    rows = _message_rows(chat, items, now)
    Message.objects.bulk_create(rows, batch_size=500)
    return rows


def _create_with_messages(chat: Chat, items: Iterable[MessageIn], now: datetime) -> list[Message]:
    """Insert the new ``chat`` (not yet saved) and its first messages: the chat's row is
    written once, already counting them."""
    rows = _message_rows(chat, items, now)
    chat.save(force_insert=True)
    Message.objects.bulk_create(rows, batch_size=500)
    return rows


def _message_rows(chat: Chat, items: Iterable[MessageIn], now: datetime) -> list[Message]:
    """``items`` as rows numbered after the chat's last sequence number, which moves on."""
    rows = []
    seq = chat.last_seq
    for item in items:
        seq += 1
        rows.append(
            Message(
                chat=chat,
                message_id=item.message_id,
                parent_message_id=item.parent_message_id,
                seq=seq,
                role=item.role,
                content=item.content,
                text=content_text(item.content),
                model=item.model,
                usage=item.usage,
                sources=item.sources,
                feedback=item.feedback,
                created_at=item.timestamp or now,
                updated_at=now,
            )
        )
    chat.last_seq = seq
    return rows


def _locked(chat: Chat) -> Chat:
    """The chat re-read under its row lock, with its share link (a write's answer shows it)."""
    return Chat.objects.select_for_update(of=("self",)).select_related("share").get(pk=chat.pk)


def _broadcast_messages(chat: Chat, messages: list[Message]) -> None:
    """Tell the chat's room about new messages, as the socket event ``message``."""
    for message in messages:
        publish(chat_room(chat.pk), "message", _message_event(chat, message))


def _message_event(chat: Chat, message: Message) -> dict[str, Any]:
    return {"chat_id": str(chat.pk), "message": message_payload(message)}


# --- chats -----------------------------------------------------------------------------------


def chat_create(
    *,
    user: User,
    title: str = "",
    models: list[str] | None = None,
    messages: list[dict[str, Any]] | None = None,
    history: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    folder_id: str = "",
    pinned: bool = False,
    archived: bool = False,
) -> Chat:
    """Create a chat with its first messages (a list, or a whole tree as ``history``).

    The chat returned carries its messages as inserted (``created_messages``), so that its
    answer can be built without reading back what was just written."""
    if history is not None:
        items, current = messages_from_history(history)
    else:
        items = messages_from_list(messages or [])
        current = items[-1].message_id if items else ""
    now = timezone.now()
    chat = Chat(
        user=user,
        title=title.strip() or "New Chat",
        model_ids=models or [],
        folder_id=folder_id,
        pinned=pinned,
        archived=archived,
        current_id=current,
        created_at=now,
        updated_at=now,
    )
    if connection.vendor == "postgresql" and not tags and len(items) <= ONE_STATEMENT_ROWS:
        chat.created_messages = _create_in_one_statement(chat, items, now)
        return chat
    with transaction.atomic():
        chat.created_messages = _create_with_messages(chat, items, now)
        if tags:
            _set_tags(chat, tags)
    return chat


# The most messages a new chat's one statement inserts (PostgreSQL takes 65,535 parameters).
ONE_STATEMENT_ROWS = 500


def _create_in_one_statement(chat: Chat, items: list[MessageIn], now: datetime) -> list[Message]:
    """On PostgreSQL, ``_create_with_messages`` as one statement (the chat's insert a CTE of
    its messages'): atomic on its own, so no transaction to begin and commit."""
    rows = _message_rows(chat, items, now)
    chat_sql, params = _insert_sql(Chat, [chat])
    if rows:
        messages_sql, message_params = _insert_sql(Message, rows)
        pk_column = connection.ops.quote_name(Message._meta.pk.column)
        sql = f"WITH chat AS ({chat_sql}) {messages_sql} RETURNING {pk_column}"
        params += message_params
    else:
        sql = chat_sql
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        pks = [pk for (pk,) in cursor.fetchall()] if rows else []
    for row, pk in zip(rows, pks, strict=True):
        row.pk = pk
    _mark_saved(chat, *rows)
    return rows


def _mark_saved(*objs: Model) -> None:
    """Instances written by our own statements, as the ORM leaves those it saves."""
    for obj in objs:
        obj._state.adding, obj._state.db = False, connection.alias


def _insert_sql(model: type[Model], objs: list[Any]) -> tuple[str, list[Any]]:
    """The INSERT of ``objs`` (one statement, returning nothing), each value as the ORM saves
    it. Compiling it through Django's InsertQuery took ~0.3 ms for a chat and two messages,
    most of a new chat's own work in the server, so the text is built once per row count."""
    fields = _inserted_fields(model)
    return _insert_statement(model, len(objs)), [v for obj in objs for v in _saved(obj, fields)]


def _saved(obj: Model, fields: list[Any]) -> list[Any]:
    """``obj``'s values of ``fields`` as the ORM's INSERT sends them."""
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]


def _inserted_fields(model: type[Model]) -> list[Any]:
    return [f for f in model._meta.concrete_fields if not isinstance(f, AutoField)]


@functools.lru_cache(maxsize=64)  # one per row count seen: a chat's 1-500 messages
def _insert_statement(model: type[Model], rows: int) -> str:
    quote = connection.ops.quote_name
    fields = _inserted_fields(model)
    row = f"({', '.join(['%s'] * len(fields))})"
    return (
        f"INSERT INTO {quote(model._meta.db_table)}"  # noqa: S608 - our table and columns
        f" ({', '.join(quote(f.column) for f in fields)}) VALUES {', '.join([row] * rows)}"
    )


@transaction.atomic
def chat_update(chat: Chat, **fields: Any) -> Chat:
    """Change a chat's title, models, folder, flags, tags and active branch.

    ``messages`` becomes the active branch, matched by message id. Messages the list does not
    name are kept (they are other branches, or were appended by another client meanwhile), so
    an update from a stale view never drops anything. An existing message may change its
    content, but not its place in the tree: a list that contradicts the stored parent links is
    answered with HistoryConflict (409), and the client reloads.
    """
    return chat_update_locked(_locked(chat), **fields)


def chat_update_locked(chat: Chat, **fields: Any) -> Chat:
    """``chat_update`` of a chat read under its row lock in the current transaction
    (``selectors.chat_get_for_user(..., lock=True)``): no second read."""
    now = timezone.now()
    columns = _column_values(fields)
    for name, value in columns.items():
        setattr(chat, name, value)
    changed = ["updated_at", *columns]  # the row is written with these columns only
    if "history" in fields:
        _merge_history(chat, fields["history"], now)
        changed += ["current_id", "last_seq"]
    elif "messages" in fields:
        _merge_branch(chat, fields["messages"], now)
        changed += ["current_id", "last_seq"]
    if "tags" in fields:
        _set_tags(chat, fields["tags"])
    chat.updated_at = now
    chat.save(update_fields=changed)
    return chat


# What an update may change in the chat's own row, and nothing else (``chat_update_columns``).
COLUMN_FIELDS = frozenset({"title", "models", "folder_id", "pinned", "archived"})


def chat_update_columns(*, chat_id: Any, user: User, **fields: Any) -> Chat:
    """``chat_update`` of ``COLUMN_FIELDS`` only (a rename, a pin, a move to a folder): one
    UPDATE scoped to the owner, with no lock and no read before it, then the chat as stored,
    with its share link and tag names (on PostgreSQL read from the UPDATE's returned row, in
    the same statement). Another's chat, or none, is the same 404."""
    chat_pk = parse_chat_id(chat_id)
    columns = {**_column_values(fields), "updated_at": timezone.now()}
    owned = Chat.objects.filter(pk=chat_pk, user=user)
    if connection.vendor == "postgresql":  # the UPDATE returns the row that is read back
        update = owned.query.chain(UpdateQuery)
        update.add_update_values(columns)
        update_sql, params = update.get_compiler(connection=connection).as_sql()
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH moved AS ({update_sql} RETURNING *) {chat_shown_sql('moved')}", params
            )
            row = cursor.fetchone()
        if row is None:
            raise ChatNotFound()
        return chat_from_shown(row)
    if not owned.update(**columns):
        raise ChatNotFound()
    return chat_get_for_user(chat_id=chat_pk, user=user, with_tags=True)


def _column_values(fields: dict[str, Any]) -> dict[str, Any]:
    """The chat row's columns that ``fields`` (an update's) set, by column name."""
    columns = {name: fields[name] for name in ("folder_id", "pinned", "archived") if name in fields}
    if "title" in fields:
        columns["title"] = fields["title"].strip() or "New Chat"
    if "models" in fields:
        columns["model_ids"] = fields["models"]
    return columns


def _merge_branch(chat: Chat, items: list[dict[str, Any]], now: datetime) -> None:
    stored = {m.message_id: m for m in chat.messages.all()}
    previous = ""
    seen: set[str] = set()
    changed: list[Message] = []
    new: list[MessageIn] = []
    for item in items:
        message_id = item.get("id") or new_message_id()
        if message_id in seen:
            raise InvalidHistory(f"Message id {message_id!r} appears twice.")
        seen.add(message_id)
        given_parent = item.get("parent_id")
        if given_parent is not None and given_parent != previous:
            raise InvalidHistory(
                f"Message {message_id!r} names parent {given_parent!r}, but in a list each "
                f"message's parent is the one before it ({previous or 'none'!r})."
            )
        existing = stored.get(message_id)
        if existing is None:
            new.append(MessageIn.from_validated(item, message_id=message_id, parent=previous))
        elif existing.parent_message_id != previous:
            raise HistoryConflict()
        elif _apply_changes(existing, item, now):
            changed.append(existing)
        previous = message_id
    if changed:
        Message.objects.bulk_update(changed, [*EDITABLE, "text", "updated_at"], batch_size=500)
    _broadcast_messages(chat, _insert_messages(chat, new, now))
    chat.current_id = previous


def _merge_history(chat: Chat, history: dict[str, Any], now: datetime) -> None:
    """Add the tree's unknown messages; known ones must keep their parents (else 409)."""
    stored = {m.message_id: m for m in chat.messages.all()}
    items, current = messages_from_history(
        {**history, "current_id": "", "currentId": ""},
        known_ids=stored.keys() - history["messages"].keys(),
    )
    new = []
    changed = []
    for item in items:
        existing = stored.get(item.message_id)
        if existing is None:
            new.append(item)
        elif existing.parent_message_id != item.parent_message_id:
            raise HistoryConflict()
        elif _apply_changes(existing, history["messages"][item.message_id], now):
            changed.append(existing)
    topological(new, known_ids=stored.keys())
    if changed:
        Message.objects.bulk_update(changed, [*EDITABLE, "text", "updated_at"], batch_size=500)
    _broadcast_messages(chat, _insert_messages(chat, new, now))
    wanted = history.get("current_id") or history.get("currentId") or ""
    if wanted and wanted not in stored and wanted not in history["messages"]:
        raise InvalidHistory(f"current_id {wanted!r} is not one of the messages.")
    chat.current_id = wanted or current


def _apply_changes(message: Message, item: dict[str, Any], now: datetime) -> bool:
    changed = False
    for field in EDITABLE:
        if field in item and getattr(message, field) != item[field]:
            setattr(message, field, item[field])
            changed = True
    if changed:
        message.text = content_text(message.content)
        message.updated_at = now
    return changed


@transaction.atomic
def chat_set_flag(chat: Chat, *, flag: str, value: bool | None) -> Chat:
    """Set ``pinned`` or ``archived``; ``None`` toggles it (as Open WebUI's routes do)."""
    chat = _locked(chat)
    setattr(chat, flag, (not getattr(chat, flag)) if value is None else value)
    chat.updated_at = timezone.now()
    chat.save(update_fields=[flag, "updated_at"])
    return chat


def chat_archive_all(*, user: User) -> int:
    """Archive every chat of ``user``; returns how many changed."""
    return Chat.objects.filter(user=user, archived=False).update(
        archived=True, updated_at=timezone.now()
    )


@transaction.atomic
def chat_delete(chat: Chat) -> None:
    """Delete a chat with its messages, tags links and share link."""
    Chat.objects.filter(pk=chat.pk).delete()
    _delete_unused_tags(chat.user_id)


@transaction.atomic
def chat_delete_all(*, user: User) -> int:
    """Delete every chat of ``user`` (messages and share links with them); returns how many."""
    count = Chat.objects.filter(user=user).count()
    Chat.objects.filter(user=user).delete()
    Tag.objects.filter(user=user).delete()
    return count


# --- messages --------------------------------------------------------------------------------


@transaction.atomic
def message_append(chat: Chat, data: dict[str, Any]) -> tuple[Message, bool]:
    """Append one message; returns it and whether it was created.

    The parent is ``parent_id`` when given (null: a new root), else the current leaf. The new
    message becomes the leaf. Sending the same client-chosen id again returns the stored
    message; the same id with different content is MessageIdConflict.
    """
    return message_append_locked(_locked(chat), data)


def message_append_for_user(
    *, chat_id: Any, user: User, data: dict[str, Any]
) -> tuple[Message, bool]:
    """``message_append`` to the user's chat, read by id and owner (another's, or none, is
    ChatNotFound); returns the message and whether it was created.

    On PostgreSQL a new message under the current leaf (no client id, no parent named, the
    common case) is one statement, atomic on its own: it locks the chat's row, inserts the
    message under the leaf it finds, moves the leaf and stores the room's event. Otherwise the
    chat is read under its lock and ``message_append_locked`` writes in the same transaction.
    """
    if connection.vendor == "postgresql" and not data.get("id") and "parent_id" not in data:
        return _append_in_one_statement(parse_chat_id(chat_id), user, data), True
    with transaction.atomic():  # one read of the chat: under its lock, scoped to its owner
        chat = chat_get_for_user(chat_id=chat_id, user=user, lock=True)
        return message_append_locked(chat, data)


def _append_in_one_statement(chat_pk: uuid.UUID, user: User, data: dict[str, Any]) -> Message:
    """The PostgreSQL statement of ``message_append_for_user``.

    ``chat`` locks the owner's row (a concurrent append waits, then reads the leaf and number
    that one left: READ COMMITTED's row re-check), and every other part reads it, so a chat
    that is not the user's writes nothing, not even the room's counter."""
    now = timezone.now()
    chat = Chat(pk=chat_pk, user=user)
    item = MessageIn.from_validated(data, message_id=new_message_id(), parent="")
    (message,) = _message_rows(chat, [item], now)
    insert_sql, given = _leaf_insert()
    params = _saved(message, given)
    room, event = chat_room(chat_pk), _message_event(chat, message)
    event_sql, event_params = store_ctes(
        room,
        "message",
        event,
        source="chat",
        data_sql="jsonb_set(CAST(%s AS jsonb), '{message,parent_id}',"
        " COALESCE(to_jsonb(NULLIF(chat.current_id, '')), 'null'))",
    )
    chats = connection.ops.quote_name(Chat._meta.db_table)
    sql = (
        f"WITH chat AS (SELECT id, current_id, last_seq + 1 AS seq FROM {chats}"  # noqa: S608
        " WHERE id = %s AND user_id = %s FOR UPDATE),"
        f" moved AS (UPDATE {chats} SET current_id = %s, last_seq = chat.seq, updated_at = %s"
        f" FROM chat WHERE {chats}.id = chat.id), {event_sql} {insert_sql}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [chat_pk, user.pk, message.message_id, now, *event_params, *params])
        row = cursor.fetchone()
    if row is None:
        raise ChatNotFound()
    message.pk, message.parent_message_id, message.seq, seq = row
    _mark_saved(message)
    event["message"]["parent_id"] = message.parent_message_id or None
    send_on_commit(room, "message", event, seq)
    return message


def message_append_locked(chat: Chat, data: dict[str, Any]) -> tuple[Message, bool]:
    """``message_append`` to a chat read under its row lock in the current transaction
    (``selectors.chat_get_for_user(..., lock=True)``): no second read."""
    message_id = data.get("id") or new_message_id()
    parent = data["parent_id"] or "" if "parent_id" in data else chat.current_id
    if data.get("id") or "parent_id" in data:
        stored_ids = set(
            chat.messages.filter(message_id__in=[message_id, parent]).values_list(
                "message_id", flat=True
            )
        )
    else:
        # A new id under the current leaf, which every write keeps pointing at a stored
        # message (or at none, ""): nothing to look up.
        stored_ids = {parent}
    if message_id in stored_ids:
        existing = chat.messages.get(message_id=message_id)
        same = (
            existing.role == data["role"]
            and existing.content == data["content"]
            and ("parent_id" not in data or existing.parent_message_id == parent)
        )
        if not same:
            raise MessageIdConflict()
        return existing, False
    if parent and parent not in stored_ids:
        raise InvalidHistory(f"The parent message {parent!r} is not in this chat.")
    now = timezone.now()
    item = MessageIn.from_validated(data, message_id=message_id, parent=parent)
    (message,) = _message_rows(chat, [item], now)
    _insert_leaf(chat, message, now)
    return message, True


def _insert_leaf(chat: Chat, message: Message, now: datetime) -> None:
    """Insert ``message`` (numbered by ``_message_rows``) as its (locked) chat's new leaf,
    write the chat's leaf, count and time, and tell the chat's room. On PostgreSQL that is one
    statement, the chat's update and the room's event riding the insert in CTEs; three or four
    elsewhere."""
    chat.current_id = message.message_id
    chat.updated_at = now
    changed = ["current_id", "last_seq", "updated_at"]
    if connection.vendor != "postgresql":
        Message.objects.bulk_create([message])
        chat.save(update_fields=changed)
        _broadcast_messages(chat, [message])
        return
    update = Chat.objects.filter(pk=chat.pk).query.chain(UpdateQuery)
    update.add_update_values({name: getattr(chat, name) for name in changed})
    update_sql, update_params = update.get_compiler(connection=connection).as_sql()
    room, data = chat_room(chat.pk), _message_event(chat, message)
    event_sql, event_params = store_ctes(room, "message", data)
    insert_sql, insert_params = _insert_sql(Message, [message])
    pk = Message._meta.pk
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH moved AS ({update_sql}), {event_sql} {insert_sql}"  # noqa: S608 - compiled
            f" RETURNING {connection.ops.quote_name(pk.column)}, (SELECT seq FROM stored)",
            (*update_params, *event_params, *insert_params),
        )
        message.pk, seq = cursor.fetchone()
    _mark_saved(message)
    send_on_commit(room, "message", data, seq)


@functools.cache
def _leaf_insert() -> tuple[str, list[Any]]:
    """The insert of ``_append_in_one_statement``: a message under the leaf of ``chat`` (the
    statement's locked row), numbered after it, returning its id, parent, number and event's
    number; and the fields whose values it takes as parameters, in order."""
    quote = connection.ops.quote_name
    from_chat = {"chat": "chat.id", "parent_message_id": "chat.current_id", "seq": "chat.seq"}
    fields = _inserted_fields(Message)
    given = [f for f in fields if f.name not in from_chat]
    values = [  # typed: a parameter in a SELECT list has no column to take its type from
        from_chat.get(f.name) or f"CAST(%s AS {f.db_type(connection)})" for f in fields
    ]
    sql = (
        f"INSERT INTO {quote(Message._meta.db_table)}"  # noqa: S608 - our table and columns
        f" ({', '.join(quote(f.column) for f in fields)}) SELECT {', '.join(values)} FROM chat"
        f" RETURNING {quote(Message._meta.pk.column)}, parent_message_id, seq,"
        " (SELECT seq FROM stored)"
    )
    return sql, given


@transaction.atomic
def message_edit(chat: Chat, *, message_id: str, content: Any, role: str | None = None) -> Message:
    """Edit a message into a new branch: a sibling with the new content becomes the leaf."""
    chat = _locked(chat)
    original = chat.messages.filter(message_id=message_id).first()
    if original is None:
        raise MessageNotFound()
    now = timezone.now()
    item = MessageIn(
        message_id=new_message_id(),
        parent_message_id=original.parent_message_id,
        role=role or original.role,
        content=content,
        model=original.model,
    )
    (message,) = _message_rows(chat, [item], now)
    _insert_leaf(chat, message, now)
    return message


@transaction.atomic
def message_feedback_set(chat: Chat, *, message_id: str, rating: int, comment: str = "") -> Message:
    """Rate an answer: 1 (thumbs up) or -1 (thumbs down) with an optional comment; 0 clears it.

    Rating again replaces the earlier rating (one per message: the chat has one owner). Only
    assistant messages are rated, as in Open WebUI and FastGPT. The room hears
    ``message.feedback {chat_id, message_id, feedback}``.
    """
    chat = _locked(chat)
    message = chat.messages.filter(message_id=message_id).first()
    if message is None:
        raise MessageNotFound()
    if message.role != Message.Role.ASSISTANT:
        raise FeedbackNotAllowed()
    message.feedback = feedback_value(rating=rating, comment=comment) if rating else None
    message.updated_at = timezone.now()
    message.save(update_fields=["feedback", "updated_at"])
    publish(
        chat_room(chat.pk),
        "message.feedback",
        {"chat_id": str(chat.pk), "message_id": message_id, "feedback": message.feedback},
    )
    return message


@transaction.atomic
def message_delete(chat: Chat, *, message_id: str) -> list[str]:
    """Delete a message and every message below it (its whole subtree); returns their ids.

    A reply without the question it answers, or a later turn without the turns it followed,
    would no longer be the conversation that happened, so nothing is re-parented. When the
    active branch ran through the deleted message, the newest remaining leaf under its parent
    (a sibling branch: another version of the message) becomes current, else the parent
    itself. The room hears ``message.deleted {chat_id, message_ids, current_id}``.
    """
    chat = _locked(chat)
    messages = list(chat.messages.all())
    by_id = {m.message_id: m for m in messages}
    target = by_id.get(message_id)
    if target is None:
        raise MessageNotFound()
    children = children_of(messages)
    doomed: list[str] = []
    stack = [message_id]
    while stack:
        current = stack.pop()
        doomed.append(current)
        stack.extend(children.get(current, []))
    chat.messages.filter(message_id__in=doomed).delete()
    gone = set(doomed)
    if chat.current_id in gone:
        parent = target.parent_message_id
        remaining = [m for m in messages if m.message_id not in gone]
        kids = children_of(remaining)  # "" holds the roots
        below = _descendants(parent, kids)
        leaves = [m for m in remaining if m.message_id in below and not kids.get(m.message_id)]
        chat.current_id = max(leaves, key=lambda m: m.seq).message_id if leaves else parent
    chat.updated_at = timezone.now()
    chat.save(update_fields=["current_id", "updated_at"])
    publish(
        chat_room(chat.pk),
        "message.deleted",
        {"chat_id": str(chat.pk), "message_ids": doomed, "current_id": chat.current_id or None},
    )
    return doomed


def _descendants(root: str, children: dict[str, list[str]]) -> set[str]:
    found: set[str] = set()
    stack = list(children.get(root, []))
    while stack:
        current = stack.pop()
        found.add(current)
        stack.extend(children.get(current, []))
    return found


@transaction.atomic
def chat_set_current(chat: Chat, *, message_id: str) -> Chat:
    """Make ``message_id`` the leaf of the active branch (switching branches)."""
    chat = _locked(chat)
    if not chat.messages.filter(message_id=message_id).exists():
        raise MessageNotFound()
    chat.current_id = message_id
    chat.updated_at = timezone.now()
    chat.save(update_fields=["current_id", "updated_at"])
    return chat


# --- tags ------------------------------------------------------------------------------------


def _tags_for(user_id: Any, names: Iterable[str]) -> list[Tag]:
    wanted: dict[str, str] = {}
    for name in names:
        clean = " ".join(name.split())
        if clean:
            wanted.setdefault(clean.lower(), clean)
    if not wanted:
        return []
    have = {
        tag.name.lower(): tag
        for tag in Tag.objects.annotate(lname=Lower("name")).filter(
            user_id=user_id, lname__in=wanted
        )
    }
    missing = [Tag(user_id=user_id, name=wanted[key]) for key in wanted if key not in have]
    for tag in missing:  # few at a time; each may race with another request creating it
        with transaction.atomic():
            tag.save()
        have[tag.name.lower()] = tag
    return [have[key] for key in wanted]


def _set_tags(chat: Chat, names: list[str]) -> None:
    chat.tags.set(_tags_for(chat.user_id, names))
    chat.tag_names = None  # any read with the chat is out of date: chat_output reads them
    _delete_unused_tags(chat.user_id)


def _delete_unused_tags(user_id: Any) -> None:
    Tag.objects.filter(user_id=user_id, chats__isnull=True).delete()


@transaction.atomic
def chat_tag_add(chat: Chat, *, name: str) -> Chat:
    chat.tags.add(*_tags_for(chat.user_id, [name]))
    Chat.objects.filter(pk=chat.pk).update(updated_at=timezone.now())
    return chat


@transaction.atomic
def chat_tag_remove(chat: Chat, *, name: str) -> Chat:
    tag = chat.tags.annotate(lname=Lower("name")).filter(lname=" ".join(name.split()).lower())
    found = tag.first()
    if found is None:
        raise TagNotFound()
    chat.tags.remove(found)
    _delete_unused_tags(chat.user_id)
    return chat


# --- clone, share, import ----------------------------------------------------------------------


def _copy_messages(messages: Iterable[dict[str, Any]]) -> list[MessageIn]:
    return [
        MessageIn(
            message_id=m["id"],
            parent_message_id=m["parent_id"] or "",
            role=m["role"],
            content=m["content"],
            model=m.get("model") or "",
            usage=m.get("usage"),
            sources=m.get("sources"),
            timestamp=datetime.fromtimestamp(m["timestamp"], tz=UTC),
        )
        for m in messages
    ]


@transaction.atomic
def chat_clone(*, user: User, title: str, body: dict[str, Any]) -> Chat:
    """A new chat of ``user`` holding a copy of ``body`` (a chat body or a share snapshot)."""
    history = body["history"]
    items = _copy_messages(history["messages"].values())
    now = timezone.now()
    chat = Chat(
        user=user,
        title=title,
        model_ids=body.get("models") or [],
        current_id=history.get("current_id") or "",
        created_at=now,
        updated_at=now,
    )
    _create_with_messages(chat, items, now)
    return chat


@transaction.atomic
def chat_share(
    chat: Chat, *, require_auth: bool, expires_at: datetime | None, share_id: str | None = None
) -> ChatShare:
    """Share a snapshot of the chat as it is now; sharing again refreshes the same link.

    ``share_id`` keeps the id a link had on another server (an import); new links get 192
    random bits.
    """
    chat = _locked(chat)
    now = timezone.now()
    body = chat_body(chat, list(chat.messages.all()))
    for message in body["history"]["messages"].values():
        message.pop("feedback", None)  # the owner's ratings are not part of what is shared
    snapshot = {"title": chat.title, "chat": body, "shared_at": int(now.timestamp())}
    share, created = ChatShare.objects.get_or_create(
        chat=chat,
        defaults={
            "share_id": share_id or secrets.token_urlsafe(24),  # 192 bits
            "snapshot": snapshot,
            "require_auth": require_auth,
            "expires_at": expires_at,
            "created_at": now,
            "updated_at": now,
        },
    )
    if not created:
        share.snapshot = snapshot
        share.require_auth = require_auth
        share.expires_at = expires_at
        share.updated_at = now
        share.save()
    return share


def chat_unshare(chat: Chat) -> None:
    """Revoke the chat's share link; its id never works again."""
    ChatShare.objects.filter(chat=chat).delete()


@transaction.atomic
def chats_import(*, user: User, chats: list[dict[str, Any]]) -> list[Chat]:
    """Create the chats of a validated export (see ``ImportInputSerializer``). All or nothing.

    A chat keeps its id unless that id is taken (then it gets a new one), so moving chats to
    another server keeps their links; importing into the same account makes copies.
    """
    ids = [c["id"] for c in chats if c.get("id")]
    taken = set(Chat.objects.filter(pk__in=ids).values_list("pk", flat=True))
    created = []
    for index, data in enumerate(chats):
        items = [
            MessageIn.from_validated(m, message_id=m["id"], parent=m.get("parent_id") or "")
            for m in data["messages"]
        ]
        try:
            items = topological(items)
        except InvalidHistory as exc:
            raise InvalidImport(f"Chat {index}: {exc.detail}") from None
        current = data.get("current_id") or ""
        if current and current not in {item.message_id for item in items}:
            raise InvalidImport(f"Chat {index}: current_id {current!r} is not one of its messages.")
        chat_id = data.get("id")
        chat = Chat(
            id=chat_id if chat_id and chat_id not in taken else uuid.uuid4(),
            user=user,
            title=data["title"],
            model_ids=data["models"],
            folder_id=data["folder_id"],
            pinned=data["pinned"],
            archived=data["archived"],
            current_id=current,
            created_at=data["created_at"],
            updated_at=data["updated_at"],
        )
        taken.add(chat.pk)
        _create_with_messages(chat, items, data["created_at"])
        if data["tags"]:
            _set_tags(chat, data["tags"])
        created.append(chat)
    return created
