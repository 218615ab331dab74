"""Answers from knowledge: the chunks a completion is grounded on, and how they reach the prompt.

A request names what to answer from in Open WebUI's way (``files``: items ``{"type": "file" |
"collection", "id": ...}``, or bare file ids) or ours (``knowledge_ids``), and a custom model
may carry collections of its own. The last user message is the query; the best chunks go into
that message through ``RAG_TEMPLATE`` and come back to the client as ``sources``.

The request's files and collections are searched as the requesting user (an id they may not
read is 404). A custom model's collections are searched as the model's owner, who attached
them: a public model answers from its owner's collections without showing them to anyone.
Collections deleted since the model was made are left out.
"""

import re
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ValidationError

from chats.serializers import content_text
from llm.models import CustomModel
from retrieval.search import Hit, Scope, scope_resolve, scope_search
from users.models import User

FILES_MAX = 100
PLACEHOLDER = re.compile(r"\{(context|query)\}")


def request_files_split(files: list[Any]) -> tuple[list[str], list[str]]:
    """(file ids, collection ids) named by a request's ``files``; 400 for a malformed item."""
    if len(files) > FILES_MAX:
        raise ValidationError({"files": [f"At most {FILES_MAX} items."]})
    file_ids: list[str] = []
    collection_ids: list[str] = []
    for position, item in enumerate(files):
        if isinstance(item, str):
            file_ids.append(item)
            continue
        kind = item.get("type", "file") if isinstance(item, dict) else None
        ident = item.get("id") if isinstance(item, dict) else None
        if kind not in ("file", "collection") or not isinstance(ident, str) or not ident:
            raise ValidationError(
                {
                    "files": [
                        f"Item {position}: expected a file id, or an object with a string "
                        '"id" and "type" "file" or "collection".'
                    ]
                }
            )
        (file_ids if kind == "file" else collection_ids).append(ident)
    return file_ids, collection_ids


def sources_for(
    *,
    user: User,
    query: str,
    files: list[Any],
    knowledge_ids: list[str],
    model: CustomModel | None,
) -> list[Hit]:
    """The chunks to answer ``query`` from (best first, at most ``RAG_TOP_K``).

    Empty when nothing was asked for. Raises KnowledgeNotFound / FileNotFound (404) for ids the
    user may not read, EmbeddingUnavailable (502) when the query cannot be embedded. The
    request's scope and the model's are searched together: one embedding, one ranking.
    """
    file_ids, collection_ids = request_files_split(files)
    asked = [*knowledge_ids, *collection_ids]
    scope: Scope = {}
    if model is not None and model.knowledge_ids:
        scope = scope_resolve(user=model.owner, knowledge_ids=model.knowledge_ids, lenient=True)
    if file_ids or asked:
        mine = scope_resolve(user=user, knowledge_ids=asked, file_ids=file_ids)
        for file_id, knowledge_id in mine.items():
            scope[file_id] = knowledge_id or scope.get(file_id)
    return scope_search(scope=scope, query=query, top_k=settings.RAG_TOP_K).hits


def prompt_with_sources(*, query: str, sources: list[Hit]) -> str:
    """The last user message with the sources put in through ``RAG_TEMPLATE``."""
    context = "\n\n".join(
        f'<source id="{i + 1}" name="{s.filename}">\n{s.content}\n</source>'
        for i, s in enumerate(sources)
    )
    # One pass: a document that contains "{query}" keeps it as it is.
    values = {"context": context, "query": query}
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], settings.RAG_TEMPLATE)


def messages_with_sources(
    messages: list[dict[str, Any]], sources: list[Hit]
) -> list[dict[str, Any]]:
    """``messages`` with the last user message's text rewritten to carry the sources.

    Content parts other than text (images) are kept, after the rewritten text.
    """
    if not sources:
        return messages
    for position in range(len(messages) - 1, -1, -1):
        message = messages[position]
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):
            texts = [p for p in content if isinstance(p, dict) and p.get("type") == "text"]
            new_content: Any = [
                {
                    "type": "text",
                    "text": prompt_with_sources(query=content_text(texts), sources=sources),
                },
                *(p for p in content if p not in texts),
            ]
        else:
            new_content = prompt_with_sources(query=str(content or ""), sources=sources)
        rewritten = {**message, "content": new_content}
        return [*messages[:position], rewritten, *messages[position + 1 :]]
    return messages
