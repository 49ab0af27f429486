"""Answers graded by hand (cnngrade.grading.manual, `cnngrade manual`): rubric arithmetic,
states of an answer (ungraded, unchanged, empty, graded, carried over, stale), rubric edits that
follow every answer, the append-only audit trail, two graders at once in two processes, and the
terminal workflow."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import nbformat
import pytest
from click.testing import CliRunner
from conftest import add_assignment, filled, submit

from cnngrade.cli.main import cnngrade
from cnngrade.course.errors import CnnGradeError, ConfigError
from cnngrade.course.gradebook import open_gradebook
from cnngrade.course.rubric import Rubric, RubricItem, parse_rubrics
from cnngrade.grading import manual
from cnngrade.intake.collect import collect

SLUG = "essay"
TOML = '''
title = "Essay"
points = 2
notebook = "essay.ipynb"

[manual.why]
items = [
  { id = "learned", text = "kernels are learned by gradient descent", points = 2 },
  { id = "adapt", text = "they adapt to the task", points = 1 },
  { id = "flip", text = "claims the kernel is flipped", points = -1 },
]
'''
SUITE = '''
import numpy as np
import pytest


@pytest.mark.points(2)
def test_add(student):
    assert np.allclose(student.add(np.array([1]), np.array([2])), [3])
'''
CELLS = [
    ("markdown", "# Essay", "intro", False, True),
    ("code", "import numpy as np", "setup", False, True),
    ("code", "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
     "add", True, False),
    ("markdown", "### BEGIN SOLUTION\nThey are learned.\n### END SOLUTION", "why", True, False),
    ("markdown", "Plot something (a task).\n=== BEGIN MARK SCHEME ===\nA labelled plot of the "
                 "losses.\n=== END MARK SCHEME ===", "task1", False, False),
]


@pytest.fixture
def essay(mini_course):
    return make_essay(mini_course)


def make_essay(mini_course):
    """The essay assignment (a written answer with a rubric, a task) beside the mini one."""
    course = add_assignment(mini_course, SLUG, TOML, CELLS, SUITE)
    nb = nbformat.read(course.assignment(SLUG).solution, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata["nbgrader"]["grade_id"]
        if gid == "why":
            cell.metadata["nbgrader"].update(grade=True, points=3)
        if gid == "task1":
            cell.metadata["nbgrader"].update(task=True, points=1)
    nbformat.write(nb, course.assignment(SLUG).solution)
    return course


def hand_in(course, tmp_path, answers: dict[str, str | None], name: str = "inbox") -> None:
    """Each student's notebook with their `why` answer (None: the template's) collected."""
    inbox = tmp_path / name
    for student, why in answers.items():
        nb = filled(course, SLUG, None if why is None else {"why": why}, solved=True)
        if why is None:   # the released answer, untouched
            template = {c.metadata["nbgrader"]["grade_id"]: c.source
                        for c in manual._template(course, SLUG).cells}
            for cell in nb.cells:
                if cell.metadata["nbgrader"]["grade_id"] == "why":
                    cell.source = template["why"]
        if name != "inbox":   # a resubmission: another cell changed, so a new file
            for cell in nb.cells:
                if cell.metadata["nbgrader"]["grade_id"] == "add":
                    cell.source += "\n# resubmitted"
        path = submit(inbox, student, nb, SLUG + ".ipynb")
        later = time.time() + (100 if name != "inbox" else 0)
        os.utime(path, (later, later))
    collect(course, SLUG, inbox)


def state_of(course, student: str, cell: str = "why") -> manual.Answer:
    return next(a for a in manual.answers(course, SLUG, cell) if a.student == student)


# ----------------------------------------------------------------------- the rubric alone
def test_rubric_arithmetic_keeps_within_zero_and_the_cells_points():
    rubric = Rubric("why", 3, "zero", (RubricItem("a", "right", 2), RubricItem("b", "more", 2),
                                       RubricItem("c", "wrong", -1)))
    assert rubric.score(["a"]) == 2
    assert rubric.score(["a", "b"]) == 3            # capped at the cell's points
    assert rubric.score(["c"]) == 0                 # never below 0
    assert rubric.score(["a", "c"]) == 1
    assert rubric.score(["a"], adjustment=0.5) == 2.5
    full = Rubric("why", 3, "full", (RubricItem("c", "wrong", -1),))
    assert full.score([]) == 3 and full.score(["c"]) == 2
    assert rubric.with_points({"c": -0.5}).score(["a", "c"]) == 1.5


@pytest.mark.parametrize("table, message", [
    ({"nope": {"items": []}}, "[manual.nope] names no manually graded cell of the notebook"),
    ({"why": {"items": [{"text": "x", "points": "two"}]}}, "has points = 'two'; give a number"),
    ({"why": {"items": [{"points": 1}]}}, "item 1 has no text"),
    ({"why": {"start": "half"}}, "has start = 'half'"),
    ({"why": {"items": [{"id": "a", "text": "x", "points": 1},
                        {"id": "a", "text": "y", "points": 1}]}}, "two items with id 'a'"),
])
def test_a_bad_rubric_is_one_sentence(tmp_path, table, message):
    with pytest.raises(ConfigError) as info:
        parse_rubrics(table, tmp_path / "assignment.toml", {"why": 3})
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_cell_without_a_table_gets_free_points(tmp_path):
    rubrics = parse_rubrics({}, tmp_path / "assignment.toml", {"task1": 1})
    assert rubrics["task1"].free and rubrics["task1"].points == 1


# ---------------------------------------------------------------------- the workflow
def test_manual_cells_are_found_with_their_points(essay):
    cells = manual.manual_cells(manual._template(essay, SLUG))
    assert {(c.grade_id, c.points, c.kind, c.cell_type) for c in cells.values()} == {
        ("why", 3.0, "answer", "markdown"), ("task1", 1.0, "task", "markdown")}
    assert "YOUR ANSWER HERE" in cells["why"].template_source   # nbgrader's ClearSolutions


def test_states_grades_edits_and_resubmissions(essay, tmp_path):
    hand_in(essay, tmp_path, {"alice": "They are learned by gradient descent.",
                              "bob": None, "carol": "", "dave": "Because kernels flip."})
    assert {a.student: a.state for a in manual.answers(essay, SLUG, "why")} == {
        "alice": "ungraded", "bob": "unchanged", "carol": "empty", "dave": "ungraded"}
    assert state_of(essay, "bob").points == 0
    first = manual.next_ungraded(essay, SLUG)
    assert (first.student, first.cell.grade_id) == ("alice", "why")

    done = manual.grade_answer(essay, SLUG, "alice", "why", ["learned", "flip"], "good",
                               "ta1", first.version)
    assert (done.state, done.points) == ("graded", 1.0)
    manual.grade_answer(essay, SLUG, "dave", "why", ["flip"], "no", "ta2",
                        state_of(essay, "dave").version)
    assert state_of(essay, "dave").points == 0
    # an item's points changed while grading: every answer it was applied to follows
    edit = manual.edit_rubric_item(essay, SLUG, "why", "flip", -0.5, "ta1")
    assert (edit.old_points, edit.new_points) == (-1.0, -0.5)
    assert state_of(essay, "alice").points == 1.5
    assert state_of(essay, "dave").points == 0      # still capped at 0
    book = open_gradebook(essay.course_dir)
    try:
        assert [(e.item, e.old_points, e.new_points, e.who) for e in book.rubric_edits(SLUG)] \
            == [("flip", -1.0, -0.5, "ta1")]
    finally:
        book.close()

    # resubmissions: alice's answer unchanged (carried over), dave's changed (not applied)
    hand_in(essay, tmp_path, {"alice": "They are learned by gradient descent.",
                              "dave": "Kernels are learned."}, name="again")
    assert (state_of(essay, "alice").state, state_of(essay, "alice").points) == ("carried", 1.5)
    assert (state_of(essay, "dave").state, state_of(essay, "dave").points) == ("stale", None)
    progress = {p.cell.grade_id: p for p in manual.progress(essay, SLUG)}
    why = progress["why"]
    assert (why.answers, why.graded, why.left, why.empty) == (4, 2, 2, 1)
    assert why.graders == {"ta1": 1} and why.items == {"learned": 1, "flip": 1}


def test_bad_grades_are_one_sentence(essay, tmp_path):
    hand_in(essay, tmp_path, {"alice": "Learned."})
    with pytest.raises(CnnGradeError, match="'nope' is not an item of the rubric of why"):
        manual.grade_answer(essay, SLUG, "alice", "why", ["nope"], "", "ta1", 0)
    with pytest.raises(CnnGradeError, match="5 points is outside 0..1, the points of task1"):
        manual.grade_answer(essay, SLUG, "alice", "task1", [], "", "ta1", 0, adjustment=5)
    with pytest.raises(CnnGradeError, match="'intro' is not a manually graded cell"):
        manual.answers(essay, SLUG, "intro")


def test_the_audit_trail_cannot_be_rewritten(essay, tmp_path):
    hand_in(essay, tmp_path, {"alice": "Learned."})
    manual.grade_answer(essay, SLUG, "alice", "task1", [], "fine", "ta1", 0, adjustment=1)
    manual.edit_rubric_item(essay, SLUG, "why", "adapt", 0.5, "ta1")
    db = sqlite3.connect(essay.course_dir / "gradebook.sqlite")
    try:
        for sql in ("UPDATE manual_grades SET adjustment = 0", "DELETE FROM manual_grades",
                    "UPDATE rubric_edits SET new_points = 9", "DELETE FROM rubric_edits"):
            with pytest.raises(sqlite3.DatabaseError, match="is an audit trail"):
                db.execute(sql)
    finally:
        db.close()


GRADE_IN_A_PROCESS = """
import sys
from cnngrade.course.config import load_course
from cnngrade.course.errors import CnnGradeError
from cnngrade.grading.manual import grade_answer
course = load_course(sys.argv[1])
try:
    grade_answer(course, "essay", "alice", "why", [sys.argv[2]], "", sys.argv[3], 0)
    print("written")
