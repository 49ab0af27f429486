"""The student side: `cnngrade check NOTEBOOK` runs the assignment's public tests against the
student's own notebook, in the same sandbox the grader uses, and says, besides the tests, what
would keep the notebook from being graded or cost it points for other reasons:

- a file that collect would not take (too large, no cells): it cannot be graded at all;
- edited locked cells (the grader puts the released version back: the edits do not count),
  deleted answer cells (graded 0), duplicated answer cells (only the first copy is graded),
  answer cells whose type changed, cells whose nbgrader metadata was removed or changed (a
  copied cell): `cnngrade.intake.notebook.restore_cells` reports these as sentences, which are
  classified here and told with what to do;
- cells stopped by a time limit, cells that killed the kernel, cells that raised in the sandbox
  (the execution report and the executed notebook);
- Keras models the grader could not load: a generated check, run after the public tests in the
  same kernel, lists the `keras.Model` objects among the notebook's globals and loads each as
  the grader does (`StudentProxy.keras_model`: saved by the kernel, loaded in this process with
  `safe_mode=True`, refused when its config names code outside Keras, e.g. a Lambda layer or a
  custom class). It is worth no points and is shown as a warning, not as a test.

Where the assignment comes from: on a student's machine, the released folder the notebook
sits in (or `release=`): its manifest, `.cnngrade/assignment.json`
(cnngrade.intake.release_manifest), carries the settings, the released template and the public
tests, so the check needs only the installed cnngrade and that folder, never the repository,
the solution or a hidden suite. Without a manifest (the instructor's machine), the course's own
assignments, as the grader sees them.

Where the machine has no bubblewrap (macOS, WSL or a container without user namespaces), the
notebook runs in the weaker mode the grader would use there, and `CheckResult.notes` says so in
one sentence; the check still runs.

A file that is not a notebook at all (missing, a folder, invalid JSON, an unreadable nbformat)
or that belongs to no assignment of the course is a CnnGradeError of one sentence.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbgrader.utils import is_locked

from ..course.config import Assignment, Course
from ..course.data import data_layout
from ..course.errors import CnnGradeError
from ..grading.evaluate import evaluate
from ..grading.manual import manual_cells
from ..grading.suite_runner import TestResult
from ..intake.collect import MAX_FILE
from ..intake.notebook import grade_id, load_template, parse_notebook, restore_cells
from ..intake.release_manifest import MANIFEST, Released, find_release, read_release
from ..sandbox.walls import sandbox_kind

LEVELS = ("ungradable", "points", "note")   # most serious first

MODEL_TEST = "test_cnngrade_keras_models_load"
MODEL_TEST_FILE = "test_zz_cnngrade_keras_models.py"   # sorts after the public tests
MAX_MODELS = 8
MAX_CELL_ERRORS = 5
MAX_READ = 16   # times collect's MAX_FILE: a file larger than that is not even read

# Runs in the grader's process, beside a copy of the public tests. The expression runs in the
# student's kernel: it imports nothing (no Keras unless the notebook imported it) and answers
# with a tuple of names, which the proxy decodes as untrusted data.
MODEL_TEST_SOURCE = f'''"""Written by `cnngrade check` beside the public tests (not one of them):
every Keras model among the notebook's globals, saved by its kernel and loaded here as the
grader loads models."""

import pytest

LIST_MODELS = (
    "(lambda keras: tuple(sorted(name for name, value in list(globals().items())"
    " if keras is not None and not name.startswith('_') and isinstance(value, keras.Model))))"
    "(__import__('sys').modules.get('keras'))"
)


@pytest.mark.points(0)
def {MODEL_TEST}(student, feedback):
    """the notebook's Keras models can be saved and loaded by the grader"""
    names = student.eval(LIST_MODELS, what="listing the notebook's Keras models")
    names = [n for n in names if isinstance(n, str) and n.isidentifier()] \\
        if isinstance(names, (tuple, list)) else []
    rows, failed = [], []
    for name in names[:{MAX_MODELS}]:
        try:
            student.keras_model(name)
        except AssertionError as exc:
            rows.append([name, False, str(exc)])
            failed.append(str(exc))
        else:
            rows.append([name, True, ""])
    rows += [[name, None, "not checked"] for name in names[{MAX_MODELS}:]]
    feedback.table("Keras models", ["model", "loads", "message"], rows)
    assert not failed, "; ".join(failed)
