"""Page-number pagination for list endpoints: ``?page=1&page_size=50`` → one page and a total."""

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers

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
