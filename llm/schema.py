"""OpenAPI entries for the plain async views (completions and pulls), which drf-spectacular
cannot see: a postprocessing hook adds them to the generated schema."""

from typing import Any

_ERROR = {"$ref": "#/components/schemas/LlmError"}

_COMPLETION_REQUEST = {
    "type": "object",
    "required": ["model", "messages"],
    "additionalProperties": True,
    "description": "OpenAI's chat-completion request; unknown fields go to the upstream.",
    "properties": {
        "model": {"type": "string"},
        "messages": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["role"],
                "additionalProperties": True,
                "properties": {
                    "role": {
                        "type": "string",
                        "enum": ["system", "developer", "user", "assistant", "tool", "function"],
                    },
                    "content": {
                        "oneOf": [
                            {"type": "string"},
                            {"type": "array", "items": {"type": "object"}},
                        ],
                        "nullable": True,
                    },
                },
            },
        },
        "stream": {"type": "boolean"},
        "stream_options": {"type": "object", "additionalProperties": True},
        "max_tokens": {"type": "integer", "minimum": 1},
        "max_completion_tokens": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "stop": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "presence_penalty": {"type": "number"},
        "frequency_penalty": {"type": "number"},
        "seed": {"type": "integer"},
        "response_format": {"type": "object", "additionalProperties": True},
        "tools": {"type": "array", "items": {"type": "object"}},
        "tool_choice": {"oneOf": [{"type": "string"}, {"type": "object"}]},
        "user": {"type": "string"},
        "n": {"type": "integer", "minimum": 1},
        "chatId": {"type": "string", "description": "FastGPT: keep the history on the server."},
        "chat_id": {"type": "string", "description": "Open WebUI's spelling of chatId."},
        "responseChatItemId": {"type": "string", "description": "The reply's message id."},
        "customUid": {"type": "string"},
        "detail": {"type": "boolean", "description": "Add responseData (tokens, timings)."},
        "files": {"type": "array", "items": {}},
        "knowledge_ids": {"type": "array", "items": {"type": "string"}},
    },
}

_COMPLETION_RESPONSE = {
    "type": "object",
    "additionalProperties": True,
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string"},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "object"}},
        "usage": {"type": "object", "additionalProperties": True},
    },
}


def _errors(*codes: str) -> dict[str, Any]:
    return {
        code: {"description": "Error", "content": {"application/json": {"schema": _ERROR}}}
        for code in codes
    }


def _completion_operation(operation_id: str, summary: str) -> dict[str, Any]:
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["completions"],
            "security": [{"bearerAuth": []}, {"apiKeyAuth": []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _COMPLETION_REQUEST}},
            },
            "responses": {
                "200": {
                    "description": "The completion (JSON), or SSE chunks ending data: [DONE].",
                    "content": {
                        "application/json": {"schema": _COMPLETION_RESPONSE},
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                },
                **_errors("400", "401", "403", "404", "413", "429", "501", "502", "503", "504"),
            },
        }
    }


def add_async_views(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["LlmError"] = {
        "type": "object",
        "required": ["detail", "code"],
        "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    }
    paths = result.setdefault("paths", {})
    paths["/api/openai/v1/chat/completions"] = _completion_operation(
        "openai_chat_completion", "OpenAI-compatible chat completion"
    )
    paths["/api/v1/chat/completions"] = _completion_operation(
        "fastgpt_chat_completion", "FastGPT-style chat completion (chatId keeps the history)"
    )
    paths["/api/chat/completions"] = _completion_operation(
        "webui_chat_completion", "Open WebUI-style chat completion (chat_id keeps the history)"
    )
    paths["/api/models/pull"] = {
        "post": {
            "operationId": "models_pull",
            "summary": "Pull a model on an Ollama connection (admin); NDJSON progress",
            "tags": ["models"],
            "security": [{"bearerAuth": []}, {"apiKeyAuth": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {
                                "name": {"type": "string"},
                                "connection_id": {"type": "string"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "Ollama's progress lines, streamed.",
                    "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                },
                **_errors("400", "401", "403", "502", "503", "504"),
            },
        }
    }
    return result
