"""architectures end to end: the solution scores the maximum, the partial sample what
PARTIAL.md says, the untouched template 0 without grader errors, the broken file one sentence,
and each near miss (a ResNet block without its skip connection; the same architecture
submitted twice) loses exactly the points of the checks it touches, with expected-versus-got
messages. The notebooks train for real (about 50 s each on 2 cores); all are graded in one
call, two at a time."""

from __future__ import annotations

import conftest
import nbformat
import pytest
from conftest import (
    assert_full_marks,
    assert_loses_exactly,
    assert_zero,
    filled,
    grade_samples,
    solution_sources,
)

from cnngrade.course.config import load_course

pytestmark = pytest.mark.slow
SLUG = "architectures"
N_TESTS = 12

# The residual blocks without their Add: Conv -> Conv -> ReLU. Only the ResNet structure check
# fails: the table is computed from the models and a plain 6-layer convnet still learns.
NO_SKIP_FAILS = {"test_resnet_structure"}
# `vgg` built with LeNet's layers: the VGG structure check and the check that the three differ.
# The accuracy thresholds are per slot, and LeNet clears the VGG one (0.84 against 0.80).
TWICE_FAILS = {"test_vgg_structure", "test_architectures_differ"}
PARTIAL_FAILS = {"test_comparison_params", "test_comparison_accuracy_and_time",
                 "test_histories_saved", "test_learning_curves_png", "test_lenet_accuracy",
                 "test_vgg_accuracy", "test_resnet_accuracy"}

LENET_LAYERS = ("Conv2D 5×5 same → MaxPooling2D 2×2 → Conv2D 5×5 valid → MaxPooling2D 2×2 → "
                "Flatten → Dense 120 → Dense 84 → Dense 10")


def results_of(course, student: str) -> dict:
    return conftest.results_of(course, SLUG, student)


def no_skip(course) -> nbformat.NotebookNode:
    sources = solution_sources(course, SLUG)
    add = "    y = layers.Add()([x, y])                                 # the identity shortcut\n"
    assert add in sources["resnet"]
    return filled(course, SLUG, {"resnet": sources["resnet"].replace(add, "")})


def twice(course) -> nbformat.NotebookNode:
    sources = solution_sources(course, SLUG)
    vgg = (sources["lenet"].replace("lenet = ", "vgg = ").replace('name="lenet"', 'name="vgg"')
           .replace("lenet.summary()", "vgg.summary()"))
    assert "lenet" not in vgg
    return filled(course, SLUG, {"vgg": vgg})


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = load_course(tmp_path_factory.mktemp("content"))
    near_misses = {"noskip": no_skip(course), "twice": twice(course)}
    return grade_samples(tmp_path_factory, SLUG, near_misses,
                         samples=("perfect", "partial", "template", "broken"))


def test_solution_scores_the_maximum(graded):
    perfect = results_of(graded, "perfect")
    assert graded.assignment(SLUG).points == 30
    assert_full_marks(perfect, 30)
    assert len(perfect["tests"]) == N_TESTS
    tables = {tab["title"]: tab for t in perfect["tests"]
              for tab in t.get("extra_data", {}).get("tables", [])}
    assert {"lenet", "vgg", "resnet", "lenet accuracy", "vgg accuracy", "resnet accuracy",
            "comparison: parameters"} <= set(tables)
    assert tables["comparison: parameters"]["rows"] == [
        ["lenet", "61,706", 61_706], ["vgg", "117,434", 117_434], ["resnet", "17,290", 17_290]]


def test_partial_sample_loses_what_partial_md_says(graded):
    result = results_of(graded, "partial")
    out = assert_loses_exactly(result, PARTIAL_FAILS)
    assert result["score"] == 13
    assert out["test_comparison_params"].startswith("comparison is a NoneType, expected a dict")


def test_template_scores_zero_without_grader_errors(graded):
    template = results_of(graded, "template")
    assert_zero(template, N_TESTS)
    out = {t["name"]: t["output"] for t in template["tests"]}
    assert "`resnet` is a NoneType, not a Keras model" in out["test_resnet_structure"]
    assert out["test_learning_curves_png"].startswith(
        "The notebook did not leave 'learning_curves.png'")


def test_broken_file_is_one_sentence(graded):
    broken = results_of(graded, "broken")
    assert broken["score"] == 0 and broken["tests"] == []
    assert broken["output"].startswith("broken/architectures.ipynb is not valid notebook JSON")


def test_resnet_without_skip_loses_exactly_its_structure_check(graded):
    result = results_of(graded, "noskip")
    out = assert_loses_exactly(result, NO_SKIP_FAILS)
    assert result["score"] == 26
    assert out["test_resnet_structure"] == (
        "resnet is not ResNet-style: it has no Add layer, so no skip connection; expected "
        "residual blocks whose input x is added to the output of their second convolution "
        "(layers.Add()([x, y])) before the ReLU. Got [Conv2D 3×3 same → MaxPooling2D 2×2 → "
        "Conv2D 3×3 same → Conv2D 3×3 same → Conv2D 3×3 same → Conv2D 3×3 same → "
        "MaxPooling2D 2×2 → Flatten → Dense 10]")


def test_same_architecture_twice_loses_exactly_vgg_and_differ(graded):
    result = results_of(graded, "twice")
    out = assert_loses_exactly(result, TWICE_FAILS)
    assert result["score"] == 25
    assert out["test_vgg_structure"] == (
        'vgg is not VGG-style: every convolution should be a 3×3 Conv2D with padding="same"; '
        "conv2d_2 is a Conv2D 5×5 same, conv2d_3 is a Conv2D 5×5 valid; 0 blocks of two or "
        f"more stacked convolutions ending in 2×2 MaxPooling2D, expected at least 2. Got "
        f"[{LENET_LAYERS}]")
    assert out["test_architectures_differ"] == (
        f"vgg has the same architecture as lenet ([{LENET_LAYERS}]). Expected three different "
        "designs: LeNet-style, VGG-style and ResNet-style")