except CnnGradeError as exc:
    print("refused:", exc)
"""


def test_two_graders_at_once_lose_nothing(essay, tmp_path):
    """Two processes grade the same answer having seen the same version: one is written, the
    other refused with a sentence naming the first grader's change."""
    hand_in(essay, tmp_path, {"alice": "Learned."})
    runs = [subprocess.Popen([sys.executable, "-c", GRADE_IN_A_PROCESS, str(essay.course_dir),
                              item, who], stdout=subprocess.PIPE, text=True)
            for item, who in (("learned", "ta1"), ("adapt", "ta2"))]
    outs = sorted(run.communicate(timeout=300)[0].strip() for run in runs)
    assert outs[0].startswith("refused: ") and outs[1] == "written", outs
    winner = state_of(essay, "alice").grade
    assert f"{winner.who} graded alice's answer to why" in outs[0]
    assert "nothing was written" in outs[0]
    book = open_gradebook(essay.course_dir)
    try:
        assert len(book.manual_grades(SLUG)) == 1
    finally:
        book.close()


def test_the_terminal_workflow(essay, tmp_path):
    hand_in(essay, tmp_path, {"alice": "Learned, and they adapt.", "bob": "Learned."})
    runner = CliRunner()
    where = ["--course-dir", str(essay.course_dir)]
    out = runner.invoke(cnngrade, ["manual", SLUG, "--anonymous", "--cell", "why",
                                   "--items", "1,2", "--comment", "both", "--grader", "ta1",
                                   *where])
    assert out.exit_code == 0, out.output
    assert "student 1: why, 3 points" in out.output and "alice" not in out.output
    assert "1. +2  kernels are learned by gradient descent" in out.output
    assert "student 1, why: 3 of 3 points." in out.output
    out = runner.invoke(cnngrade, ["manual", SLUG, "--cell", "why", "--items", "9", *where])
    assert isinstance(out.exception, CnnGradeError)   # main() prints it as one sentence
    assert str(out.exception) == "'9' is not an item number of this rubric (1 to 3)."
    out = runner.invoke(cnngrade, ["manual", SLUG, "--list", *where])
    assert out.exit_code == 0 and "ta1 1" in out.output
    assert "×1   +2  kernels are learned by gradient descent" in out.output
    out = runner.invoke(cnngrade, ["manual", SLUG, "--cell", "why", "--edit-item", "adapt",
                                   "0.5", "--grader", "ta1", *where])
    assert "Rubric item adapt of why: 1 → 0.5 points" in out.output
    assert state_of(essay, "alice").points == 2.5


