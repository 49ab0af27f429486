"""Answers graded by hand: nbgrader's manually graded cells (`grade: true, solution: true`,
markdown or code) and task cells (`task: true`), found in the released template; their rubrics
(cnngrade.course.rubric, `[manual.<grade_id>]` in assignment.toml, with the points edited while
grading); each student's answer read from the collected submission; and the grades a person
gives, appended to the gradebook's audit trail. `cnngrade manual` (and the web desk) call these
functions and nothing else.

The state of one answer (`Answer.state`):
- "graded": a grade was given for this very submission;
- "carried": given for an earlier submission whose answer cell was byte-for-byte the same;
- "stale": given for an earlier submission whose answer differs: not applied, to grade again;
- "unchanged": the answer is the released template's: 0 points, as nbgrader gives;
- "empty": nothing written (flagged; 0 points until someone grades it);
  (a task cell is judged on the whole notebook: never "unchanged" or "empty", and its grade
  carries over only to the very same file)
- "ungraded": waiting for a person.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections import Counter
from dataclasses import dataclass, field

from nbformat import NotebookNode
from nbgrader import utils as nbutils

from ..course.config import Course
from ..course.errors import CnnGradeError
from ..course.gradebook import ManualConflict, ManualGrade, RubricEdit, open_gradebook
from ..course.policy import ManualTotal
from ..course.rubric import Rubric, parse_rubrics
from ..course.store import Store
from ..intake.notebook import grade_id, parse_notebook, restore_cells
from .evaluate import released_template

NEEDS_A_PERSON = ("ungraded", "stale", "empty")
_SOURCES: dict[tuple[str, int], dict[str, str]] = {}   # (sha256, template) -> answer sources


class GradeConflict(CnnGradeError):
    """Another grader changed this answer's grade after the version a grader saw; `theirs` is
    the newest row (what the web desk shows beside the grade that was refused)."""

    def __init__(self, message: str, theirs: ManualGrade):
        super().__init__(message)
        self.theirs = theirs


@dataclass(frozen=True)
class ManualCell:
    grade_id: str
    points: float
    kind: str            # "answer" (a cell the student writes in) | "task"
    cell_type: str       # "markdown" | "code"
    template_source: str


@dataclass(frozen=True)
class Answer:
    student: str
    cell: ManualCell
    source: str
    sha256: str               # the submission's
    answer_sha256: str        # the answer cell's source
    state: str
    grade: ManualGrade | None  # the row in force (for "graded", "carried" and "stale")
    points: float | None      # what counts in the grade; None while a person must grade it
    version: int              # what a grader saw: the newest row's id, 0 if none


@dataclass
class CellProgress:
    cell: ManualCell
    answers: int = 0
    graded: int = 0
    left: int = 0
    empty: int = 0
    graders: Counter = field(default_factory=Counter)
    items: Counter = field(default_factory=Counter)


def _is_manual(cell: NotebookNode) -> bool:
    if not (nbutils.is_grade(cell) or nbutils.is_task(cell)):
        return False
    return not (nbutils.is_grade(cell) and not nbutils.is_solution(cell)
                and cell.cell_type == "code")   # that one is an autograder test cell


def manual_cells(template: NotebookNode) -> dict[str, ManualCell]:
    """The cells of a released notebook that a person grades, with their points."""
    found = {}
    for cell in template.cells:
        gid = grade_id(cell)
        if gid and _is_manual(cell):
            found[gid] = ManualCell(gid, float(cell.metadata.nbgrader.get("points", 0) or 0),
                                    "task" if nbutils.is_task(cell) else "answer",
                                    cell.cell_type, cell.source)
    return found


def _template(course: Course, slug: str) -> NotebookNode:
    return released_template(course.assignment(slug))


def released_cells(course: Course, slug: str) -> dict[str, ManualCell]:
    """The manually graded cells of `slug`'s released template."""
    return manual_cells(_template(course, slug))


def rubrics(course: Course, slug: str) -> dict[str, Rubric]:
    """Each manual cell's rubric, with the item points edited while grading applied."""
    assignment = course.assignment(slug)
    cells = released_cells(course, slug)
    where = assignment.template_dir / "assignment.toml"
    table = tomllib.loads(where.read_text(encoding="utf-8")).get("manual", {})
    found = parse_rubrics(table, where, {gid: c.points for gid, c in cells.items()})
    book = open_gradebook(course.course_dir)
    try:
        edits = book.rubric_edits(slug)
    finally:
        book.close()
    edited: dict[str, dict[str, float]] = {}
    for edit in edits:   # oldest first: the newest wins
        edited.setdefault(edit.cell, {})[edit.item] = edit.new_points
    return {gid: r.with_points(edited.get(gid, {})) for gid, r in found.items()}


