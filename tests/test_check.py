"""`cnngrade check`, the student side: the public tests in the grader's sandbox, and, before and
besides them, what would keep the notebook from being graded or cost it points for reasons the
tests do not show (edited locked cells, deleted, duplicated or copied answer cells, time limits,
a killed kernel, Keras models the grader cannot load, a file collect would refuse); a file that
is not a usable notebook is one sentence and exit code 2."""

from __future__ import annotations

import copy

import nbformat
import pytest
from conftest import add_assignment, filled, template_of
from rich.console import Console
from test_cli import cnngrade

from cnngrade.cli import render
from cnngrade.course.errors import CnnGradeError
from cnngrade.intake.notebook import grade_id
from cnngrade.views import student_check as check_module
from cnngrade.views.student_check import MODEL_TEST, check_notebook


def write(folder, nb, name: str = "mini.ipynb"):
    path = folder / name
    path.write_text(nbformat.writes(nb))
    return path


def cell_index(nb, gid: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if grade_id(c) == gid)


def flat(text: str) -> str:
    return " ".join(text.split())


def only_finding(result, level: str):
    assert [f.level for f in result.findings] == [level], result.findings
    return result.findings[0]


@pytest.mark.slow
def test_correct_notebook_passes_with_nothing_to_fix(mini_course, tmp_path):
    path = write(tmp_path, filled(mini_course, "mini"))
    result = check_notebook(path, mini_course)
    assert [(t.name, t.status) for t in result.tests] == [("test_add_small", "passed")]
    assert result.findings == [] and result.problems == [] and result.errors == []
    assert result.gradable and result.models == []   # no Keras in this notebook
    proc = cnngrade("check", path, "--course-dir", mini_course.course_dir)
    assert proc.returncode == 0, proc
    out = flat(proc.stdout)
    assert "1 of 1 public tests passed" in out
    assert "Nothing besides the tests will cost points" in out
    assert "Before you submit" not in out and MODEL_TEST not in out


@pytest.mark.slow
def test_edited_locked_cell_will_not_count(mini_course, tmp_path):
    nb = filled(mini_course, "mini")
    nb.cells[cell_index(nb, "setup")].source += "\nTHRESHOLD = 0.5"
    result = check_notebook(write(tmp_path, nb), mini_course)
    assert all(t.status == "passed" for t in result.tests)
    assert result.problems == ["locked cell 'setup' was edited; the original was restored."]
    finding = only_finding(result, "points")
    assert "Locked cell 'setup' (cell 2 from the top, `import numpy as np`) was edited" in \
        finding.what and "will not count" in finding.what
    assert finding.advice.startswith("Restore the cell: copy its text back from the released "
                                   "notebook")


@pytest.mark.slow
def test_deleted_answer_cell_is_graded_zero(mini_course, tmp_path):
    nb = filled(mini_course, "mini")
    del nb.cells[cell_index(nb, "add")]
    result = check_notebook(write(tmp_path, nb), mini_course)
    assert [t.status for t in result.tests] == ["failed"]
    assert "not implemented yet" in result.tests[0].output
    finding = only_finding(result, "points")
    assert finding.what.startswith("Answer cell 'add' is missing from your notebook")
    assert "0 points" in finding.what and "Re-download the notebook" in finding.advice


@pytest.mark.slow
def test_duplicated_answer_cell_grades_the_first_copy(mini_course, tmp_path):
    """The student pasted a copy of the answer cell (grade id and all) and answered in the
    second copy: only the first, still empty, is graded."""
    nb = filled(mini_course, "mini")
    at = cell_index(nb, "add")
    nb.cells.insert(at + 1, copy.deepcopy(nb.cells[at]))
    nb.cells[at].source = template_of(mini_course, "mini").cells[at].source
    for cell in nb.cells:
        cell.pop("id", None)
    nb.nbformat_minor = 4   # no cell ids: the copy would otherwise repeat one
    result = check_notebook(write(tmp_path, nb), mini_course)
    assert result.problems == ["cell 'add' appears more than once; only the first copy was "
                               "graded."]
    finding = only_finding(result, "points")
    assert "Answer cell 'add' appears 2 times (cells 3 and 4 from the top)" in finding.what
    assert "still the empty released cell" in finding.what and "0 points" in finding.what
    assert "delete the others" in finding.advice
    assert [t.status for t in result.tests] == ["failed"]


