"""The hook through which completions will answer from knowledge.

Retrieval (chunking, embeddings, vector search) is a later issue. Until it lands, a request
that asks for knowledge is refused (501) rather than answered without its sources.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from llm.errors import RetrievalUnavailable
from users.models import User


@dataclass(frozen=True)
class Source:
    """One retrieved chunk: where it came from and its text (FastGPT's ``quoteList`` item)."""

    id: str
    source: str
    content: str
    score: float


def sources_for(
    *,
    user: User,
    query: str,
    files: list[Any],
    knowledge_ids: list[str],
    model_knowledge_ids: list[str],
) -> list[Source]:
    """The chunks to answer ``query`` from, for the user's files and knowledge collections.

    Empty when nothing was asked for. Raises RetrievalUnavailable when something was: there is
    no retrieval engine yet.
    """
    if files or knowledge_ids or model_knowledge_ids:
        raise RetrievalUnavailable()
    return []


def prompt_with_sources(*, query: str, sources: list[Source]) -> str:
    """The last user message with the sources put in through ``RAG_TEMPLATE``."""
    context = "\n\n".join(f"[{i + 1}] {s.content}" for i, s in enumerate(sources))
    return settings.RAG_TEMPLATE.format(context=context, query=query)
