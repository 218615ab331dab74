"""Parsed answers: dataclasses built from the server's JSON (``raw`` keeps all of it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

__all__ = [
    "Chat",
    "ChatCompletionChunk",
    "ChatMessage",
    "ChatMessageParam",
    "Choice",
    "ChunkChoice",
    "Collection",
    "Completion",
    "Delta",
    "File",
    "Job",
    "Message",
    "MessagePage",
    "SearchResult",
    "SearchResults",
    "Share",
    "UsageReport",
]


class ChatMessageParam(TypedDict, total=False):
    """A message of a completion request (OpenAI's shape)."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]]
    name: str
    tool_call_id: str
    tool_calls: list[dict[str, Any]]


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


# --- completions -------------------------------------------------------------------------------


@dataclass
class ChatMessage:
    role: str
    content: str | None
    tool_calls: list[dict[str, Any]] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChatMessage:
        content = data.get("content")
        return cls(
            role=str(data.get("role") or "assistant"),
            content=content if isinstance(content, str) else None,
            tool_calls=data.get("tool_calls") if isinstance(data.get("tool_calls"), list) else None,
        )


@dataclass
class Choice:
    index: int
    message: ChatMessage
    finish_reason: str | None


@dataclass
class Completion:
    """A non-streamed answer. ``chat_id``/``response_message_id`` when the server keeps the
    chat; ``sources`` when it answered from knowledge; ``response_data`` with ``detail``."""

    id: str
    model: str
    created: int
    choices: list[Choice]
    usage: dict[str, Any] | None
    sources: list[dict[str, Any]] | None
    chat_id: str | None
    response_message_id: str | None
    response_data: list[dict[str, Any]] | None
    raw: dict[str, Any] = field(repr=False)

    @property
    def text(self) -> str:
        """The first choice's text ("" when it has none, e.g. only tool calls)."""
        return (self.choices[0].message.content or "") if self.choices else ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Completion:
        choices = [
            Choice(
                index=_int(c.get("index")),
                message=ChatMessage.from_json(c.get("message") or {}),
                finish_reason=c.get("finish_reason"),
            )
            for c in data.get("choices") or []
            if isinstance(c, dict)
        ]
        return cls(
            id=str(data.get("id") or ""),
            model=str(data.get("model") or ""),
            created=_int(data.get("created")),
            choices=choices,
            usage=data.get("usage") if isinstance(data.get("usage"), dict) else None,
            sources=data.get("sources") if isinstance(data.get("sources"), list) else None,
            chat_id=data.get("chat_id") or data.get("chatId"),
            response_message_id=data.get("responseChatItemId"),
            response_data=data.get("responseData"),
            raw=data,
        )


@dataclass
class Delta:
    role: str | None = None
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


@dataclass
class ChunkChoice:
    index: int
    delta: Delta
    finish_reason: str | None


@dataclass
class ChatCompletionChunk:
    """One streamed chunk. The last ones may have no choices: ``usage`` (with
    ``include_usage``) and ``sources`` (an answer from knowledge)."""

    id: str
    model: str
    created: int
    choices: list[ChunkChoice]
    usage: dict[str, Any] | None
    sources: list[dict[str, Any]] | None
    raw: dict[str, Any] = field(repr=False)

    @property
    def text(self) -> str:
        """The text this chunk adds to the first choice."""
        for choice in self.choices:
            if choice.index == 0:
                return choice.delta.content or ""
        return ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChatCompletionChunk:
        choices = []
        for c in data.get("choices") or []:
            if not isinstance(c, dict):
                continue
            delta = c.get("delta") or {}
            content = delta.get("content")
            choices.append(
                ChunkChoice(
                    index=_int(c.get("index")),
                    delta=Delta(
                        role=delta.get("role"),
                        content=content if isinstance(content, str) else None,
                        tool_calls=delta.get("tool_calls"),
                    ),
                    finish_reason=c.get("finish_reason"),
                )
            )
        return cls(
            id=str(data.get("id") or ""),
            model=str(data.get("model") or ""),
            created=_int(data.get("created")),
            choices=choices,
            usage=data.get("usage") if isinstance(data.get("usage"), dict) else None,
            sources=data.get("sources") if isinstance(data.get("sources"), list) else None,
            raw=data,
        )


# --- chats -------------------------------------------------------------------------------------


@dataclass
class Message:
    id: str
    parent_id: str | None
    role: str
    content: str | list[dict[str, Any]]
    model: str
    usage: dict[str, Any] | None
    timestamp: int
    sources: list[dict[str, Any]] | None = None
    feedback: dict[str, Any] | None = None
    children_ids: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "\n".join(p.get("text", "") for p in self.content if p.get("type") == "text")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        content = data.get("content")
        return cls(
            id=str(data["id"]),
            parent_id=data.get("parent_id"),
            role=str(data.get("role") or ""),
            content=content if isinstance(content, str | list) else "",
            model=str(data.get("model") or ""),
            usage=data.get("usage"),
            timestamp=_int(data.get("timestamp")),
            sources=data.get("sources"),
            feedback=data.get("feedback"),
            children_ids=list(data.get("children_ids") or []),
        )


@dataclass
class Chat:
    """A chat; ``messages`` is the active branch (empty in lists), ``history`` the tree."""

    id: str
    title: str
    created_at: int
    updated_at: int
    pinned: bool
    archived: bool
    folder_id: str | None
    tags: list[str]
    messages: list[Message]
    history: dict[str, Any] | None
    share_id: str | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Chat:
        body = data.get("chat") or {}
        return cls(
            id=str(data["id"]),
            title=str(data.get("title") or ""),
            created_at=_int(data.get("created_at")),
            updated_at=_int(data.get("updated_at")),
            pinned=bool(data.get("pinned")),
            archived=bool(data.get("archived")),
            folder_id=data.get("folder_id"),
            tags=list(data.get("tags") or []),
            messages=[Message.from_json(m) for m in body.get("messages") or []],
            history=body.get("history"),
            share_id=data.get("share_id"),
            raw=data,
        )


@dataclass
class MessagePage:
    messages: list[Message]
    total: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MessagePage:
        return cls(
            [Message.from_json(m) for m in data.get("messages") or []], _int(data.get("total"))
        )


@dataclass
class Share:
    share_id: str
    url: str
    require_auth: bool
    expires_at: int | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Share:
        return cls(
            share_id=str(data["share_id"]),
            url=str(data.get("url") or ""),
            require_auth=bool(data.get("require_auth")),
            expires_at=data.get("expires_at"),
        )


# --- files and knowledge -----------------------------------------------------------------------

JobState = Literal["queued", "extracting", "embedding", "indexed", "failed", "cancelled"]


@dataclass
class Job:
    """A file's processing job; ``state`` ends as ``indexed``, ``failed`` or ``cancelled``."""

    id: str
    file_id: str
    knowledge_id: str | None
    state: str
    error: str
    chunks_done: int
    chunks_total: int
    attempts: int
    raw: dict[str, Any] = field(repr=False)

    FINAL = ("indexed", "failed", "cancelled")

    @property
    def finished(self) -> bool:
        return self.state in self.FINAL

    @property
    def progress(self) -> float:
        """0.0 to 1.0 (chunks embedded of those to embed; 1.0 once indexed)."""
        if self.state == "indexed":
            return 1.0
        return self.chunks_done / self.chunks_total if self.chunks_total else 0.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        return cls(
            id=str(data.get("id") or ""),
            file_id=str(data.get("file_id") or ""),
            knowledge_id=data.get("knowledge_id"),
            state=str(data.get("state") or ""),
            error=str(data.get("error") or ""),
            chunks_done=_int(data.get("chunks_done")),
            chunks_total=_int(data.get("chunks_total")),
            attempts=_int(data.get("attempts")),
            raw=data,
        )


@dataclass
class File:
    id: str
    filename: str
    size: int
    content_type: str
    sha256: str
    status: str
    error: str
    created_at: int
    job: Job | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> File:
        job = data.get("job")
        return cls(
            id=str(data["id"]),
            filename=str(data.get("filename") or ""),
            size=_int(data.get("size")),
            content_type=str(data.get("content_type") or ""),
            sha256=str(data.get("sha256") or ""),
            status=str(data.get("status") or ""),
            error=str(data.get("error") or ""),
            created_at=_int(data.get("created_at")),
            job=Job.from_json(job) if isinstance(job, dict) else None,
            raw=data,
        )


@dataclass
class Collection:
    id: str
    name: str
    description: str
    public: bool
    file_ids: list[str]
    files: list[File]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Collection:
        return cls(
            id=str(data["id"]),
            name=str(data.get("name") or ""),
            description=str(data.get("description") or ""),
            public=bool(data.get("public")),
            file_ids=list((data.get("data") or {}).get("file_ids") or []),
            files=[File.from_json(f) for f in data.get("files") or []],
            raw=data,
        )


@dataclass
class SearchResult:
    content: str
    score: float
    metadata: dict[str, Any]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchResult:
        return cls(
            content=str(data.get("content") or ""),
            score=float(data.get("score") or 0.0),
            metadata=dict(data.get("metadata") or {}),
        )


@dataclass
class SearchResults:
    results: list[SearchResult]
    pending_file_ids: list[str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchResults:
        return cls(
            results=[SearchResult.from_json(r) for r in data.get("results") or []],
            pending_file_ids=list(data.get("pending_file_ids") or []),
        )


# --- the dashboard -----------------------------------------------------------------------------


@dataclass
class UsageReport:
    """Token usage over ``start``..``end`` (ISO dates) per ``group_by`` (day, model, user)."""

    start: str
    end: str
    group_by: str
    rows: list[dict[str, Any]]
    totals: dict[str, int]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UsageReport:
        return cls(
            start=str(data.get("start") or ""),
            end=str(data.get("end") or ""),
            group_by=str(data.get("group_by") or ""),
            rows=list(data.get("rows") or []),
            totals=dict(data.get("totals") or {}),
        )