@pytest.mark.slow
def test_cells_whose_metadata_was_removed_or_changed(mini_course, tmp_path):
    """'add' pasted into a new cell (no nbgrader metadata) above the set-up: the released empty
    cell, put back after it, replaces the answer. 'square' with a grade id of the student's
    own: put back before it, so the answer still counts (a note)."""
    nb = filled(mini_course, "mini")
    add = nb.cells.pop(cell_index(nb, "add"))
    add.metadata = {}
    nb.cells.insert(0, add)
    nb.cells[cell_index(nb, "square")].metadata.nbgrader["grade_id"] = "my-square"
    result = check_notebook(write(tmp_path, nb), mini_course)
    assert [t.status for t in result.tests] == ["failed"]   # add is the empty one again
    assert [f.level for f in result.findings] == ["points", "note"]
    lost, kept = result.findings
    assert lost.what.startswith("Answer cell 'add' lost its nbgrader metadata: your answer "
                                "seems to be in cell 1 from the top, `def add(a, b):`, which "
                                "has no nbgrader metadata")
    assert "replaces your answer" in lost.what and "0 points" in lost.what
    assert "Copy the cell 'add' from the released notebook" in lost.advice
    assert "carries the grade id 'my-square' instead" in kept.what
    assert "your answer is still used" in kept.what


@pytest.mark.slow
def test_time_limit_killed_kernel_and_errors_in_the_sandbox(mini_course, tmp_path):
    toml = mini_course.assignment("mini").template_dir / "assignment.toml"
    # 1 s of CPU per cell; the wall-clock backstop, 20 x 1 s, leaves room for a busy machine
    toml.write_text(toml.read_text().replace("cell_timeout = 10",
                                             "cell_timeout = 1\nwall_factor = 20"))
    nb = filled(mini_course, "mini")
    nb.cells += [nbformat.v4.new_code_cell("import time\ntime.sleep(30)"),
                 nbformat.v4.new_code_cell("import os\nos._exit(3)"),
                 nbformat.v4.new_code_cell("import package_only_on_my_laptop")]
    result = check_notebook(write(tmp_path, nb), mini_course)
    assert all(t.status == "passed" for t in result.tests)
    whats = [f.what for f in result.findings]
    assert [f.level for f in result.findings] == ["points"] * 3, whats
    # it sleeps: it uses no CPU time, and the wall-clock backstop stops it
    assert whats[0].startswith("The cell `import time` did not finish within 20 s although it "
                               "hardly computed"), whats[0]
    assert whats[1].startswith("The cell `import os` killed the Python kernel in the grader's "
                               "sandbox") and "1 GiB of memory" in whats[1]
    assert whats[2] == ("The cell `import package_only_on_my_laptop` raised "
                        "ModuleNotFoundError: No module named 'package_only_on_my_laptop' "
                        "when the grader ran your notebook.")


@pytest.mark.slow
def test_too_large_or_empty_notebook_is_not_gradable(mini_course, tmp_path, monkeypatch):
    monkeypatch.setattr(check_module, "MAX_FILE", 1000)   # collect's cap, made small
    empty = template_of(mini_course, "mini")
    empty.cells = []
    empty.metadata["padding"] = "x" * 1000
    result = check_notebook(write(tmp_path, empty), mini_course)
    assert not result.gradable
    assert [f.level for f in result.findings] == ["ungradable", "ungradable"]
    large, no_cells = result.findings
    assert "more than the 1,000 bytes a submitted notebook may have: it will not be " \
        "collected, so it cannot be graded" in large.what
    assert "Clear the outputs" in large.advice
    assert no_cells.what == "mini.ipynb has no cells: it will be graded 0."


@pytest.mark.slow
def test_cli_shows_the_problems_before_the_table(mini_course, tmp_path):
    nb = filled(mini_course, "mini")
    nb.cells[cell_index(nb, "setup")].source += "  # mine"
    del nb.cells[cell_index(nb, "square")]
    proc = cnngrade("check", write(tmp_path, nb), "--course-dir", mini_course.course_dir)
    assert proc.returncode == 0, proc
    out = flat(proc.stdout)
    assert out.index("Before you submit: 2 things the tests do not show (2 will cost points") \
        < out.index("Public tests for mini") < out.index("1 of 1 public tests passed")
    assert "! will cost points Answer cell 'square' is missing from your notebook" in out
    assert "! will cost points Locked cell 'setup'" in out
    assert "→ Restore the cell: copy its text back from the released notebook" in out
    assert out.endswith("Fix the problems listed above before you submit: the tests do not "
                        "show them, but they will cost points.")


@pytest.mark.slow
def test_a_broken_public_test_is_the_graders_problem(mini_course, tmp_path):
    public = mini_course.assignment("mini").public_tests_dir / "test_public.py"
    public.write_text(public.read_text() + "\ndef test_broken(:\n")
    result = check_notebook(write(tmp_path, filled(mini_course, "mini")), mini_course)
    assert result.tests == [] and result.findings == []
    assert len(result.errors) == 1 and "SyntaxError" in result.errors[0]
    console = Console(record=True, width=200)
    render.check(console, result)
    out = flat(console.export_text())
    assert "The check could not run completely (a problem of the grader's set-up, not of your " \
        "notebook)" in out
    assert "public tests passed" not in out and "Nothing besides the tests" not in out


