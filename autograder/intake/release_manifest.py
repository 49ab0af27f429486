"""The release manifest, `.cnngrade/assignment.json` in a released folder: everything
`cnngrade check` needs on a student's machine, where there is no repository, no solution and no
hidden suite, only the installed cnngrade and the folder the instructor handed out.

It holds the assignment's settings (slug, title, notebook, points, limits, data, public files),
the released template notebook exactly as released (its cells with their ids, grade ids,
checksums and locked flags: what `restore_cells` compares a submission with, since the
student's own copy of the notebook is edited in place), the public tests' points, the release
id and the cnngrade version that released it. Nothing in it comes from the solution or the
hidden tests beyond what the released notebook shows; `cnngrade release` runs its leak refusal
over the manifest too.

The release id (a hash of the released template and public files) is also written into the
released notebook's metadata (`cnngrade.release`), so a notebook can tell which release it came
from.
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from .. import __version__
from ..course.config import Assignment, Limits
from ..course.errors import CnnGradeError

MANIFEST = Path(".cnngrade") / "assignment.json"
FORMAT = 1
ABSENT = ".cnngrade/not-released"   # a released assignment has no solution and no hidden suite


def release_id(template: NotebookNode, public: dict[str, bytes]) -> str:
    """A short hash of what a release hands out: the template's cells and the public files."""
    digest = hashlib.sha256()
    for cell in template.cells:
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        digest.update(json.dumps([cell.get("id"), cell.cell_type, source,
                                  cell.metadata.get("nbgrader")], sort_keys=True).encode())
    for name in sorted(public):
        digest.update(name.encode() + b"\0" + hashlib.sha256(public[name]).digest())
    return digest.hexdigest()[:12]


def public_test_points(files: dict[str, bytes]) -> list[dict[str, Any]]:
    """The public tests and their points (`@pytest.mark.points(n)`, 1 where none is given),
    read from the released test files' syntax (never run here)."""
    tests = []
    for name, data in sorted(files.items()):
        if not (name.endswith(".py") and Path(name).name.startswith("test")):
            continue
        try:
            tree = ast.parse(data.decode("utf-8", "replace"))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and \
                    node.name.startswith("test"):
                tests.append({"file": name, "name": node.name, "points": _points(node)})
    return tests


def _points(node: ast.FunctionDef | ast.AsyncFunctionDef) -> float:
    for deco in node.decorator_list:
        if isinstance(deco, ast.Call) and getattr(deco.func, "attr", None) == "points" \
                and deco.args and isinstance(deco.args[0], ast.Constant) \
                and isinstance(deco.args[0].value, int | float):
            return float(deco.args[0].value)
    return 1.0


def build_manifest(assignment: Assignment, template: NotebookNode,
                   public: dict[str, bytes]) -> dict[str, Any]:
    """The manifest of a release of `assignment` whose notebook is `template` (with its release
    id in the metadata already) and whose public files are `public`."""
    limits = {f.name: getattr(assignment.limits, f.name) for f in fields(Limits)}
    return {
        "format": FORMAT,
        "cnngrade": __version__,
        "release": template.metadata["cnngrade"]["release"],
        "slug": assignment.slug,
        "title": assignment.title,
        "notebook": assignment.notebook,
        "points": assignment.points,
        "gpu": assignment.gpu,
        "data": list(assignment.data),
        "limits": limits,
        "public_files": list(assignment.public_files),
        "public_tests": public_test_points(public),
        "template": json.loads(nbformat.writes(template)),
    }


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=1, ensure_ascii=False, sort_keys=True) + "\n").encode()


@dataclass
class Released:
    """A released assignment as a student's machine sees it."""

    folder: Path
    release: str
    version: str
    assignment: Assignment
    template: NotebookNode
    public_tests: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)   # e.g. another cnngrade version released it

    @property
    def manifest(self) -> Path:
        return self.folder / MANIFEST


def find_release(notebook: Path, release: Path | None = None) -> Path | None:
    """The released folder that goes with `notebook`: `release` when given (a folder holding
    .cnngrade/assignment.json), else the notebook's own folder if it holds one, else None."""
    if release is not None:
        release = Path(release)
        if not (release / MANIFEST).is_file():
            raise CnnGradeError(f"{release} is not a released assignment folder (it has no "
                                f"{MANIFEST}); give the folder your instructor handed out, the "
                                "one with the notebook and public_tests/.")
        return release
    folder = Path(notebook).resolve().parent
    return folder if (folder / MANIFEST).is_file() else None


def read_release(folder: Path) -> Released:
    """The manifest of the released `folder`; a CnnGradeError of one sentence when it cannot
    be used."""
    path = Path(folder) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CnnGradeError(f"{path} cannot be read ({type(exc).__name__}); download the "
                            "assignment again from your course page.") from None
    if not isinstance(data, dict) or not isinstance(data.get("format"), int):
        raise CnnGradeError(f"{path} is not a cnngrade release manifest; download the "
                            "assignment again from your course page.")
    if data["format"] > FORMAT:
        raise CnnGradeError(f"{path} was written by cnngrade {data.get('cnngrade', '?')}, "
                            f"newer than the cnngrade {__version__} installed here; upgrade it "
                            "(pip install --upgrade cnngrade) and check again.")
    try:
        limits = Limits(**{f.name: data["limits"][f.name] for f in fields(Limits)
                           if f.name in data["limits"]})
        # as the released notebook reads: sources joined from their lines
        template = nbformat.reads(json.dumps(data["template"]), as_version=4)
        nbformat.validate(template)
        folder = Path(folder).resolve()
        assignment = Assignment(
            slug=str(data["slug"]), title=str(data["title"]), points=float(data["points"]),
            notebook=str(data["notebook"]), gpu=bool(data["gpu"]),
            public_files=tuple(str(p) for p in data["public_files"]), limits=limits,
            template_dir=folder, solution=folder / ABSENT, suite_dir=folder / ABSENT,
            data=tuple(str(d) for d in data["data"]))
        released = Released(folder, str(data["release"]), str(data["cnngrade"]), assignment,
                            template, list(data.get("public_tests", [])))
    except (KeyError, TypeError, ValueError, nbformat.ValidationError) as exc:
        raise CnnGradeError(f"{path} is damaged or incomplete ({type(exc).__name__}: "
                            f"{str(exc)[:80]}); download the assignment again from your course "
                            "page.") from None
    if _minor(released.version) != _minor(__version__):
        released.notes.append(
            f"This assignment was released with cnngrade {released.version} and you have "
            f"cnngrade {__version__}; if the check and the grade disagree, install the "
            f"instructor's version (pip install 'cnngrade=={released.version}').")
    return released


def _minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])
