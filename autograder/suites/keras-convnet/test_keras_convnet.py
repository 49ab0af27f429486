"""Hidden suite for keras-convnet. Every model is saved by the student's kernel and loaded here,
in the trusted process, with safe_mode=True; layer types, shapes and parameter counts are this
process's own, expected values are the course's, and accuracy is measured here on test images
the sandbox cannot read (the two-class test split) or on the dataset's test split. 30 points."""

from __future__ import annotations

import numpy as np
import pytest

from cnngrade.grading import modelcheck as mc

# ------------------------------------------------------------------ the course's two models
CONVNET = [
    mc.conv(1, 32, (26, 26, 32)), mc.pool((13, 13, 32)),
    mc.conv(32, 64, (11, 11, 64)), mc.pool((5, 5, 64)),
    mc.conv(64, 64, (3, 3, 64)), mc.flatten((576,)),
    mc.dense(576, 64, "relu"), mc.dense(64, 10, "softmax"),
]
BINARY = [
    mc.conv(3, 32, (148, 148, 32)), mc.pool((74, 74, 32)),
    mc.conv(32, 64, (72, 72, 64)), mc.pool((36, 36, 64)),
    mc.conv(64, 128, (34, 34, 128)), mc.pool((17, 17, 128)),
    mc.conv(128, 128, (15, 15, 128)), mc.pool((7, 7, 128)),
    mc.flatten((6272,)), mc.dense(6272, 512, "relu"), mc.dense(512, 1, "sigmoid"),
]
assert sum(s.params for s in CONVNET) == 93_322
assert sum(s.params for s in BINARY) == 3_453_121


@pytest.fixture(scope="session")
def fit_inputs(student):
    return mc.fit_inputs(student)


@pytest.fixture(scope="session")
def models(student):
    return mc.ModelLoader(student)


# =========================================================================== the small convnet
@pytest.mark.points(2)
def test_convnet_layers(models, feedback):
    """convnet: Conv2D/MaxPooling2D ×2, Conv2D, Flatten, Dense, Dense with the course's
    kernels, strides, padding and activations."""
    model = models.get("convnet")
    mc.record_table(feedback, "convnet", model, CONVNET)
    mc.check_layers(model, CONVNET, "convnet")


@pytest.mark.points(2)
def test_convnet_shapes(models):
    """convnet's feature maps shrink 28 → 26 → 13 → 11 → 5 → 3, then flatten to 576."""
    mc.check_shapes(models.get("convnet"), CONVNET, "convnet")


@pytest.mark.points(2)
def test_convnet_params(models):
    """convnet has the course's parameter count in every layer: 93,322 in total."""
    mc.check_params(models.get("convnet"), CONVNET, "convnet")


@pytest.mark.points(1)
def test_convnet_compiled(models):
    """convnet is compiled with RMSprop and a categorical cross-entropy."""
    mc.check_compiled(models.get("convnet"), "convnet",
                      ("categorical_crossentropy", "sparse_categorical_crossentropy"), "RMSprop")


@pytest.mark.points(1)
def test_convnet_inputs_scaled(models, fit_inputs, feedback):
    """convnet is trained on pixels scaled to [0, 1] (a batch the grader draws from what its
    fit was given)."""
    mc.check_scaled_inputs(fit_inputs, models.get("convnet"), (28, 28, 1), "convnet", feedback,
                           "Divide the images by 255 before fit (e.g. "
                           "train_images.reshape((-1, 28, 28, 1)).astype(\"float32\") / 255).")


@pytest.mark.points(3)
def test_convnet_accuracy(models, course_data, assignment, feedback):
    """convnet, trained, reaches the assignment's accuracy on the test images."""
    model = models.get("convnet")
    x, labels, images = mc.grey_test_split(course_data)
    x = x * 255.0 if mc.rescales_itself(model) else x   # a Rescaling layer takes 0..255
    predictions = model.predict(x, batch_size=500, verbose=0)
    assert predictions.shape == (len(x), 10), \
        f"convnet gives outputs of shape {predictions.shape[1:]}, expected (10,)"
    mc.check_accuracy(predictions, labels, mc.threshold(assignment, "convnet_accuracy"),
                      "convnet", images, feedback,
                      "Train it as asked (pixels scaled to [0, 1], 1 epoch, batch size 64) "
                      "before saving.")


@pytest.mark.points(2)
def test_convnet_saved(models, student, rng, feedback):
    """convnet.keras holds the trained convnet and convnet_history.json its history."""
    saved, live = models.get("convnet.keras", saved=True), models.get("convnet")
    x = rng.random((4, 28, 28, 1)).astype("float32")
    mc.check_saved_is_trained(saved, live, x, "convnet.keras", "convnet")
    history = student.json_file("convnet_history.json")
    mc.record_history(feedback, "convnet", history)   # the learning curves of the feedback
    mc.check_history(history, "convnet_history.json", ("loss", "accuracy"))


