"""The training assignments on Keras's JAX backend (jax and jaxlib from PyPI, the dev extra):
architectures' reference solution, graded on CPU with `keras_backend="jax"`, gets full marks
from the same suite, the kernel and the checker both on JAX. (keras-convnet's is graded the
same way by tests/test_jax_keras_convnet.py, `make test-jax`: its 150×150 binary convnet trains
for minutes on JAX, too long for `make test`; README, Known limits.)"""

from __future__ import annotations

import pytest
from conftest import assert_full_marks, grade_samples, results_of

pytestmark = pytest.mark.slow
pytest.importorskip("jax")   # the dev extra installs it; a machine without it skips, and says so
SLUG = "architectures"


def test_architectures_on_jax_scores_the_maximum(tmp_path_factory):
    course = grade_samples(tmp_path_factory, SLUG, {}, samples=("perfect",), workers=1,
                           keras_backend="jax")
    result = results_of(course, SLUG, "perfect")
    assert result["extra_data"]["keras_backend"] == "jax"
    assert_full_marks(result, 30)
