"""Chat completions: one handler for OpenAI's, FastGPT's and Open WebUI's routes.

A request goes through short database visits and one long upstream wait, never holding a
database connection across the wait: (1) authentication, the request limit, validation, the
custom model, the token budget and the connections; (2) with a chat id, the history is read
and the new messages saved; then the upstream answers (streamed chunks are passed on as they
arrive); (3) the reply and the usage are saved (``llm.streaming``). A request naming
functions (``tool_ids``) has the upstream answer in rounds, running the functions the model
calls in between (``llm.tools``).

The upstream is consumed by a task of its own. Without a chat id, a client that goes away
cancels it (and so the upstream request) at once. With a chat id it runs to the end: the
reply is saved either way, and its tokens are published to the chat's room in batches, so
another tab, or the same client reconnecting, watches it grow.
"""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import (
    APIException,
    MethodNotAllowed,
    ValidationError,
)

from chats.errors import MessageIdConflict
from chats.models import Message
from chats.serializers import content_text
from chats.tree import active_branch
from llm.errors import ModelNotFound
from llm.retrieval import messages_with_sources, sources_for
from llm.selectors import custom_model_get_visible
from llm.serializers import CompletionInputSerializer
from llm.services import chat_get_or_create_for_completion, turn_begin
from llm.snapshot import config_snapshot
from llm.streaming import Pump, response_data, sse, turn_start
from llm.tools import tools_merge
from llm.turns import Progress, Turn, db
from llm.upstream import Upstream, catalogue
from realtime.events import chat_room
from realtime.sessions import last_seq
from users.authentication import request_authenticate
from users.models import ApiKey, User
from users.permissions import IsApprovedUser, key_allows
from users.selectors import token_budget_check
from webui_backend.errors import error_json_response

DONE = b"data: [DONE]\n\n"

# --- errors and the envelope ------------------------------------------------------------------


def wants_envelope(request: HttpRequest) -> bool:
    flag = request.headers.get("X-Response-Envelope") or request.GET.get("envelope") or ""
    return flag.lower() in ("1", "true", "yes")


def envelope(status: int, payload: Any, *, message: str = "successful") -> dict[str, Any]:
    return {"success": status < 400, "code": str(status), "message": message, "data": payload}


