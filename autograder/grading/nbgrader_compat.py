"""nbgrader compatibility: assignments whose tests are the notebook's own nbgrader grade cells
(`kind = "nbgrader"` in assignment.toml), graded the way `nbgrader autograde` grades them, and
`import_nbgrader`, which brings an nbgrader course's `source/` in as cnngrade assignments.

Grading one submission follows `nbgrader autograde` step by step, with nbgrader's own code
wherever it can run without nbgrader's database:

1. the source notebook is prepared as `nbgrader generate_assignment` prepares it before saving
   its cells (LockCells, ClearSolutions, ClearOutput, CheckCellMetadata, ComputeChecksums) and
   its cells are collected by nbgrader's `SaveCells` (into memory instead of a gradebook);
2. the submission is sanitised by nbgrader's preprocessors (ClearOutput, DeduplicateIds, the
   source's kernelspec, OverwriteCells, CheckCellMetadata); OverwriteCells reads the source's
   cells from memory, so every test cell (hidden tests included) and every locked cell is put
   back exactly as nbgrader puts it back;
3. the notebook runs in cnngrade's sandboxed kernel (StudentKernel: same limits as every
   assignment), with nbgrader's `Execute.on_cell_executed`, which records an error that the
   notebook hid from its outputs;
4. each autograded test cell (a code grade cell that is not a solution cell) is scored by
   nbgrader's `utils.determine_grade`: an error or anything on stderr 0, a number as the last
   output partial credit, otherwise full points.

Manually graded cells (written answers, code answers marked for manual grading, task cells) get
no score from `nbgrader autograde` until a person grades them, and neither from cnngrade's
grading: a person grades them with `cnngrade manual` (cnngrade.grading.manual), as with
nbgrader's formgrader, and the final grade is the autograded points plus theirs. As in nbgrader,
an answer left as released gets 0 without a person. An imported assignment's `points` are the
autograded points; its assignment.toml lists the cells graded by hand, where `[manual.<id>]`
rubric tables may be added.

The trust model is nbgrader's: the test cells run in the student's own kernel (in the sandbox),
so a notebook that patches IPython itself could fake a passing test cell, as it could under
nbgrader; the sandbox still keeps it away from the grader, the gradebook and other submissions.
"""

from __future__ import annotations

import copy
import fnmatch
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbgrader import utils as nbutils
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    DeduplicateIds,
    Execute,
    LimitOutput,
    LockCells,
    OverwriteCells,
    SaveCells,
)
from nbgrader.preprocessors.base import NbGraderPreprocessor

from ..course.config import COURSE_FILE, REPO_ROOT, Assignment, Course, load_course
from ..course.data import DataLayout, data_layout
from ..course.errors import ConfigError, SubmissionError
from ..course.store import atomic_write
from ..intake.notebook import grade_id, parse_notebook
from ..intake.release import render_release
from ..sandbox.gpu_share import GpuShare
from ..sandbox.student_kernel import KernelGone, StudentKernel
from .evaluation import Evaluation, slowest
from .suite_runner import MAX_MESSAGE, TestResult

# nbgrader's defaults (CourseDirectory.ignore, Execute.timeout)
NBGRADER_IGNORE = (".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback")
NBGRADER_CELL_TIMEOUT = 30
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# -- the source notebook, as nbgrader's gradebook would hold it ---------------------------------

class _NoGradebook:
    """Stands in for an empty gradebook: every lookup is a MissingEntry."""

    def __getattr__(self, name: str) -> Any:
        def missing(*args: Any, **kwargs: Any) -> Any:
            raise MissingEntry()
        return missing


