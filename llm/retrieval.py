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

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ValidationError

from knowledge.selectors import knowledge_readable_by
from llm.models import CustomModel
from retrieval.search import Hit, chunks_search
from users.models import User

logger = logging.getLogger(__name__)

FILES_MAX = 100


@dataclass(frozen=True)
class Source:
    """One retrieved chunk: where it came from, its text and its score in [0, 1]."""

    content: str
    score: float
    file_id: str
    filename: str
    knowledge_id: str | None
    page: int | None
    chunk_index: int

    @classmethod
    def of(cls, hit: Hit) -> "Source":
        return cls(
            content=hit.content,
            score=hit.score,
            file_id=str(hit.file_id),
            filename=hit.filename,
            knowledge_id=str(hit.knowledge_id) if hit.knowledge_id else None,
            page=hit.page,
            chunk_index=hit.chunk_index,
        )

    def as_json(self) -> dict[str, Any]:
        """As ``/api/retrieval/query`` shows a result: content, score and metadata."""
        return {
            "content": self.content,
            "score": self.score,
            "metadata": {
                "file_id": self.file_id,
                "filename": self.filename,
                "knowledge_id": self.knowledge_id,
                "page": self.page,
                "chunk_index": self.chunk_index,
            },
        }

    def as_quote(self) -> dict[str, Any]:
        """As FastGPT's ``quoteList`` shows a quote."""
        return {
            "id": f"{self.file_id}:{self.chunk_index}",
            "q": self.content,
            "a": "",
            "source": self.filename,
            "sourceId": self.file_id,
            "datasetId": self.knowledge_id,
            "score": self.score,
        }


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


def model_knowledge_ids(model: CustomModel) -> list[str]:
    """The model's collections that still exist and its owner may still read."""
    wanted = []
    for value in model.knowledge_ids:
        try:
            wanted.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    if not wanted:
        return []
    found = knowledge_readable_by(model.owner).filter(pk__in=wanted).values_list("pk", flat=True)
    return [str(pk) for pk in found]


def sources_for(
    *,
    user: User,
    query: str,
    files: list[Any],
    knowledge_ids: list[str],
    model: CustomModel | None,
) -> list[Source]:
    """The chunks to answer ``query`` from (best first, at most ``RAG_TOP_K``).

    Empty when nothing was asked for. Raises KnowledgeNotFound / FileNotFound (404) for ids the
    user may not read, EmbeddingUnavailable (502) when the query cannot be embedded.
    """
    file_ids, collection_ids = request_files_split(files)
    asked = [*knowledge_ids, *collection_ids]
    top_k = settings.RAG_TOP_K
    hits: list[Hit] = []
    if file_ids or asked:
        hits += chunks_search(
            user=user, query=query, knowledge_ids=asked, file_ids=file_ids, top_k=top_k
        ).hits
    if model is not None and model.knowledge_ids:
        attached = model_knowledge_ids(model)
        if len(attached) < len(model.knowledge_ids):
            logger.info("custom model %s names collections that are gone", model.model_id)
        if attached:
            hits += chunks_search(
                user=model.owner, query=query, knowledge_ids=attached, top_k=top_k
            ).hits
    best: dict[tuple[uuid.UUID, int], Hit] = {}
    for hit in hits:
        key = (hit.file_id, hit.chunk_index)
        if key not in best or best[key].score < hit.score:
            best[key] = hit
    ranked = sorted(best.values(), key=lambda h: -h.score)[:top_k]
    return [Source.of(hit) for hit in ranked]


def prompt_with_sources(*, query: str, sources: list[Source]) -> str:
    """The last user message with the sources put in through ``RAG_TEMPLATE``."""
    context = "\n\n".join(
        f'<source id="{i + 1}" name="{s.filename}">\n{s.content}\n</source>'
        for i, s in enumerate(sources)
    )
    return settings.RAG_TEMPLATE.replace("{context}", context).replace("{query}", query)


def messages_with_sources(
    messages: list[dict[str, Any]], sources: list[Source]
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
            text = "\n".join(str(p.get("text", "")) for p in texts)
            new_content: Any = [
                {"type": "text", "text": prompt_with_sources(query=text, sources=sources)},
                *(p for p in content if p not in texts),
            ]
        else:
            new_content = prompt_with_sources(query=str(content or ""), sources=sources)
        rewritten = {**message, "content": new_content}
        return [*messages[:position], rewritten, *messages[position + 1 :]]
    return messages
