"""augmentation end to end: the solution scores the maximum, the untouched template 0 without
grader errors, and a near miss (validation images augmented, dropout after the Dense layer)
loses exactly the points of those two checks. The notebooks train for real (about 2 minutes
each on 2 cores)."""

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
    assert graded.assignment(SLUG).points == 25
    assert_full_marks(perfect, 25)


def test_template_scores_zero_without_grader_errors(graded):
    template = results_of(graded, "template")
    assert_zero(template, 13)


def test_near_miss_loses_exactly_its_checks(graded):
    result = results_of(graded, "nearmiss")
    out = assert_loses_exactly(result, NEAR_MISS_FAILS)
    assert result["score"] == result["max_score"] - 6
    assert out["test_evaluation_images_are_not_augmented"].startswith(
        "validation_generator changes the images beyond rescaling them")
    assert out["test_dropout_placement"].startswith(
        "Dropout sits between dense (Dense) and dense_1 (Dense); the course puts it between "
        "Flatten and the first Dense layer")
