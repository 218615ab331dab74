"""Open WebUI's chats (one JSON blob each) as chats of our export format.

``chat.history.messages`` is a tree: each message names its ``parentId`` and lists its
``childrenIds``; ``currentId`` (or the row's ``current_message_id``) is the leaf shown. Every
branch is kept, siblings in the order of ``childrenIds``; what a message holds that we do not
keep is counted in the notes.
"""

import json
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from chats.serializers import MESSAGE_ID_PATTERN, SOURCES_MAX, TIMESTAMP_MAX

MESSAGE_ROLES = {"system", "user", "assistant", "tool"}
# Message fields Open WebUI may hold that we do not keep, and what they are.
DROPPED_MESSAGE_FIELDS = {
    "files": "attached files",
    "error": "error notes",
    "statusHistory": "status history",
    "followUps": "suggested follow-ups",
    "annotation": "ratings",
    "code_executions": "code runs",
    "embeds": "embeds",
    "output": "structured output items",
}


# Open WebUI's tables of things this server does not have, and why they stay behind.
def unix_seconds(value: Any) -> int | None:
    """Open WebUI's Unix times: seconds, or (some rows) milli- or nanoseconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = int(value)
    while value > TIMESTAMP_MAX:
        value //= 1000
    return value if value >= 0 else None


def as_datetime(value: Any) -> datetime | None:
    seconds = unix_seconds(value)
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds is not None else None


def _siblings_in_their_order(
    out: list[dict[str, Any]], messages: dict[str, Any], ids: dict[str, str]
) -> list[dict[str, Any]]:
    """Parents first, and each message's children in the order of its ``childrenIds`` (the
    order Open WebUI's branch arrows show), which becomes their order here."""
    by_id = {m["id"]: m for m in out}
    children: dict[str | None, list[str]] = {}
    for m in out:
        children.setdefault(m["parent_id"], []).append(m["id"])
    for key, item in messages.items():
        mine = ids.get(key)
        listed = [ids.get(c) for c in item.get("childrenIds") or [] if isinstance(c, str)]
        known = children.get(mine, [])
        children[mine] = [c for c in listed if c in known] + [c for c in known if c not in listed]
    ordered: list[dict[str, Any]] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        node = stack.pop()
        ordered.append(by_id[node])
        stack.extend(reversed(children.get(node, [])))
    return ordered if len(ordered) == len(out) else out  # a cycle: left for the import to refuse


def chat_from_openwebui(
    row: dict[str, Any], tags: dict[tuple[str, str], str], *, user_key: str
) -> tuple[dict[str, Any], list[str]]:
    """An Open WebUI chat row as one chat of our export format (see ExportedChatSerializer),
    with notes about what of it could not be kept."""
    notes: list[str] = []
    blob = row.get("chat") or {}
    history = blob.get("history") or {}
    messages = history.get("messages") or {}
    if not messages and isinstance(blob.get("messages"), list):  # the oldest chats: a list
        previous = None
        for item in blob["messages"]:
            if isinstance(item, dict) and item.get("id"):
                messages[item["id"]] = {**item, "parentId": item.get("parentId", previous)}
                previous = item["id"]
    ids: dict[str, str] = {}
    for key in messages:
        ids[key] = (
            key if MESSAGE_ID_PATTERN.match(key) else str(uuid.uuid5(uuid.NAMESPACE_URL, key))
        )
    created = unix_seconds(row.get("created_at")) or 0
    out: list[dict[str, Any]] = []
    dropped: Counter = Counter()
    for key, item in messages.items():
        if not isinstance(item, dict):
            continue
        role = item.get("role")
        if role not in MESSAGE_ROLES:
            notes.append(f"message {key} has role {role!r}; kept as 'assistant'.")
            role = "assistant"
        parent = item.get("parentId") or item.get("parent_id") or None
        if parent is not None and parent not in messages:
            notes.append(f"message {key} named a parent that is not in the chat; made a root.")
            parent = None
        content = item.get("content")
        if content is None:
            content = ""
        elif not isinstance(content, str | list):
            content = json.dumps(content)
        usage = item.get("usage")
        if not isinstance(usage, dict):
            info_usage = (
                (item.get("info") or {}).get("usage")
                if isinstance(item.get("info"), dict)
                else None
            )
            usage = info_usage if isinstance(info_usage, dict) else None
        if usage is not None and len(json.dumps(usage)) > 10_000:
            notes.append(f"message {key}: usage too large; not kept.")
            usage = None
        sources = item.get("sources") or item.get("citations")
        if sources is not None and (
            not isinstance(sources, list)
            or not all(isinstance(s, dict) for s in sources)
            or len(sources) > 100
            or len(json.dumps(sources)) > SOURCES_MAX
        ):
            notes.append(f"message {key}: sources too large or malformed; not kept.")
            sources = None
        for name in DROPPED_MESSAGE_FIELDS:
            if item.get(name):
                dropped[name] += 1
        stamp = unix_seconds(item.get("timestamp"))
        out.append(
            {
                "id": ids[key],
                "parent_id": ids.get(parent) if parent else None,
                "role": role,
                "content": content,
                "model": str(item.get("model") or "")[:255],
                "usage": usage,
                "sources": sources or None,
                "timestamp": stamp if stamp is not None else created,
            }
        )
    out = _siblings_in_their_order(out, messages, ids)
    for name, count in sorted(dropped.items()):
        notes.append(f"{DROPPED_MESSAGE_FIELDS[name]} of {count} message(s) not kept.")
    current = row.get("current_message_id") or history.get("currentId") or ""
    current = (out[-1]["id"] if out else "") if current not in messages else ids[current]
    tag_names = [
        tags.get((user_key, tag), tag)
        for tag in (row.get("meta") or {}).get("tags") or []
        if isinstance(tag, str)
    ]
    models = [m for m in blob.get("models") or [] if isinstance(m, str)][:20]
    title = row.get("title") or blob.get("title") or "New Chat"
    if len(title) > 1000:
        notes.append("title cut to 1000 characters.")
        title = title[:1000]
    return (
        {
            "id": str(row["id"]),
            "title": title,
            "models": [m[:255] for m in models],
            "folder_id": (row.get("folder_id") or "")[:255],
            "pinned": bool(row.get("pinned")),
            "archived": bool(row.get("archived")),
            "tags": [t[:100] for t in tag_names][:50],
            "current_id": current or None,
            "created_at": created,
            "updated_at": unix_seconds(row.get("updated_at")) or created,
            "messages": out,
        },
        notes,
    )