def test_unusable_input_is_one_sentence(mini_course, tmp_path, monkeypatch):
    broken = tmp_path / "mini.ipynb"
    broken.write_text('{"cells": [')
    other = write(tmp_path, nbformat.v4.new_notebook(), "homework.ipynb")
    (tmp_path / "listing.ipynb").write_text("[1, 2]")
    cases = [(broken, "is not valid notebook JSON"),
             (tmp_path / "missing.ipynb", "missing.ipynb does not exist; give the path of "
                                          "your notebook"),
             (tmp_path, "is a folder; give the path of your notebook"),
             (other, "does not say which assignment it belongs to"),
             (tmp_path / "listing.ipynb", "is JSON but not a Jupyter notebook")]
    for path, fragment in cases:
        with pytest.raises(CnnGradeError) as err:
            check_notebook(path, mini_course)
        assert fragment in str(err.value) and "\n" not in str(err.value)
    for path, fragment in cases[1:4:2]:   # (invalid JSON: tests/test_cli.py)
        proc = cnngrade("check", path, "--course-dir", mini_course.course_dir)
        assert proc.returncode == 2, proc
        assert "Traceback" not in proc.stdout + proc.stderr and proc.stdout == ""
        assert fragment in flat(proc.stderr)
    monkeypatch.setattr(check_module, "MAX_FILE", 1)   # far larger than collect's cap: unread
    with pytest.raises(CnnGradeError, match="far more than the 1 bytes a submitted notebook"):
        check_notebook(other, mini_course)


MODEL_TOML = '''
title = "Mini model"
points = 1
gpu = false
notebook = "mini-model.ipynb"
public_files = ["public_tests/test_public.py"]

[limits]
cell_timeout = 60
notebook_timeout = 120
call_timeout = 60
memory = "8GiB"
processes = 64
file_size = "64MiB"
'''

MODEL_SOLUTION = [
    ("markdown", "# Mini model\nBuild `model` and write `scale`.", "intro", False, True),
    ("code", "import numpy as np\nimport keras", "setup", False, True),
    ("code", '''
        ### BEGIN SOLUTION
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
        ### END SOLUTION
     ''', "model", True, False),
    ("code", '''
        def scale(x):
            """Pixel values 0..255 -> float32 in [0, 1]."""
            ### BEGIN SOLUTION
            return np.asarray(x, dtype="float32") / 255.0
            ### END SOLUTION
     ''', "scale", True, False),
]

MODEL_SUITE = '''
import pytest


@pytest.mark.points(1)
def test_scale(student):
    """scale maps 255 to 1"""
    assert float(student.scale(255)) == 1.0
'''

MODEL_PUBLIC = '''
import pytest


@pytest.mark.points(0)
def test_scale_small(student):
    """scale(255) is 1.0"""
    assert float(student.scale(255)) == 1.0
'''


def model_course(mini_course):
    """The mini course with a second assignment whose notebook builds a Keras model."""
    return add_assignment(mini_course, "mini-model", MODEL_TOML, MODEL_SOLUTION, MODEL_SUITE,
                          MODEL_PUBLIC)


@pytest.mark.slow
def test_keras_model_the_grader_cannot_load(mini_course, tmp_path):
    """`model` scales with a Lambda layer: the grader loads models with safe_mode and refuses
    it; `helper`, of built-in layers only, loads. The check that found it is no public test."""
    course = model_course(mini_course)
    nb = filled(course, "mini-model", {"model": '''
        model = keras.Sequential([keras.Input((8,)), keras.layers.Lambda(lambda x: x / 255.0),
                                  keras.layers.Dense(2)])
        helper = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
    '''})
    path = write(tmp_path, nb, "mini-model.ipynb")
    result = check_notebook(path, course)
    assert [(t.name, t.status) for t in result.tests] == [("test_scale_small", "passed")]
    assert result.models == ["helper"] and result.errors == []
    finding = only_finding(result, "points")
    assert finding.what == ("The grader cannot load your Keras model `model`: any check of it "
                            "will fail.")
    assert "no Lambda layers" in finding.advice
    assert finding.detail.startswith("The grader's loader said ") and "Lambda" in finding.detail
    console = Console(record=True, width=200)   # what `cnngrade check` prints (not run again:
    render.check(console, result)               # Keras takes its time; see the tests above)
    out = flat(console.export_text())
    assert out.index("! will cost points The grader cannot load your Keras model `model`") < \
        out.index("Public tests for mini-model")
    assert "The grader can save and load your Keras model helper." in out
    assert "1 of 1 public tests passed" in out and MODEL_TEST not in out