def _digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "replace")).hexdigest()


def _state(cell: ManualCell, source: str, sha256: str, trail: list[ManualGrade],
           rubric: Rubric) -> tuple[str, ManualGrade | None, float | None, int]:
    newest = trail[-1] if trail else None
    version = newest.id if newest else 0
    # a task is judged on the whole notebook: its grade carries over only to the same file
    digest = sha256 if cell.kind == "task" else _digest(source)
    if newest is not None and newest.sha256 == sha256:
        return "graded", newest, rubric.score(newest.items, newest.adjustment), version
    if cell.kind == "task":
        return ("stale" if newest is not None else "ungraded"), newest, None, version
    if source.strip() == cell.template_source.strip():
        return "unchanged", newest, 0.0, version
    if newest is not None and newest.answer_sha256 == digest:
        return "carried", newest, rubric.score(newest.items, newest.adjustment), version
    if newest is not None:
        return "stale", newest, None, version
    if not source.strip():
        return "empty", None, None, version
    return "ungraded", None, None, version


def answers(course: Course, slug: str, cell: str | None = None,
            student: str | None = None) -> list[Answer]:
    """Every answer of the latest submissions (one cell's, one student's where given), in
    student order then cell order."""
    template = _template(course, slug)
    cells = manual_cells(template)
    if cell is not None and cell not in cells:
        known = ", ".join(cells) or "none"
        raise CnnGradeError(f"'{cell}' is not a manually graded cell of {slug} (they are: "
                            f"{known}); give one of them with --cell.")
    rubric_of = rubrics(course, slug)
    store = Store(course.course_dir / "store")
    book = open_gradebook(course.course_dir)
    try:
        with book.snapshot():
            subs = book.latest(slug, student)
            trail = book.manual_grades(slug, student)
    finally:
        book.close()
    by_key: dict[tuple[str, str], list[ManualGrade]] = {}
    for row in trail:
        by_key.setdefault((row.student, row.cell), []).append(row)
    found = []
    for sub in subs:
        sources = _answer_sources(store, sub.sha256, sub.filename, template)
        for gid, manual in cells.items():
            if cell is not None and gid != cell:
                continue
            source = sources.get(gid, "")
            state, grade, points, version = _state(manual, source, sub.sha256,
                                                   by_key.get((sub.student, gid), []),
                                                   rubric_of[gid])
            found.append(Answer(sub.student, manual, source, sub.sha256,
                                sub.sha256 if manual.kind == "task" else _digest(source),
                                state, grade, points, version))
    return found


def _answer_sources(store: Store, sha256: str, filename: str,
                    template: NotebookNode) -> dict[str, str]:
    """{grade_id: source} of a stored submission rebuilt around the template; kept per process
    (a stored file never changes: its name is its hash), so that a class's answers are read
    once, not at every page of the web desk."""
    key = (sha256, id(template))
    if key not in _SOURCES:
        try:
            nb = restore_cells(parse_notebook(store.get(sha256), filename), template).notebook
            _SOURCES[key] = {grade_id(c): c.source for c in nb.cells if grade_id(c)}
        except CnnGradeError:   # an ungradable file: every answer is empty
            _SOURCES[key] = {}
    return _SOURCES[key]


def next_ungraded(course: Course, slug: str, cell: str | None = None,
                  student: str | None = None) -> Answer | None:
    """The first answer a person must grade (by cell, then student), or None."""
    todo = [a for a in answers(course, slug, cell, student) if a.state in NEEDS_A_PERSON]
    order = list(released_cells(course, slug))
    todo.sort(key=lambda a: (order.index(a.cell.grade_id), a.student))
    return todo[0] if todo else None


