"""Hidden suite for augmentation. The augmentation objects are exercised on images drawn by the
grader (in the kernel for ImageDataGenerator, here in the trusted process for the saved
preprocessing layers); the model is loaded here with safe_mode=True and measured on the hidden
two-class test split. 25 points."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnngrade.grading import modelcheck as mc

MODEL = [
    mc.conv(3, 32, (148, 148, 32)), mc.pool((74, 74, 32)),
    mc.conv(32, 64, (72, 72, 64)), mc.pool((36, 36, 64)),
    mc.conv(64, 128, (34, 34, 128)), mc.pool((17, 17, 128)),
    mc.conv(128, 128, (15, 15, 128)), mc.pool((7, 7, 128)),
    mc.flatten((6272,)), mc.dropout((6272,), 0.5),
    mc.dense(6272, 512, "relu"), mc.dense(512, 1, "sigmoid"),
]
assert sum(s.params for s in MODEL) == 3_453_121
RANGES = {"rotation_range": 40, "width_shift_range": 0.2, "height_shift_range": 0.2,
          "shear_range": 0.2, "zoom_range": [0.8, 1.2], "horizontal_flip": True,
          "rescale": 1 / 255}
# q1: too much dropout underfits; q2: evaluation data must stay real; q3: augmentation layers
# are the identity at inference; q4: augmentation fights overfitting on small data.
ANSWERS = {"q1": "b", "q2": "a", "q3": "c", "q4": "b"}


def _images(rng, n=4):
    """Grader-drawn images in 0..255 with structure (so a flip or rotation shows)."""
    base = rng.integers(0, 256, size=(n, 150, 150, 3)).astype("float32")
    base[:, :, :75] *= 0.3   # a dark left half
    return base


def _flow(student, generator: str, x, what: str):
    out = student.eval(f"next({generator}.flow(x, batch_size=len(x), shuffle=False))", what, x=x)
    out = np.asarray(out, dtype="float64")
    assert out.shape == x.shape, f"{what} turned images of shape {x.shape} into {out.shape}"
    return out


@pytest.fixture(scope="session")
def models(student):
    return mc.ModelLoader(student)


@pytest.fixture(scope="session")
def fit_inputs(student):
    return mc.fit_inputs(student)


# ===================================================================== ImageDataGenerator
@pytest.mark.points(3)
def test_train_datagen_settings(student):
    """train_datagen uses the course's ranges: rotation 40, shifts 0.2, shear 0.2, zoom 0.2,
    horizontal flips, pixels rescaled by 1/255."""
    found = student.eval("{k: getattr(train_datagen, k, None) for k in names}",
                         "reading train_datagen's settings", names=list(RANGES))
    assert isinstance(found, dict), "train_datagen is not an ImageDataGenerator"
    problems = []
    for key, want in RANGES.items():
        have = found.get(key)
        if isinstance(want, bool):
            ok = have is want
        else:
            ok = have is not None and np.allclose(np.asarray(have, dtype=float),
                                                  np.asarray(want, dtype=float))
        if not ok:
            problems.append(f"{key}={have!r}, expected {want!r}")
    assert not problems, "train_datagen: " + "; ".join(problems)


@pytest.mark.points(2)
def test_training_images_are_augmented(student, rng):
    """train_datagen (and so train_generator, which reads the 2,000 training images) changes
    training images, randomly, keeping their shape and the [0, 1] range."""
    x = _images(rng)
    first = _flow(student, "train_datagen", x, "train_datagen.flow(images)")
    second = _flow(student, "train_datagen", x, "train_datagen.flow(images)")
    assert first.min() >= -1e-6 and first.max() <= 1 + 1e-6, \
        f"augmented training images range over [{first.min():.3g}, {first.max():.3g}], " \
        "expected [0, 1] (rescale=1./255)"
    changed = [not np.allclose(a, b / 255, atol=1e-3) for a, b in zip(first, x, strict=True)]
    assert sum(changed) >= 3, \
        f"train_datagen left {len(x) - sum(changed)} of {len(x)} images unchanged; " \
        "augmentation should transform training images"
    assert not np.allclose(first, second), \
        "train_datagen gave the same images twice: augmentation should be random"
    uses = student.eval("train_generator.image_data_generator is train_datagen",
                        "checking train_generator")
    assert uses is True, "train_generator does not use train_datagen: augment the training data"
    count = student.eval("train_generator.samples", "reading train_generator")
    assert count == 2000, (f"train_generator reads {count} images; it should read the 2,000 "
                           "images of TWO_CLASS_DIR / 'train'")


@pytest.mark.points(2)
def test_evaluation_images_are_not_augmented(student, rng):
    """test_datagen and validation_generator only rescale: validation and test images are not
    augmented."""
    x = _images(rng)
    for generator, what in (("test_datagen", "test_datagen"),
                            ("validation_generator.image_data_generator",
                             "validation_generator")):
        out = _flow(student, generator, x, f"{what} on grader images")
        assert np.allclose(out, x / 255, atol=1e-4), (
            f"{what} changes the images beyond rescaling them (max difference "
            f"{np.abs(out - x / 255).max():.3g}): validation and test data must not be "
            "augmented; use ImageDataGenerator(rescale=1./255) for them")
    count = student.eval("validation_generator.samples", "reading validation_generator")
    assert count == 1000, (f"validation_generator reads {count} images; it should read the "
                           "1,000 images of TWO_CLASS_DIR / 'validation'")


# ===================================================================== preprocessing layers
# layer -> (setting, the course's value); a factor f may also be written (-f, f)
AUGMENTATION = {"RandomFlip": ("mode", "horizontal"), "RandomRotation": ("factor", 0.1),
                "RandomZoom": ("height_factor", 0.2)}


def _symmetric(value) -> tuple[float, float] | None:
    try:
        pair = [float(v) for v in value] if isinstance(value, (list, tuple)) else \
            [-float(value), float(value)]
    except (TypeError, ValueError):
        return None
    return (pair[0], pair[1]) if len(pair) == 2 else None


@pytest.mark.points(1)
def test_augmentation_layers(models):
    """data_augmentation holds RandomFlip("horizontal"), RandomRotation(0.1) and
    RandomZoom(0.2)."""
    model = models.get("data_augmentation")
    layers = {type(x).__name__: x for x in model.layers}
    missing = [k for k in AUGMENTATION if k not in layers]
    assert not missing, f"data_augmentation has {list(layers)}; missing {missing}"
    problems = []
    for kind, (key, want) in AUGMENTATION.items():
        have = layers[kind].get_config().get(key)
        if isinstance(want, str):
            ok = have == want
        else:
            got = _symmetric(have)
            ok = got is not None and np.allclose(got, (-want, want))
        if not ok:
            problems.append(f"{kind} has {key}={have!r}, expected {want!r}")
    assert not problems, "data_augmentation: " + "; ".join(problems)


@pytest.mark.points(2)
def test_augmentation_layers_train_vs_inference(models, rng):
    """data_augmentation changes images in training, keeps shape and range, and is the identity
    at inference."""
    model = models.get("data_augmentation")
    x = _images(rng) / 255
    trained = np.asarray(model(x, training=True))
    assert trained.shape == x.shape, \
        f"data_augmentation turned images of shape {x.shape} into {trained.shape}"
    assert trained.min() >= -1e-4 and trained.max() <= 1 + 1e-4, \
        f"augmented images range over [{trained.min():.3g}, {trained.max():.3g}], " \
        "the input was within [0, 1]"
    assert not np.allclose(trained, x, atol=1e-3), \
        "data_augmentation(images, training=True) returned the images unchanged"
    inferred = np.asarray(model(x, training=False))
    assert np.allclose(inferred, x, atol=1e-5), \
        "data_augmentation(images, training=False) changes the images; at inference it " \
        "should let them through unchanged"


# ==================================================================== the dropout model
@pytest.mark.points(2)
def test_dropout_placement(models, feedback):
    """model has one Dropout(0.5), between Flatten and the Dense(512) layer."""
    model = models.get("model")
    mc.record_table(feedback, "model", model, MODEL)
    layers = mc.core_layers(model)
    drops = [i for i, x in enumerate(layers) if type(x).__name__ == "Dropout"]
    assert len(drops) == 1, f"model has {len(drops)} Dropout layers; the course adds one"
    i = drops[0]
    rate = float(layers[i].get_config()["rate"])
    assert math.isclose(rate, 0.5), f"the Dropout rate is {rate:g}; the course uses 0.5"
    def describe(j: int) -> str:
        return f"{layers[j].name} ({type(layers[j]).__name__})" if 0 <= j < len(layers) \
            else "the model's end" if j >= 0 else "the input"

    before = type(layers[i - 1]).__name__ if i else None
    after = type(layers[i + 1]).__name__ if i + 1 < len(layers) else None
    assert before == "Flatten" and after == "Dense", (
        f"Dropout sits between {describe(i - 1)} and {describe(i + 1)}; the course puts it "
        "between Flatten and the first Dense layer, so that the flattened features are dropped "
        "before the classifier")


@pytest.mark.points(1)
def test_model_layers(models):
    """model: four Conv2D 3×3 ReLU + MaxPooling2D 2×2, Flatten, Dense(512, relu),
    Dense(1, sigmoid), in that order (the Dropout is judged by test_dropout_placement)."""
    mc.check_layers(models.get("model"), MODEL, "model", ignore=("Dropout",))


@pytest.mark.points(2)
def test_model_params(models):
    """model has the binary convnet's parameters in every layer: 3,453,121 in total."""
    mc.check_params(models.get("model"), MODEL, "model", ignore=("Dropout",))


