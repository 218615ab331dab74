#!/usr/bin/env python3
"""Write ``webui_client/_sync_client.py`` from ``webui_client/_async_client.py``.

The clients are written once, over ``httpx.AsyncClient``; the blocking ones are the same
code with ``await`` and ``async`` taken out and ``Async`` names made plain (as httpcore and
other libraries do it). ``--check`` exits 1 when the committed file is not up to date.
"""

import re
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "webui_client"
SOURCE = PACKAGE / "_async_client.py"
TARGET = PACKAGE / "_sync_client.py"

HEADER = '''"""The blocking clients over ``httpx.Client``.

GENERATED from ``_async_client.py`` by ``sdk/tools/unasync.py``: do not edit by hand.
"""
'''

# (pattern, replacement), applied in order.
RULES = [
    (r"^import asyncio\n", ""),
    (r"\bAsync([A-Z]\w*)", r"\1"),
    (r"\basync def ", "def "),
    (r"\basync with ", "with "),
    (r"\basync for ", "for "),
    (r"\bawait ", ""),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\b__aiter__\b", "__iter__"),
    (r"\b__anext__\b", "__next__"),
    (r"\bStopAsyncIteration\b", "StopIteration"),
    (r"\baiter_lines\b", "iter_lines"),
    (r"\baiter_bytes\b", "iter_bytes"),
    (r"\baread\b", "read"),
    (r"\baclose\b", "close"),
    (r"\basyncio\.sleep\b", "time.sleep"),
]


def generate(source: str) -> str:
    code = source.split('"""', 2)[2].lstrip("\n")  # the module docstring is replaced
    for pattern, replacement in RULES:
        code = re.sub(pattern, replacement, code, flags=re.MULTILINE)
    # Renamed imports keep their sorted order (``AsyncIterator`` became ``Iterator``).
    code = re.sub(
        r"^(from [\w.]+ import )([\w, ]+)$",
        lambda m: m[1] + ", ".join(sorted(m[2].split(", "), key=lambda n: (not n.isupper(), n))),
        code,
        flags=re.MULTILINE,
    )
    return HEADER + "\n" + code


def main() -> int:
    wanted = generate(SOURCE.read_text())
    if "--check" in sys.argv[1:]:
        if TARGET.read_text() != wanted:
            print(f"{TARGET} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
