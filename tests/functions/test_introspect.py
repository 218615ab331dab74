"""Type hints become JSON schema by reading syntax only; arguments are checked against it."""

from typing import Any

import pytest

from functions.introspect import arg_errors, function_spec


def params(source: str, name: str = "f") -> dict[str, Any]:
    return function_spec(source=source, name=name).parameters


@pytest.mark.parametrize(
    ("hint", "schema"),
    [
        ("str", {"type": "string"}),
        ("int", {"type": "integer"}),
        ("float", {"type": "number"}),
        ("bool", {"type": "boolean"}),
        ("list[int]", {"type": "array", "items": {"type": "integer"}}),
        ("typing.List[str]", {"type": "array", "items": {"type": "string"}}),
        ("dict[str, float]", {"type": "object", "additionalProperties": {"type": "number"}}),
        ("dict", {"type": "object"}),
        ("str | None", {"type": ["string", "null"]}),
        ("Optional[int]", {"type": ["integer", "null"]}),
        (
            "Union[int, list[int]]",
            {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]},
        ),
        ("Literal['a', 'b']", {"enum": ["a", "b"]}),
        ("'list[str]'", {"type": "array", "items": {"type": "string"}}),
        ("Any", {}),
        ("MyClass", {}),
        ("__import__('os').system('x')", {}),
    ],
)
def test_hints_map_to_schema(hint: str, schema: dict[str, Any]) -> None:
    assert params(f"def f(x: {hint}):\n    pass")["properties"]["x"] == schema


def test_defaults_required_keyword_only_and_kwargs() -> None:
    parameters = params("def f(a, b=2, *, c: str, d: bool = True, **rest):\n    pass")

    assert parameters["required"] == ["a", "c"]
    assert parameters["properties"]["b"] == {"default": 2}
    assert parameters["properties"]["d"] == {"type": "boolean", "default": True}
    assert parameters["additionalProperties"] is True


def test_google_style_docstrings_describe_parameters() -> None:
    source = '''
async def f(city: str):
    """Look a city up.

    Args:
        city (str): the name
    """
'''
    spec = function_spec(source=source, name="f")

    assert spec.description == "Look a city up."
    assert spec.parameters["properties"]["city"]["description"] == "the name"


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({}, "param: this argument is required"),
        ({"param": 1}, "param: must be of type string"),
        ({"param": "x", "other": 1}, "other: the function has no such parameter"),
    ],
)
def test_argument_errors_name_the_problem(args: dict, problem: str) -> None:
    schema = params("def f(param: str):\n    pass")

    assert problem in arg_errors(schema, args)


def test_matching_arguments_have_no_errors() -> None:
    schema = params("def f(a: list[int], b: float = 1.0, c: int | None = None):\n    pass")

    assert arg_errors(schema, {"a": [1, 2], "b": 3, "c": None}) == []
    assert arg_errors(schema, {"a": [1, "x"]}) == ["a[1]: must be of type integer"]
    assert arg_errors(schema, {"a": [True]}) == ["a[0]: must be of type integer"]
