"""nbgrader compatibility: the course `nbgrader quickstart` makes (with a hidden test and a
partial-credit cell added to ps1/problem1), honest and broken submissions graded by
`nbgrader autograde` and by cnngrade (import-nbgrader -> release -> collect -> grade): the same
score for every notebook and every test cell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from conftest import results_of, submit

from cnngrade.course.config import load_course
from cnngrade.course.errors import ConfigError
from cnngrade.grading.grade import grade
from cnngrade.grading.nbgrader_compat import (
    import_nbgrader,
    read_source,
    restore,
    score_cells,
    slug_for,
)
from cnngrade.intake.collect import collect
from cnngrade.intake.notebook import grade_id
from cnngrade.intake.release import release

BIN = Path(sys.executable).parent
NBGRADER_ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin')}"}
NOTEBOOKS = ("problem1", "problem2")

HIDDEN = ("### BEGIN HIDDEN TESTS\n"
          "assert squares(12) == [i ** 2 for i in range(1, 13)]\n"
          "### END HIDDEN TESTS")
PARTIAL = ('"""One point for each of squares(3) and squares(20)."""\n'
           "### BEGIN HIDDEN TESTS\n"
           "float(sum(squares(n) == [i ** 2 for i in range(1, n + 1)] for n in (3, 20)))\n"
           "### END HIDDEN TESTS")

SQUARES = ("def squares(n):\n    if n < 1:\n        raise ValueError('n < 1')\n"
           "    return [i ** 2 for i in range(1, n + 1)]")
SUM = "def sum_of_squares(n):\n    return sum(squares(n))"
ANSWERS = {"sum_of_squares_equation": "$\\sum_{i=1}^n i^2$",
           "sum_of_squares_application": "def pyramidal_number(n):\n"
                                         "    return sum_of_squares(n)",
           "part-a": "The Fibonacci numbers, by recursion.",
           "part-b": "Negative inputs: infinite recursion."}

# student -> (answers by grade id, test cells replaced by grade id, test cells deleted,
#             expected problem1 score out of 5)
STUDENTS = {
    "honest": ({"squares": SQUARES, "sum_of_squares": SUM, **ANSWERS}, {}, (), 5.0),
    # right up to 11 (the visible asserts), wrong beyond: the hidden test and half the
    # partial credit are lost
    "lazy": ({"squares": "def squares(n):\n    if n < 1:\n        raise ValueError()\n"
                         "    return [1, 4, 9, 16, 25, 36, 49, 64, 81, 100, 121][:n]",
              "sum_of_squares": SUM}, {}, (), 3.0),
    "wrong": ({"squares": "def squares(n):\n    return [i ** 2 for i in range(1, n + 1)]",
               "sum_of_squares": "def sum_of_squares(n):\n"
                                 "    return sum(i * i for i in range(1, n + 1))"}, {}, (), 3.5),
    # stderr output in a test cell is a failure by nbgrader's rules
    "noisy": ({"squares": "import sys\ndef squares(n):\n    print('squares', n, file=sys.stderr)"
                          "\n" + SQUARES.split("\n", 1)[1], "sum_of_squares": SUM}, {}, (), 0.5),
    "broken": ({"squares": "def squares(n)\n    return [i ** 2 for i in range(n)]",
                "sum_of_squares": SUM}, {}, (), 0.0),
    "blank": ({}, {}, (), 0.0),
    # wrong answers, test cells rewritten or deleted, tracebacks switched off
    "cheat": ({"squares": "def squares(n):\n    return []",
               "sum_of_squares": "get_ipython().showtraceback = lambda *a, **k: None\n"
                                 "def sum_of_squares(n):\n    return 0"},
              {"correct_squares": "pass", "squares_partial": "2.0",
               "correct_sum_of_squares": "assert True"},
              ("squares_invalid_input",), 0.0),
}


def run(*args: str, cwd: Path) -> None:
    proc = subprocess.run([str(BIN / "nbgrader"), *args], cwd=cwd, env=NBGRADER_ENV,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]


def imported(nbc: Path, course_dir: Path):
    """The nbgrader course `nbc` brought in by `cnngrade import-nbgrader`, as a user runs it."""
    from cnngrade.cli.main import cnngrade
    out = CliRunner().invoke(cnngrade, ["import-nbgrader", str(nbc), "--course-dir",
                                        str(course_dir)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    return load_course(course_dir)


def _add_hidden_and_partial_tests(source: Path) -> None:
    nb = nbformat.read(source, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if grade_id(c) == "correct_squares")
    nb.cells[at].source += "\n" + HIDDEN
    cell = nbformat.v4.new_code_cell(PARTIAL)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "squares_partial", "locked": False,
                                 "points": 2, "schema_version": 3, "solution": False,
                                 "task": False}
    nb.cells.insert(at + 1, cell)
    nbformat.write(nb, source)


def _submission(released: nbformat.NotebookNode, answers: dict, tests: dict,
                deleted: tuple) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(released)
    nb.cells = [c for c in nb.cells if grade_id(c) not in deleted]
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid in answers:
            cell.source = answers[gid]
        if gid in tests:
            cell.source = tests[gid]
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Both graders' scores: {(student, notebook): (nbgrader, cnngrade)} with per-cell scores,
    and the two courses."""
    from nbgrader.api import Gradebook

    top = tmp_path_factory.mktemp("nbgrader")
    run("quickstart", "course101", cwd=top)
    nbc = top / "course101"
    _add_hidden_and_partial_tests(nbc / "source" / "ps1" / "problem1.ipynb")
    run("generate_assignment", "ps1", cwd=nbc)
    released = {n: nbformat.read(nbc / "release" / "ps1" / f"{n}.ipynb", as_version=4)
                for n in NOTEBOOKS}
    # the same notebooks in nbgrader's submitted/ folder and in an exchange inbound/ folder
    inbound = tmp_path_factory.mktemp("exchange") / "inbound"
    for student, (answers, tests, deleted, _) in STUDENTS.items():
        for name in NOTEBOOKS:
            nb = _submission(released[name], answers, tests, deleted)
            submit(nbc / "submitted" / student, "ps1", nb, f"{name}.ipynb")
            submit(inbound, f"{student}+ps1+2026-11-20 10:00:00.000000 UTC", nb,
                   f"{name}.ipynb")
    run("autograde", "ps1", cwd=nbc)

    course = imported(nbc, tmp_path_factory.mktemp("cnngrade") / "course")
    assert course.slugs() == ["ps1-problem1", "ps1-problem2"]
    for name, source in zip(NOTEBOOKS, (nbc / "submitted", inbound), strict=True):
        slug = slug_for("ps1", name)
        release(course, slug)
        report = collect(course, slug, source)
        assert len(report.added) == len(STUDENTS) and not report.problems, report
        assert {f for _, f in report.added} == {f"{name}.ipynb"}
        grade(course, slug, workers=2)

    scores = {}
    with Gradebook(f"sqlite:///{nbc / 'gradebook.db'}", course_id="course101") as gb:
        for name in NOTEBOOKS:
            master = gb.find_notebook(name, "ps1")   # what nbgrader itself autogrades
            answers = {c.name for c in master.solution_cells}
            auto = {c.name for c in master.grade_cells
                    if c.cell_type == "code" and c.name not in answers}
            for student in STUDENTS:
                sub = gb.find_submission_notebook(name, "ps1", student)
                theirs = {"score": sub.score,
                          "cells": {g.name: (g.auto_score or 0.0, g.max_score)
                                    for g in sub.grades if g.name in auto}}
                scores[student, name] = (theirs, results_of(course, slug_for("ps1", name),
                                                            student))
    return scores, nbc, course


