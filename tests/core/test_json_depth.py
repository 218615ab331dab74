"""Deeply nested JSON is a clear 400 on every route, never a 500 (a RecursionError)."""

import json
from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from chats.models import Chat
from users.models import User
from webui_backend.jsondepth import JsonTooDeep, depth, loads, loads_fast

pytestmark = pytest.mark.django_db

ABYSS = "[" * 100_000 + "]" * 100_000


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def post_raw(client: APIClient, path: str, body: str) -> object:
    return client.generic("POST", path, body.encode(), content_type="application/json")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/chats/new", '{"chat":{"title":"x","messages":' + ABYSS + "}}"),
        ("/api/retrieval/query", '{"query":' + ABYSS + "}"),
        ("/api/chats/import", '{"format":"webui-backend.chats","version":1,"chats":' + ABYSS + "}"),
        ("/api/users/api_key", '{"name":' + nested(65) + "}"),
    ],
)
def test_deeply_nested_bodies_are_400_json_too_deep(
    owner: User, client_of: Callable[[User], APIClient], path: str, body: str
) -> None:
    response = post_raw(client_of(owner), path, body)

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "json_too_deep"
    assert not Chat.objects.exists()


def test_nesting_up_to_the_limit_is_parsed(
    owner: User, client_of: Callable[[User], APIClient]
) -> None:
    """Brackets inside strings do not count, and a body at the limit still gets through."""
    content = "[[[{" * 1000  # text that looks deep but is a string
    body = {"chat": {"title": "x", "messages": [{"role": "user", "content": content}]}}

    created = client_of(owner).post("/api/chats/new", body, format="json")
    at_limit = post_raw(client_of(owner), "/api/retrieval/query", '{"query":' + nested(63) + "}")

    assert created.status_code == 200, created.content
    assert created.json()["chat"]["messages"][0]["content"] == content
    assert at_limit.json()["code"] != "json_too_deep"


@pytest.mark.parametrize(
    ("text", "levels"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [1, {"b": "]]]]"}], "c": "\\\\"}', 3),
        ('["\\"[[[", [["\\\\\\"]"]]]', 3),
        (json.dumps({"a": [[["x"]]], "b": {"c": {}}}), 4),
    ],
)
def test_depth_ignores_brackets_inside_strings(text: str, levels: int) -> None:
    assert depth(loads(text)) == levels
    assert depth(loads_fast(text.encode())) == levels


@pytest.mark.parametrize("parse", [loads, loads_fast])
@pytest.mark.parametrize("levels", [65, 900, 5000])
def test_both_parsers_refuse_past_the_limit(parse: object, levels: int) -> None:
    with pytest.raises(JsonTooDeep):
        parse(nested(levels))  # type: ignore[operator]
    with pytest.raises(ValueError, match="nested more than 64"):
        parse(nested(levels))  # type: ignore[operator]
