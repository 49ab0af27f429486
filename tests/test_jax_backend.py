"""The training assignments on Keras's JAX backend (jax and jaxlib from PyPI, the dev extra):
architectures' reference solution, graded on CPU with `keras_backend="jax"`, gets full marks
from the same suite, the kernel and the checker both on JAX. (keras-convnet's 150×150 binary
convnet does not train within its CPU limit on JAX on this CPU: README, Known limits.)"""

from __future__ import annotations

import shutil

import pytest
from conftest import assert_full_marks, results_of

from cnngrade.course.config import load_course
from cnngrade.course.data import prepare
from cnngrade.grading.grade import grade
from cnngrade.intake.collect import collect
from cnngrade.intake.release import release

pytestmark = pytest.mark.slow
pytest.importorskip("jax")   # the dev extra installs it; a machine without it skips, and says so
SLUG = "architectures"


def test_architectures_on_jax_scores_the_maximum(tmp_path):
    course = load_course(tmp_path / "course")
    prepare(course.data, hidden=True)
    release(course, SLUG, update_template=False)
    shutil.copytree(course.solutions_dir / "samples" / SLUG / "perfect", tmp_path / "in" / "p")
    assert len(collect(course, SLUG, tmp_path / "in").added) == 1
    grade(course, SLUG, workers=1, keras_backend="jax")
    result = results_of(course, SLUG, "p")
    assert result["extra_data"]["keras_backend"] == "jax"
    assert_full_marks(result, 30)
