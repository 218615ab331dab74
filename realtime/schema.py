"""OpenAPI entry for the chat events stream (a plain async view, so not found by DRF)."""

from typing import Any


def add_event_stream(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry."""
    result.setdefault("paths", {})["/api/chats/{chat_id}/events"] = {
        "get": {
            "operationId": "chat_events",
            "summary": "The chat's events as Server-Sent Events (resumable with Last-Event-ID)",
            "description": (
                "Each event: `id: <seq>` (the chat's sequence number, as sockets see it), "
                "`event: <name>`, `data: <json>`. With `Last-Event-ID` (or `?since=`) the "
                "events after that number come first, in order; then live ones."
            ),
            "tags": ["chats"],
            "security": [{"bearerAuth": []}, {"apiKeyAuth": []}],
            "parameters": [
                {"name": "chat_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "Last-Event-ID", "in": "header", "schema": {"type": "integer"}},
                {"name": "since", "in": "query", "schema": {"type": "integer"}},
            ],
            "responses": {
                "200": {
                    "description": "The stream",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                "404": {"description": "Not your chat, or no such chat"},
            },
        }
    }
    return result
