"""The training assignments on Keras's JAX backend (jax and jaxlib from PyPI, the dev extra): the
reference solutions of architectures and keras-convnet, graded on CPU with
`keras_backend="jax"`, get full marks from the same suites, the kernel and the checker both on
JAX. keras-convnet's is marked `jax_training` and left out of `make test`: its 150×150 binary
convnet trains for minutes on JAX on a 2-core CPU, which would take the suite past CI's limit
(README, Known limits); `make test-jax` runs it."""

from __future__ import annotations

import pytest
from conftest import assert_full_marks, grade_samples, results_of

pytestmark = pytest.mark.slow
pytest.importorskip("jax")   # the dev extra installs it; a machine without it skips, and says so


@pytest.mark.parametrize("slug", ["architectures",
                                  pytest.param("keras-convnet", marks=pytest.mark.jax_training)])
def test_the_reference_on_jax_scores_the_maximum(tmp_path_factory, slug):
    course = grade_samples(tmp_path_factory, slug, {}, samples=("perfect",), workers=1,
                           keras_backend="jax")
    result = results_of(course, slug, "perfect")
    assert result["extra_data"]["keras_backend"] == "jax"
    assert_full_marks(result, 30)