@pytest.mark.points(1)
def test_model_compiled(models):
    """model is compiled with RMSprop(learning_rate=1e-4) and binary cross-entropy."""
    mc.check_compiled(models.get("model"), "model", ("binary_crossentropy",), "RMSprop",
                      learning_rate=1e-4)


@pytest.mark.points(2)
def test_model_inputs_scaled(models, fit_inputs, feedback):
    """model is trained and validated on pixels rescaled to [0, 1] (batches the grader draws
    from the generators or datasets its fit was given, whatever their names)."""
    mc.check_scaled_inputs(fit_inputs, models.get("model"), (150, 150, 3), "model", feedback,
                           "Train on train_generator and validate on validation_generator, "
                           "both made by generators with rescale=1./255.")


@pytest.mark.points(2)
def test_augmented_accuracy(models, course_data, assignment, feedback):
    """model, trained on augmented images, reaches the assignment's accuracy on the hidden test
    split."""
    mc.check_hidden_accuracy(models.get("model"), course_data,
                             assignment.thresholds["augmented_accuracy"], "model", feedback,
                             "Train it as asked before saving.")


@pytest.mark.points(1)
def test_saved(models, student, rng):
    """augmented_convnet.keras holds the trained model and augmented_history.json its history,
    validation included."""
    saved, live = models.get("augmented_convnet.keras", saved=True), models.get("model")
    x = rng.random((2, 150, 150, 3)).astype("float32")
    mc.check_saved_is_trained(saved, live, x, "augmented_convnet.keras", "model")
    mc.check_history(student.json_file("augmented_history.json"), "augmented_history.json",
                     ("loss", "accuracy", "val_loss", "val_accuracy"))


# ============================================================================ questions
@pytest.mark.points(1)
@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_question(student, name):
    """Each question's answer."""
    value = student.value(name)
    assert isinstance(value, str) and value.strip(), \
        f"{name} should be one letter as a string, like \"a\"; it is {value!r}"
    assert value.strip().lower()[:1] == ANSWERS[name], f"{name}: {value!r} is not the answer"
