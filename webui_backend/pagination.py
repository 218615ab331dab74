"""Pagination for list endpoints: page numbers (``?page=1&page_size=50`` → one page and a
total), and keyset pages (``?limit=&cursor=`` or ``&page=``, the next page's cursor in the
``X-Next-Cursor`` header; stable while rows are added)."""

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers

from webui_backend import jsondepth
from webui_backend.errors import AppError

PAGE_SIZE_MAX = 200
# Offsets must fit the databases' 64-bit integers; no list is anywhere near this long.
PAGE_MAX = 1_000_000


class PageQuerySerializer(serializers.Serializer):
    """The paging part of a list endpoint's query string; views extend it with their filters."""

    page = serializers.IntegerField(min_value=1, max_value=PAGE_MAX, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=PAGE_SIZE_MAX, default=50)


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int
    page: int
    page_size: int


def page_of(queryset: QuerySet, *, page: int, page_size: int) -> Page:
    """One page of ``queryset`` (two queries: the count and the slice)."""
    start = (page - 1) * page_size
    return Page(
        items=list(queryset[start : start + page_size]),
        total=queryset.count(),
        page=page,
        page_size=page_size,
    )


# --- keyset pages ---------------------------------------------------------------------------

NEXT_CURSOR_HEADER = "X-Next-Cursor"


class InvalidCursor(AppError):
    default_detail = "The cursor is malformed; use the one from X-Next-Cursor."
    default_code = "invalid_cursor"


def cursor_encode(values: Sequence[Any]) -> str:
    """A row's position in a list order, as an opaque cursor (the values JSON-encoded)."""
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


def cursor_decode(cursor: str, length: int) -> list[Any]:
    """The ``length`` values of a cursor from ``cursor_encode``; InvalidCursor (400) if not."""
    try:
        values = jsondepth.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        raise InvalidCursor() from None
    if not isinstance(values, list) or len(values) != length:
        raise InvalidCursor()
    return values


def keyset_page(
    queryset: QuerySet,
    *,
    limit: int,
    page: int | None,
    cursor: str | None,
    after: Callable[[QuerySet, str], QuerySet],
    encode: Callable[[Any], str],
) -> tuple[list[Any], dict[str, str]]:
    """One page of ``queryset`` (already in its list order), and the headers that name the
    next one: after ``cursor`` (``after`` filters to it), else page ``page``, else the first."""
    if cursor:
        queryset = after(queryset, cursor)
    elif page:
        queryset = queryset[(page - 1) * limit :]
    return keyset_page_of(list(queryset[: limit + 1]), limit=limit, encode=encode)


def keyset_page_of(
    rows: list[Any], *, limit: int, encode: Callable[[Any], str]
) -> tuple[list[Any], dict[str, str]]:
    """``keyset_page`` for rows already read: up to ``limit + 1`` of them, the extra one only
    telling that there is a next page."""
    if len(rows) <= limit:
        return rows, {}
    rows = rows[:limit]
    return rows, {NEXT_CURSOR_HEADER: encode(rows[-1])}
