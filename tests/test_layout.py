"""The code's shape as the developers' guide sets it: small modules with one purpose (no module
over 400 lines, no function over 60), and no private name imported from another module."""
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