@pytest.mark.slow
def test_same_scores_as_nbgrader_autograde(graded):
    scores, _, _ = graded
    table = []
    for (student, name), (theirs, ours) in scores.items():
        assert not ours["extra_data"].get("grader_errors"), (student, name, ours)
        mine = {t["name"]: (t["score"], t["max_score"]) for t in ours["tests"]}
        assert mine == theirs["cells"], (student, name, mine, theirs["cells"], ours["output"])
        assert ours["score"] == pytest.approx(theirs["score"]), (student, name)
        cells = " ".join(f"{gid}={score:g}" for gid, (score, _) in sorted(mine.items()))
        table.append(f"{student:8} {name}: nbgrader {theirs['score']:g}, cnngrade "
                     f"{ours['score']:g}/{ours['max_score']:g}  {cells}")
    print("\n" + "\n".join(table))
    for student, (*_, expected) in STUDENTS.items():
        assert scores[student, "problem1"][1]["score"] == expected, student
        assert scores[student, "problem1"][1]["max_score"] == 5
        assert scores[student, "problem2"][1]["score"] == 0
        assert scores[student, "problem2"][1]["max_score"] == 0


@pytest.mark.slow
def test_what_the_student_and_the_instructor_are_told(graded):
    scores, _, course = graded
    cheat = scores["cheat", "problem1"][1]
    problems = " ".join(cheat["extra_data"]["problems"])
    assert "test cell 'correct_squares' was edited; nbgrader's original was restored" in problems
    assert "test cell 'squares_invalid_input' was deleted" in problems
    tests = {t["name"]: t for t in cheat["tests"]}
    assert tests["correct_sum_of_squares"]["output"].startswith("AssertionError")
    lazy = {t["name"]: t for t in scores["lazy", "problem1"][1]["tests"]}
    assert lazy["squares_partial"]["output"].startswith("partial credit: 1 of 2")
    assert lazy["squares_partial"]["description"] == \
        "One point for each of squares(3) and squares(20)."
    noisy = {t["name"]: t for t in scores["noisy", "problem1"][1]["tests"]}
    assert "stderr" in noisy["correct_squares"]["output"]
    asg = course.assignment("ps1-problem1")
    assert asg.kind == "nbgrader" and asg.points == 5
    assert asg.title == "ps1 / problem1"
    from cnngrade.grading.manual import released_cells  # graded with `cnngrade manual`
    assert sum(c.points for c in released_cells(course, "ps1-problem1").values()) == 7
    assert asg.public_files == ("jupyter.png",)
    assert asg.limits.cell_timeout == 30


