"""The project's shape: tasks call services, never the reverse, and no import cycles (imports
inside functions count: a cycle hidden in a function is still a cycle)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ["webui_backend", "users", "chats", "knowledge", "retrieval", "llm", "functions", "realtime"]


def import_graph() -> dict[str, set[str]]:
    """Each of our modules and the modules of ours it imports, anywhere in its body."""
    modules: dict[str, Path] = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path

    def ours(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str | None] = []
            if isinstance(node, ast.Import):
                targets = [ours(alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [
                    ours(f"{node.module}.{alias.name}") or ours(node.module) for alias in node.names
                ]
            graph[name] |= {t for t in targets if t and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_services_never_import_tasks() -> None:
    graph = import_graph()

    offenders = {
        (module, target)
        for module, targets in graph.items()
        if ".services" in module
        for target in targets
        if target.endswith(".tasks")
    }

    assert offenders == set()


def test_users_and_llm_import_no_module_that_imports_them_back() -> None:
    found = [
        sorted(component)
        for component in cycles(import_graph())
        if any(m.startswith(("users", "llm")) for m in component)
    ]

    assert found == []
