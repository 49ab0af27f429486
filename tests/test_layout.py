"""The package's shape (README "Architecture"): one folder per stage, imports that only go
downwards and never in a circle, relative imports inside the engine (it is installed as
`cnngrade` from the folder `autograder/`), and a public API that names what the CLI calls."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import cnngrade

PACKAGE = Path(cnngrade.__file__).parent
# each stage, and the stages it may import (itself included); sandbox and intake are siblings
MAY_IMPORT = {
    "course": {"course"},
    "intake": {"intake", "course"},
    "sandbox": {"sandbox", "course"},
    "grading": {"grading", "sandbox", "intake", "course"},
    "views": {"views", "grading", "sandbox", "intake", "course"},
}


def _modules() -> dict[str, Path]:
    """Every module of the engine by its import name (cnngrade.grading.grade ...)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).with_suffix("")
        if "suites" in rel.parts:
            continue
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        found[".".join(("cnngrade", *parts))] = path
    return found


def _imports(path: Path, name: str | None = None) -> set[str]:
    """Every cnngrade module `path` (the module `name`) imports, at its top or inside a
    function; relative imports resolved."""
    package = None
    if name is not None:
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                assert package is not None, f"{path} uses a relative import"
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names |= {f"{module}.{a.name}" for a in node.names} | {module}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return {n for n in names if n.startswith("cnngrade.")}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        if name == "cnngrade":   # the public API: imports by name, when first used
            continue
        graph[name] = {m for m in _imports(path, name) if m in modules and m != name
                       and modules[m].name != "__init__.py"}
    return graph


def test_every_module_belongs_to_a_stage():
    top = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert top == [], f"modules outside the stage folders: {top}"
    stages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert stages == sorted(MAY_IMPORT)


def test_imports_go_downwards_only():
    upward = []
    for module, targets in _graph().items():
        stage = module.split(".")[1]
        upward += [f"{module} imports {t}" for t in sorted(targets)
                   if t.split(".")[1] not in MAY_IMPORT[stage]]
    assert upward == []


def test_no_import_circle():
    graph = _graph()
    state: dict[str, int] = {}   # 1: on the current path, 2: done
    circles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                circles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert circles == []


def test_the_suites_import_only_what_they_may():
    """A hidden suite runs in the trusted process: it may use the course's data and the model
    checks, never a view or the machinery that grades it."""
    allowed = ("cnngrade.course.", "cnngrade.grading.modelcheck",
               "cnngrade.grading.answer_rules", "cnngrade.grading.suite_runner")
    wrong = []
    for path in (PACKAGE / "suites").rglob("*.py"):
        wrong += [f"{path.name} imports {m}" for m in sorted(_imports(path))
                  if not m.startswith(allowed) and m not in ("cnngrade.course",
                                                             "cnngrade.grading")]
    assert wrong == []


def test_public_api_names_resolve():
    for name in cnngrade.__all__:
        assert getattr(cnngrade, name) is not None, name
    assert set(cnngrade.__all__) <= set(dir(cnngrade))
    for call in ("release", "collect", "grade", "class_report", "write_feedback", "export",
                 "check_notebook", "prepare_data", "load_course", "set_override", "demo"):
        assert callable(getattr(cnngrade, call)), call


def test_importing_the_package_imports_no_stage():
    """`import cnngrade` (every worker, Ray task and suite does it) stays cheap: the stages are
    imported only when a name is first used."""
    code = ("import sys, cnngrade; "
            "print(sorted(m for m in sys.modules if m.startswith('cnngrade.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_engine_imports_are_relative():
    """Inside the engine, `from ..course.config import Course`: the code does not depend on the
    name it is installed under."""
    absolute = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module and \
                    node.module.split(".")[0] in ("cnngrade", "autograder"):
                absolute.append(f"{name}: from {node.module} import ...")
    assert absolute == []


def test_cli_calls_the_public_api():
    """`cnngrade.cli.main` parses options and renders; what it runs it takes from the public
    names of `cnngrade`, never from inside a stage."""
    tree = ast.parse((PACKAGE.parent / "cli" / "main.py").read_text())
    deep = sorted(node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                  and node.module and node.module.startswith("cnngrade."))
    assert deep == []
