"""keras-convnet's reference solution on Keras's JAX backend (jax and jaxlib from PyPI, the dev
extra), graded on CPU with `keras_backend="jax"`: full marks from the same suite, the kernel and
the checker both on JAX. Not part of `make test` (its 150x150 binary convnet trains for minutes
on JAX on a 2-core CPU, which would take the suite past CI's limit): `make test-jax` runs it."""

from __future__ import annotations

import pytest
from conftest import assert_full_marks, grade_samples, results_of

pytestmark = [pytest.mark.slow, pytest.mark.jax_training]
pytest.importorskip("jax")   # the dev extra installs it; a machine without it skips, and says so
SLUG = "keras-convnet"


def test_keras_convnet_on_jax_scores_the_maximum(tmp_path_factory):
    course = grade_samples(tmp_path_factory, SLUG, {}, samples=("perfect",), workers=1,
                           keras_backend="jax")
    result = results_of(course, SLUG, "perfect")
    assert result["extra_data"]["keras_backend"] == "jax"
    assert_full_marks(result, 30)
