"""Every JSON document from outside is parsed here, with its nesting depth bounded.

Python's ``json`` parser recurses once per level: 100,000 ``[`` end in ``RecursionError``
(a 500, or a socket closed with 1011), and a document just under the interpreter's limit
still breaks whatever walks it next (serializers, ``copy.deepcopy``, ``json.dumps``). So the
depth is measured before parsing, in a few passes that all run in C (a fraction of the parse
itself): strings are cut out (their brackets do not count), the brackets left become steps,
and the deepest prefix is the depth. Documents with fewer brackets than the limit skip even
that.

``loads`` (the standard parser, for request bodies, frames, imports) and ``loads_fast``
(orjson, for upstream answers on the streaming path) both raise ``JsonTooDeep`` past
``JSON_MAX_DEPTH``: a 400 ``json_too_deep`` in the API, an error frame on sockets. It is also a
``ValueError``, so code that treats unparseable JSON as "malformed" treats it the same way.
"""

import json
from itertools import accumulate, count
from operator import sub
from typing import Any

import orjson
from django.conf import settings

from webui_backend.errors import AppError

_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
# An opening bracket is a step of 2, a closing one of 0: after i brackets the running sum is
# twice the openings, and depth = 2 * openings - i.
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


class JsonTooDeep(AppError, ValueError):
    default_detail = "The JSON document is nested too deeply."
    default_code = "json_too_deep"


def max_depth_default() -> int:
    return int(settings.JSON_MAX_DEPTH)


def depth_of(data: str | bytes | bytearray) -> int:
    """The deepest nesting of arrays and objects in ``data`` (strings' contents ignored).

    Exact for valid JSON; for text that is not JSON it is an estimate the parser then refuses
    anyway."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if raw.count(b"[") + raw.count(b"{") == 0:
        return 0
    steps = _brackets_outside_strings(raw).translate(_STEPS)
    if not steps:
        return 0
    return max(0, max(map(sub, accumulate(steps), count(1))))


def _brackets_outside_strings(raw: bytes) -> bytes:
    """The brackets of ``raw`` that are not inside strings. In JSON a backslash only occurs
    inside a string, so once the escaped backslashes and then the escaped quotes are gone,
    every quote left opens or closes a string. Everything but brackets and quotes is dropped
    first (one C pass), so what is split is small."""
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = raw.translate(None, _NOT_STRUCTURE)
    return b"".join(skeleton.split(b'"')[::2])


def check_depth(data: str | bytes | bytearray, *, max_depth: int | None = None) -> None:
    """Raise JsonTooDeep if ``data`` nests deeper than ``max_depth`` (JSON_MAX_DEPTH)."""
    limit = max_depth_default() if max_depth is None else max_depth
    # Fewer opening brackets than the limit cannot nest deeper than it: no scan needed.
    if isinstance(data, str):
        openings = data.count("[") + data.count("{")
    else:
        openings = data.count(b"[") + data.count(b"{")
    if openings > limit and depth_of(data) > limit:
        raise JsonTooDeep(f"The JSON document is nested more than {limit} levels deep.")


def loads(data: str | bytes | bytearray, *, max_depth: int | None = None, **kwargs: Any) -> Any:
    """``json.loads`` with the depth bounded (JsonTooDeep, a ValueError, past it)."""
    check_depth(data, max_depth=max_depth)
    return json.loads(data, **kwargs)


def loads_fast(data: str | bytes | bytearray, *, max_depth: int | None = None) -> Any:
    """``orjson.loads`` with the depth bounded: for upstream answers and streamed chunks."""
    check_depth(data, max_depth=max_depth)
    return orjson.loads(data)