'''


@dataclass(frozen=True)
class Finding:
    """Something besides the tests that the student should fix before submitting."""

    level: str          # "ungradable" | "points" (will cost points or not count) | "note"
    what: str           # what is wrong and what the grader will do about it
    advice: str = ""    # what to do
    detail: str = ""    # the grader's own sentence, where it says more


@dataclass
class CheckResult:
    slug: str
    notebook: Path
    tests: list[TestResult]            # the public tests (the generated model check excluded)
    problems: list[str]                # the grader's sentences about the notebook, as grading
    findings: list[Finding] = field(default_factory=list)   # most serious first
    errors: list[str] = field(default_factory=list)   # the check itself could not run fully
    models: list[str] = field(default_factory=list)   # Keras models the grader can load
    notes: list[str] = field(default_factory=list)    # about this check itself (the sandbox)
    release: Path | None = None                       # the released folder it used, if any

    @property
    def gradable(self) -> bool:
        return not any(f.level == "ungradable" for f in self.findings)


def assignment_of(path: Path, course: Course, nb: NotebookNode | None = None) -> str:
    """The assignment a notebook belongs to: its metadata's cnngrade.assignment, else its stem."""
    nb = nb if nb is not None else parse_notebook(_read(Path(path)), str(path))
    meta = nb.metadata.get("cnngrade")
    slug = meta.get("assignment") if isinstance(meta, dict) else None
    if isinstance(slug, str) and slug in course.slugs():
        return slug
    if Path(path).stem in course.slugs():
        return Path(path).stem
    raise CnnGradeError(f"{path} does not say which assignment it belongs to; use the notebook "
                        "released for your assignment (its file name is the assignment's name).")


def _read(path: Path) -> bytes:
    if not path.exists():
        raise CnnGradeError(f"{path} does not exist; give the path of your notebook "
                            "(the .ipynb file).")
    if path.is_dir():
        raise CnnGradeError(f"{path} is a folder; give the path of your notebook (the .ipynb "
                            "file) inside it.")
    if not path.is_file():
        raise CnnGradeError(f"{path} is not a regular file; give the path of your notebook "
                            "(the .ipynb file).")
    try:
        if path.stat().st_size > MAX_READ * MAX_FILE:
            raise CnnGradeError(f"{path} is {_mib(path.stat().st_size)}, far more than the "
                                f"{_mib(MAX_FILE)} a submitted notebook may have; clear its "
                                "outputs in Jupyter (Edit → Clear Outputs of All Cells), save "
                                "and check again.")
        return path.read_bytes()
    except OSError as exc:
        raise CnnGradeError(f"{path} cannot be read ({exc.strerror}); check the path and its "
                            "permissions.") from None


SANDBOX_NOTES = {
    "unshare": "This machine has no working bubblewrap, so your notebook ran in the grader's "
               "weaker sandbox (unshare: no network, its own processes, but your files are "
               "visible to it); the tests and limits are the same as the grader's.",
    "none": "This machine has neither bubblewrap nor user namespaces (macOS, WSL or a container "
            "without them), so your notebook ran without the grader's sandbox: as you, seeing "
            "your files and the network, under the same time and memory limits where the "
            "system allows them. The grader runs it in its sandbox, where only the course's "
            "data and public files exist; run check only on your own notebook.",
}


def check_notebook(path: Path, course: Course | None = None,
                   release: Path | None = None) -> CheckResult:
    """Run the public tests against the notebook at `path` in the grader's sandbox, and find
    what else would keep it from being graded or cost it points. The assignment comes from the
    released folder (`release`, else the notebook's own folder when it holds a manifest), else
    from `course`."""
    path = Path(path)
    data = _read(path)
    nb = parse_notebook(data, str(path))   # SubmissionError (one sentence) if not a notebook
    folder = find_release(path, release)
    findings: list[Finding] = []
    if folder is not None:
        released = read_release(folder)
        assignment, template, layout = released.assignment, released.template, data_layout({})
        findings += _release_findings(path, nb, released)
        released_nb = "the released notebook (in the archive your instructor handed out)"
    else:
        if course is None or not course.slugs():
            raise CnnGradeError(f"There is no release manifest beside {path} ({MANIFEST}); run "
                                "`cnngrade check` on the notebook in the folder your instructor "
                                "handed out (unpacked from the release archive), or name that "
                                "folder with --release DIR.")
        assignment = course.assignment(assignment_of(path, course, nb))
        template, layout, released_nb = None, course.data, None
    slug = assignment.slug
    if assignment.kind != "cnngrade":
        raise CnnGradeError(f"'{slug}' is an nbgrader assignment: its tests are the notebook's "
                            "own test cells; run them in Jupyter (nbgrader's Validate button).")
    if not assignment.public_tests_dir.is_dir():
        raise CnnGradeError(f"'{slug}' has no public tests ({assignment.public_tests_dir}).")
    findings += _file_findings(path, data, nb, assignment)
    template = template if template is not None else load_template(assignment.solution, slug)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # loading a model: no C++ chatter
    with tempfile.TemporaryDirectory(prefix="cnngrade-check-") as tmp:
        suite = Path(tmp) / "public_tests"
        shutil.copytree(assignment.public_tests_dir, suite,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (suite / MODEL_TEST_FILE).write_text(MODEL_TEST_SOURCE)
        ev = evaluate(data, str(path), assignment, suite, layout=layout, template=template)
    executed = nbformat.from_dict(json.loads(ev.executed)) if ev.executed else None
    context = _Context(nb, template, assignment, executed, released_nb)
    findings += [context.classify(problem) for problem in ev.problems
                 if nb.cells or not _DELETED.search(problem)]   # no cells: said once above
    findings += context.strays() + context.cell_errors()
    tests = [t for t in ev.tests if t.name != MODEL_TEST]
    model_findings, models = _model_findings(
        next((t for t in ev.tests if t.name == MODEL_TEST), None))
    findings += model_findings
    findings += _manual_findings(nb, template)
    unique = list(dict.fromkeys(findings))
    unique.sort(key=lambda f: LEVELS.index(f.level))
    notes = [SANDBOX_NOTES[kind]] if (kind := sandbox_kind()) in SANDBOX_NOTES else []
    return CheckResult(slug, path, tests, list(ev.problems), unique, list(ev.errors), models,
                       notes, folder)


def _manual_findings(nb: NotebookNode, template: NotebookNode) -> list[Finding]:
    """The answers a person grades: one left as released gets 0 without being read (as in
    nbgrader); the others are graded after submission, which this check cannot judge."""
    cells = manual_cells(template)
    if not cells:
        return []
    sources = {grade_id(c): c.source for c in restore_cells(nb, template).notebook.cells}
    found, written = [], []
    for gid, cell in cells.items():
        answer = sources.get(gid, "").strip()
        if cell.kind == "answer" and answer in ("", cell.template_source.strip()):
            found.append(Finding(
                "points", f"The written answer '{gid}' ({cell.points:g} points, graded by hand) "
                          "is still the released text or empty: it gets 0 without being read.",
                "Write your answer in that cell, replacing its text."))
        else:
            written.append(f"'{gid}' ({cell.points:g} points)")
    if written:
        found.append(Finding("note", f"{', '.join(written)} will be graded by hand after you "
                                     "submit; this check does not judge them."))
    return found


def _release_findings(path: Path, nb: NotebookNode, released: Released) -> list[Finding]:
    """What the notebook's own metadata says against the released folder's manifest."""
    meta = nb.metadata.get("cnngrade")
    meta = meta if isinstance(meta, dict) else {}
    slug, release = meta.get("assignment"), meta.get("release")
    if isinstance(slug, str) and slug != released.assignment.slug:
        raise CnnGradeError(f"{path.name} is a notebook of '{slug}', but {released.folder} is "
                            f"the release of '{released.assignment.slug}'; check it in the "
                            "folder of its own assignment, or name that folder with --release "
                            "DIR.")
    found = [Finding("note", note) for note in released.notes]
    if isinstance(release, str) and release != released.release:
        found.append(Finding(
            "note",
            f"{path.name} comes from another release of '{released.assignment.slug}' (release "
            f"{release[:12]}) than the folder it is checked with (release {released.release}): "
            "the grader uses the current release's locked cells and instructions, as this check "
            "does.",
            "If something below says a locked cell was edited, copy your answers into the "
            "notebook of the current release."))
    return found


def _file_findings(path: Path, data: bytes, nb: NotebookNode,
                   assignment: Assignment) -> list[Finding]:
    found = []
    if len(data) > MAX_FILE:
        found.append(Finding(
            "ungradable",
            f"{path.name} is {_mib(len(data))}, more than the {_mib(MAX_FILE)} a submitted "
            "notebook may have: it will not be collected, so it cannot be graded.",
            "Clear the outputs (Edit → Clear Outputs of All Cells), save, and check again; "
            "large images or printed arrays in the outputs are the usual cause."))
    if not nb.cells:
        found.append(Finding(
            "ungradable", f"{path.name} has no cells: it will be graded 0.",
            "Submit the notebook with your answers: re-download the released notebook and "
            "fill in its answer cells."))
    if path.name != assignment.notebook:
        found.append(Finding(
            "note", f"Your file is named {path.name}, but the assignment's notebook is "
            f"{assignment.notebook}.",
            f"Submit it as {assignment.notebook}: a course that collects through nbgrader's "
            "exchange takes only that name."))
    return found


def _mib(size: int) -> str:
    return f"{size / 1024**2:.0f} MiB" if size >= 1024**2 else f"{size:,} bytes"


def _first_line(source: str, width: int = 60) -> str:
    line = next((s.strip() for s in source.splitlines() if s.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


# Lines of a released answer cell that say nothing about which cell it is.
_FILLER = ("YOUR CODE HERE", "YOUR ANSWER HERE", "NotImplementedError")

# restore_cells' and the execution report's sentences (cnngrade.intake.notebook,
# cnngrade.sandbox.student_kernel)
_LOCKED_EDITED = re.compile(r"locked cell '(?P<gid>.+?)' was edited")
_DUPLICATE = re.compile(r"cell '(?P<gid>.+?)' appears more than once")
_TYPE_CHANGED = re.compile(r"answer cell '(?P<gid>.+?)' changed its type to (?P<type>\w+)")
_DELETED = re.compile(r"(?P<kind>locked|answer) cell '(?P<gid>.+?)' was deleted")
_CELL_WALL = re.compile(r"cell (?P<n>\d+) was stopped after (?P<s>[\d.]+) s without finishing")
_CELL_TIMEOUT = re.compile(r"cell (?P<n>\d+) was stopped after (?P<s>[\d.]+) s")
_KILLED = re.compile(r"cell (?P<n>\d+) killed the Python kernel")
_NOTEBOOK_TIMEOUT = re.compile(
    r"(?:time|wall-clock) limit \((?P<s>[\d.]+) s[^)]*\) was reached at cell (?P<n>\d+)")


class _Context:
    """The student's notebook as submitted, the released template and the notebook as the
    grader executed it: what turns the grader's sentences into findings that say where."""

    def __init__(self, nb: NotebookNode, template: NotebookNode, assignment: Assignment,
                 executed: NotebookNode | None, released_nb: str | None = None):
        self.cells = list(nb.cells)
        self.released = {gid: c for c in template.cells if (gid := grade_id(c))}
        self.assignment = assignment
        self.executed = executed
        self.copies = self._find_copies()
        where = assignment.template
        self.released_nb = released_nb or (f"the released notebook ({where})" if where.is_file()
                                           else "the released notebook")

    # -- where things are in the student's notebook ---------------------------------------
    def positions(self, gid: str) -> list[int]:
        return [i + 1 for i, c in enumerate(self.cells) if grade_id(c) == gid]

    def at(self, index: int) -> str:
        """'cell 3 from the top, `def add(a, b):`' for the student's cell `index` (1-based)."""
        line = _first_line(_source(self.cells[index - 1]))
        return f"cell {index} from the top" + (f", `{line}`" if line else "")

    def executed_cell(self, number: int) -> str:
        """How to recognize the executed notebook's cell `number` (1-based)."""
        if self.executed is None or not 0 < number <= len(self.executed.cells):
            return f"cell {number}"
        cell = self.executed.cells[number - 1]
        gid = grade_id(cell)
        line = _first_line(_source(cell))
        if gid in self.released:
            return f"the cell '{gid}'" + (f" (`{line}`)" if line else "")
        return f"the cell `{line}`" if line else f"cell {number}"

    def _find_copies(self) -> dict[str, tuple[int, str | None]]:
        """Released cells missing from the notebook whose text is in a cell without their
        metadata: grade id -> (the student's cell, 1-based; that cell's own grade id)."""
        present = {gid for c in self.cells if (gid := grade_id(c)) in self.released}
        strays = [(i + 1, c) for i, c in enumerate(self.cells)
                  if grade_id(c) not in self.released]
        found: dict[str, tuple[int, str | None]] = {}
        for gid, cell in self.released.items():
            if gid in present:
                continue
            marks = [s.strip() for s in _source(cell).splitlines()
                     if s.strip() and not any(f in s for f in _FILLER)]
            if not marks:
                continue
            for index, stray in strays:
                lines = {s.strip() for s in _source(stray).splitlines()}
                if stray.cell_type == cell.cell_type and marks[0] in lines and index not in {
                        i for i, _ in found.values()}:
                    found[gid] = (index, grade_id(stray))
                    break
        return found

    # -- the grader's sentences -> findings -----------------------------------------------
    def classify(self, problem: str) -> Finding:
        for pattern, method in ((_LOCKED_EDITED, self._locked_edited),
                                (_DUPLICATE, self._duplicate),
                                (_TYPE_CHANGED, self._type_changed),
                                (_DELETED, self._deleted),
                                (_CELL_WALL, self._cell_wall),
                                (_CELL_TIMEOUT, self._cell_timeout),
                                (_KILLED, self._killed),
                                (_NOTEBOOK_TIMEOUT, self._notebook_timeout)):
            match = pattern.search(problem)
            if match:
                return method(match)
        return Finding("points", _sentence(problem),
                       "Fix it and check again; the grader reports the same when grading.")

    def _locked_edited(self, match: re.Match) -> Finding:
        gid = match["gid"]
        where = self.positions(gid)
        at = f" ({self.at(where[0])})" if where else ""
        return Finding(
            "points",
            f"Locked cell '{gid}'{at} was edited: the grader puts the released version back, "
            "so your changes to it will not count.",
            f"Restore the cell: copy its text back from {self.released_nb}, and write your "
            "own code in an answer cell or a new cell instead.")

    def _duplicate(self, match: re.Match) -> Finding:
        gid = match["gid"]
        where = self.positions(gid)
        original = self.released.get(gid)
        if original is None or is_locked(original):
            return Finding(
                "note",
                f"Locked cell '{gid}' appears more than once: the grader keeps one released "
                "copy and drops the others.", "Delete the extra copies.")
        advice = ("Keep one copy, with your answer, and delete the others (copying a cell in "
                  "Jupyter copies its grade id too).")
        if len(where) < 2:
            return Finding("points", f"Answer cell '{gid}' appears more than once: the grader "
                           "grades only the first copy and does not run the others.", advice)
        texts = [_source(self.cells[i - 1]).strip() for i in where]
        cells = f"cells {', '.join(str(i) for i in where[:-1])} and {where[-1]} from the top"
        what = (f"Answer cell '{gid}' appears {len(where)} times ({cells}): the grader grades "
                f"only the first copy (cell {where[0]}) and does not run the others")
        if texts[0] == _source(original).strip() and any(t != texts[0] for t in texts[1:]):
            return Finding("points", what + ". The first copy is still the empty released "
                           "cell: your answer in the other copy will get 0 points.", advice)
        if any(t != texts[0] for t in texts[1:]):
            return Finding("points", what + ": what you wrote in the other copies is lost.",
                           advice)
        return Finding("note", what + " (they are the same).", advice)

    def _type_changed(self, match: re.Match) -> Finding:
        gid = match["gid"]
        original = self.released.get(gid)
        kind = original.cell_type if original is not None else "code"
        where = self.positions(gid)
        at = f" ({self.at(where[0])})" if where else ""
        return Finding(
            "points",
            f"Answer cell '{gid}'{at} was changed into a {match['type']} cell: the grader uses "
            "the empty released cell instead, so this answer will get 0 points.",
            f"Change it back into a {kind} cell (Jupyter's cell type menu), keeping your "
            "answer.")

    def _deleted(self, match: re.Match) -> Finding:
        gid, kind = match["gid"], match["kind"]
        copy = self.copies.get(gid)
        if copy is not None:
            index, own = copy
            how = ("has no nbgrader metadata" if own is None
                   else f"carries the grade id '{own}' instead")
            where = self.at(index)
            advice = (f"Copy the cell '{gid}' from {self.released_nb} into your notebook "
                      "(copying a whole cell keeps its metadata), put your answer in it, and "
                      "delete the other one.")
            if kind == "locked":
                return Finding(
                    "note", f"Locked cell '{gid}' lost its nbgrader metadata ({where}, which "
                    f"{how}): the grader puts the released cell back beside it.",
                    f"Copy the cell '{gid}' from {self.released_nb} instead.")
            lost = (f"Answer cell '{gid}' lost its nbgrader metadata: your answer seems to be "
                    f"in {where}, which {how} (a copied, pasted or re-created cell). The "
                    f"grader treats that cell as one of your own and puts the empty released "
                    f"cell '{gid}' back")
            if self.runs_before_released(index, gid):
                return Finding("points", lost + " after it, where it replaces your answer: "
                               "this answer will get 0 points.", advice)
            return Finding("note", lost + " before it: your cell runs later, so your answer "
                           "is still used, but only while it stays below that place.", advice)
        if kind == "answer":
            return Finding(
                "points",
                f"Answer cell '{gid}' is missing from your notebook (deleted, or its "
                "metadata removed): the grader puts the empty released cell back, so this "
                "answer will get 0 points.",
                f"Re-download the notebook, or copy the cell '{gid}' from {self.released_nb} "
                "into yours, and put your answer in it.")
        return Finding(
            "note",
            f"Locked cell '{gid}' is missing from your notebook: the grader puts it back, so "
            "nothing is lost.",
            f"Nothing to do; {self.released_nb} has it if you need it.")

    def runs_before_released(self, index: int, gid: str) -> bool:
        """Whether the student's cell `index` (1-based) runs before the released cell `gid`
        that the grader put back (True where the executed notebook does not say)."""
        if self.executed is None:
            return True
        text = _source(self.cells[index - 1])
        order = [(grade_id(c), _source(c)) for c in self.executed.cells]
        released = next((i for i, (g, _) in enumerate(order) if g == gid), None)
        mine = next((i for i, (g, t) in enumerate(order)
                     if g not in self.released and t == text), None)
        return released is None or mine is None or mine < released

    def _cell_timeout(self, match: re.Match) -> Finding:
        limits = self.assignment.limits
        return Finding(
            "points",
            f"{_capital(self.executed_cell(int(match['n'])))} computed longer than the "
            f"grader's limit of {limits.cell_timeout:g} s of CPU time per cell: the grader "
            "stops and skips it, so what it defines is missing when your answers are checked.",
            "Make it faster (fewer epochs or images, NumPy instead of Python loops); the "
            "grader's computer may be slower than yours.")

    def _cell_wall(self, match: re.Match) -> Finding:
        return Finding(
            "points",
            f"{_capital(self.executed_cell(int(match['n'])))} did not finish within "
            f"{float(match['s']):g} s although it hardly computed: it sleeps, waits for input "
            "or for something that never comes; the grader stops and skips it.",
            "Remove input(), long time.sleep() calls and waits on locks, threads or other "
            "processes.")

    def _killed(self, match: re.Match) -> Finding:
        limits = self.assignment.limits
        return Finding(
            "points",
            f"{_capital(self.executed_cell(int(match['n'])))} killed the Python kernel in the "
            f"grader's sandbox (it exited, crashed or used more than its {_gib(limits.memory)} "
            "of memory): the grader skips it, so what it defines is missing when your answers "
            "are checked.",
            "Do not call exit() or os._exit(), and use less memory (smaller batches, fewer or "
            "smaller images).")

    def _notebook_timeout(self, match: re.Match) -> Finding:
        limits = self.assignment.limits
        return Finding(
            "points",
            f"Your notebook ran past the grader's limit of {float(match['s']):g} s for "
            f"the whole notebook, at {self.executed_cell(int(match['n']))}: the cells from "
            "there on are not run, and what they define is missing when your answers are "
            "checked.",
            f"Make the notebook faster (each cell may compute for at most "
            f"{limits.cell_timeout:g} s of CPU time, all of them together "
            f"{limits.notebook_timeout:g} s): fewer epochs or images.")

    def strays(self) -> list[Finding]:
        """Cells that carry nbgrader metadata the released notebook does not have (a grade id
        it does not know, or none), not already told as the copy of a missing cell."""
        told = {index for index, _ in self.copies.values()}
        found = []
        for index, cell in enumerate(self.cells, start=1):
            meta = cell.metadata.get("nbgrader")
            if not meta or index in told or grade_id(cell) in self.released:
                continue
            what = (f"the grade id '{grade_id(cell)}', which the released notebook does not "
                    "have" if grade_id(cell) else "nbgrader metadata without a grade id")
            found.append(Finding(
                "note",
                f"{_capital(self.at(index))} carries {what}: the grader treats it as a cell of "
                "your own (it runs, but it is not an answer cell).",
                f"If it should be one of the assignment's cells, copy that cell from "
                f"{self.released_nb} instead."))
        return found

    def cell_errors(self) -> list[Finding]:
        """Cells that raised when the grader ran the notebook (a missing answer's
        NotImplementedError and the limits' own errors aside: those are reported already)."""
        if self.executed is None:
            return []
        found = []
        for index, cell in enumerate(self.executed.cells):
            if cell.cell_type != "code":
                continue
            error = next((o for o in cell.get("outputs", [])
                          if o.get("output_type") == "error"), None)
            if error is None or error.get("ename") in ("NotImplementedError", "CnngradeLimit"):
                continue
            value = _first_line(str(error.get("evalue", "")), 160)
            found.append(Finding(
                "points",
                f"{_capital(self.executed_cell(index + 1))} raised "
                f"{_first_line(str(error.get('ename', 'an error')), 60)}"
                f"{f': {value}' if value else ''} when the grader ran your notebook.",
                "Run your notebook from the top (Restart Kernel and Run All Cells) and fix it; "
                "the grader's sandbox has no network and only the course's data and public "
                "files: a file or package that is only on your computer is not there."))
        if len(found) > MAX_CELL_ERRORS:
            more = len(found) - MAX_CELL_ERRORS
            found = found[:MAX_CELL_ERRORS] + [Finding(
                "points", f"{more} more cell{'s' * (more != 1)} raised an error when the "
                "grader ran your notebook.", "")]
        return found


def _model_findings(test: TestResult | None) -> tuple[list[Finding], list[str]]:
    """The generated model check's result -> (findings, the models the grader can load)."""
    if test is None:
        return [], []
    rows = [row for table in (test.extra or {}).get("tables", []) for row in table["rows"]]
    found, loaded = [], []
    for name, ok, message in rows:
        if ok is True:
            loaded.append(str(name))
        elif ok is False:
            found.append(Finding(
                "points",
                f"The grader cannot load your Keras model `{name}`: any check of it will "
                "fail.",
                "Build it from Keras's built-in layers only: no Lambda layers and no custom "
                "classes (e.g. keras.layers.Rescaling instead of a Lambda that scales).",
                _loader_said(str(message))))
        else:
            found.append(Finding(
                "note", f"Your Keras model `{name}` was not checked (only the first "
                f"{MAX_MODELS} models are)."))
    if test.status != "passed" and not rows:   # the listing itself failed
        found.append(Finding(
            "points", "Your notebook's Keras models could not be checked: the grader could "
            "not list or save them.", "Run your notebook from the top and fix its errors.",
            _sentence(test.output)))
    return found, loaded


def _loader_said(message: str) -> str:
    """The gist of load_keras_model's refusal: the loader's own error, first sentence."""
    match = re.search(r"\((\w+): (.+?\.)(?:\s|\)|$)", message)
    if match and "grader" in message[: match.start()]:
        return f"The grader's loader said {match[1]}: {match[2]}"
    return message if len(message) <= 300 else message[:299] + "…"


def _source(cell: NotebookNode) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sentence(text: str) -> str:
    text = (text or "").strip()
    return _capital(text)


def _gib(size: int) -> str:
    return f"{size / 1024**3:g} GiB" if size >= 1024**3 else f"{size / 1024**2:g} MiB"
