"""The table of walls (scripts/remove_walls.py, `make walls`) still applies to the code: each
wall's text occurs exactly once in its file and the file compiles without it, and each test it
names exists. A change that moves a wall's code breaks `make walls` (exit 2, and SECURITY.md's
table goes stale); this says so in seconds, in `make test`."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _table():
    spec = importlib.util.spec_from_file_location("remove_walls", ROOT / "scripts" /
                                                  "remove_walls.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["remove_walls"] = module   # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


TABLE = _table()


@pytest.mark.parametrize("wall", TABLE.WALLS, ids=lambda w: w.name)
def test_the_wall_is_where_the_table_says(wall):
    assert TABLE.anchor_line(wall, ROOT) > 0   # raises TableError with its sentence otherwise


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


@pytest.mark.parametrize("wall", TABLE.WALLS, ids=lambda w: w.name)
def test_the_tests_a_wall_names_exist(wall):
    assert wall.tests, f"{wall.name} names no test"
    for node in wall.tests:
        file, _, name = node.partition("::")
        assert (ROOT / file).is_file(), f"{wall.name}: {file} does not exist"
        if name:   # else the whole file
            assert name.split("[")[0] in _test_names(ROOT / file), f"{wall.name}: no {node}"
