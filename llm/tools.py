"""Tools in completions: the functions a request names (``tool_ids``) offered to the model.

When the model calls one of them, the server runs it in the sandbox, sends the result back as
a ``tool`` message and asks again, for at most ``COMPLETION_TOOL_MAX_ROUNDS`` rounds of runs.
The rounds are asked without streaming; the answer that calls none of our functions is the
turn's answer (a streaming client gets it as chunks). Tool calls of other names (the client's
own ``tools``) end the loop and go back to the client untouched, as OpenAI's API does.
"""

import json
from typing import Any

from django.conf import settings

from functions.models import Function
from functions.selectors import function_list_usable, tool_of
from functions.services import function_run
from llm.errors import ToolRoundsExceeded
from llm.services import turn_tool_call_save, turn_tool_result_save
from llm.turns import Progress, Turn, db
from llm.upstream import Upstream, completion_call
from users.models import User
from webui_backend import jsondepth
from webui_backend.errors import AppError


def tools_merge(
    *, user: User, tool_ids: list[str], client_tools: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, Function]]:
    """The ``tools`` sent upstream (ours, then the client's not named like ours), and our
    functions by name. 403 if the user may not run functions, 404 for an id they cannot use."""
    functions = {f.name: f for f in function_list_usable(user=user, ids=tool_ids)}
    theirs = [t for t in client_tools if _name_of(t) not in functions]
    return [tool_of(f) for f in functions.values()] + theirs, functions


def _name_of(item: Any) -> Any:
    """The function name of a tool or a tool call (None if it has none)."""
    function = item.get("function") if isinstance(item, dict) else None
    return function.get("name") if isinstance(function, dict) else None


def tool_run(*, function: Function, user: User, arguments: Any) -> tuple[str, str | None]:
    """Run one call in the sandbox (blocking): the tool message's content and the error code.

    A string result is sent as it is, any other as JSON; a failure sends its detail, so the
    model can tell the user or try again.
    """
    try:
        args = jsondepth.loads(arguments) if isinstance(arguments, str) and arguments else {}
    except ValueError:
        return "The arguments are not valid JSON.", "function_args_invalid"
    try:
        result = function_run(function=function, args=args, user=user)
    except AppError as exc:  # FunctionRunError, and a permission taken away meanwhile
        return str(exc.detail), str(exc.get_codes())
    value = result.result
    return (value if isinstance(value, str) else json.dumps(value)), None


def _add_usage(progress: Progress, usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    total = dict(progress.usage or {})
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        if isinstance(usage.get(name), int):
            total[name] = int(total.get(name) or 0) + usage[name]
    progress.usage = total


def _calls_of(body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    choices = body.get("choices") or []
    message = (choices[0] or {}).get("message") if choices else None
    message = message if isinstance(message, dict) else {}
    calls = message.get("tool_calls")
    return message, calls if isinstance(calls, list) else []


async def tool_loop(turn: Turn, upstream: Upstream, progress: Progress) -> dict[str, Any]:
    """Ask the model, run the calls of our functions, ask again; the final answer's body.

    With a chat, each round's tool-call message and results are saved under the turn (in
    order) and published to the chat's room; ``turn.reply_parent`` becomes the last of them.
    Raises ToolRoundsExceeded if the model still calls our functions after the last round.
    """
    messages = list(turn.payload["messages"])
    generation = turn.generation
    parent = generation.request_message_id if generation is not None else ""
    rounds = settings.COMPLETION_TOOL_MAX_ROUNDS
    for asked in range(rounds + 1):  # the last ask only checks that the model has finished
        payload = {**turn.payload, "messages": messages, "stream": False}
        payload.pop("stream_options", None)
        body = await completion_call(upstream, payload)
        _add_usage(progress, body.get("usage"))
        message, calls = _calls_of(body)
        if not calls or any(_name_of(c) not in turn.functions for c in calls):
            if progress.usage is not None:
                body["usage"] = progress.usage
            return body
        if asked == rounds:
            break
        content = message.get("content") if isinstance(message.get("content"), str) else ""
        messages.append({"role": "assistant", "content": content or None, "tool_calls": calls})
        if generation is not None:
            parent = await db(
                turn_tool_call_save,
                generation=generation,
                parent_id=parent,
                content=content or "",
                tool_calls=calls,
            )
        for call in calls:
            name = call["function"]["name"]
            result, error = await db(
                tool_run,
                function=turn.functions[name],
                user=turn.user,
                arguments=call["function"].get("arguments"),
            )
            messages.append({"role": "tool", "tool_call_id": call.get("id"), "content": result})
            if generation is not None:
                parent = await db(
                    turn_tool_result_save,
                    generation=generation,
                    parent_id=parent,
                    tool_call_id=str(call.get("id") or ""),
                    name=name,
                    content=result,
                    error=error,
                )
        turn.reply_parent = parent
    raise ToolRoundsExceeded(
        f"The model still called tools after {rounds} round(s) of tool calls "
        "(COMPLETION_TOOL_MAX_ROUNDS)."
    )


def chunks_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A non-streaming answer as the chunks of a stream (content and tool calls at once)."""
    base = {"id": body.get("id"), "object": "chat.completion.chunk", "created": 0}
    choices = [c for c in body.get("choices") or [] if isinstance(c, dict)]
    chunks = []
    for choice in choices:
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        if isinstance(message.get("tool_calls"), list):
            delta["tool_calls"] = [
                {**call, "index": i} for i, call in enumerate(message["tool_calls"])
            ]
        chunks.append({**base, "choices": [{"index": choice.get("index", 0), "delta": delta}]})
    finish = [
        {"index": c.get("index", 0), "delta": {}, "finish_reason": c.get("finish_reason")}
        for c in choices
    ]
    chunks.append({**base, "choices": finish})
    if isinstance(body.get("usage"), dict):
        chunks.append({**base, "choices": [], "usage": body["usage"]})
    return chunks
