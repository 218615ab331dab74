"""``StrictSerializer.validated``: one instance per thread, and yet every call answers as a
fresh ``cls(data=...).is_valid(raise_exception=True)`` would (nothing of one call is left for
the next)."""

from typing import Any

import pytest
from rest_framework import serializers

from webui_backend.serializers import StrictSerializer


class Part(StrictSerializer):
    name = serializers.CharField(max_length=5)


class Body(StrictSerializer):
    title = serializers.CharField(max_length=10)
    parts = serializers.ListField(child=Part(), required=False)


def errors_of(data: Any) -> Any:
    fresh = Body(data=data)
    assert not fresh.is_valid()
    return fresh.errors


def test_answers_and_errors_are_those_of_a_fresh_instance() -> None:
    bad = {"title": "x" * 11, "parts": [{"name": "ok"}, {"name": "toolong"}], "extra": 1}

    with pytest.raises(serializers.ValidationError) as refused:
        Body.validated(bad)
    first = Body.validated({"title": "one", "parts": [{"name": "a"}]})
    second = Body.validated({"title": "two"})

    assert refused.value.detail == errors_of(bad)
    assert first == {"title": "one", "parts": [{"name": "a"}]}  # not changed by the next call
    assert second == {"title": "two"}