def grade_answer(course: Course, slug: str, student: str, cell: str, items: list[str],
                 comment: str, who: str, seen_version: int,
                 adjustment: float = 0.0) -> Answer:
    """Record a grade for `student`'s latest answer in `cell`: the rubric items applied (ids),
    an adjustment in points (the points themselves for a cell without rubric items), a
    comment. Raises CnnGradeError (one sentence) for an unknown item or points outside the
    cell's, or when another grader changed this answer's grade after `seen_version`."""
    rubric = rubrics(course, slug).get(cell)
    if rubric is None:
        raise CnnGradeError(f"'{cell}' is not a manually graded cell of {slug}.")
    unknown = rubric.unknown(items)
    if unknown:
        numbered = ", ".join(i.id for i in rubric.items) or "none: give points instead"
        raise CnnGradeError(f"{', '.join(map(repr, unknown))} is not an item of the rubric "
                            f"of {cell} (its items: {numbered}).")
    if rubric.free and not 0 <= adjustment <= rubric.points:
        raise CnnGradeError(f"{adjustment:g} points is outside 0..{rubric.points:g}, the "
                            f"points of {cell}.")
    current = [a for a in answers(course, slug, cell, student) if a.student == student]
    if not current:
        raise CnnGradeError(f"{student} has no collected submission of {slug}.")
    answer = current[0]
    book = open_gradebook(course.course_dir)
    try:
        book.add_manual_grade(assignment=slug, student=student, sha256=answer.sha256,
                              cell=cell, items=list(items), adjustment=adjustment,
                              comment=comment, answer_sha256=answer.answer_sha256, who=who,
                              seen_version=seen_version)
    except ManualConflict as conflict:
        theirs = conflict.theirs
        raise GradeConflict(
            f"{theirs.who} graded {student}'s answer to {cell} at {theirs.made_at} (items "
            f"{', '.join(theirs.items) or 'none'}, comment {theirs.comment!r}) while you were "
            "grading it; nothing was written: look at their grade and grade again.",
            theirs) from None
    finally:
        book.close()
    return [a for a in answers(course, slug, cell, student) if a.student == student][0]


def edit_rubric_item(course: Course, slug: str, cell: str, item: str, points: float,
                     who: str) -> RubricEdit:
    """Change the points of one rubric item; every answer it was applied to follows."""
    rubric = rubrics(course, slug).get(cell)
    found = rubric.item(item) if rubric else None
    if found is None:
        raise CnnGradeError(f"{cell} has no rubric item {item!r}; see `cnngrade manual {slug} "
                            "--list` for the items.")
    book = open_gradebook(course.course_dir)
    try:
        return book.add_rubric_edit(assignment=slug, cell=cell, item=item,
                                    old_points=found.points, new_points=points, who=who)
    finally:
        book.close()


def progress(course: Course, slug: str) -> list[CellProgress]:
    """Per manual cell: answers, graded (given or carried), left for a person, empty, who
    graded how many, and how often each rubric item was applied."""
    return progress_of(released_cells(course, slug), answers(course, slug))


def progress_of(cells: dict[str, ManualCell], found: list[Answer]) -> list[CellProgress]:
    """`progress` of answers already read (`answers`)."""
    rows = {gid: CellProgress(c) for gid, c in cells.items()}
    for answer in found:
        row = rows[answer.cell.grade_id]
        row.answers += 1
        row.empty += answer.state == "empty"
        if answer.state in NEEDS_A_PERSON:
            row.left += 1
        elif answer.grade is not None and answer.state in ("graded", "carried"):
            row.graded += 1
            row.graders[answer.grade.who] += 1
            row.items.update(answer.grade.items)
        else:
            row.graded += 1
    return list(rows.values())


def totals(course: Course, slug: str, student: str | None = None) -> dict[str, ManualTotal]:
    """Each student's answers graded by hand, for the final grade (cnngrade.course.policy):
    empty where the notebook has no manual cell."""
    if not released_cells(course, slug):
        return {}
    return totals_of(answers(course, slug, student=student), rubrics(course, slug))


def totals_of(found: list[Answer], rubric_of: dict[str, Rubric] | None = None
              ) -> dict[str, ManualTotal]:
    """`totals` of answers already read (`answers`); with their rubrics, each cell's
    "applied" lists the items applied: their text, points and comment for the student."""
    totals: dict[str, ManualTotal] = {}
    for answer in found:
        total = totals.get(answer.student, ManualTotal(0.0, 0.0, 0, []))
        grade = answer.grade if answer.state in ("graded", "carried") else None
        rubric = (rubric_of or {}).get(answer.cell.grade_id)
        applied = [{"text": item.text, "points": item.points, "comment": item.comment}
                   for item in (rubric.items if rubric and grade else ())
                   if item.id in grade.items]
        cells = [*total.cells, {
            "cell": answer.cell.grade_id, "points": answer.points,
            "max": answer.cell.points, "state": answer.state,
            "who": grade.who if grade else None, "items": list(grade.items) if grade else [],
            "applied": applied,
            "comment": grade.comment if grade else "", "when": grade.made_at if grade else None}]
        totals[answer.student] = ManualTotal(
            total.points + (answer.points or 0.0), total.max_points + answer.cell.points,
            total.incomplete + (answer.state in NEEDS_A_PERSON), cells)
    return totals
