"""The package's import graph, read from the source with ``ast``: every ``import``
counts, those under ``if TYPE_CHECKING:`` and inside functions included. It has no
cycle, and the kernel (``gan.core``) imports nothing above it — not even for types.

import-linter (``lint-imports``) checks the layers; this test also sees the package's
top and the cycles that a layers contract cannot (inside one layer)."""

from __future__ import annotations

import ast
from pathlib import Path

import gan

ROOT = Path(gan.__file__).resolve().parent
NOT_THE_PACKAGE = {"tests", "bench", "examples", "build", "docs", "specs"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[0] in NOT_THE_PACKAGE or parts[0].startswith("."):
            continue
        name = ".".join(("gan", *parts)).removesuffix(".__init__")
        found[name] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports (``from a import b`` counts as an
    import of ``a.b`` where that is a module, else of ``a``)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path}: a relative import"
                base = node.module or ""
                imported = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            else:
                continue
            for target in imported:
                while target and target not in modules:  # gan.core.spec.Spec -> gan.core.spec
                    target = target.rpartition(".")[0]
                if target and target != name:
                    targets.add(target)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read_whole():
    graph = import_graph()
    assert "gan.core.registry" in graph and "gan.cli" in graph
    # a type-only import is an edge: gan.core.events names the engine for its types only
    assert "gan.core.engine" in graph["gan.core.events"]
    # the composition root's imports (inside a function) are edges too
    assert "gan.plugins.bigan" in graph["gan"]


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_cycles_are_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_the_kernel_imports_nothing_above_it():
    above = {
        module: sorted(t for t in targets if not t.startswith("gan.core"))
        for module, targets in import_graph().items()
        if module.startswith("gan.core")
    }
    assert {m: t for m, t in above.items() if t} == {}
