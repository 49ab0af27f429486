"""augmentation end to end: the solution scores the maximum, the untouched template 0 without
grader errors, and a near miss (validation images augmented, dropout after the Dense layer)
loses exactly the points of those two checks. The notebooks train for real (about 2 minutes
each on 2 cores)."""

from __future__ import annotations

import conftest
import nbformat
import pytest
from conftest import filled, grade_samples, solution_sources

from autograder.config import load_course

pytestmark = pytest.mark.slow
SLUG = "augmentation"
NEAR_MISS_FAILS = {"test_evaluation_images_are_not_augmented", "test_dropout_placement"}


def results_of(course, student: str) -> dict:
    return conftest.results_of(course, SLUG, student)


def near_miss(course) -> nbformat.NotebookNode:
    sources = solution_sources(course, SLUG)
    datagen = sources["datagen"].replace("validation_generator = test_datagen.",
                                         "validation_generator = train_datagen.")
    model = sources["model"].replace(
        '    layers.Dropout(0.5),\n    layers.Dense(512, activation="relu"),\n',
        '    layers.Dense(512, activation="relu"),\n    layers.Dropout(0.5),\n')
    assert datagen != sources["datagen"] and model != sources["model"]
    return filled(course, SLUG, {"datagen": datagen, "model": model})


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = load_course(tmp_path_factory.mktemp("content"))
    return grade_samples(tmp_path_factory, SLUG, {"nearmiss": near_miss(course)})


def test_solution_scores_the_maximum(graded):
    perfect = results_of(graded, "perfect")
    assert not perfect["extra_data"].get("grader_errors")
    assert [t["name"] for t in perfect["tests"] if t["status"] != "passed"] == []
    assert perfect["score"] == perfect["max_score"] == graded.assignment(SLUG).points == 25


def test_template_scores_zero_without_grader_errors(graded):
    template = results_of(graded, "template")
    assert template["score"] == 0 and not template["extra_data"].get("grader_errors")
    assert len(template["tests"]) == 13 and all(t["output"] for t in template["tests"])


def test_near_miss_loses_exactly_its_checks(graded):
    result = results_of(graded, "nearmiss")
    assert not result["extra_data"].get("grader_errors")
    failed = {t["name"] for t in result["tests"] if t["status"] != "passed"}
    assert failed == NEAR_MISS_FAILS
    lost = sum(t["max_score"] for t in result["tests"] if t["name"] in failed)
    assert lost == 6 and result["score"] == result["max_score"] - lost
    out = {t["name"]: t["output"] for t in result["tests"]}
    assert out["test_evaluation_images_are_not_augmented"].startswith(
        "validation_generator changes the images beyond rescaling them")
    assert out["test_dropout_placement"].startswith(
        "Dropout sits between dense (Dense) and dense_1 (Dense); the course puts it between "
        "Flatten and the first Dense layer")
