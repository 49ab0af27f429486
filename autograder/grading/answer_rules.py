"""Rules about how an answer is written, read from the answer cells' source in the trusted
process (never from the kernel): which modules an answer imports. Used by the hidden suites
whose templates forbid some libraries (conv-by-hand: NumPy only; output-size: no Keras or
TensorFlow), through the `answers` fixture ({grade_id: source} of the submitted answer cells).

An import is found however it is spelled: `import scipy.signal`, `from tensorflow import
keras`, `import cv2 as cv`, `__import__("scipy")`, `importlib.import_module("keras")`. A cell
that is not valid Python (an IPython magic, a syntax error) is read line by line."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping

_IMPORT_LINE = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import|import\s+([\w., ]+))")
_CALLS = {"__import__", "import_module"}


def imported_modules(source: str) -> set[str]:
    """The top-level names of the modules `source` imports."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return _imports_by_line(source)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.id if isinstance(func, ast.Name) else \
                func.attr if isinstance(func, ast.Attribute) else None
            first = node.args[0]
            if name in _CALLS and isinstance(first, ast.Constant) and \
                    isinstance(first.value, str):
                found.add(first.value.split(".")[0])
    return found


def _imports_by_line(source: str) -> set[str]:
    found: set[str] = set()
    for line in source.splitlines():
        match = _IMPORT_LINE.match(line)
        if match and match.group(1):
            found.add(match.group(1).split(".")[0])
        elif match:
            found.update(part.split()[0].split(".")[0]
                         for part in match.group(2).split(",") if part.strip())
    return found


def forbidden_imports(answers: Mapping[str, str], banned: Iterable[str]) -> dict[str, list[str]]:
    """{grade_id: sorted banned modules it imports} for the answer cells that break the rule."""
    banned = set(banned)
    hits = {gid: sorted(imported_modules(source) & banned) for gid, source in answers.items()}
    return {gid: mods for gid, mods in sorted(hits.items()) if mods}


def check_no_imports(answers: Mapping[str, str], banned: Mapping[str, str], rule: str) -> None:
    """Fails with the cells and modules when an answer cell imports a module of `banned`
    ({module: its name for people}); `rule` is the template's rule, quoted in the message.
    `answers` holds the cells changed from the template: none means nothing is answered yet,
    and a rule about answers earns nothing then."""
    assert answers, "no answer cell has been changed from the template yet"
    hits = forbidden_imports(answers, banned)
    if hits:
        where = "; ".join(f"cell {gid!r} imports {', '.join(banned[m] for m in mods)}"
                          for gid, mods in hits.items())
        raise AssertionError(f"{where}. The rule is: {rule}")