class _CollectCells(SaveCells):
    """nbgrader's SaveCells, keeping the cells it would save in memory instead of a database."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.new_grade_cells, self.new_solution_cells = {}, {}
        self.new_task_cells, self.new_source_cells = {}, {}
        self.gradebook = _NoGradebook()
        return NbGraderPreprocessor.preprocess(self, nb, resources)


class _SourceBook:
    """The two gradebook lookups OverwriteCells makes, answered from the source notebook."""

    def __init__(self, source_cells: dict[str, dict], grade_cells: dict[str, dict]):
        self.source_cells = source_cells
        self.grade_cells = grade_cells

    def find_source_cell(self, name: str, notebook: str, assignment: str) -> SimpleNamespace:
        if name not in self.source_cells:
            raise MissingEntry()
        return SimpleNamespace(name=name, **self.source_cells[name])

    def find_graded_cell(self, name: str, notebook: str, assignment: str) -> SimpleNamespace:
        if name not in self.grade_cells:
            raise MissingEntry()
        return SimpleNamespace(name=name, **self.grade_cells[name])


class _OverwriteFromSource(OverwriteCells):
    """nbgrader's OverwriteCells (restores locked and test cells, points, cell types, lock
    flags), reading the source's cells from memory instead of the gradebook."""

    def __init__(self, book: _SourceBook, **kwargs: Any):
        super().__init__(**kwargs)
        self._book = book

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.gradebook = self._book
        return NbGraderPreprocessor.preprocess(self, nb, resources)


@dataclass(frozen=True)
class GradeCell:
    grade_id: str
    points: float
    description: str
    cell_type: str


@dataclass
class Source:
    """What nbgrader's gradebook knows about one source notebook."""

    notebook_id: str
    assignment_id: str
    kernelspec: dict
    book: _SourceBook
    released_checksums: dict[str, str | None]   # checksums of the cells as released
    autograded: list[GradeCell]                 # code grade cells that are not solution cells
    manual: list[GradeCell]                     # everything else that carries points

    @property
    def points(self) -> float:
        return sum(c.points for c in self.autograded)

    @property
    def manual_points(self) -> float:
        return sum(c.points for c in self.manual)


def _description(cell: NotebookNode, gid: str) -> str:
    """The first line of a test cell as released (hidden tests removed), where it is a
    docstring or a comment; else the cell's id."""
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    text = first.strip("#").strip().strip("\"'").strip()
    return text[:160] if first.startswith(("#", '"', "'")) and text else f"test cell {gid}"


def read_source(solution: NotebookNode, notebook_id: str, assignment_id: str) -> Source:
    """Prepare the source notebook as `nbgrader generate_assignment` does before SaveCells,
    and collect its cells with SaveCells. Raises ConfigError for invalid nbgrader markup."""
    nb = copy.deepcopy(solution)
    resources: dict = {"nbgrader": {"notebook": notebook_id, "assignment": assignment_id}}
    collector = _CollectCells()
    try:
        for preprocessor in (LockCells(), ClearSolutions(), ClearOutput(), CheckCellMetadata(),
                             ComputeChecksums(), collector):
            nb, resources = preprocessor.preprocess(nb, resources)
        released = copy.deepcopy(nb)
        for preprocessor in (ClearHiddenTests(), ClearMarkScheme(), ComputeChecksums()):
            released, _ = preprocessor.preprocess(released, {})
    except Exception as exc:
        raise ConfigError(f"The nbgrader source notebook {notebook_id} of '{assignment_id}' has "
                          f"invalid nbgrader markup ({exc}); fix it.") from None
    released_cells = {gid: c for c in released.cells if (gid := grade_id(c))}
    autograded, manual = [], []
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid is None:
            continue
        meta = cell.metadata.nbgrader
        if nbutils.is_grade(cell) or nbutils.is_task(cell):
            points = float(meta.get("points", 0))
            if nbutils.is_grade(cell) and not nbutils.is_solution(cell) \
                    and cell.cell_type == "code":
                autograded.append(GradeCell(gid, points, _description(released_cells[gid], gid),
                                            cell.cell_type))
            else:
                manual.append(GradeCell(gid, points, "graded by hand (cnngrade manual)",
                                        cell.cell_type))
    return Source(
        notebook_id=notebook_id, assignment_id=assignment_id,
        kernelspec=dict(nb.metadata.get("kernelspec", {})),
        book=_SourceBook(collector.new_source_cells, collector.new_grade_cells),
        released_checksums={gid: c.metadata.nbgrader.get("checksum")
                            for gid, c in released_cells.items()},
        autograded=autograded, manual=manual)


