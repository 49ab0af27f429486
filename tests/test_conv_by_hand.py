"""conv-by-hand through the whole pipeline: the bundled samples (perfect, partial, untouched
template, broken file), the public tests, and dishonest submissions."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import filled, submit

from cnngrade.grading.grade import grade
from cnngrade.intake.collect import collect
from cnngrade.intake.release import release
from cnngrade.views.student_check import check_notebook

pytestmark = pytest.mark.slow
SLUG = "conv-by-hand"


def results_of(course, student: str) -> dict:
    path = course.course_dir / "results" / SLUG / student / "results.json"
    return json.loads(path.read_text())


SCIPY_CONV2D = """
from scipy import signal


def conv2d(image, kernel, stride=1, padding=0, pad_mode="zero"):
    image = pad(np.asarray(image, dtype=float), padding, mode=pad_mode)
    kernel = np.asarray(kernel, dtype=float)
    if image.ndim == 2:
        image, kernel = image[..., None], kernel[..., None]
    full = sum(signal.correlate2d(image[..., c], kernel[..., c], mode="valid")
               for c in range(image.shape[-1]))
    return full[::stride, ::stride].astype(float)
"""


@pytest.fixture(scope="module")
def graded_samples(tmp_path_factory):
    from cnngrade.course.config import load_course
    course = load_course(tmp_path_factory.mktemp("course"))
    release(course, SLUG, update_template=False)
    samples = course.solutions_dir / "samples" / SLUG
    inbox = tmp_path_factory.mktemp("inbox")
    for student in ("perfect", "partial", "template", "broken"):
        shutil.copytree(samples / student, inbox / student)
    # dishonest submissions: each keeps what it earns honestly, nothing more
    submit(inbox, "patcher", filled(course, SLUG, {"relu": (
        "import numpy as np\nnp.allclose = lambda *a, **k: True\n"
        "np.testing.assert_allclose = lambda *a, **k: None\n"
        "np.array_equal = lambda *a, **k: True\n"
        "def relu(x):\n    return x")}), SLUG + ".ipynb")
    submit(inbox, "cacher", filled(course, SLUG, {"relu": (
        "_seen = {}\ndef relu(x):\n    import numpy as np\n"
        "    return _seen.setdefault(np.shape(x), np.zeros(np.shape(x)))")}), SLUG + ".ipynb")
    submit(inbox, "eqtrick", filled(course, SLUG, {"q3": (
        "class Yes(str):\n    def __eq__(self, other): return True\n    __hash__ = str.__hash__\n"
        "q3_choice = Yes('Z')")}), SLUG + ".ipynb")
    # near misses of the rules: SciPy's correlation (right results, against the NumPy-only
    # rule), and a relu that zeroes its input in place
    submit(inbox, "scipy", filled(course, SLUG, {"conv2d": SCIPY_CONV2D}), SLUG + ".ipynb")
    submit(inbox, "inplace", filled(course, SLUG, {"relu": (
        "def relu(x):\n    x[x < 0] = 0\n    return x")}), SLUG + ".ipynb")
    report = collect(course, SLUG, inbox)
    assert len(report.added) == 9
    grade(course, SLUG, workers=2)
    return course


def test_samples(graded_samples):
    course = graded_samples
    perfect = results_of(course, "perfect")
    assert perfect["score"] == perfect["max_score"] == 30
    assert len(perfect["tests"]) == 23
    assert not perfect["extra_data"].get("grader_errors")
    assert results_of(course, "partial")["score"] == 18
    template = results_of(course, "template")
    assert template["score"] == 0 and not template["extra_data"].get("grader_errors")
    assert all(t["status"] == "failed" and t["output"] for t in template["tests"])
    broken = results_of(course, "broken")
    assert broken["score"] == 0 and broken["tests"] == []
    assert broken["output"].startswith("broken/conv-by-hand.ipynb is not valid notebook JSON")


def test_dishonest_submissions_earn_nothing_extra(graded_samples):
    course = graded_samples
    relu_points = 1
    for student in ("patcher", "cacher"):
        res = results_of(course, student)
        by_name = {t["name"]: t for t in res["tests"]}
        assert by_name["test_relu"]["score"] == 0, student
        assert res["score"] == 30 - relu_points, (student, res["output"])
    res = results_of(course, "eqtrick")
    assert res["score"] == 29
    assert {t["name"]: t for t in res["tests"]}["test_q3_learned_kernels"]["score"] == 0


def test_public_tests_for_students(repo_course, tmp_path):
    samples = repo_course.solutions_dir / "samples" / SLUG
    good = check_notebook(samples / "perfect" / f"{SLUG}.ipynb", repo_course)
    assert good.tests and all(t.status == "passed" for t in good.tests)
    bad = check_notebook(samples / "template" / f"{SLUG}.ipynb", repo_course)
    assert bad.tests and not any(t.status == "passed" for t in bad.tests)


def test_the_rules_lose_exactly_their_points(graded_samples):
    """SciPy in an answer loses only the NumPy-only rule; a relu that edits its input in place
    (its results are right) loses only the rule that inputs are left unchanged."""
    course = graded_samples
    for student, check in (("scipy", "test_numpy_only"), ("inplace", "test_inputs_left_unchanged")):
        res = results_of(course, student)
        failed = {t["name"]: t["output"] for t in res["tests"] if t["status"] != "passed"}
        assert list(failed) == [check] and res["score"] == 29, (student, failed)
    scipy = {t["name"]: t["output"] for t in results_of(course, "scipy")["tests"]}
    assert scipy["test_numpy_only"].startswith("cell 'conv2d' imports SciPy. The rule is: use "
                                               "NumPy only")
    inplace = {t["name"]: t["output"] for t in results_of(course, "inplace")["tests"]}
    assert inplace["test_inputs_left_unchanged"].startswith(
        "relu(x) changed the array it was given: the instructions ask for a new array")

