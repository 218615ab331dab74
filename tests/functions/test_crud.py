"""Functions are stored with their source parsed (never run) into a tool schema."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from functions.models import Function
from tests.functions.conftest import SEED_SOURCE, create_function

pytestmark = pytest.mark.django_db

WEATHER = '''
from typing import Literal


def get_weather(location: str, days: int = 1, unit: Literal["c", "f"] = "c") -> dict:
    """Forecast for a place.

    :param location: city name
    :param days: how many days ahead
    """
    return {"location": location}
'''


def test_seed_create_returns_the_contract_fields_and_a_schema(
    admin_client: APIClient, admin_user: Any
) -> None:
    body = create_function(admin_client, "my_function", SEED_SOURCE)

    assert set(body) >= {"id", "name", "type", "user_id", "content", "is_active", "is_global"}
    assert body["name"] == "my_function"
    assert body["type"] == "function"
    assert body["user_id"] == str(admin_user.pk)
    assert body["content"] == SEED_SOURCE
    assert body["is_active"] is True
    assert body["is_global"] is False
    assert body["parameters"] == {
        "type": "object",
        "properties": {"param": {"type": "string"}},
        "required": ["param"],
        "additionalProperties": False,
    }


def test_signature_and_docstring_become_the_schema(admin_client: APIClient) -> None:
    body = create_function(admin_client, "get_weather", WEATHER)

    assert body["description"] == "Forecast for a place."
    assert body["parameters"]["properties"] == {
        "location": {"type": "string", "description": "city name"},
        "days": {"type": "integer", "description": "how many days ahead", "default": 1},
        "unit": {"enum": ["c", "f"], "default": "c"},
    }
    assert body["parameters"]["required"] == ["location"]


def test_list_shows_my_functions(admin_client: APIClient) -> None:
    create_function(admin_client, "b_func", "def b_func():\n    return 1")
    create_function(admin_client, "a_func", "def a_func():\n    return 1")

    response = admin_client.get("/api/functions/")

    assert response.status_code == 200
    assert [f["name"] for f in response.json()] == ["a_func", "b_func"]


def test_update_changes_fields_and_parses_the_new_source(admin_client: APIClient) -> None:
    created = create_function(admin_client, "my_function", SEED_SOURCE)

    response = admin_client.post(
        "/api/functions/update",
        {
            "id": created["id"],
            "content": "def my_function(param: str, times: int = 2) -> str:\n"
            "    return param.lower() * times",
            "is_active": False,
        },
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["is_active"] is False
    assert "param.lower()" in body["content"]
    assert body["parameters"]["properties"]["times"] == {"type": "integer", "default": 2}


def test_update_with_a_broken_source_changes_nothing(admin_client: APIClient) -> None:
    created = create_function(admin_client, "my_function", SEED_SOURCE)

    response = admin_client.post(
        "/api/functions/update", {"id": created["id"], "content": "def my_function(:\n"}
    )

    assert response.status_code == 400
    assert Function.objects.get().content == SEED_SOURCE


def test_delete_removes_it(admin_client: APIClient) -> None:
    created = create_function(admin_client, "my_function", SEED_SOURCE)

    assert admin_client.delete(f"/api/functions/{created['id']}").status_code == 204
    assert admin_client.get(f"/api/functions/{created['id']}").status_code == 404
    assert not Function.objects.exists()


def test_syntax_errors_answer_400_with_line_and_message(admin_client: APIClient) -> None:
    response = admin_client.post(
        "/api/functions/create",
        {"name": "f", "content": "def f(x):\n    return x +\n"},
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "function_source_invalid"
    assert body["detail"].startswith("Syntax error at line 2: invalid syntax")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("def other():\n    return 1", "top-level function named 'f'"),
        ("class K:\n    def f(self):\n        return 1", "top-level function named 'f'"),
        ("def f(a, /):\n    return a", "positional-only"),
        ("def f(*items):\n    return items", "*items"),
        ("def f():\n    return 1\x00", "Null characters"),
        ("x = " + "(" * 500 + ")" * 500 + "\ndef f():\n    return 1", "line 1"),
    ],
)
def test_sources_that_cannot_be_a_tool_are_400(
    admin_client: APIClient, content: str, needle: str
) -> None:
    response = admin_client.post("/api/functions/create", {"name": "f", "content": content})

    assert response.status_code == 400, response.content
    assert needle in response.json()["detail"]
    assert not Function.objects.exists()


def test_saving_never_runs_the_source(admin_client: APIClient, tmp_path: Any) -> None:
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').write('x')\ndef f():\n    return 1\n"

    create_function(admin_client, "f", source)

    assert not marker.exists()


@pytest.mark.parametrize("name", ["1abc", "has space", "with-dash", "é", "a" * 65, ""])
def test_names_must_be_ascii_identifiers(admin_client: APIClient, name: str) -> None:
    response = admin_client.post(
        "/api/functions/create", {"name": name, "content": "def f():\n    return 1"}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_a_taken_name_is_409(admin_client: APIClient) -> None:
    create_function(admin_client, "my_function", SEED_SOURCE)

    response = admin_client.post(
        "/api/functions/create", {"name": "my_function", "content": SEED_SOURCE}
    )

    assert response.status_code == 409
    assert response.json()["code"] == "function_name_taken"


def test_unknown_fields_and_types_are_refused(admin_client: APIClient) -> None:
    unknown = admin_client.post(
        "/api/functions/create", {"name": "f", "content": "def f(): pass", "colour": "red"}
    )
    wrong_type = admin_client.post(
        "/api/functions/create", {"name": "f", "content": "def f(): pass", "type": "filter"}
    )

    assert unknown.status_code == 400
    assert "colour" in unknown.json()["fields"]
    assert wrong_type.status_code == 400
    assert "type" in wrong_type.json()["fields"]


def test_sources_over_the_limit_are_refused(admin_client: APIClient, settings: Any) -> None:
    settings.FUNCTIONS_MAX_SOURCE_BYTES = 100
    content = "def f():\n    return 1\n" + "# padding\n" * 20

    response = admin_client.post("/api/functions/create", {"name": "f", "content": content})

    assert response.status_code == 400
    assert "larger than 100 bytes" in response.json()["detail"]
