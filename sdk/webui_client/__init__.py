"""Python client for the WebUI backend: chats and completions, knowledge, the admin dashboard.

    from webui_client import ChatClient

    with ChatClient(api_key="sk-...") as chat:
        print(chat.complete("Hello!", model="llama3").text)

Every API method returns the ``httpx.Response`` (its ``raise_for_status()`` raises this
client's errors); typed helpers (``complete``, ``stream``, ``upload_and_index``, ...) return
parsed data and raise on errors. ``Async*`` clients are the same with ``await``.
"""

from webui_client._async_client import (
    AsyncAppClient,
    AsyncChatClient,
    AsyncKnowledgeClient,
    AsyncStream,
    AsyncWebUIClient,
)
from webui_client._sync_client import AppClient, ChatClient, KnowledgeClient, Stream, WebUIClient
from webui_client.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    StreamParseError,
    ValidationError,
    WebUIError,
    raise_for_status,
)
from webui_client.types import (
    Chat,
    ChatCompletionChunk,
    ChatMessageParam,
    Collection,
    Completion,
    File,
    Job,
    Message,
    MessagePage,
    SearchResult,
    SearchResults,
    Share,
    UsageReport,
)

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AppClient",
    "AsyncAppClient",
    "AsyncChatClient",
    "AsyncKnowledgeClient",
    "AsyncStream",
    "AsyncWebUIClient",
    "AuthenticationError",
    "Chat",
    "ChatClient",
    "ChatCompletionChunk",
    "ChatMessageParam",
    "Collection",
    "Completion",
    "ConflictError",
    "File",
    "Job",
    "KnowledgeClient",
    "Message",
    "MessagePage",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "SearchResult",
    "SearchResults",
    "Share",
    "Stream",
    "StreamParseError",
    "UsageReport",
    "ValidationError",
    "WebUIClient",
    "WebUIError",
    "raise_for_status",
]
