"""The code's shape as the developers' guide sets it: small modules with one purpose (no module
over 400 lines, no function over 60), no private name imported from another module, no import
circle at any depth, and the layers (rules below analysis, data below games)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "gantrain").rglob("*.py"), *(ROOT / "scripts").rglob("*.py")])
MAX_MODULE, MAX_FUNCTION = 400, 60


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_no_module_over_400_lines():
    big = [f"{_rel(p)}: {n}" for p in SOURCES
           if (n := len(p.read_text().splitlines())) > MAX_MODULE]
    assert not big, big


def test_no_function_over_60_lines():
    long = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION:
                    long.append(f"{_rel(path)}:{node.lineno} {node.name}: {n} lines")
    assert not long, long


def test_no_private_name_is_imported_across_modules():
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gantrain"):
                found += [f"{_rel(path)}: from {node.module} import {a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert not found, found


def _module_names(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name → file, for every module of ``package`` under ``root``."""
    mods = {}
    for p in (root / package).rglob("*.py"):
        parts = p.relative_to(root).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return mods


def _targets(module: str, path: Path, node: ast.AST) -> list[str]:
    """The dotted names an import statement reaches (relative imports resolved)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:   # from . import x / from ..a import b
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        package = package[:len(package) - (node.level - 1)]
        base = ".".join([*package, *([node.module] if node.module else [])])
    return [base, *(f"{base}.{a.name}" for a in node.names)]


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module → the package's modules it imports, at any depth: top level, inside functions and
    methods, and under ``if TYPE_CHECKING`` (an import that runs late is still a dependency, and
    a circle of them breaks the day one moves to the top). ``from pkg import name`` counts as
    importing ``pkg.name`` when that is a module, else ``pkg``."""
    mods = _module_names(root, package)
    graph = {m: set() for m in mods}
    for m, p in mods.items():
        for node in ast.walk(ast.parse(p.read_text())):
            for t in _targets(m, p, node):
                if t in mods and t != m:
                    graph[m].add(t)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[str]:
    """Every import circle found by a depth-first walk, as ``a -> b -> a``."""
    state, cycles = {}, []

    def visit(u, path):
        state[u] = "open"
        for v in sorted(graph[u]):
            if state.get(v) == "open":
                cycles.append(" -> ".join([*path[path.index(v):], v]))
            elif v not in state:
                visit(v, [*path, v])
        state[u] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return cycles


def test_no_import_cycle_at_any_depth():
    assert not import_cycles(import_graph(ROOT, "gantrain")), import_cycles(import_graph(ROOT, "gantrain"))


def test_a_planted_circle_inside_a_function_is_found(tmp_path):
    """A circle that only a function-level import closes (the kind the top-level view missed),
    a relative one, and one under TYPE_CHECKING are each found; the same package without them
    has none."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    for f in ("__init__.py", "sub/__init__.py"):
        (pkg / f).write_text("")
    (pkg / "a.py").write_text("import pkg.b\n")
    (pkg / "b.py").write_text("def f():\n    return 1\n")
    (pkg / "sub" / "c.py").write_text("X = 1\n")
    (pkg / "sub" / "d.py").write_text("from pkg.sub import c\n")
    assert import_cycles(import_graph(tmp_path, "pkg")) == []
    (pkg / "b.py").write_text("def f():\n    from pkg.a import g\n    return g\n")
    assert import_cycles(import_graph(tmp_path, "pkg")) == ["pkg.a -> pkg.b -> pkg.a"]
    (pkg / "b.py").write_text("")
    (pkg / "sub" / "c.py").write_text("def h():\n    from . import d\n")
    assert import_cycles(import_graph(tmp_path, "pkg")) == ["pkg.sub.c -> pkg.sub.d -> pkg.sub.c"]
    (pkg / "sub" / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                      "    from pkg.sub.d import Y\n")
    assert import_cycles(import_graph(tmp_path, "pkg")) == ["pkg.sub.c -> pkg.sub.d -> pkg.sub.c"]


def _layer_imports(source: str, target: str) -> list[str]:
    """``source`` package modules that import ``target``'s modules, at any depth."""
    graph = import_graph(ROOT, "gantrain")
    return sorted(f"{m} -> {t}" for m, ts in graph.items() if m.startswith(source)
                  for t in ts if t == target or t.startswith(target + "."))


def test_layers():
    """Rules never import the analysis (the theory reads the rules, not the reverse); data never
    imports games (games are built on data); ``lazy`` and the config helper ``follows`` sit
    outside ``rules``; ``ConfigError`` is imported from ``gantrain.errors`` alone."""
    assert _layer_imports("gantrain.rules", "gantrain.analysis") == []
    assert _layer_imports("gantrain.data", "gantrain.games") == []
    assert not (ROOT / "gantrain" / "rules" / "lazy.py").exists()
    assert "def follows" not in (ROOT / "gantrain" / "rules" / "options.py").read_text()
    wrong = []
    for path in [*(ROOT / "gantrain").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and any(a.name == "ConfigError" for a in node.names) \
                    and node.module != "gantrain.errors":
                wrong.append(f"{_rel(path)}: from {node.module}")
    assert not wrong, wrong