# ========================================================================== the binary convnet
@pytest.mark.points(2)
def test_binary_layers(models, feedback):
    """binary_convnet: four Conv2D/MaxPooling2D pairs, Flatten, Dense(512), Dense(1, sigmoid),
    with the course's kernels, strides, padding and activations."""
    model = models.get("binary_convnet")
    mc.record_table(feedback, "binary_convnet", model, BINARY)
    mc.check_layers(model, BINARY, "binary_convnet")


@pytest.mark.points(2)
def test_binary_shapes(models):
    """binary_convnet's feature maps: 150 → 148 → 74 → 72 → 36 → 34 → 17 → 15 → 7."""
    mc.check_shapes(models.get("binary_convnet"), BINARY, "binary_convnet")


@pytest.mark.points(2)
def test_binary_params(models):
    """binary_convnet has the course's parameter count in every layer: 3,453,121 in total."""
    mc.check_params(models.get("binary_convnet"), BINARY, "binary_convnet")


@pytest.mark.points(1)
def test_binary_compiled(models):
    """binary_convnet is compiled with RMSprop(learning_rate=1e-4) and binary cross-entropy."""
    mc.check_compiled(models.get("binary_convnet"), "binary_convnet", ("binary_crossentropy",),
                      "RMSprop", learning_rate=1e-4)


@pytest.mark.points(2)
def test_binary_inputs_scaled(models, fit_inputs, feedback):
    """binary_convnet is trained and validated on pixels rescaled to [0, 1] in the data
    pipeline (batches the grader draws from the datasets or generators its fit was given)."""
    mc.check_scaled_inputs(fit_inputs, models.get("binary_convnet"), (150, 150, 3),
                           "binary_convnet", feedback,
                           "Rescale in the pipeline: .map(lambda x, y: (x / 255.0, y)) on both "
                           "datasets, or ImageDataGenerator(rescale=1./255) for both.")


@pytest.mark.points(2)
def test_binary_accuracy(models, course_data, assignment, feedback):
    """binary_convnet, trained, reaches the assignment's accuracy on the hidden test split."""
    mc.check_hidden_accuracy(
        models.get("binary_convnet"), course_data, mc.threshold(assignment, "binary_accuracy"),
        "binary_convnet", feedback,
        "Train it as asked (pixels scaled to [0, 1], 3 epochs) before saving.")


@pytest.mark.points(2)
def test_binary_saved(models, student, rng, feedback):
    """binary_convnet.keras holds the trained model and binary_history.json its history,
    validation included."""
    saved, live = models.get("binary_convnet.keras", saved=True), models.get("binary_convnet")
    x = rng.random((2, 150, 150, 3)).astype("float32")
    mc.check_saved_is_trained(saved, live, x, "binary_convnet.keras", "binary_convnet")
    history = student.json_file("binary_history.json")
    mc.record_history(feedback, "binary_convnet", history)
    mc.check_history(history, "binary_history.json",
                     ("loss", "accuracy", "val_loss", "val_accuracy"))


# ========================================================================= the activation model
def _first_eight(models):
    import keras
    binary = models.get("binary_convnet")
    layers = mc.core_layers(binary)[:8]
    reference = keras.Model(inputs=binary.inputs, outputs=[x.output for x in layers])
    return models.get("activation_model"), reference, layers


@pytest.mark.points(2)
def test_activation_model_shapes(models):
    """activation_model has 8 outputs, shaped like binary_convnet's first 8 layers."""
    student_model, _, layers = _first_eight(models)
    got = [tuple(o.shape[1:]) for o in student_model.outputs]
    want = [mc.output_shape(x) for x in layers]
    assert len(got) == 8, f"activation_model has {len(got)} outputs, expected 8 (one per layer)"
    assert got == want, f"activation_model's output shapes are {got}, expected {want}"


@pytest.mark.points(2)
def test_activation_model_values(models, rng):
    """activation_model returns the activations of binary_convnet's first 8 layers."""
    student_model, reference, layers = _first_eight(models)
    x = rng.random((2, 150, 150, 3)).astype("float32")
    got = student_model.predict(x, verbose=0)
    want = reference.predict(x, verbose=0)
    got = got if isinstance(got, list) else [got]
    assert len(got) == len(want), f"activation_model has {len(got)} outputs, expected 8"
    for i, (g, w, layer) in enumerate(zip(got, want, layers, strict=True)):
        assert g.shape == w.shape and np.allclose(g, w, rtol=1e-4, atol=1e-5), (
            f"output {i + 1} of activation_model is not the activation of {layer.name}: build "
            "it from binary_convnet.inputs and [layer.output for layer in "
            "binary_convnet.layers[:8]]")
