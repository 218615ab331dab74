"""Every JSON document from outside is parsed here, with its nesting depth bounded.

Python's ``json`` parser recurses once per level: 100,000 ``[`` end in ``RecursionError`` (a
500, or a socket closed with 1011), and a document just under the interpreter's limit still
breaks whatever walks it next (serializers, ``copy.deepcopy``, ``json.dumps``). So a parse
that runs out of stack is ``JsonTooDeep``, and a parsed document with more opening brackets
than the limit (so one that could nest past it) is walked, without recursion, to its deepest
container; a deeper one is ``JsonTooDeep`` too. The walk visits containers only: a fraction of
the parse for ordinary documents, and nothing at all for small ones.

``loads`` (the standard parser: request bodies, frames, imports) and ``loads_fast`` (orjson:
upstream answers on the streaming path) both raise ``JsonTooDeep`` past ``JSON_MAX_DEPTH``: a
400 ``json_too_deep`` in the API, an error frame on sockets. It is also a ``ValueError``, so
code that treats unparseable JSON as "malformed" treats it the same way.
"""

import json
from typing import Any

import orjson
from django.conf import settings

from webui_backend.errors import AppError


class JsonTooDeep(AppError, ValueError):
    default_detail = "The JSON document is nested too deeply."
    default_code = "json_too_deep"


_CONTAINERS = (dict, list)  # a tuple: isinstance is faster with one than with a union


def _limit(max_depth: int | None) -> int:
    return int(settings.JSON_MAX_DEPTH) if max_depth is None else max_depth


def _too_deep(limit: int) -> JsonTooDeep:
    return JsonTooDeep(f"The JSON document is nested more than {limit} levels deep.")


def depth(value: Any) -> int:
    """The nesting depth of a parsed document: 0 for a scalar, 1 for ``[]``, ..."""
    return _depth(value, stop_above=None)


def _depth(value: Any, *, stop_above: int | None) -> int:
    if not isinstance(value, _CONTAINERS):
        return 0
    deepest = 1
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        container, level = stack.pop()
        if level > deepest:
            deepest = level
            if stop_above is not None and deepest > stop_above:
                return deepest
        children = container.values() if isinstance(container, dict) else container
        stack.extend((child, level + 1) for child in children if isinstance(child, _CONTAINERS))
    return deepest


def check_parsed(
    value: Any, raw: str | bytes | bytearray | None = None, *, max_depth: int | None = None
) -> Any:
    """``value`` (parsed from ``raw``) if it nests at most ``max_depth`` deep, else
    JsonTooDeep. With ``raw`` given, a document with no more opening brackets than the limit
    is not walked at all."""
    limit = _limit(max_depth)
    if raw is not None:
        openings = raw.count("[") + raw.count("{") if isinstance(raw, str) else None
        if openings is None:
            openings = raw.count(b"[") + raw.count(b"{")  # type: ignore[arg-type]
        if openings <= limit:
            return value
    if _depth(value, stop_above=limit) > limit:
        raise _too_deep(limit)
    return value


def loads(data: str | bytes | bytearray, *, max_depth: int | None = None, **kwargs: Any) -> Any:
    """``json.loads`` with the depth bounded (JsonTooDeep, a ValueError, past it)."""
    try:
        value = json.loads(data, **kwargs)
    except RecursionError:
        raise _too_deep(_limit(max_depth)) from None
    return check_parsed(value, data, max_depth=max_depth)


def loads_fast(data: str | bytes | bytearray, *, max_depth: int | None = None) -> Any:
    """``orjson.loads`` with the depth bounded: for upstream answers and streamed chunks."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc) or "ecursion" in str(exc):  # orjson's own limit (1024 levels)
            raise _too_deep(_limit(max_depth)) from None
        raise
    return check_parsed(value, data, max_depth=max_depth)
