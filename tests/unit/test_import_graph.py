"""No import cycles between the modules of the ``retrieval`` package.

Each module is parsed with ``ast`` (nothing is imported): every import of another ``retrieval``
module counts, at module level or inside a function, except under ``if TYPE_CHECKING:`` (those
never run). A package whose ``__init__`` loads names lazily through a ``_LAZY`` table
(``{"Name": ".submodule"}``): ``from package import Name`` counts as importing that submodule.
A cycle is reported as the chain of modules that closes it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import retrieval

PACKAGE_DIR = Path(retrieval.__file__).parent


def module_files(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Dotted module name -> its file, for every ``.py`` file under the package."""
    files = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


def imported_modules(name: str, path: Path, known: set[str], lazy: dict[str, dict[str, str]] | None = None) -> set[str]:
    """The modules of ``known`` that module ``name`` (file ``path``) imports; ``lazy`` maps a
    package to its lazy names and the submodules that define them."""
    lazy = lazy or {}
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()

    def owner(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    def absolute(node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = package.split(".")
        base = base[: len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.orelse:
                    visit_one(stmt)
                continue
            visit_one(child)

    def visit_one(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.update(owner(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = absolute(node)
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                if submodule not in known:
                    submodule = lazy.get(target, {}).get(alias.name) or owner(target)
                found.add(submodule)
        visit(node)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    found.discard(None)
    found.discard(name)
    return {module for module in found if module is not None}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def lazy_names(package: str, path: Path) -> dict[str, str]:
    """A package ``__init__``'s ``_LAZY`` table as name -> absolute submodule ({} without one)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in node.targets)
            and isinstance(node.value, ast.Dict)
        ):
            return {
                key.value: package + value.value if value.value.startswith(".") else value.value
                for key, value in zip(node.value.keys, node.value.values)
                if isinstance(key, ast.Constant) and isinstance(value, ast.Constant) and isinstance(value.value, str)
            }
    return {}


def import_graph(package_dir: Path = PACKAGE_DIR) -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    files = module_files(package_dir)
    known = set(files)
    lazy = {name: lazy_names(name, path) for name, path in files.items() if path.name == "__init__.py"}
    return {name: imported_modules(name, path, known, lazy) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One closing chain (``[a, b, ..., a]``) per strongly connected group of two or more modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan; the package has ~200 modules, so recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [_chain(graph, set(group)) for group in groups]


def _chain(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start = min(group)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(graph[v] & group):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if v != start else [start, start]
                if w not in previous:
                    previous[w] = v
                    following.append(w)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover - groups are cyclic


def test_no_import_cycles_in_the_package():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(chain) for chain in found)


def test_the_named_cycles_are_gone():
    """The two the redesign named: ingest <-> updates, and vector base <-> gpu/registry."""
    graph = import_graph()
    assert "retrieval.updates.sync" not in graph["retrieval.ingest.postgres_reader"]
    for module in ("retrieval.vector.gpu", "retrieval.vector.registry"):
        assert "retrieval.vector.base" not in graph[module], module
    assert "retrieval.vector.gpu" not in graph["retrieval.vector.base"]


def test_the_graph_sees_lazy_imports_and_skips_type_checking_ones(tmp_path):
    """The checker itself: a cycle closed by an import inside a function, or by a package's lazy
    table, is found; one closed only under ``if TYPE_CHECKING:`` is not."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import x\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .d import y\n")
    (pkg / "d.py").write_text("import pkg.c\n")
    (pkg / "sub" / "__init__.py").write_text('_LAZY = {"Thing": ".e"}\n')
    (pkg / "sub" / "e.py").write_text("from .. import f\n")
    (pkg / "f.py").write_text("from pkg.sub import Thing\n")
    graph = import_graph(pkg)
    assert graph["pkg.c"] == set() and graph["pkg.d"] == {"pkg.c"} and graph["pkg.sub"] == set()
    assert sorted(cycles(graph)) == [["pkg.a", "pkg.b", "pkg.a"], ["pkg.f", "pkg.sub.e", "pkg.f"]]
