"""output-size through the whole pipeline: the bundled samples (perfect, partial, untouched
template, broken file), a near-miss submission, the public tests, and the released template."""

from __future__ import annotations

import json
import shutil

import nbformat
import pytest
from conftest import filled, strip_markers, submit

from cnngrade.course.config import load_course
from cnngrade.grading.grade import grade
from cnngrade.intake.collect import collect
from cnngrade.intake.notebook import grade_id
from cnngrade.intake.release import find_leaks, release, render_release
from cnngrade.views.student_check import check_notebook

pytestmark = pytest.mark.slow
SLUG = "output-size"
MAX = 28
N_TESTS = 18

# The answer cells the partial sample leaves unanswered (PARTIAL in scripts/make_samples.py) and
# the hidden tests that call them; every other test only calls answered cells.
PARTIAL_UNANSWERED = {"dense_params", "network_params", "bottleneck_multiplications", "q2", "q3"}
PARTIAL_FAILS = {"test_dense_params", "test_network_params_random", "test_mnist_convnet_params",
                 "test_cats_dogs_convnet_params", "test_bottleneck_multiplications",
                 "test_q2_cats_dogs_sizes", "test_q3_flatten_features"}

# A near miss: the bias is forgotten. It costs the checks that count Conv2D parameters (directly,
# or through network_params, which calls conv2d_params) and nothing else.
NO_BIAS = '''
def conv2d_params(k, c_in, c_out):
    """Number of parameters (weights and biases) of a Conv2D layer."""
    return k * k * c_in * c_out
'''
NO_BIAS_FAILS = {"test_conv2d_params", "test_network_params_random", "test_mnist_convnet_params",
                 "test_cats_dogs_convnet_params"}


def results_of(course, student: str) -> dict:
    path = course.course_dir / "results" / SLUG / student / "results.json"
    return json.loads(path.read_text())


def by_name(results: dict) -> dict[str, dict]:
    return {t["name"]: t for t in results["tests"]}


# right answers, by asking Keras: against the rule "do not import Keras or TensorFlow"
ASKS_KERAS = """
def conv2d_params(k, c_in, c_out):
    import keras
    layer = keras.layers.Conv2D(c_out, k)
    layer.build((None, 32, 32, c_in))
    return int(layer.count_params())
"""


@pytest.fixture(scope="module")
def graded_samples(tmp_path_factory):
    course = load_course(tmp_path_factory.mktemp("course"))
    release(course, SLUG, update_template=False)
    samples = course.solutions_dir / "samples" / SLUG
    inbox = tmp_path_factory.mktemp("inbox")
    for student in ("perfect", "partial", "template", "broken"):
        shutil.copytree(samples / student, inbox / student)
    submit(inbox, "nobias", filled(course, SLUG, {"conv2d_params": NO_BIAS}), SLUG + ".ipynb")
    submit(inbox, "askskeras", filled(course, SLUG, {"conv2d_params": ASKS_KERAS}),
           SLUG + ".ipynb")
    report = collect(course, SLUG, inbox)
    assert len(report.added) == 6
    grade(course, SLUG, workers=2)
    return course


def test_solution_and_template(graded_samples):
    course = graded_samples
    perfect = results_of(course, "perfect")
    assert perfect["score"] == perfect["max_score"] == MAX
    assert len(perfect["tests"]) == N_TESTS
    assert all(t["status"] == "passed" for t in perfect["tests"])
    assert not perfect["extra_data"].get("grader_errors")
    assert sum(t["max_score"] for t in perfect["tests"]) == MAX == \
        course.assignment(SLUG).points
    template = results_of(course, "template")
    assert template["score"] == 0 and not template["extra_data"].get("grader_errors")
    assert len(template["tests"]) == N_TESTS
    assert all(t["status"] == "failed" and t["output"] for t in template["tests"])
    broken = results_of(course, "broken")
    assert broken["score"] == 0 and broken["tests"] == []
    assert broken["output"].startswith("broken/output-size.ipynb is not valid notebook JSON")


