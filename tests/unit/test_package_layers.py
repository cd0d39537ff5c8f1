"""No import cycles between the packages of ``src/unseen`` (docs/architecture.md, "Layers").

The graph is built from the source's AST, not by importing it, so it sees every import: at module level,
inside functions (a lazy import is still a dependency, only a later one) and under ``TYPE_CHECKING`` (a type
named across a package boundary couples the two packages as much as a call does). A node of the graph is a
subpackage (``unseen.transport``) or a top-level module (``unseen.ids``, ``unseen.values``, the package's
``__init__``). Each cycle found is listed with one import per edge (file and line), so it can be fixed.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = "unseen"

# The layers of docs/architecture.md, lowest first: a package imports only from its own layer or below.
LAYERS: list[set[str]] = [
    {"ids", "values", "__init__"},
    {"storage"},
    {"config"},
    {"attestation"},
    {"transport"},
    {"runtime"},
    {"crypto", "horizontal", "vertical", "evaluation", "models", "datasets"},
    {"components"},
    {"job", "task"},
    {"node"},
    {"board"},
    {"cli"},
    {"pipeline"},
]
RANK = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}

# Edges allowed for now, each with why; the test fails if one is no longer there, so the list only shrinks.
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    source: str  # the importing package
    target: str  # the imported package
    where: str  # file:line of one such import


def _package(module: str) -> str | None:
    """The graph node a dotted module name belongs to, or None outside ``unseen``."""
    parts = module.split(".")
    if parts[0] != ROOT:
        return None
    if len(parts) == 1:
        return "__init__"
    if (SRC / ROOT / parts[1]).is_dir():
        return parts[1]
    return parts[1] if (SRC / ROOT / f"{parts[1]}.py").is_file() else "__init__"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: resolved against the importing module's package
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        origin = ".".join(base + ([node.module] if node.module else []))
    else:
        origin = node.module or ""
    # ``from unseen import ids`` imports the module ids, not the package's __init__
    return [origin] + [f"{origin}.{alias.name}" for alias in node.names]


def package_imports() -> list[Import]:
    found: dict[tuple[str, str], Import] = {}
    for path in sorted((SRC / ROOT).rglob("*.py")):
        module = _module_name(path)
        source = _package(module)
        assert source is not None
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            names = _imported(node, module, path.name == "__init__.py")
            targets = {_package(name) for name in names} - {None, source}
            if isinstance(node, ast.ImportFrom) and len(targets) > 1:
                targets.discard("__init__")  # `from unseen import ids`: the module, not the package itself
            for target in targets:
                assert target is not None
                key = (source, target)
                if key not in found:
                    where = f"{path.relative_to(SRC.parent)}:{node.lineno}"
                    found[key] = Import(source, target, where)
    return list(found.values())


def strongly_connected(edges: list[Import]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of packages that reach each other (cycles), largest first."""
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in edges:
        graph[edge.source].add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups, key=len, reverse=True)


def describe(groups: list[list[str]], edges: list[Import]) -> str:
    lines = []
    for group in groups:
        lines.append(f"cycle among {', '.join(group)}:")
        lines += [f"  {e.source} -> {e.target} ({e.where})" for e in edges if e.source in group and e.target in group]
    return "\n".join(lines)


def test_the_packages_import_each_other_without_cycles() -> None:
    edges = [e for e in package_imports() if (e.source, e.target) not in ALLOWED]
    groups = strongly_connected(edges)
    assert groups == [], "import cycles between packages:\n" + describe(groups, edges)


def test_every_import_goes_down_the_documented_layers() -> None:
    edges = [e for e in package_imports() if (e.source, e.target) not in ALLOWED]
    unknown = sorted({p for e in edges for p in (e.source, e.target) if p not in RANK})
    assert unknown == [], f"packages missing from LAYERS (and docs/architecture.md): {unknown}"
    upward = [f"{e.source} -> {e.target} ({e.where})" for e in edges if RANK[e.target] > RANK[e.source]]
    assert upward == [], "imports of a higher layer:\n" + "\n".join(upward)


def test_each_allowed_exception_still_exists() -> None:
    present = {(e.source, e.target) for e in package_imports()}
    gone = [f"{a} -> {b}" for a, b in ALLOWED if (a, b) not in present]
    assert gone == [], f"remove these from ALLOWED, the imports are gone: {gone}"


def test_the_graph_sees_lazy_and_type_checking_imports() -> None:
    """The finder itself: a cycle made only of a function-level and a TYPE_CHECKING import is still found."""
    edges = [Import("a", "b", "a.py:3"), Import("b", "a", "b.py:9"), Import("b", "c", "b.py:1")]
    assert strongly_connected(edges) == [["a", "b"]]
    lazy = ast.parse("def f():\n    from unseen.transport import tls\nif TYPE_CHECKING:\n    import unseen.job\n")
    seen = {
        _package(name)
        for node in ast.walk(lazy)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in _imported(node, "unseen.config.node", False)
    }
    assert {"transport", "job"} <= seen