_SOURCES: dict[str, Source] = {}


def source_of(assignment: Assignment) -> Source:
    if not assignment.solution.is_file():
        raise ConfigError(f"The nbgrader source notebook {assignment.solution} is missing; "
                          "run `cnngrade import-nbgrader` again.")
    key = f"{assignment.solution}:{assignment.solution.stat().st_mtime_ns}"
    if key not in _SOURCES:
        # the ids only name the notebook in nbgrader's gradebook lookups, answered from memory
        _SOURCES[key] = read_source(nbformat.read(assignment.solution, as_version=4),
                                    Path(assignment.notebook).stem, assignment.slug)
    return _SOURCES[key]


# -- a submission: restore, run, score ------------------------------------------------------

def _checksum(cell: NotebookNode) -> str | None:
    try:
        return nbutils.compute_checksum(cell)
    except Exception:
        return None


def _tampering(nb: NotebookNode, source: Source) -> list[str]:
    """One sentence per test or locked cell that OverwriteCells is about to undo, and per grade
    cell that nbgrader will not find (nbgrader does not put deleted cells back)."""
    problems = []
    seen: dict[str, int] = {}
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid is None or gid not in source.book.source_cells:
            continue
        seen[gid] = seen.get(gid, 0) + 1
        info = source.book.source_cells[gid]
        if info["locked"] and _checksum(cell) not in (info["checksum"],
                                                      source.released_checksums.get(gid)):
            what = "test" if gid in source.book.grade_cells else "locked"
            problems.append(f"{what} cell '{gid}' was edited; nbgrader's original was restored.")
    for gid, count in seen.items():
        if count > 1:
            problems.append(f"cell '{gid}' appears {count} times; as in nbgrader, only the last "
                            "copy keeps its id.")
    for cell in source.autograded:
        if cell.grade_id not in seen:
            problems.append(f"test cell '{cell.grade_id}' was deleted (or its nbgrader metadata "
                            "removed); nbgrader does not put it back, so it scores 0.")
    return problems


def restore(submitted: NotebookNode, source: Source, name: str) -> tuple[NotebookNode, list[str]]:
    """nbgrader autograde's sanitising steps. Raises SubmissionError where nbgrader would fail
    the notebook (its metadata cannot be reconciled with the source)."""
    nb = copy.deepcopy(submitted)
    problems = _tampering(nb, source)
    resources: dict = {"nbgrader": {"notebook": source.notebook_id,
                                    "assignment": source.assignment_id}}
    try:
        nb, resources = ClearOutput().preprocess(nb, resources)
        nb, resources = DeduplicateIds().preprocess(nb, resources)
        if source.kernelspec:   # OverwriteKernelspec
            nb.metadata["kernelspec"] = copy.deepcopy(source.kernelspec)
        nb, resources = _OverwriteFromSource(source.book).preprocess(nb, resources)
        nb, resources = CheckCellMetadata().preprocess(nb, resources)
    except Exception as exc:
        detail = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise SubmissionError(f"{name}: its nbgrader cell metadata cannot be matched with the "
                              f"assignment's ({detail!r}), so nbgrader's autograde would refuse "
                              "it too; start again from the released notebook, copy your "
                              "answers into it and submit that.") from None
    return nb, problems


def _on_cell_executed(**kwargs: Any) -> None:
    """nbgrader's Execute.on_cell_executed: an error reply without an error output (tracebacks
    switched off by the notebook) still becomes an error output."""
    Execute.on_cell_executed(None, **kwargs)


