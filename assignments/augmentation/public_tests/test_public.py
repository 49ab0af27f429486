"""Public tests for augmentation: run them with `cnngrade check augmentation.ipynb`.

They check names and sizes only. The grader checks much more: that augmentation changes
training images and leaves validation images alone, how the preprocessing layers behave in
training and at inference, where the dropout sits, your answers, and the accuracy of your
trained model on test images that you never see.
"""

import pytest


@pytest.mark.points(1)
def test_model_parameters(student):
    """model still has 3,453,121 parameters (dropout adds none)."""
    model = student.keras_model("model")
    assert model.count_params() == 3_453_121, \
        f"model has {model.count_params():,} parameters; it should still have 3,453,121"


@pytest.mark.points(1)
def test_generators_read_the_folders(student):
    """train_generator reads 2,000 images and validation_generator 1,000."""
    assert student.eval("train_generator.samples") == 2000, \
        "train_generator should read the 2,000 images of TWO_CLASS_DIR / 'train'"
    assert student.eval("validation_generator.samples") == 1000, \
        "validation_generator should read the 1,000 images of TWO_CLASS_DIR / 'validation'"


@pytest.mark.points(1)
def test_answers_are_letters(student):
    """q1 to q4 are each one of "a", "b", "c", "d"."""
    for name in ("q1", "q2", "q3", "q4"):
        value = student.value(name)
        assert isinstance(value, str) and value.strip().lower() in {"a", "b", "c", "d"}, \
            f"{name} should be one letter as a string, like \"a\"; it is {value!r}"
