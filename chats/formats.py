"""Other servers' chat exports, turned into ours (``{"format": "webui-backend.chats", ...}``).

ChatGPT's data export (``conversations.json``): a list of conversations, each a ``mapping`` of
nodes ``{id, message, parent, children}`` forming a tree (an edited question or a regenerated
answer is a branch), and ``current_node``, the leaf the user last saw. Every branch is kept;
nodes that carry no conversation (the empty root, hidden system and context messages, tool
plumbing) are left out and their children hang from the nearest message kept above them.
Open WebUI and LibreChat read the same file.
"""

import uuid
from typing import Any

from chats.errors import InvalidImport
from chats.serializers import EXPORT_FORMAT, EXPORT_VERSION, MESSAGE_ID_PATTERN, TIMESTAMP_MAX

ROLES = {"system", "user", "assistant", "tool"}


def is_chatgpt_export(data: Any) -> bool:
    """A list of conversations with ``mapping`` trees (possibly empty)."""
    return isinstance(data, list) and all(
        isinstance(item, dict) and isinstance(item.get("mapping"), dict) for item in data
    )


def _seconds(value: Any, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    seconds = int(value)
    return seconds if 0 <= seconds <= TIMESTAMP_MAX else default


def _text(message: dict[str, Any]) -> tuple[str | None, bool]:
    """The message's text, and whether something not text (an image, a file) was left out.

    None: a kind of content that is not conversation (browsing plumbing, model thoughts)."""
    content = message.get("content") or {}
    kind = content.get("content_type")
    if kind in {"text", "multimodal_text"}:
        parts = content.get("parts") or []
        texts = [p for p in parts if isinstance(p, str)]
        return "\n".join(texts), len(texts) != len(parts)
    if kind == "code":
        return f"```\n{content.get('text') or ''}\n```", False
    if kind == "execution_output":
        return content.get("text") or "", False
    if kind in {"tether_quote", "tether_browsing_display"}:
        text = content.get("text") or content.get("result") or ""
        return (text or None), False
    return None, False


def _hidden(message: dict[str, Any]) -> bool:
    metadata = message.get("metadata") or {}
    return bool(
        metadata.get("is_visually_hidden_from_conversation")
        or metadata.get("is_user_system_message")
    )


def _conversation(item: dict[str, Any], index: int) -> tuple[dict[str, Any], list[str]]:
    notes: list[str] = []
    created = _seconds(item.get("create_time"), 0)
    mapping: dict[str, Any] = item["mapping"]
    kept: dict[str, dict[str, Any]] = {}
    parent_of: dict[str, str | None] = {}
    for node_id, node in mapping.items():
        if not isinstance(node, dict):
            raise InvalidImport(f"Conversation {index}: node {node_id!r} is not an object.")
        parent_of[node_id] = node.get("parent")
    ids = {
        node_id: node_id
        if MESSAGE_ID_PATTERN.match(node_id)
        else str(uuid.uuid5(uuid.NAMESPACE_URL, node_id))
        for node_id in mapping
    }
    images = skipped = 0
    for node_id, node in mapping.items():
        message = node.get("message")
        if not isinstance(message, dict):
            continue
        role = (message.get("author") or {}).get("role")
        text, left_out = _text(message)
        images += left_out
        plumbing = text is None or message.get("recipient", "all") != "all"  # tool calls
        if role not in ROLES or plumbing or _hidden(message) or (role == "system" and not text):
            skipped += plumbing and role in ROLES and not _hidden(message)
            continue
        kept[node_id] = {
            "role": role,
            "content": text,
            "model": str((message.get("metadata") or {}).get("model_slug") or "")[:255],
            "timestamp": _seconds(message.get("create_time"), created),
        }

    def kept_ancestor(node_id: str | None) -> str | None:
        seen = set()
        while node_id is not None and node_id not in kept:
            if node_id in seen or node_id not in mapping:
                return None
            seen.add(node_id)
            node_id = parent_of.get(node_id)
        return node_id

    # Parents before children: walk from the roots down the ``children`` lists.
    order: list[str] = []
    roots = [n for n, p in parent_of.items() if p is None or p not in mapping]
    stack = list(reversed(roots))
    visited: set[str] = set()
    while stack:
        node_id = stack.pop()
        if node_id in visited:
            continue
        visited.add(node_id)
        if node_id in kept:
            order.append(node_id)
        children = [c for c in (mapping[node_id].get("children") or []) if c in mapping]
        children += [c for c, p in parent_of.items() if p == node_id and c not in children]
        stack.extend(reversed(children))
    messages = []
    for node_id in order:
        parent = kept_ancestor(parent_of.get(node_id))
        messages.append(
            {"id": ids[node_id], "parent_id": ids[parent] if parent else None, **kept[node_id]}
        )
    current = kept_ancestor(item.get("current_node"))
    if images:
        notes.append(f"{images} message(s) had images or files; their text was kept.")
    if skipped:
        notes.append(f"{skipped} tool or browsing step(s) left out.")
    models = sorted({m["model"] for m in messages if m["model"]})[:20]
    conversation_id = item.get("conversation_id") or item.get("id")
    try:
        chat_id = str(uuid.UUID(str(conversation_id))) if conversation_id else None
    except ValueError:
        chat_id = None
    chat = {
        "title": str(item.get("title") or "New Chat")[:1000],
        "models": models,
        "folder_id": None,
        "pinned": False,
        "archived": bool(item.get("is_archived")),
        "tags": [],
        "current_id": ids[current] if current else (messages[-1]["id"] if messages else None),
        "created_at": created,
        "updated_at": _seconds(item.get("update_time"), created),
        "messages": messages,
    }
    if chat_id:
        chat["id"] = chat_id
    return chat, notes


def chatgpt_to_export(conversations: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """A ChatGPT ``conversations.json`` as our export document, with notes on what was left."""
    chats, notes = [], []
    for index, item in enumerate(conversations):
        chat, chat_notes = _conversation(item, index)
        chats.append(chat)
        notes.extend(f"{chat['title']!r}: {note}" for note in chat_notes)
    return {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "chats": chats}, notes
