"""The shape of the house: the import graph of ``src/unmask`` (read with ``ast``, nothing imported).

Three rules (docs/architecture.md explains them):

(a) no import circle between modules;
(b) no import runs up a floor: a module imports only modules of its own floor or a lower one (:data:`FLOORS`);
(c) no module outside ``src/unmask/world`` imports ``unmask.world`` (the tiny world is a plugin on top).

Every import counts: module level and inside functions (a lazy import is still a dependency), absolute and
relative. An import of a package's ``__init__`` is an edge to the package module (``unmask.cli``). An import
under ``if TYPE_CHECKING:`` never runs: it counts for the floors (a type from a higher floor is still a
dependency on it) but not for circles (a Protocol module may name the config type that imports it).

:data:`KNOWN` lists the violations that are being removed right now; it may only shrink: a listed import that
no longer exists fails the test, so remove its line when it goes.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "unmask"

# Floors, low -> high: the first part of a module's name under ``unmask`` picks its floor (``unmask`` itself,
# the package's __init__, is the ground floor). Siblings on one floor may import each other.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("", "errors", "console", "http", "registry", "phrases"),  # ground: no unmask imports but errors
    ("data",),  # records, formats, images, store, outputs
    ("mix",),  # the refusal-mix method and its fast path
    ("models",),  # families, loading, training
    ("attacks",),  # benchmarks: typographic images, official loaders
    ("generate",),  # answers (backends)
    ("judges",),  # verdicts
    ("metrics",),  # numbers from verdicts
    ("report",),  # tables, plots, the browser
    ("probe",),  # linear probes on hidden states (uses generate, metrics, models)
    ("pipeline",),  # the stage graph of `unmask run`
    ("cli", "__main__"),  # the command line
    ("world",),  # the tiny world: a plugin on top
)

# (importer, imported, who removes it). Each entry must still exist (the list may only shrink).
KNOWN: tuple[tuple[str, str, str], ...] = (
)


def module_name(path: Path) -> tuple[str, bool]:
    """``src/unmask/data/store.py`` -> ("unmask.data.store", False); a package's __init__ -> (package, True)."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    is_pkg = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_pkg else parts), is_pkg


def modules() -> dict[str, tuple[Path, bool]]:
    return {name: (p, is_pkg) for p in sorted(PKG.rglob("*.py")) for name, is_pkg in [module_name(p)]}


def _type_only_lines(tree: ast.Module) -> set[int]:
    """Line numbers of the statements under ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            for stmt in node.body:
                lines.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
    return lines


def imports_of(name: str, path: Path, is_pkg: bool, known: set[str],
               runtime_only: bool = False) -> dict[str, int]:
    """The unmask modules ``name`` imports (anywhere in the file) -> the first line that does; with
    ``runtime_only``, without the imports under ``if TYPE_CHECKING:``."""
    package = name if is_pkg else name.rpartition(".")[0]
    found: dict[str, int] = {}
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = _type_only_lines(tree) if runtime_only else set()

    def add(target: str, line: int) -> None:
        if (target == "unmask" or target.startswith("unmask.")) and line not in skip:
            found.setdefault(target, line)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                add(sub if sub in known else target, node.lineno)  # `from . import x`: x may be a module
    found.pop(name, None)
    return found


def import_graph(runtime_only: bool = False) -> dict[str, dict[str, int]]:
    """module -> {imported module: line}; ``runtime_only``: without ``if TYPE_CHECKING:`` imports."""
    mods = modules()
    names = set(mods)
    graph = {name: imports_of(name, p, is_pkg, names, runtime_only) for name, (p, is_pkg) in mods.items()}
    for name, targets in graph.items():
        unknown = sorted(t for t in targets if t not in names)
        assert not unknown, f"{name} imports modules that do not exist: {unknown}"
    return graph


def floor_of(module: str) -> int:
    first = module.split(".")[1] if "." in module else ""
    for i, floor in enumerate(FLOORS):
        if first in floor:
            return i
    raise AssertionError(f"{module}: not on any floor; add {first!r} to FLOORS in tests/test_architecture.py")


def _known_edges() -> set[tuple[str, str]]:
    return {(a, b) for a, b, _ in KNOWN}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (``[a, b, ..., a]``), or None. Iterative DFS, deterministic order."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    for start in sorted(graph):
        if state.get(start):
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        path = [start]
        state[start] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                stack.pop()
                path.pop()
                state[node] = 2
                continue
            nxt = todo.pop(0)
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(graph.get(nxt, ()))))
    return None


def test_every_module_is_on_a_floor() -> None:
    for name in import_graph():
        floor_of(name)


def test_known_violations_still_exist() -> None:
    graph = import_graph()
    gone = [f"{a} -> {b} ({who})" for a, b, who in KNOWN if b not in graph.get(a, {})]
    assert not gone, "fixed, so remove from KNOWN in tests/test_architecture.py: " + "; ".join(gone)


def test_no_import_circle() -> None:
    known = _known_edges()
    runtime = import_graph(runtime_only=True)
    graph = {a: {b for b in targets if (a, b) not in known} for a, targets in runtime.items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_no_import_runs_up_a_floor() -> None:
    known = _known_edges()
    bad = [
        f"{a}:{line} imports {b} (floor {FLOORS[floor_of(a)][0] or 'unmask'} < {FLOORS[floor_of(b)][0]})"
        for a, targets in sorted(import_graph().items())
        for b, line in sorted(targets.items())
        if floor_of(b) > floor_of(a) and (a, b) not in known
    ]
    assert not bad, "imports that run up a floor:\n" + "\n".join(bad)


def test_only_the_world_imports_the_world() -> None:
    known = _known_edges()
    bad = [
        f"{a}:{line} imports {b}"
        for a, targets in sorted(import_graph().items())
        if not (a == "unmask.world" or a.startswith("unmask.world."))
        for b, line in sorted(targets.items())
        if (b == "unmask.world" or b.startswith("unmask.world.")) and (a, b) not in known
    ]
    assert not bad, "product modules that import unmask.world (the world is a plugin on top):\n" + "\n".join(bad)


def test_the_checker_sees_lazy_relative_imports_and_circles() -> None:
    """The checker itself: a function-level relative import is an edge, and a circle is reported."""
    graph = import_graph()
    assert "unmask.models.trainer" in graph["unmask.models.train"]  # `from .trainer import ...` inside a function
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .config import X\nimport os\n")
    assert _type_only_lines(tree) == {3}
