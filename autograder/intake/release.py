"""Release: the solution notebook becomes the student template (nbgrader's preprocessors) in
`assignments/<slug>/`, and a copy with the public files and the release manifest
(`.cnngrade/assignment.json`, what `cnngrade check` needs on a student's machine: see
release_manifest) goes to `<course>/release/<slug>/`, and with `zip` also to
`<course>/release/<slug>.zip`, the archive to upload to the LMS. A release that would contain a
solution or a hidden test, in any of its files, the manifest included, is refused."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from ..course.config import Assignment, Course
from ..course.errors import ConfigError, LeakError
from ..course.store import atomic_write
from .notebook import load_template
from .release_manifest import MANIFEST, build_manifest, manifest_bytes, release_id

MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
           "BEGIN MARK SCHEME", "END MARK SCHEME")


@dataclass
class ReleaseResult:
    slug: str
    release_dir: Path
    template: Path
    files: list[Path]
    release: str = ""            # the release id (release_manifest.release_id)
    archive: Path | None = None  # <course>/release/<slug>.zip, when asked for


def template_text(nb: NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def solution_lines(solution: NotebookNode) -> set[str]:
    """The substantive lines inside the solution's BEGIN/END SOLUTION regions."""
    lines: set[str] = set()
    for cell in solution.cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN SOLUTION" in line:
                inside = True
            elif "END SOLUTION" in line:
                inside = False
            elif inside and len(line.strip()) >= 12 and not line.strip().startswith("#"):
                lines.add(line.strip())
    return lines


def hidden_lines(suite_dir: Path) -> set[str]:
    lines: set[str] = set()
    for path in sorted(suite_dir.rglob("*.py")) if suite_dir.is_dir() else []:
        for line in path.read_text(encoding="utf-8").splitlines():
            text = line.strip()
            if len(text) >= 30 and not text.startswith(("#", "import ", "from ")):
                lines.add(text)
    return lines


def hidden_test_lines(solution: NotebookNode) -> set[str]:
    """The lines inside the solution's BEGIN/END HIDDEN TESTS regions (nbgrader's hidden tests,
    which `kind = "nbgrader"` assignments keep in the solution notebook)."""
    lines: set[str] = set()
    for cell in solution.cells:
        inside = False
        for line in cell.source.splitlines():
            text = line.strip()
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(text) >= 30 and not text.startswith(("#", "import ", "from ")):
                lines.add(text)
    return lines


HIDDEN_LINES_MIN = 3   # a helper line shared with the public tests is fine; a test body is not


def find_leaks(texts: dict[str, str], assignment: Assignment) -> list[str]:
    """One sentence per released file that contains a solution or the hidden tests."""
    source = nbformat.read(assignment.solution, as_version=4)
    solution = solution_lines(source)
    hidden = hidden_lines(assignment.suite_dir) | hidden_test_lines(source)
    where = (f"{assignment.suite_dir}" if assignment.kind == "cnngrade" else
             f"the hidden test regions of {assignment.solution}")
    leaks = []
    for name, text in texts.items():
        if name.endswith(".ipynb"):   # search the cells' text, not the JSON escaping of it
            text = "\n".join("".join(cell.get("source", ""))
                             for cell in json.loads(text).get("cells", []))
        elif name.endswith(".json"):   # e.g. the manifest: every string in it, unescaped
            text = "\n".join(_strings(json.loads(text)))
        for marker in MARKERS:
            if marker in text:
                leaks.append(f"{name} contains the marker '{marker}'; put solutions inside "
                             "### BEGIN SOLUTION / ### END SOLUTION in the solution notebook")
        # Whole lines only: instructions may quote a formula inline (`np.sum(kernel * patch)`),
        # but a solution line standing on its own line has been handed out.
        lines = {raw.strip().strip("`").strip() for raw in text.splitlines()}
        for line in sorted(solution & lines)[:1]:
            leaks.append(f"{name} contains a line of the solution, {line[:60]!r}; keep it inside "
                         f"a solution region of {assignment.solution}")
        shared = sorted(hidden & lines)
        if len(shared) >= HIDDEN_LINES_MIN:
            leaks.append(f"{name} contains {len(shared)} lines of the hidden tests (e.g. "
                         f"{shared[0][:60]!r}); keep hidden tests in {where}")
    return leaks


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def render_release(assignment: Assignment) -> dict[str, bytes]:
    """The files a student receives, by relative path: the notebook (its metadata naming the
    release), the public files and the manifest."""
    public: dict[str, bytes] = {}
    for rel in assignment.public_files:
        path = (assignment.template_dir / rel).resolve()
        if not path.is_relative_to(assignment.template_dir.resolve()) or not path.is_file():
            raise ConfigError(f"{assignment.template_dir / 'assignment.toml'} lists the public "
                              f"file {rel!r}, which is not a file inside "
                              f"{assignment.template_dir}; fix public_files.")
        if path.is_relative_to(assignment.suite_dir.resolve()):
            raise LeakError(f"public file {rel!r} lies in the hidden suite; remove it from "
                            "public_files.")
        public[rel] = path.read_bytes()
    template = load_template(assignment.solution, assignment.slug)
    template.metadata["cnngrade"]["release"] = release_id(template, public)
    files = {assignment.notebook: template_text(template).encode(), **public}
    files[MANIFEST.as_posix()] = manifest_bytes(build_manifest(assignment, template, public))
    return files


def release_archive(slug: str, files: dict[str, bytes]) -> bytes:
    """The release as one zip, `<slug>/...` inside, the same bytes for the same release."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for rel in sorted(files):
            info = zipfile.ZipInfo(f"{slug}/{rel}", date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[rel])
    return buffer.getvalue()


def release(course: Course, slug: str, update_template: bool = True,
            zip: bool = False) -> ReleaseResult:
    """Render, refuse any leak, then write the template, `<course>/release/<slug>/` and, with
    `zip`, `<course>/release/<slug>.zip`."""
    assignment = course.assignment(slug)
    files = render_release(assignment)
    texts = {name: data.decode("utf-8", errors="replace") for name, data in files.items()}
    leaks = find_leaks(texts, assignment)
    if leaks:
        raise LeakError(f"Refusing to release '{slug}': {leaks[0]}, then release again.")
    if update_template:
        current = assignment.template.read_bytes() if assignment.template.is_file() else b""
        if current != files[assignment.notebook]:
            atomic_write(assignment.template, files[assignment.notebook])
    out = course.course_dir / "release" / slug
    written = []
    for rel, data in files.items():
        atomic_write(out / rel, data)
        written.append(out / rel)
    archive = None
    if zip:
        archive = out.with_name(f"{slug}.zip")
        atomic_write(archive, release_archive(slug, files))
    rid = json.loads(files[MANIFEST.as_posix()])["release"]
    return ReleaseResult(slug, out, assignment.template, written, rid, archive)
