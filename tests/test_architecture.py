"""The package's shape, as docs/architecture.md draws it: imports point down the layers, never
in a circle, and CLI command modules do not import each other.

Imports are read with `ast` from src/auditctl (those inside functions and under TYPE_CHECKING
count too: a deferred import is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "auditctl"

# Bottom to top, as in docs/architecture.md. A module may import modules of its own layer or
# of a lower one. A layer is a list of module prefixes (a package, or one ground-floor module).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("ground", ("auditctl.errors", "auditctl.schema", "auditctl.timeutil", "auditctl.files",
                "auditctl.where", "auditctl.sources", "auditctl.plugins", "auditctl.roles",
                "auditctl.config", "auditctl.stamps", "auditctl")),
    ("store", ("auditctl.store",)),
    ("ingest", ("auditctl.ingest", "auditctl.testing")),  # testing: golden checks for parser plugins
    ("integrity", ("auditctl.integrity",)),
    ("access", ("auditctl.access",)),
    ("detect", ("auditctl.detect",)),
    ("archive", ("auditctl.archive",)),
    ("report", ("auditctl.report",)),
    ("live", ("auditctl.live",)),
    ("cli", ("auditctl.cli", "auditctl.__main__")),
    ("docs", ("auditctl.docs",)),  # generates the reference pages from everything, the CLI included
]
# The CLI's shared support: app-wide state, rendering, the access guard, shared command parts.
CLI_SUPPORT = {"auditctl.cli", "auditctl.cli.app", "auditctl.cli.common", "auditctl.cli.output",
               "auditctl.cli.guard", "auditctl.cli.eventfilter", "auditctl.cli.ingesting"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The auditctl modules `path` imports (`from auditctl.x import y` is x.y when y is a module)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "auditctl")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[:len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            if base.split(".")[0] != "auditctl":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return {m for m in found if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    known = set(paths)
    return {name: _imports(path, name, known) for name, path in paths.items()}


def layer_of(module: str) -> int:
    best, best_len = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module == prefix or (prefix != "auditctl" and module.startswith(prefix + "."))
            if inside and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    return best


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


GRAPH = import_graph()


def test_the_graph_is_read():
    assert "auditctl.store" in GRAPH and "auditctl.ingest.ingester" in GRAPH
    assert "auditctl.store" in GRAPH["auditctl.ingest.ingester"]


def test_every_module_has_a_layer():
    assert [m for m in GRAPH if layer_of(m) < 0] == []


def test_no_import_cycles():
    assert find_cycles(GRAPH) == []


def test_imports_point_down_the_layers():
    upward = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {d} ({LAYERS[layer_of(d)][0]})"
              for m, deps in sorted(GRAPH.items()) for d in sorted(deps) if layer_of(d) > layer_of(m)]
    assert upward == []


def test_cli_command_modules_do_not_import_each_other():
    commands = {m for m in GRAPH if m.startswith("auditctl.cli.") and m not in CLI_SUPPORT}
    assert commands, "no command modules found"
    crossing = [f"{m} imports {d}" for m in sorted(commands) for d in sorted(GRAPH[m]) if d in commands]
    support = [f"{m} imports {d}" for m in sorted(CLI_SUPPORT - {"auditctl.cli.app"}) if m in GRAPH
               for d in sorted(GRAPH[m]) if d in commands]
    assert crossing + support == []


def test_only_the_cli_imports_the_cli():
    readers = ("auditctl.cli", "auditctl.__main__", "auditctl.docs")  # docs: the CLI reference page
    assert [f"{m} imports {d}" for m, deps in sorted(GRAPH.items()) if not m.startswith(readers)
            for d in sorted(deps) if d.startswith("auditctl.cli")] == []


@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
])
def test_find_cycles_finds_a_circle(graph, expected):
    assert find_cycles(graph) == expected
