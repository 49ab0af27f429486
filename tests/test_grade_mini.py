"""End to end on the mini assignment: collect -> sandboxed grade -> gradebook -> results.json,
resubmissions, bad files and tampered cells. The attacks are in tests/test_adversarial.py."""

from __future__ import annotations

import json

import pytest
from conftest import filled, submit, template_of

from cnngrade.grading.grade import grade
from cnngrade.intake.collect import collect
from cnngrade.views.report import class_report

pytestmark = pytest.mark.slow

@pytest.fixture
def graded(mini_course, tmp_path):
    """Grade a set of students at once; returns {student: results.json}."""
    def run(notebooks: dict, workers: int = 2) -> dict:
        inbox = tmp_path / "inbox"
        for student, nb in notebooks.items():
            submit(inbox, student, nb)
        collect(mini_course, "mini", inbox)
        grade(mini_course, "mini", workers=workers)
        out = {}
        for student in notebooks:
            path = mini_course.course_dir / "results" / "mini" / student / "results.json"
            out[student] = json.loads(path.read_text())
        return out
    return run


def test_solution_template_and_partial(mini_course, graded):
    """(The attacks are in the adversarial corpus: tests/test_adversarial.py.)"""
    results = graded({
        "solution": filled(mini_course, "mini"),
        "template": template_of(mini_course, "mini"),
        "partial": filled(mini_course, "mini", {"square": "def square(x):\n    raise "
                                                           "NotImplementedError()"}),
    })
    assert results["solution"]["score"] == 4 == results["solution"]["max_score"]
    assert results["template"]["score"] == 0
    assert not results["template"]["extra_data"].get("grader_errors")
    assert results["partial"]["score"] == 3
    square = {t["name"]: t for t in results["partial"]["tests"]}["test_square"]
    assert "not implemented yet" in square["output"]


def test_gradebook_report_and_resubmission(mini_course, graded, tmp_path):
    graded({"ada": template_of(mini_course, "mini")})
    report = class_report(mini_course, "mini")
    assert [r.submission.student for r in report.rows] == ["ada"]
    assert report.rows[0].score == 0
    # a resubmission is kept beside the first and is the one graded
    results = graded({"ada": filled(mini_course, "mini")})
    assert results["ada"]["score"] == 4
    from cnngrade.course.gradebook import open_gradebook
    book = open_gradebook(mini_course.course_dir)
    assert len(book.submissions("mini", "ada")) == 2
    book.close()
    # grading again changes nothing and re-runs nothing
    summary = grade(mini_course, "mini")
    assert summary.cached == ["ada"] and not summary.graded


def test_bad_files_get_one_sentence_and_do_not_stop_the_class(mini_course, graded):
    v5 = json.dumps({"nbformat": 5, "nbformat_minor": 0, "cells": [], "metadata": {}})
    results = graded({
        "corrupt": b'{"cells": [',
        "binary": bytes(range(256)) * 4,
        "notjson": b"print('hello')\n",
        "v5": v5.encode(),
        "good": filled(mini_course, "mini"),
    })
    assert results["good"]["score"] == 4
    for name in ("corrupt", "binary", "notjson", "v5"):
        out = results[name]["output"]
        assert results[name]["score"] == 0
        assert "\n" not in out and "Traceback" not in out, out
        assert f"{name}/mini.ipynb" in out, out


def test_tampered_and_deleted_cells(mini_course, graded):
    nb = filled(mini_course, "mini")
    # edit the locked set-up cell (numpy import turned into a patch) and delete the 'answer' cell
    nb.cells[1].source = "import numpy as np\nnp.allclose = lambda *a, **k: True"
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "answer"]
    # duplicate the 'add' cell with a wrong answer after the right one
    wrong = json.loads(json.dumps(nb.cells[2]))
    wrong["source"] = "def add(a, b):\n    return a"
    nb.cells.insert(3, type(nb.cells[2])(wrong))
    results = graded({"tamper": nb})["tamper"]
    problems = " ".join(results["extra_data"]["problems"])
    assert "locked cell 'setup' was edited" in problems
    assert "answer cell 'answer' was deleted" in problems
    assert "'add' appears more than once" in problems
    assert results["score"] == 3   # add and square right, the deleted answer earns nothing