def test_manual_points_in_the_final_grade_and_the_exports(essay, tmp_path):
    """Final = automatic + manual, then the late penalty; the export refuses while answers are
    left to grade, unless told --allow-incomplete, and carries the manual points."""
    from cnngrade.course.policy import final_grades
    from cnngrade.grading.grade import grade
    from cnngrade.views.export import export
    hand_in(essay, tmp_path, {"alice": "Learned by gradient descent.", "bob": None})
    grade(essay, SLUG, workers=1)
    with pytest.raises(CnnGradeError) as info:
        export(essay, SLUG, "csv")
    assert str(info.value) == ("3 answer(s) of essay graded by hand are not graded yet (2 "
                               "student(s)); grade them with `cnngrade manual essay` or export "
                               "anyway with --allow-incomplete.")
    early = {g.student: g for g in final_grades(essay, SLUG, manual=manual.totals(essay, SLUG))}
    assert (early["alice"].final_score, early["alice"].max_score) == (2, 6)
    assert "1 answer still to grade" in early["bob"].adjustments[-1]["text"]
    assert "manual_incomplete" in export(essay, SLUG, "csv", allow_incomplete=True)

    manual.grade_answer(essay, SLUG, "alice", "why", ["learned"], "good", "ta1", 0)
    manual.grade_answer(essay, SLUG, "alice", "task1", [], "", "ta1", 0, adjustment=1)
    manual.grade_answer(essay, SLUG, "bob", "task1", [], "half", "ta2", 0, adjustment=0.5)
    final = {g.student: g for g in final_grades(essay, SLUG, manual=manual.totals(essay, SLUG))}
    assert (final["alice"].final_score, final["alice"].max_score) == (5, 6)
    assert (final["bob"].final_score, final["bob"].manual.points) == (2.5, 0.5)
    assert [c["state"] for c in final["bob"].manual.cells] == ["unchanged", "graded"]
    rows = export(essay, SLUG, "csv").splitlines()
    header = rows[0].split(",")
    alice = dict(zip(header, rows[1].split(","), strict=True))
    assert (alice["score"], alice["max_score"], alice["manual_points"],
            alice["manual_incomplete"]) == ("5", "6", "3", "0")
    canvas = export(essay, SLUG, "canvas").splitlines()
    assert canvas[1].endswith(",6") and canvas[2].endswith(",5")   # Points Possible, alice
    moodle = export(essay, SLUG, "moodle")
    assert "why, graded by hand, 2 of 3 points. Rubric: +2 kernels are learned" in moodle
    assert "ta1" not in moodle
    from cnngrade.views.export import gradescope_results
    scope = gradescope_results(essay, SLUG)["alice"]
    assert (scope["score"], scope["max_score"]) == (5, 6)
    hand_tests = {t["name"]: t for t in scope["tests"] if "graded by hand" in t["name"]}
    assert (hand_tests["why (graded by hand)"]["score"],
            hand_tests["why (graded by hand)"]["max_score"]) == (2, 3)
    assert scope["extra_data"]["cnngrade"]["manual"]["incomplete"] == 0
    assert sum(t["score"] for t in scope["tests"]) == scope["score"]
    from cnngrade.views.feedback import student_adjustments
    rows = student_adjustments(final["alice"])
    assert {"kind": "written answer", "points": 2.0,
            "text": "why, graded by hand, 2 of 3 points. Rubric: +2 kernels are learned by "
                    "gradient descent. Comment: good"} in rows
    assert all("ta1" not in r["text"] for r in rows)   # who graded stays with the TAs
    from cnngrade.views.feedback import feedback_page
    page = feedback_page(essay, SLUG, final["alice"])
    assert "5 / 6 points" in page and "automatic score 2 / 2" in page   # out of 6, not 2


    # the report: the maximum counts the manual points, each manual cell's progress, and
    # --student shows each answer with its rubric items' text and the comment
    from collections import Counter

    from cnngrade.views.report import class_report
    rep = class_report(essay, SLUG)
    assert rep.max_score == 6 and rep.pending == {}
    assert [(c.cell.grade_id, c.answers, c.graded, c.left) for c in rep.manual] == \
        [("why", 2, 2, 0), ("task1", 2, 2, 0)]
    assert rep.manual[0].graders == Counter({"ta1": 1})
    assert rep.manual[0].items == Counter({"learned": 1})
    where = ["--course-dir", str(essay.course_dir)]
    runner = CliRunner()
    out = " ".join(runner.invoke(cnngrade, ["report", SLUG, *where]).output.split())
    assert "Rubric items applied in why (of 2 graded)" in out
    assert "×1 +2 kernels are learned by gradient descent" in out and "×0 -1 claims" in out
    out = " ".join(runner.invoke(cnngrade, ["report", SLUG, "--student", "alice",
                                            *where]).output.split())
    assert "why: 2/3 (graded by hand)" in out and "Learned by gradient descent." in out
    assert "+2 kernels are learned by gradient descent" in out and "comment: good" in out
    # an override prints the whole final grade, the manual points counted
    out = runner.invoke(cnngrade, ["override", SLUG, "alice", "test_add", "--points", "1",
                                   "--reason", "half the shapes", *where]).output
    assert "final score 4/6" in " ".join(out.split())
    # graded again from the terminal: a new row, the old one kept
    out = runner.invoke(cnngrade, ["manual", SLUG, "--student", "alice", "--cell", "why",
                                   "--items", "1,2", "--comment", "more", "--grader", "ta2",
                                   *where])
    assert out.exit_code == 0 and "Already graded (2 points)" in out.output
    assert "alice, why: 3 of 3 points." in out.output
    book = open_gradebook(essay.course_dir)
    try:
        assert [(g.who, g.items) for g in book.manual_grades(SLUG, "alice") if g.cell == "why"] \
            == [("ta1", ("learned",)), ("ta2", ("learned", "adapt"))]
    finally:
        book.close()