class NbgraderKernel(StudentKernel):
    """StudentKernel with nbgrader's record of errors the notebook hid."""

    def _connect(self) -> None:
        super()._connect()
        assert self.client is not None
        self.client.on_cell_executed = _on_cell_executed


class _Warnings:
    """Collects determine_grade's warnings (its `log` argument) for the test's message."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def warning(self, message: str, *args: Any) -> None:
        text = message % args if args else message
        self.lines.append(" ".join(text.split()))


def _clip(text: str) -> str:
    text = ANSI.sub("", text).strip()
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + " ..."


def _why(cell: NotebookNode) -> str:
    """Why a test cell lost its points, from its outputs."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            ename, evalue = output.get("ename", "Error"), output.get("evalue", "")
            if ename == "CnngradeLimit":
                return _clip(evalue)
            if not evalue and ename == "AssertionError":
                return "AssertionError: an assert in the test cell failed"
            return _clip(f"{ename}: {evalue}")
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            return _clip("the cell wrote to stderr, which nbgrader counts as a failure: "
                         + output.get("text", ""))
    return ""


def score_cells(executed: NotebookNode, source: Source) -> list[TestResult]:
    """One TestResult per autograded test cell of the source, scored by nbgrader's
    determine_grade on the executed notebook."""
    cells: dict[str, NotebookNode] = {}
    for cell in executed.cells:
        gid = grade_id(cell)
        if gid and nbutils.is_grade(cell) and gid not in cells:
            cells[gid] = cell
    results = []
    for test in source.autograded:
        cell = cells.get(test.grade_id)
        if cell is None:
            results.append(TestResult(test.grade_id, test.description, test.points, 0.0,
                                      "failed", "the test cell was deleted from the notebook; "
                                      "nbgrader gives it 0"))
            continue
        notes = _Warnings()
        try:
            score, _ = nbutils.determine_grade(cell, notes)
        except (KeyError, ValueError) as exc:
            results.append(TestResult(test.grade_id, test.description, test.points, 0.0,
                                      "failed", _clip(f"nbgrader cannot score this cell's "
                                                      f"output ({exc}); 0 points")))
            continue
        score = float(score or 0.0)
        if score >= test.points:
            message = ""
        elif score > 0:
            message = f"partial credit: {score:g} of {test.points:g} points (the cell's output)"
        else:
            message = _why(cell) or "the cell's output gave 0 points"
        if notes.lines:
            message = "; ".join(filter(None, [message, *notes.lines]))
        results.append(TestResult(test.grade_id, test.description, test.points, score,
                                  "passed" if score >= test.points else "failed",
                                  _clip(message)))
    return results


def evaluate_nbgrader(data: bytes, name: str, assignment: Assignment,
                      layout: DataLayout | None = None, threads: int | None = None,
                      gpu_share: GpuShare | None = None, warm: bool = False) -> Evaluation:
    """Grade one submission of an nbgrader assignment as `nbgrader autograde` would; returns an
    Evaluation. Raises SubmissionError when the file cannot be graded."""
    source = source_of(assignment)
    submitted = parse_notebook(data, name)
    nb, problems = restore(submitted, source, name)
    files = {rel: (assignment.template_dir / rel).read_bytes() for rel in assignment.public_files}
    layout = layout or data_layout({})
    binds = tuple(layout.sandbox_binds(assignment.data))
    with NbgraderKernel.ready(nb, assignment.limits, gpu=assignment.gpu, files=files,
                              data=binds, threads=threads,
                              keras_backend=assignment.keras_backend,
                              gpu_share=gpu_share) as kernel:
        if warm:   # the next submission's kernel boots while this one runs
            kernel.start_ahead()
        try:
            report = kernel.run_notebook()
        except KernelGone:
            message = "; ".join(kernel.report.problems) or "the Python kernel could not start"
            return Evaluation([], problems, [message], clock=kernel.report.clock)
        executed = kernel.nb
        for index, why in kernel.skipped.items():   # never run: no output must not mean a pass
            cell = executed.cells[index]
            if not any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                cell.outputs = [nbformat.v4.new_output("error", ename="CnngradeLimit",
                                                       evalue=why, traceback=[why])]
    executed, _ = LimitOutput().preprocess(executed, {})
    tests = score_cells(executed, source)
    errors = []
    if abs(source.points - assignment.points) > 1e-9:
        errors.append(f"the notebook's autograded test cells are worth {source.points:g} points "
                      f"but assignment.toml says {assignment.points:g}; run `cnngrade "
                      "import-nbgrader` again or fix points")
    return Evaluation(tests, problems + report.problems, errors, None, report.errors,
                      round(report.seconds, 2),
                      nbformat.writes(executed), wall_stops=list(report.wall_stops),
                      cpu_seconds=round(report.cpu_seconds, 2),
                      slowest_cells=slowest(report.cells), clock=report.clock)