def test_partial_scores_its_answered_cells(graded_samples):
    course = graded_samples
    sample = nbformat.read(course.solutions_dir / "samples" / SLUG / "partial" / f"{SLUG}.ipynb",
                           as_version=4)
    unanswered = {grade_id(c) for c in sample.cells if c.metadata["nbgrader"]["solution"]
                  and "raise NotImplementedError()" in c.source}
    assert unanswered == PARTIAL_UNANSWERED
    partial = results_of(course, "partial")
    assert not partial["extra_data"].get("grader_errors")
    tests = by_name(partial)
    failed = {name for name, t in tests.items() if t["status"] != "passed"}
    assert failed == PARTIAL_FAILS
    for name in failed:
        assert ("is not implemented yet" in tests[name]["output"]
                or "is not defined in the notebook" in tests[name]["output"]), tests[name]
    earned = sum(t["max_score"] for name, t in tests.items() if name not in PARTIAL_FAILS)
    assert partial["score"] == earned == 18


def test_near_miss_loses_exactly_the_checks_that_exercise_it(graded_samples):
    res = results_of(graded_samples, "nobias")
    assert not res["extra_data"].get("grader_errors")
    tests = by_name(res)
    failed = {name for name, t in tests.items() if t["status"] != "passed"}
    assert failed == NO_BIAS_FAILS
    lost = sum(tests[name]["max_score"] for name in NO_BIAS_FAILS)
    assert res["score"] == MAX - lost == 21
    direct = tests["test_conv2d_params"]["output"]
    assert "returned" in direct and "expected" in direct and "(k·k·c_in + 1)·c_out" in direct
    assert "the bias is missing" in direct
    mnist = tests["test_mnist_convnet_params"]["output"]
    assert "layer 1 of 8" in mnist and "expected 320 parameters" in mnist and "got 288" in mnist
    assert "(3·3·1 + 1)·32 = 320" in mnist and "93,322" in mnist
    cats = tests["test_cats_dogs_convnet_params"]["output"]
    assert "expected 896 parameters" in cats and "got 864" in cats


def test_public_tests_for_students(repo_course):
    samples = repo_course.solutions_dir / "samples" / SLUG
    good = check_notebook(samples / "perfect" / f"{SLUG}.ipynb", repo_course)
    assert good.tests and all(t.status == "passed" for t in good.tests)
    bad = check_notebook(samples / "template" / f"{SLUG}.ipynb", repo_course)
    assert bad.tests and not any(t.status == "passed" for t in bad.tests)


def test_released_template_holds_no_solution():
    asg = load_course("/nonexistent-course-dir-for-content-only").assignment(SLUG)
    files = render_release(asg)
    texts = {name: data.decode() for name, data in files.items()}
    assert find_leaks(texts, asg) == []
    assert asg.template.read_text() == texts[asg.notebook], \
        f"run `cnngrade release {SLUG}` and commit {asg.template}"
    template = nbformat.reads(texts[asg.notebook], as_version=4)
    solution = nbformat.read(asg.solution, as_version=4)
    answers = {grade_id(c): strip_markers(c.source) for c in solution.cells
               if c.metadata["nbgrader"]["solution"]}
    assert len(answers) == 12
    for cell in template.cells:
        if grade_id(cell) in answers:
            assert "raise NotImplementedError()" in cell.source
            assert cell.source != answers[grade_id(cell)]
            assert "BEGIN SOLUTION" not in cell.source


def test_asking_keras_loses_exactly_the_rule(graded_samples):
    res = results_of(graded_samples, "askskeras")
    failed = {name: t["output"] for name, t in by_name(res).items() if t["status"] != "passed"}
    assert list(failed) == ["test_no_keras"] and res["score"] == MAX - 1, failed
    assert failed["test_no_keras"].startswith("cell 'conv2d_params' imports Keras. The rule is")