def test_the_report_does_not_count_answers_left_to_grade_as_lost_points(essay, tmp_path):
    """Before anyone grades by hand: the answers left count 0, marked, and are not "lost"."""
    from cnngrade.views.report import class_report, is_failed
    hand_in(essay, tmp_path, {"alice": "Learned by gradient descent.", "bob": None})
    from cnngrade.grading.grade import grade
    grade(essay, SLUG, workers=1)
    rep = class_report(essay, SLUG)
    assert rep.max_score == 6 and rep.pending == {"alice": 4, "bob": 1}
    alice = next(r for r in rep.rows if r.submission.student == "alice")
    assert rep.score(alice) == 2 and not is_failed(rep, alice) and rep.full_marks == 0
    out = CliRunner().invoke(cnngrade, ["report", SLUG, "--course-dir", str(essay.course_dir)])
    text = " ".join(out.output.split())
    assert "graded by hand 1 of 4 answer(s); 3 left" in text and "2/6*" in text


def test_a_mark_scheme_stays_on_the_instructors_side(essay):
    """nbgrader's mark scheme regions (task cells) are cleared from the release, as
    `nbgrader generate_assignment` clears them, and a release still holding one is refused."""
    from cnngrade.intake.release import find_leaks, release
    done = release(essay, SLUG)
    for path in done.release_dir.rglob("*"):
        if path.is_file():
            assert b"labelled plot" not in path.read_bytes() and b"MARK SCHEME" not in \
                path.read_bytes(), path
    assert manual.released_cells(essay, SLUG)["task1"].template_source == \
        "Plot something (a task)."
    leaks = find_leaks({"x.ipynb": nbformat.writes(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("=== BEGIN MARK SCHEME ===\nx\n=== END MARK SCHEME ===")
    ]))}, essay.assignment(SLUG))
    assert leaks and "BEGIN MARK SCHEME" in leaks[0]


def test_a_rubric_change_grades_nothing_again(essay):
    """The suite hash (what a cached grade depends on) leaves out the [manual.*] rubrics."""
    from cnngrade.grading.cache_keys import suite_hash
    before = suite_hash(essay.assignment(SLUG))
    toml = essay.assignment(SLUG).template_dir / "assignment.toml"
    toml.write_text(toml.read_text().replace("gradient descent\", points = 2",
                                             "gradient descent\", points = 1.5"))
    assert "points = 1.5" in toml.read_text()
    assert suite_hash(essay.assignment(SLUG)) == before
    toml.write_text(toml.read_text().replace('title = "Essay"', 'title = "An essay"'))
    assert suite_hash(essay.assignment(SLUG)) != before