@pytest.mark.slow
def test_release_is_nbgraders_release(graded):
    _, nbc, course = graded
    for name in NOTEBOOKS:
        theirs = nbformat.read(nbc / "release" / "ps1" / f"{name}.ipynb", as_version=4)
        ours = nbformat.read(course.course_dir / "release" / slug_for("ps1", name)
                             / f"{name}.ipynb", as_version=4)
        assert [(c.cell_type, c.source, c.metadata.get("nbgrader")) for c in ours.cells] == \
            [(c.cell_type, c.source, c.metadata.get("nbgrader")) for c in theirs.cells]
        assert (course.course_dir / "release" / slug_for("ps1", name) / "jupyter.png").is_file()
    text = (course.course_dir / "release" / "ps1-problem1" / "problem1.ipynb").read_text()
    assert "squares(12)" not in text and "HIDDEN" not in text
    # importing again changes nothing
    again = import_nbgrader(course, nbc)
    assert [i.status for i in again.imported] == ["unchanged", "unchanged"]


def test_import_never_writes_into_the_repository(tmp_path):
    nbc = tmp_path / "nbc"
    (nbc / "source" / "ps1").mkdir(parents=True)
    used = tmp_path / "used"
    used.mkdir()
    (used / "gradebook.sqlite").write_bytes(b"")
    with pytest.raises(ConfigError, match="already grades this repository's assignments"):
        import_nbgrader(load_course(used), nbc)
    with pytest.raises(ConfigError, match="no source/ folder"):
        import_nbgrader(load_course(tmp_path / "fresh"), tmp_path)


def _cell(source: str, gid: str, **flags) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": gid, "locked": False,
                                 "schema_version": 3, "solution": False, "task": False, **flags}
    return cell


def test_scoring_is_nbgraders_determine_grade():
    """Without a kernel: restore from the source, then score outputs as nbgrader does."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [_cell("x = 1\n### BEGIN SOLUTION\nx = 2\n### END SOLUTION", "answer",
                      solution=True)]
    nb.cells += [_cell(f"assert x == 2  # {gid}\n### BEGIN HIDDEN TESTS\nassert x > 1\n"
                       "### END HIDDEN TESTS", gid, grade=True, points=2)
                 for gid in ("ok", "error", "stderr", "partial", "too_much", "text", "gone")]
    nb.cells.append(_cell("x", "by_hand", grade=True, solution=True, points=3))
    source = read_source(nb, "nb", "asg")
    assert [c.grade_id for c in source.autograded] == ["ok", "error", "stderr", "partial",
                                                       "too_much", "text", "gone"]
    assert source.points == 14 and source.manual_points == 3
    released = nbformat.from_dict(nb)
    from cnngrade.intake.notebook import render_template
    released = render_template(released, "asg")
    released.cells[2].source = "pass"                                  # an edited test cell
    released.cells = [c for c in released.cells if grade_id(c) != "gone"]
    restored, problems = restore(released, source, "s/nb.ipynb")
    assert "BEGIN HIDDEN TESTS" in restored.cells[2].source            # hidden tests are back
    assert problems == ["test cell 'error' was edited; nbgrader's original was restored.",
                        "test cell 'gone' was deleted (or its nbgrader metadata removed); "
                        "nbgrader does not put it back, so it scores 0."]
    out = nbformat.v4.new_output
    outputs = {
        "ok": [out("stream", name="stdout", text="fine\n")],
        "error": [out("error", ename="AssertionError", evalue="", traceback=[])],
        "stderr": [out("stream", name="stderr", text="warning\n")],
        "partial": [out("execute_result", data={"text/plain": "0.5"}, execution_count=1)],
        "too_much": [out("execute_result", data={"text/plain": "7"}, execution_count=1)],
        "text": [out("execute_result", data={"text/plain": "'done'"}, execution_count=1)],
    }
    for cell in restored.cells:
        cell.outputs = outputs.get(grade_id(cell), [])
    scores = {t.name: (t.score, t.status) for t in score_cells(restored, source)}
    assert scores == {"ok": (2, "passed"), "error": (0, "failed"), "stderr": (0, "failed"),
                      "partial": (0.5, "failed"), "too_much": (0, "failed"),
                      "text": (2, "passed"), "gone": (0, "failed")}
