"""Public tests for transfer-learning: run them with `cnngrade check transfer-learning.ipynb`.

They check the decision rule's corners and that your models and saved features exist. The
grader checks much more: the trainable and frozen parameters of every case on VGG16 and on the
course base, the learning rates, that you freeze before you compile, and each model's accuracy
on target test images that you never see.
"""

import pytest


@pytest.mark.points(1)
def test_decision_rule_corners(student):
    """choose_case for tiny and huge datasets, similar or not."""
    for args, want in (((10, True), 1), ((10, False), 4), ((100_000, False), 5)):
        got = student.choose_case(*args)
        assert got == want, f"choose_case{args} returned {got!r}, expected {want}"


@pytest.mark.points(1)
def test_models_exist(student):
    """The five trained models are Keras models."""
    for name in ("case1_classifier", "case2_model", "case3_model", "case4_model",
                 "case5_model"):
        student.keras_model(name)


@pytest.mark.points(1)
def test_features_saved(student):
    """features_train.npy is saved."""
    assert student.scratch_file("features_train.npy", 64 * 1024**2)[:6] == b"\x93NUMPY", \
        "features_train.npy should be written with np.save"
