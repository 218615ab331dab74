"""A completion turn as every step of it sees it: what was asked (``Turn``), what has come
back so far (``Progress``), and ``db``, the short database visits the steps make.

Apart from ``llm.streaming`` (which consumes the upstream) so that ``llm.tools`` (the tool
loop, which streaming runs) builds on it without the two importing each other.
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections

from llm.models import Generation
from llm.upstream import Upstream
from users.models import ApiKey, User
from webui_backend.errors import AppError

T = TypeVar("T")


def connections_give_back() -> None:
    """Give this thread's database connections back once its short visit is over.

    A PostgreSQL connection goes back to the pool (or is closed), so nothing is held while an
    upstream is awaited. A SQLite connection is a file handle that only this worker thread
    uses: it is kept, as reopening one (connect, pragmas, functions) costs about a
    millisecond per visit, unless it saw an error or is inside a transaction.
    """
    for connection in connections.all(initialized_only=True):
        if (
            connection.vendor == "sqlite"
            and connection.connection is not None
            and not connection.errors_occurred
            and not connection.in_atomic_block
        ):
            continue
        connection.close()


async def db(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` in a worker thread and give its database connection back at once."""

    def run() -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            connections_give_back()

    return await sync_to_async(run, thread_sensitive=False)()


@dataclass
class Turn:
    """Everything a completion needs once the request is accepted."""

    user: User
    api_key: ApiKey | None
    model: str  # as the client named it
    base_model: str
    system: str
    params: dict[str, Any]
    data: dict[str, Any]  # validated fields
    raw: dict[str, Any]  # the body as sent (unknown fields go upstream)
    stream: bool
    include_usage: bool
    detail: bool
    chat_key: str
    reply_id: str
    custom_uid: str
    completion_id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))
    upstream: Upstream | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    chat_id: Any = None
    generation: Generation | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)  # with our functions, if any
    functions: dict[str, Any] = field(default_factory=dict)  # name -> Function (tool_ids)
    reply_parent: str = ""  # the turn's last tool result, which the reply goes under
    sources: list[Any] = field(default_factory=list)  # retrieval.search.Hit, best first
    # With a chat: the room's last event number once the question is saved. Every event of
    # this turn comes after it (X-Chat-Event-Seq: where a dropped stream resumes from).
    event_seq: int | None = None


@dataclass
class Progress:
    parts: list[str] = field(default_factory=list)
    size: int = 0  # bytes of text in parts
    usage: dict[str, Any] | None = None
    error: AppError | None = None
    body: dict[str, Any] | None = None  # a non-streaming answer
    chunks: int = 0
    started: float = field(default_factory=time.monotonic)
    first_token: float | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)
