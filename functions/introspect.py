"""Read a function's signature from its source without running it: only ``ast.parse``.

The type hints become a JSON schema of the parameters, so the function can be offered to a
model as an OpenAI tool, and so arguments can be checked before a sandbox is started. Hints
are read as syntax (names, subscripts, ``|``), never evaluated: ``list[int]`` is understood,
an arbitrary expression becomes "any value". Defaults are read with ``ast.literal_eval``.
"""

import ast
from dataclasses import dataclass
from typing import Any

from functions.errors import FunctionSourceInvalid

SCALARS = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "None": {"type": "null"},
    "NoneType": {"type": "null"},
}
ARRAYS = {"list", "List", "tuple", "Tuple", "set", "Set", "Sequence", "Iterable"}
OBJECTS = {"dict", "Dict", "Mapping"}
ANY = {"Any", "object"}


@dataclass(frozen=True)
class FunctionSpec:
    description: str
    parameters: dict[str, Any]


def _name_of(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):  # typing.List, t.Optional
        return node.attr
    if isinstance(node, ast.Constant) and node.value is None:
        return "None"
    return None


def schema_of(node: ast.expr | None) -> dict[str, Any]:
    """JSON schema of a type hint; ``{}`` (any value) for what it cannot tell."""
    if node is None:
        return {}
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:  # a string annotation: "list[int]"
            return schema_of(ast.parse(node.value, mode="eval").body)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return {}
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union([node.left, node.right])
    name = _name_of(node)
    if name is not None:
        if name in SCALARS:
            return dict(SCALARS[name])
        if name in ARRAYS:
            return {"type": "array"}
        if name in OBJECTS:
            return {"type": "object"}
        return {}
    if isinstance(node, ast.Subscript):
        outer = _name_of(node.value)
        inner = node.slice
        items = list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]
        if outer in ARRAYS:
            if outer in {"tuple", "Tuple"} and len(items) != 1:
                return {"type": "array"}
            return {"type": "array", "items": schema_of(items[0])}
        if outer in OBJECTS:
            value = schema_of(items[1]) if len(items) == 2 else {}
            return {"type": "object", **({"additionalProperties": value} if value else {})}
        if outer == "Optional":
            return _union([items[0], ast.Constant(value=None)])
        if outer == "Union":
            return _union(items)
        if outer == "Literal":
            values = [i.value for i in items if isinstance(i, ast.Constant)]
            return {"enum": values} if len(values) == len(items) else {}
        if outer == "Annotated":
            return schema_of(items[0])
    return {}


def _union(nodes: list[ast.expr]) -> dict[str, Any]:
    flat: list[ast.expr] = []
    for node in nodes:
        while isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            flat.append(node.right)
            node = node.left
        flat.append(node)
    schemas = [schema_of(n) for n in flat]
    if any(s == {} for s in schemas):
        return {}
    types = [s.get("type") for s in schemas]
    if all(isinstance(t, str) for t in types) and all(len(s) == 1 for s in schemas):
        return {"type": sorted(set(types), key=types.index)}
    return {"anyOf": schemas}


def _param_docs(docstring: str) -> dict[str, str]:
    """``:param name: text`` (Sphinx) and ``name (type): text`` under ``Args:`` (Google)."""
    docs: dict[str, str] = {}
    in_args = False
    for raw in docstring.splitlines():
        line = raw.strip()
        if line.startswith(":param "):
            head, _, text = line[len(":param ") :].partition(":")
            docs[head.split()[-1]] = text.strip()
        elif line.lower() in {"args:", "arguments:", "parameters:"}:
            in_args = True
        elif in_args and ":" in line:
            head, _, text = line.partition(":")
            key = head.split("(")[0].strip()
            if key.isidentifier():
                docs[key] = text.strip()
        elif in_args and not line:
            in_args = False
    return docs


def _summary(docstring: str) -> str:
    paragraph = []
    for line in docstring.strip().splitlines():
        if not line.strip() or line.strip().startswith(":") or line.strip().lower() == "args:":
            break
        paragraph.append(line.strip())
    return " ".join(paragraph)[:1024]


def _default(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return False, None


def function_spec(*, source: str, name: str) -> FunctionSpec:
    """Parse ``source``; it must define a top-level function ``name``. Nothing is executed."""
    try:
        tree = ast.parse(source, filename="<function>")
    except SyntaxError as exc:
        where = f"line {exc.lineno}: " if exc.lineno else ""
        raise FunctionSourceInvalid(f"Syntax error at {where}{exc.msg}.") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise FunctionSourceInvalid(f"The source cannot be parsed: {exc}.") from None
    found = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
    ]
    if not found:
        raise FunctionSourceInvalid(f"The source must define a top-level function named {name!r}.")
    function = found[-1]  # as at run time: the last definition wins
    arguments = function.args
    if arguments.posonlyargs:
        raise FunctionSourceInvalid(
            f"Line {function.lineno}: positional-only parameters cannot be passed by name."
        )
    if arguments.vararg:
        raise FunctionSourceInvalid(
            f"Line {function.lineno}: *{arguments.vararg.arg} cannot be passed as JSON arguments."
        )
    docstring = ast.get_docstring(function) or ""
    docs = _param_docs(docstring)
    properties: dict[str, Any] = {}
    required: list[str] = []
    positional_defaults = [None] * (len(arguments.args) - len(arguments.defaults))
    pairs = list(zip(arguments.args, [*positional_defaults, *arguments.defaults], strict=True))
    pairs += list(zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True))
    for arg, default in pairs:
        schema = schema_of(arg.annotation)
        if arg.arg in docs:
            schema["description"] = docs[arg.arg]
        if default is None:
            required.append(arg.arg)
        else:
            known, value = _default(default)
            if known:
                schema["default"] = value
        properties[arg.arg] = schema
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    parameters["additionalProperties"] = arguments.kwarg is not None
    return FunctionSpec(description=_summary(docstring), parameters=parameters)


# --- Checking arguments against the schema (the subset function_spec produces) ---------------

JSON_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def arg_errors(schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """Why ``value`` does not match ``schema``; empty when it does."""
    where = path or "args"
    if "anyOf" in schema:
        if all(arg_errors(option, value, path) for option in schema["anyOf"]):
            return [f"{where}: matches none of the allowed types"]
        return []
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: must be one of {schema['enum']}"]
    kinds = schema.get("type")
    if kinds is not None:
        allowed = [kinds] if isinstance(kinds, str) else kinds
        if not any(JSON_TYPES[k](value) for k in allowed if k in JSON_TYPES):
            return [f"{where}: must be of type {' or '.join(allowed)}"]
    errors: list[str] = []
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors += arg_errors(schema["items"], item, f"{where}[{index}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{name}: this argument is required")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            sub = f"{path}.{name}" if path else name
            if name in properties:
                errors += arg_errors(properties[name], item, sub)
            elif extra is False:
                errors.append(f"{sub}: the function has no such parameter")
            elif isinstance(extra, dict):
                errors += arg_errors(extra, item, sub)
    return errors
