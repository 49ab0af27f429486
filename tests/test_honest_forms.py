"""Honest forms of the same answer pass the same checks (docs/CHECKS.md): a separate
`Activation`/`ReLU` layer or the `activation=` argument, `Sequential` or functional,
`keras.Input` or `input_shape=`, `keras` or `tf.keras`, losses and optimizers as strings or
objects, a transfer-learning head nested or built on the base's own graph; and the fit
recorder reads what a model was trained on whatever the pipeline is called. Each model goes
through the grader's own save and safe-mode load."""

from __future__ import annotations

import importlib.util
import os

import nbformat
import pytest
from conftest import REPO

from cnngrade.course.config import Limits
from cnngrade.grading import modelcheck as mc
from cnngrade.grading.kernel_hooks import FIT_RECORDER
from cnngrade.sandbox.artifacts import load_keras_model
from cnngrade.sandbox.proxy import StudentProxy
from cnngrade.sandbox.student_kernel import StudentKernel

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")
layers = keras.layers

SPEC = [mc.conv(1, 8, (26, 26, 8)), mc.pool((13, 13, 8)), mc.flatten((1352,)),
        mc.dense(1352, 10, "softmax")]


def round_trip(model, tmp_path):
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    return load_keras_model(path.read_bytes(), f"the model `{model.name}`")


def small(form: str):
    if form == "activation argument":
        return keras.Sequential([keras.Input((28, 28, 1)),
                                 layers.Conv2D(8, (3, 3), activation="relu"),
                                 layers.MaxPooling2D((2, 2)), layers.Flatten(),
                                 layers.Dense(10, activation="softmax")])
    if form == "Activation layers":
        return keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(8, 3),
                                 layers.Activation("relu"), layers.MaxPooling2D(2),
                                 layers.Flatten(), layers.Dense(10),
                                 layers.Activation("softmax")])
    if form == "ReLU layer, functional":
        inputs = keras.Input((28, 28, 1))
        x = layers.ReLU()(layers.Conv2D(8, 3)(inputs))
        x = layers.Flatten()(layers.MaxPooling2D()(x))
        return keras.Model(inputs, layers.Dense(10, activation="softmax")(x))
    if form == "input_shape=":
        return keras.Sequential([layers.Conv2D(8, 3, activation="relu", input_shape=(28, 28, 1)),
                                 layers.MaxPooling2D(), layers.Flatten(),
                                 layers.Dense(10, activation="softmax")])
    if form == "tf.keras":
        import tensorflow as tf
        tk = tf.keras
        return tk.Sequential([tk.Input((28, 28, 1)), tk.layers.Conv2D(8, 3, activation="relu"),
                              tk.layers.MaxPooling2D(), tk.layers.Flatten(),
                              tk.layers.Dense(10, activation="softmax")])
    raise AssertionError(form)


@pytest.mark.parametrize("form", ["activation argument", "Activation layers",
                                  "ReLU layer, functional", "input_shape=", "tf.keras"])
def test_layer_forms_pass_the_layer_checks(form, tmp_path):
    model = round_trip(small(form), tmp_path)
    mc.check_layers(model, SPEC, "net")
    mc.check_shapes(model, SPEC, "net")
    mc.check_params(model, SPEC, "net")
    assert [row[4] for row in mc.layer_rows(model)][0] == \
        "kernel_size=(3, 3), strides=(1, 1), padding='valid', activation='relu'"


def test_a_capped_relu_is_not_relu(tmp_path):
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(8, 3),
                              layers.ReLU(max_value=6.0), layers.MaxPooling2D(),
                              layers.Flatten(), layers.Dense(10, activation="softmax")])
    with pytest.raises(AssertionError, match="has 5 layers where the course's model has 4"):
        mc.check_layers(round_trip(model, tmp_path), SPEC, "net")


@pytest.mark.parametrize("loss", ["binary_crossentropy", "BinaryCrossentropy object",
                                  "binary_crossentropy function"])
@pytest.mark.parametrize("optimizer", ["rmsprop", "RMSprop object"])
def test_losses_and_optimizers_as_strings_or_objects(loss, optimizer, tmp_path):
    model = keras.Sequential([keras.Input((4,)), layers.Dense(1, activation="sigmoid")])
    losses = {"binary_crossentropy": "binary_crossentropy",
              "BinaryCrossentropy object": keras.losses.BinaryCrossentropy(),
              "binary_crossentropy function": keras.losses.binary_crossentropy}
    optimizers = {"rmsprop": "rmsprop",
                  "RMSprop object": keras.optimizers.RMSprop(learning_rate=1e-3)}
    model.compile(optimizer=optimizers[optimizer], loss=losses[loss], metrics=["accuracy"])
    model = round_trip(model, tmp_path)
    mc.check_compiled(model, "model", ("binary_crossentropy",), "RMSprop", learning_rate=1e-3)


