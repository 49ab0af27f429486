"""Public tests for keras-convnet: run them with `cnngrade check keras-convnet.ipynb`.

They check the parameter counts and the saved files. The grader checks much more: every layer's
type and output shape, the compile settings, the activation model's outputs, and the accuracy
of your trained models on test images that you never see.
"""

import pytest


@pytest.mark.points(1)
def test_convnet_parameters(student):
    """convnet has 93,322 parameters."""
    model = student.keras_model("convnet")
    assert model.count_params() == 93_322, \
        f"convnet has {model.count_params():,} parameters; the lecture's model has 93,322"


@pytest.mark.points(1)
def test_binary_convnet_parameters(student):
    """binary_convnet has 3,453,121 parameters."""
    model = student.keras_model("binary_convnet")
    assert model.count_params() == 3_453_121, \
        f"binary_convnet has {model.count_params():,} parameters; the lecture's has 3,453,121"


@pytest.mark.points(1)
def test_files_saved(student):
    """convnet.keras, binary_convnet.keras and both histories are saved."""
    for name in ("convnet.keras", "binary_convnet.keras"):
        student.saved_model(name)
    for name in ("convnet_history.json", "binary_history.json"):
        history = student.json_file(name)
        assert isinstance(history, dict) and "loss" in history, \
            f"{name} should hold history.history, a dict with a 'loss' list"


@pytest.mark.points(1)
def test_activation_model_has_eight_outputs(student):
    """activation_model returns the outputs of 8 layers."""
    model = student.keras_model("activation_model")
    assert len(model.outputs) == 8, f"activation_model has {len(model.outputs)} outputs, not 8"