# -- importing an nbgrader course -----------------------------------------------------------

@dataclass
class ImportedNotebook:
    slug: str
    assignment: str           # nbgrader assignment id (source/<assignment>/)
    notebook: str             # file name (problem1.ipynb)
    points: float             # autograded: what cnngrade scores
    manual_points: float      # graded by hand in nbgrader
    tests: list[str]          # autograded test cells' ids
    manual_cells: list[str]
    public_files: list[str]
    status: str               # "added" | "updated" | "unchanged"


@dataclass
class ImportReport:
    course_dir: Path
    source_dir: Path
    assignments_dir: Path
    solutions_dir: Path
    imported: list[ImportedNotebook] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


SLUG_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def slug_for(assignment: str, notebook_stem: str) -> str:
    """source/ps1/problem1.ipynb -> 'ps1-problem1'."""
    return SLUG_CHARS.sub("-", f"{assignment}-{notebook_stem}").strip("-.")


def _ignored(path: Path, root: Path) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in path.relative_to(root).parts
               for pattern in NBGRADER_IGNORE)


def _nbgrader_config(course: Path, notes: list[str]) -> Any:
    """The nbgrader course's own nbgrader_config.py (as nbgrader reads it), or an empty one."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader
    if not (course / "nbgrader_config.py").is_file():
        return Config()
    try:
        return PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    except Exception as exc:
        notes.append(f"{course / 'nbgrader_config.py'} could not be read ({exc}); nbgrader's "
                     "defaults were used (no header or footer, 30 s per cell).")
        return Config()


def _content(course: Course, notes: list[str]) -> Course:
    """The course with content folders of its own: never this repository's."""
    repo = {(REPO_ROOT / "assignments").resolve(), (REPO_ROOT / "solutions").resolve()}
    if course.assignments_dir.resolve() not in repo and \
            course.solutions_dir.resolve() not in repo:
        return course
    config = course.course_dir / COURSE_FILE
    if "content" in course.settings:
        raise ConfigError(f"{config} leaves the assignments or solutions of this course in "
                          f"this repository ({REPO_ROOT}); name folders of the course's own in "
                          "its [content] table, then import again.")
    if course.course_dir.resolve() == REPO_ROOT.resolve():
        raise ConfigError(f"{course.course_dir} is this repository; import the nbgrader course "
                          "into a course directory of its own (--course-dir DIR).")
    if (course.course_dir / "gradebook.sqlite").exists():
        raise ConfigError(f"{course.course_dir} already grades this repository's assignments; "
                          "import the nbgrader course into a course directory of its own "
                          "(--course-dir DIR).")
    course.course_dir.mkdir(parents=True, exist_ok=True)
    text = config.read_text(encoding="utf-8") if config.is_file() else ""
    text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + (
        '[content]   # written by `cnngrade import-nbgrader`\nassignments = "assignments"\n'
        'solutions = "solutions"\nsuites = "suites"\n')
    atomic_write(config, text.encode())
    notes.append(f"{config}: the course's content is now {course.course_dir}/assignments and "
                 "solutions (the [content] table was added).")
    return load_course(course.course_dir)


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _assignment_toml(asg: str, nb_file: str, source: Source, public: list[str],
                     cell_timeout: float, origin: Path) -> str:
    manual = source.manual_points
    title = f"{asg} / {Path(nb_file).stem}"
    slug = slug_for(asg, Path(nb_file).stem)
    lines = [
        f"# Imported by `cnngrade import-nbgrader` from {origin}",
        "# The tests are the notebook's own autograded nbgrader cells, scored by nbgrader's",
        "# rules (`points` is theirs). The cells graded by hand in nbgrader (see [nbgrader]",
        f"# manual_cells) are graded with `cnngrade manual {slug}` and add their points; give",
        "# one a rubric with a [manual.<grade_id>] table (see README: written answers).",
        f"title = {_toml_str(title)}",
        'kind = "nbgrader"',
        f"points = {source.points:g}",
        "gpu = false",
        f"notebook = {_toml_str(nb_file)}",
        "public_files = [" + ", ".join(_toml_str(p) for p in public) + "]",
        "",
        "[nbgrader]",
        f"assignment = {_toml_str(asg)}",
        f"notebook = {_toml_str(Path(nb_file).stem)}",
        "tests = [" + ", ".join(_toml_str(c.grade_id) for c in source.autograded) + "]",
        f"manual_points = {manual:g}",
        "manual_cells = [" + ", ".join(_toml_str(c.grade_id) for c in source.manual) + "]",
        "",
        "[limits]",
        f"cell_timeout = {cell_timeout:g}   # CPU s per cell (nbgrader's Execute.timeout); "
        "wall-clock backstop 4 x",
        "notebook_timeout = 600",
        'memory = "4GiB"',
        "processes = 64",
        'file_size = "256MiB"',
        "threads = 1",
    ]
    return "\n".join(lines) + "\n"