def _suite(slug: str, name: str):
    path = REPO / "autograder" / "suites" / slug / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_suite_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_transfer_heads_nested_inlined_or_a_nested_head(tmp_path):
    suite = _suite("transfer-learning", "test_transfer_learning")
    want = [("Flatten", None), ("Dense", 256), ("Dense", 1)]
    made = {}
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(150, 150, 3))
    made["nested base"] = keras.Sequential([base, layers.Flatten(),
                                            layers.Dense(256, activation="relu"),
                                            layers.Dense(1, activation="sigmoid")])
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(150, 150, 3))
    x = layers.Dense(256, activation="relu")(layers.Flatten()(base.outputs[0]))
    made["on the base's graph"] = keras.Model(base.inputs,
                                              layers.Dense(1, activation="sigmoid")(x))
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(150, 150, 3))
    head = keras.Sequential([layers.Flatten(), layers.Dense(256, activation="relu"),
                             layers.Dense(1, activation="sigmoid")])
    inputs = keras.Input((150, 150, 3))
    made["a nested head"] = keras.Model(inputs, head(base(inputs)))
    for form, model in made.items():
        if form == "on the base's graph":
            model = round_trip(model, tmp_path)
        got = [(type(x).__name__, getattr(x, "units", None)) for x in suite.head_layers(model)]
        assert got == want, form
        assert model.count_params() == suite.VGG16_TOTAL, form


NOTEBOOK = '''
import numpy as np
import keras
from keras import layers
'''
TRAIN = '''
x = np.random.default_rng(0).integers(0, 256, size=(40, 8, 8, 3)).astype("float32")
y = (x.mean(axis=(1, 2, 3)) > 127).astype("float32")
import tensorflow as tf
raw = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
scaled_net = keras.Sequential([keras.Input((8, 8, 3)), layers.Flatten(),
                               layers.Dense(1, activation="sigmoid")], name="scaled_net")
scaled_net.compile(optimizer="rmsprop", loss="binary_crossentropy")
scaled_net.fit(raw.map(lambda a, b: (a / 255.0, b)), epochs=1, verbose=0,
               validation_data=(x[:8] / 255.0, y[:8]))
raw_net = keras.Sequential([keras.Input((8, 8, 3)), layers.Flatten(),
                            layers.Dense(1, activation="sigmoid")], name="raw_net")
raw_net.compile(optimizer="rmsprop", loss="binary_crossentropy")
raw_net.fit(x, y, epochs=1, verbose=0, validation_data=raw)
'''


@pytest.mark.slow
def test_the_fit_recorder_sees_what_each_model_was_trained_on():
    """In the sandbox: a dataset mapped inline in the fit call (no name anywhere), arrays and a
    validation tuple; the grader draws a batch of each and judges its range."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(NOTEBOOK), nbformat.v4.new_code_cell(TRAIN)]
    with StudentKernel(nb, Limits(cell_timeout=120, notebook_timeout=240, threads=1),
                       preamble=FIT_RECORDER) as kernel:
        report = kernel.run_notebook()
        assert report.errors == 0, [c.get("outputs") for c in kernel.nb.cells]
        inputs = mc.fit_inputs(StudentProxy(kernel, 60))
    seen = {(i.model, i.role): (i.what, i.shape[1:], i.low >= 0, i.high <= 1) for i in inputs}
    assert seen == {("scaled_net", "training"): ("_MapDataset", (8, 8, 3), True, True),
                    ("scaled_net", "validation"): ("tuple", (8, 8, 3), True, True),
                    ("raw_net", "training"): ("ndarray", (8, 8, 3), True, False),
                    ("raw_net", "validation"): ("_BatchDataset", (8, 8, 3), True, False)}

    class Named:
        def __init__(self, name):
            self.name = name
            self.layers = []

    feedback = type("F", (), {"table": lambda *a, **k: None})()
    mc.check_scaled_inputs(inputs, Named("scaled_net"), (8, 8, 3), "scaled_net", feedback, "")
    with pytest.raises(AssertionError, match=r"raw_net was trained on pixel values from 0 to "
                                             r"25\d .* the instructions ask for \[0, 1\]"):
        mc.check_scaled_inputs(inputs, Named("raw_net"), (8, 8, 3), "raw_net", feedback, "")
    with pytest.raises(AssertionError, match="saw no `fit` call of other"):
        mc.check_scaled_inputs(inputs, Named("other"), (8, 8, 3), "other", feedback, "")


def test_a_function_saved_by_name_loads_only_from_keras(tmp_path):
    """`loss=keras.losses.binary_crossentropy` is saved as a "builtins" function named
    binary_crossentropy, which Keras looks up among its own functions: it loads. The same
    entry naming anything else (`eval`) is still refused before Keras reads the file."""
    import json
    import zipfile

    from cnngrade.sandbox.artifacts import ArtifactError
    model = keras.Sequential([keras.Input((4,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="rmsprop", loss=keras.losses.binary_crossentropy)
    path = tmp_path / "m.keras"
    model.save(path)
    assert load_keras_model(path.read_bytes(), "m").loss is keras.losses.binary_crossentropy
    forged = tmp_path / "forged.keras"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(forged, "w") as out:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                config["compile_config"]["loss"]["config"] = "eval"
                data = json.dumps(config).encode()
            out.writestr(item, data)
    with pytest.raises(ArtifactError, match="names code outside Keras"):
        load_keras_model(forged.read_bytes(), "forged")
