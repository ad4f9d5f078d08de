"""The package's layers: no import cycle between its top-level parts, and no demo import.

Computed from the source tree (every module's ``import`` statements, at module level or
inside functions), so a package added or removed needs no edit here. A top-level part is
a package (``alerts``, ``warehouse``...) or a module (``home``, ``redaction``...) right
under ``platform_assets/``. Entry points (the code location, the Celery worker that loads
it) import everything by design: their imports are not layer edges.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import platform_assets

PACKAGE = "platform_assets"
ROOT = Path(platform_assets.__file__).parent
ENTRY_POINTS = frozenset(
    {f"{PACKAGE}.definitions", f"{PACKAGE}.automation.celery_worker", f"{PACKAGE}.report.cli"}
)
DEMO = "demo"


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    imported: str  # dotted name as written (a module, or a name inside one)
    line: int

    def __str__(self) -> str:
        return f"{self.importer}:{self.line} imports {self.imported}"


def module_name(path: Path, root: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(path: Path, root: Path) -> list[Import]:
    """Every import of the package's own modules in one file, wherever it is written."""
    module = module_name(path, root)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, path.name == "__init__.py")
            # ``from platform_assets import demo`` imports the module platform_assets.demo
            names = [f"{source}.{a.name}" for a in node.names] if source == root.name else [source]
        else:
            continue
        found += [
            Import(module, name, node.lineno)
            for name in names
            if name == root.name or name.startswith(root.name + ".")
        ]
    return found


def package_imports(root: Path) -> list[Import]:
    return [i for path in sorted(root.rglob("*.py")) for i in imports_of(path, root)]


def part(module: str) -> str:
    """The top-level part a module belongs to: ``platform_assets.alerts.sinks`` -> ``alerts``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_edges(
    imports: Iterable[Import], entry_points: frozenset[str]
) -> dict[tuple[str, str], list[Import]]:
    edges: dict[tuple[str, str], list[Import]] = {}
    for i in imports:
        source, target = part(i.importer), part(i.imported)
        if i.importer not in entry_points and source != target:
            edges.setdefault((source, target), []).append(i)
    return edges


def cycles(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components of more than one part (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
        graph.setdefault(target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def cycle_report(edges: dict[tuple[str, str], list[Import]]) -> list[str]:
    lines = []
    for component in cycles(edges):
        lines.append(f"cycle between {component}:")
        lines += [
            f"  {i}"
            for (source, target), found in sorted(edges.items())
            if source in component and target in component
            for i in found
        ]
    return lines


def demo_imports(imports: Iterable[Import]) -> list[Import]:
    return [i for i in imports if part(i.imported) == DEMO and part(i.importer) != DEMO]


# --- the package itself ----------------------------------------------------------------------


def test_no_import_cycle_between_the_top_level_parts() -> None:
    imports = package_imports(ROOT)
    assert len({part(i.importer) for i in imports}) > 3  # the walk did find the package
    report = cycle_report(layer_edges(imports, ENTRY_POINTS))
    assert not report, "\n".join(report)


def test_nothing_outside_the_demo_imports_the_demo() -> None:
    found = demo_imports(package_imports(ROOT))
    assert not found, "\n".join(map(str, found))


def test_the_entry_points_exist() -> None:
    """An entry point renamed away would silently stop being exempt (or never was one)."""
    modules = {module_name(p, ROOT) for p in ROOT.rglob("*.py")}
    assert ENTRY_POINTS <= modules


# --- the checks themselves, on a tree made for them -------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_cycle_through_a_function_level_or_relative_import_is_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path / PACKAGE,
        {
            "__init__.py": "",
            "low/__init__.py": "",
            "low/a.py": "def f():\n    from platform_assets.high import b\n",
            "high/__init__.py": "",
            "high/b.py": "from ..low import a\nfrom platform_assets import mid\n",
            "mid.py": "import platform_assets.low.a\n",
            "entry.py": "import platform_assets.high.b\nimport platform_assets.low.a\n",
        },
    )
    imports = package_imports(root)
    assert Import(f"{PACKAGE}.high.b", f"{PACKAGE}.low", 1) in imports  # relative, resolved
    edges = layer_edges(imports, frozenset({f"{PACKAGE}.entry"}))
    assert cycles(edges) == [["high", "low", "mid"]]
    assert f"  {PACKAGE}.low.a:2 imports {PACKAGE}.high" in cycle_report(edges)
    assert not cycles(layer_edges(imports, frozenset({f"{PACKAGE}.low.a"})))


def test_an_import_of_the_demo_from_outside_it_is_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path / PACKAGE,
        {
            "__init__.py": "",
            "demo/__init__.py": "from platform_assets.demo import api\n",
            "demo/api.py": "",
            "sources/__init__.py": "",
            "sources/rest.py": "def f():\n    from platform_assets import demo\n",
        },
    )
    assert demo_imports(package_imports(root)) == [
        Import(f"{PACKAGE}.sources.rest", f"{PACKAGE}.demo", 2)
    ]