def error_response(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Our one error format (enveloped on request), with the error's headers."""
    response = error_json_response(request, exc)
    if wants_envelope(request):
        data = json.loads(response.content)
        response.content = json.dumps(
            envelope(response.status_code, data, message=str(data.get("detail", "")))
        ).encode()
    return response


# --- step 1: who, what, may they ------------------------------------------------------------


class CompletionView:
    """What the DRF authentication classes and the request limit look at."""

    api_key_scope = "completions"


def turn_accept(request: HttpRequest) -> tuple[Turn, list[Upstream]]:
    """Authenticate, count against the request limit, validate and check budgets, then find
    the sources; with the enabled connections. One visit to the database (sync); the cheap
    refusals come before the retrieval's embedding and search."""
    view = CompletionView()
    drf = request_authenticate(request, view, IsApprovedUser())
    raw = drf.data
    if not isinstance(raw, dict):
        raise ValidationError({"non_field_errors": ["The body must be a JSON object."]})
    if not raw.get("model") and settings.DEFAULT_MODELS:  # Open WebUI's DEFAULT_MODELS
        raw = {**raw, "model": settings.DEFAULT_MODELS[0]}
    serializer = CompletionInputSerializer(data=raw)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    user: User = drf.user
    key = drf.auth if isinstance(drf.auth, ApiKey) else None
    key_allows(drf, route_kind="completions", model=data["model"])
    token_budget_check(user=user, api_key=key)
    tools, functions = [], {}
    if data.get("tool_ids"):  # 403 if the user may not run functions, 404 for an unusable id
        tools, functions = tools_merge(
            user=user, tool_ids=data["tool_ids"], client_tools=data.get("tools") or []
        )
    snapshot = config_snapshot()
    custom = (  # most completions name an upstream's model: no query for them
        custom_model_get_visible(user=user, model_id=data["model"])
        if data["model"] in snapshot.custom_model_ids
        else None
    )
    last_user = next((m for m in reversed(data["messages"]) if m["role"] == "user"), None)
    sources = sources_for(
        user=drf.user,
        query=content_text(last_user["content"] or "") if last_user else "",
        files=data.get("files") or [],
        knowledge_ids=data.get("knowledge_ids") or [],
        model=custom,
    )
    params = dict(custom.params) if custom else {}
    stream = bool(data.get("stream"))
    turn = Turn(
        user=user,
        api_key=key,
        model=data["model"],
        base_model=custom.base_model if custom else data["model"],
        system=str(params.pop("system", "") or ""),
        params=params,
        data=data,
        raw=raw,
        stream=stream,
        include_usage=stream and bool((data.get("stream_options") or {}).get("include_usage")),
        detail=bool(data.get("detail")),
        chat_key=data.get("chatId") or data.get("chat_id") or "",
        reply_id=data.get("responseChatItemId") or str(uuid.uuid4()),
        custom_uid=data.get("customUid") or "",
        tools=tools,
        functions=functions,
        sources=sources,
    )
    return turn, snapshot.upstreams


async def turn_route(turn: Turn, upstreams: list[Upstream]) -> None:
    """Find the connection serving the turn's base model (404 if none lists it).

    Only an admin is told how many connections could not be asked: that is the deployment's
    health, which ordinary users have no business seeing."""
    models, errors = await catalogue(upstreams)
    entry = next((m for m in models if m.id == turn.base_model), None)
    if entry is None:
        admin = turn.user.role == User.Role.ADMIN
        unreachable = (
            f" ({len(errors)} connection(s) could not be asked)" if errors and admin else ""
        )
        raise ModelNotFound(f"Model {turn.model!r} not found{unreachable}.")
    turn.upstream = next(u for u in upstreams if u.key == entry.upstream_key)


def history_item(message: Message) -> dict[str, Any] | None:
    """A stored message as the upstream sees it; tool rounds saved by the tool loop keep
    their calls and call ids (``usage``), other tool messages are left out."""
    usage = message.usage if isinstance(message.usage, dict) else {}
    if message.role == Message.Role.TOOL:
        if not usage.get("tool_call_id"):
            return None
        return {"role": "tool", "tool_call_id": usage["tool_call_id"], "content": message.content}
    item = {"role": message.role, "content": message.content}
    if message.role == Message.Role.ASSISTANT and usage.get("tool_calls"):
        item["tool_calls"] = usage["tool_calls"]
    return item


def turn_open_chat(turn: Turn) -> list[dict[str, Any]]:
    """With a chat id: the chat's earlier turns (creating the chat), then save the new ones."""
    first_text = next(
        (m["content"] for m in turn.data["messages"] if isinstance(m.get("content"), str)), ""
    )
    chat = chat_get_or_create_for_completion(
        user=turn.user, chat_id=turn.chat_key, title=first_text
    )
    stored = list(Message.objects.filter(chat=chat))
    by_id = {m.message_id: m for m in stored}
    if turn.reply_id in by_id:
        raise MessageIdConflict(f"This chat has a message {turn.reply_id!r} already.")
    history = [item for m in active_branch(by_id, chat.current_id) if (item := history_item(m))]
    new = [m for m in turn.data["messages"] if m["role"] not in ("system", "developer")]
    turn.generation = turn_begin(
        chat=chat,
        user=turn.user,
        messages=new,
        model=turn.model,
        reply_id=turn.reply_id,
        custom_uid=turn.custom_uid,
    )
    turn.chat_id = chat.pk
    turn.event_seq = last_seq(chat_room(chat.pk))
    request_system = [m for m in turn.data["messages"] if m["role"] in ("system", "developer")]
    return request_system + history + new


def turn_payload(turn: Turn, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The upstream request: the client's fields (unknown ones too), the custom model's
    parameters under them, its system prompt first, and always usage when streaming."""
    payload = {k: v for k, v in turn.raw.items() if k not in CompletionInputSerializer.OWN_FIELDS}
    for name, value in turn.params.items():
        if payload.get(name) is None:
            payload[name] = value
    messages = messages_with_sources(messages, turn.sources)
    if turn.system:
        messages = [{"role": "system", "content": turn.system}, *messages]
    payload["messages"] = messages
    payload["model"] = turn.base_model
    if turn.tools:
        payload["tools"] = turn.tools
    if turn.stream:
        payload["stream"] = True
        payload["stream_options"] = {**(payload.get("stream_options") or {}), "include_usage": True}
    else:
        payload.pop("stream_options", None)
    return payload


# --- step 3: the answer -----------------------------------------------------------------------


def answer_json(request: HttpRequest, turn: Turn, progress: Progress) -> HttpResponse:
    if progress.error is not None:
        return error_response(request, progress.error)
    body = {
        **(progress.body or {}),
        "id": turn.completion_id,
        "object": "chat.completion",
        "created": turn.created,
        "model": turn.model,
    }
    if turn.chat_id is not None:
        body["chat_id"] = str(turn.chat_id)
        body["responseChatItemId"] = turn.reply_id
    if turn.sources:
        body["sources"] = [s.as_json() for s in turn.sources]
    if turn.detail:
        body["responseData"] = response_data(turn, progress)
    if wants_envelope(request):
        body = envelope(200, body)
    return JsonResponse(body)


async def answer_stream(
    request: HttpRequest, turn: Turn, pump: Pump, task: asyncio.Task[Progress]
) -> HttpResponse:
    detached = turn.chat_id is not None
    try:
        first = await pump.queue.get()
    except asyncio.CancelledError:
        if not detached:
            task.cancel()
        raise
    if first is None and pump.progress.error is not None and not pump.progress.parts:
        return error_response(request, pump.progress.error)

    async def body() -> AsyncIterator[bytes]:
        try:
            item: bytes | None = first
            while item is not None:
                # Whatever is already waiting goes out in the same write: nothing is held
                # back, but a busy server sends fewer, larger frames.
                batch = [item]
                while not pump.queue.empty():
                    item = pump.queue.get_nowait()
                    if item is None:
                        break
                    batch.append(item)
                else:
                    item = b""
                yield b"".join(batch)
                if item is not None:
                    item = await pump.queue.get()
            progress = pump.progress
            if progress.error is not None:
                error = progress.error
                yield sse(
                    {
                        "error": {
                            "message": str(error.detail),
                            "code": error.get_codes(),
                            "type": "upstream_error",
                        }
                    }
                )
            if turn.sources:
                # A chunk without choices, as the usage chunk: OpenAI clients pass it over.
                yield sse(
                    {
                        "id": turn.completion_id,
                        "object": "chat.completion.chunk",
                        "created": turn.created,
                        "model": turn.model,
                        "choices": [],
                        "sources": [s.as_json() for s in turn.sources],
                    }
                )
            if turn.detail:
                yield sse({"responseData": response_data(turn, progress)}, event="responseData")
            yield DONE
        finally:
            pump.listening = False
            if not detached and not pump.upstream_done:
                task.cancel()  # the client left: stop the upstream at once

    response = StreamingHttpResponse(body(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass chunks on as they come
    if detached:
        response["X-Chat-Id"] = str(turn.chat_id)
        response["X-Response-Message-Id"] = turn.reply_id
        response["X-Chat-Event-Seq"] = str(turn.event_seq or 0)
    return response


@csrf_exempt
async def chat_completion(request: HttpRequest) -> HttpResponse:
    """The one handler of every chat-completion route."""
    if request.method != "POST":
        return error_response(request, MethodNotAllowed(request.method or ""))
    try:
        turn, upstreams = await db(turn_accept, request)
        await turn_route(turn, upstreams)
        messages = list(turn.data["messages"])
        if turn.chat_key:
            messages = await db(turn_open_chat, turn)
        turn.payload = turn_payload(turn, messages)
    except APIException as exc:  # ours, and DRF's (parse, authentication, validation)
        return error_response(request, exc)
    pump, task = turn_start(turn)
    if turn.stream:
        return await answer_stream(request, turn, pump, task)
    if turn.chat_id is not None:
        progress = await asyncio.shield(task)  # a client that leaves does not stop the turn
    else:
        progress = await task
    return answer_json(request, turn, progress)
