"""The import graph: no module imports itself back through others (a package's lazy re-exports of
its own submodules aside), so each behaviour has one owner and layers point one way."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "text2sql_cli"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the text2sql_cli modules it imports, at any depth of its code (lazy imports too)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in targets:
                # a package importing its own submodules (lazy re-exports) is not a cycle
                if target in mods and target != name and not target.startswith(name + "."):
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert "text2sql_cli.artifacts" in graph["text2sql_cli.inference.hf"]  # the graph sees imports
    assert cycles(graph) == []


def test_backend_types_are_a_leaf_of_the_inference_package():
    graph = import_graph()
    assert not {m for m in graph["text2sql_cli.inference.backend"] if m.startswith("text2sql_cli.inference")}


FEATURES = ("evaluation", "filtering", "inference", "training")


def test_no_feature_package_imports_another():
    """Shared things (LLM endpoint settings, verdicts, artifacts) live below the features, so no
    feature reaches into another's settings or code."""
    graph = import_graph()
    crossings = sorted(
        f"{source} -> {target}"
        for source, targets in graph.items()
        for target in targets
        for a in FEATURES
        for b in FEATURES
        if a != b and source.startswith(f"text2sql_cli.{a}") and target.startswith(f"text2sql_cli.{b}")
    )
    assert crossings == []