def _rubrics_kept(folder: Path) -> str:
    """The `[manual.<id>]` rubric tables an instructor added to an imported assignment.toml
    (at its end, as the README says), kept when the notebook is imported again."""
    path = folder / "assignment.toml"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    found = re.search(r"^(?:# .*\n)*\[\[?manual\.", text, flags=re.MULTILINE)
    return "\n" + text[found.start():] if found else ""


def _write(path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    atomic_write(path, data)
    return True


def import_nbgrader(course: Course, source_dir: str | Path,
                    only: tuple[str, ...] = ()) -> ImportReport:
    """Each notebook `source/<assignment>/<nb>.ipynb` of the nbgrader course in `source_dir`
    becomes the cnngrade assignment `<assignment>-<nb>` (kind "nbgrader") in the course's own
    content folders: `assignments/<slug>/assignment.toml`, the student template and the files
    beside the notebook (public files), and `solutions/<slug>.ipynb` (the source notebook, with
    the course's header and footer, as `nbgrader generate_assignment` adds them)."""
    root = Path(source_dir).resolve()
    if root.name == "source" and not (root / "source").is_dir():
        root = root.parent
    source_root = root / "source"
    if not source_root.is_dir():
        raise ConfigError(f"{root} has no source/ folder, so it is not an nbgrader course "
                          "directory; give the folder that holds nbgrader_config.py and "
                          "source/.")
    notes: list[str] = []
    course = _content(course, notes)
    config = _nbgrader_config(root, notes)
    headers = {}
    for key in ("header", "footer"):
        value = config.IncludeHeaderFooter.get(key, "") if "IncludeHeaderFooter" in config else ""
        if value:
            path = (root / value).resolve()
            if path.is_file():
                headers[key] = str(path)
            else:
                notes.append(f"the {key} notebook {path} named in nbgrader_config.py is missing; "
                             f"the notebooks were imported without a {key}.")
    timeout = NBGRADER_CELL_TIMEOUT
    if "Execute" in config and "timeout" in config.Execute and config.Execute.timeout:
        timeout = int(config.Execute.timeout)
    report = ImportReport(course.course_dir, root, course.assignments_dir, course.solutions_dir,
                          notes=notes)
    folders = sorted(p for p in source_root.iterdir() if p.is_dir() and not p.is_symlink()
                     and not _ignored(p, source_root))
    if only:
        unknown = sorted(set(only) - {p.name for p in folders})
        if unknown:
            raise ConfigError(f"{source_root} has no assignment {', '.join(unknown)} (it has "
                              f"{', '.join(p.name for p in folders) or 'none'}).")
        folders = [p for p in folders if p.name in only]
    for folder in folders:
        notebooks = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
        if not notebooks:
            report.skipped.append(f"{folder}: no notebooks")
            continue
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".ipynb"
                       and not _ignored(p, folder) and not p.is_symlink())
        public = [p.relative_to(folder).as_posix() for p in files]
        for path in notebooks:
            item = _import_notebook(course, folder.name, path, public, files, headers, timeout,
                                    root, report)
            if item:
                report.imported.append(item)
    if not report.imported and not report.skipped:
        report.skipped.append(f"{source_root}: no assignments")
    return report


