"""End to end on the mini assignment: collect -> sandboxed grade -> gradebook -> results.json,
and the attacks of issue 2, each of which must earn nothing it did not earn honestly."""

from __future__ import annotations

import json

import pytest
from conftest import filled, submit, template_of

from autograder.collect import collect
from autograder.grade import grade
from autograder.report import class_report

pytestmark = pytest.mark.slow

HONEST_ADD = "def add(a, b):\n    return np.asarray(a) + np.asarray(b)"

# Each attack: answers replacing the named answer cells, and the score it must get (out of 4).
# An attack cell that also answers honestly elsewhere keeps those points, nothing more.
ATTACKS = {
    "patch-allclose": ({"add": "np.allclose = lambda *a, **k: True\nnp.testing.assert_allclose"
                               " = lambda *a, **k: None\ndef add(a, b):\n    return a"}, 2),
    "eq-always-true": ({"add": "class Any:\n    def __eq__(self, o): return True\n"
                               "    def __array__(self, *a, **k): raise TypeError('no')\n"
                               "def add(a, b):\n    return Any()",
                        "answer": "class Any(int):\n    def __eq__(self, o): return True\n"
                                  "answer = Any(7)"}, 1),
    "fake-results": ({"add": "import json, os\nfor p in ['results.json', '../results.json',"
                             " '/results.json']:\n    try:\n        open(p, 'w').write(json.dumps("
                             "{'score': 4, 'max_score': 4}))\n    except OSError: pass\n"
                             "print('All tests passed! score 4/4')\ndef add(a, b):\n"
                             "    return a"}, 2),
    # reads the hidden suite and the gradebook by their real absolute paths (filled in by the
    # test), by ../ and through /proc; a single success would raise and lose the add points
    "read-hidden": ({"add": "import os\nfor p in TARGETS + ['../' * 6 + t for t in TARGETS] + "
                            "['/proc/self/cwd/../../' + t for t in TARGETS] + "
                            "['/proc/1/root' + t for t in TARGETS]:\n"
                            "    try:\n        open(p).read(1)\n    except OSError:\n"
                            "        continue\n    raise SystemExit('read ' + p)\n"
                            + HONEST_ADD}, 4),
    "socket": ({"add": "import socket\ns = socket.socket()\ns.settimeout(3)\n"
                       "s.connect(('1.1.1.1', 80))\n" + HONEST_ADD}, 2),  # add never defined
    "os-exit": ({"square": "import os\nos._exit(0)\ndef square(x): return x**2"}, 3),
    "exit-in-call": ({"square": "import os\ndef square(x):\n    os._exit(1)"}, 3),
    "infinite-loop": ({"square": "while True:\n    pass"}, 3),
    "loop-in-call": ({"square": "def square(x):\n    while True:\n        pass"}, 3),
    "alloc-30gb": ({"square": "big = bytearray(30 * 1024**3)\ndef square(x): return x**2"}, 3),
}


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


def test_solution_template_partial_and_attacks(mini_course, graded):
    notebooks = {
        "solution": filled(mini_course, "mini"),
        "template": template_of(mini_course, "mini"),
        "partial": filled(mini_course, "mini", {"square": "def square(x):\n    raise "
                                                           "NotImplementedError()"}),
    }
    targets = [str(mini_course.assignment("mini").suite_dir / "test_mini.py"),
               str(mini_course.course_dir / "gradebook.sqlite"), "/etc/shadow"]
    for name, (answers, _) in ATTACKS.items():
        answers = {k: v.replace("TARGETS", repr(targets)) for k, v in answers.items()}
        notebooks[name] = filled(mini_course, "mini", answers)
    results = graded(notebooks)
    assert results["solution"]["score"] == 4 == results["solution"]["max_score"]
    assert results["template"]["score"] == 0
    assert not results["template"]["extra_data"].get("grader_errors")
    assert results["partial"]["score"] == 3
    for name, (_, expected) in ATTACKS.items():
        got = results[name]
        assert not got["extra_data"].get("grader_errors"), (name, got)
        assert got["score"] == expected, (name, got["score"], got["tests"], got["output"])
    # what the student is told
    assert any("killed the Python kernel" in p
               for p in results["os-exit"]["extra_data"]["problems"])
    assert any("time limit per cell" in p
               for p in results["infinite-loop"]["extra_data"]["problems"])
    loop = {t["name"]: t for t in results["loop-in-call"]["tests"]}
    assert "did not finish within" in loop["test_square"]["output"]
    # the fake results file did not land anywhere the grader reads
    assert not (mini_course.course_dir / "results.json").exists()


def test_gradebook_report_and_resubmission(mini_course, graded, tmp_path):
    graded({"ada": template_of(mini_course, "mini")})
    report = class_report(mini_course, "mini")
    assert [r.submission.student for r in report.rows] == ["ada"]
    assert report.rows[0].score == 0
    # a resubmission is kept beside the first and is the one graded
    results = graded({"ada": filled(mini_course, "mini")})
    assert results["ada"]["score"] == 4
    from autograder.gradebook import open_gradebook
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