def _import_notebook(course: Course, asg: str, path: Path, public: list[str], files: list[Path],
                     headers: dict[str, str], timeout: float, root: Path,
                     report: ImportReport) -> ImportedNotebook | None:
    from nbgrader.preprocessors import IncludeHeaderFooter
    slug = slug_for(asg, path.stem)
    try:
        solution = nbformat.read(path, as_version=4)
    except Exception as exc:
        report.skipped.append(f"{path}: not a readable notebook ({exc})")
        return None
    if any(c.cell_type == "code" and "AUTOTEST" in c.source for c in solution.cells):
        report.skipped.append(f"{path}: it uses nbgrader's AUTOTEST cells, which cnngrade does "
                              "not generate; write those tests out in the source notebook")
        return None
    if headers:
        solution, _ = IncludeHeaderFooter(**headers).preprocess(solution, {})
    try:
        source = read_source(solution, path.stem, asg)
    except ConfigError as exc:
        report.skipped.append(f"{path}: {exc}")
        return None
    folder = course.assignments_dir / slug
    existed = (folder / "assignment.toml").is_file()
    changed = _write(course.solutions_dir / f"{slug}.ipynb",
                     (nbformat.writes(solution) + "\n").encode())
    toml = _assignment_toml(asg, path.name, source, public, timeout, path)
    changed |= _write(folder / "assignment.toml", (toml + _rubrics_kept(folder)).encode())
    for rel, file in zip(public, files, strict=True):
        target = folder / rel
        if not target.is_file() or target.read_bytes() != file.read_bytes():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, target)
            changed = True
    assignment = course.assignment(slug)
    try:   # the template exactly as `cnngrade release` writes it (its release id included)
        released = render_release(assignment)[assignment.notebook]
    except ConfigError as exc:
        report.skipped.append(f"{path}: {exc}")
        return None
    changed |= _write(assignment.template, released)
    status = "unchanged" if existed and not changed else "updated" if existed else "added"
    if not source.autograded:
        report.notes.append(f"{slug}: no autograded test cells; every point of it "
                            f"({source.manual_points:g}) is graded by hand (`cnngrade manual "
                            f"{slug}`); the grading only runs it (0 of 0 points).")
    return ImportedNotebook(slug, asg, path.name, source.points, source.manual_points,
                            [c.grade_id for c in source.autograded],
                            [c.grade_id for c in source.manual], public, status)
