"""Hidden suite for transfer-learning. The student's five case functions are called on the
grader's own VGG16 (`weights=None`, built offline) and on a fresh course base; every model they
make or train is saved by the kernel and loaded here with safe_mode=True, so the parameter
counts, the frozen layers, the learning rates and the accuracy on the hidden target test split
are this process's own. Only *when* a model was compiled is reported by the kernel. 30 points."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cnngrade.course import base_network as cb
from cnngrade.grading import modelcheck as mc

# ------------------------------------------------------------------------ the course's numbers
VGG16_BASE = 14_714_688
VGG16_HEAD = (4 * 4 * 512 + 1) * 256 + 257           # Flatten -> Dense(256) -> Dense(1)
VGG16_TOTAL = VGG16_BASE + VGG16_HEAD
VGG16_BLOCK5 = 3 * (3 * 3 * 512 + 1) * 512            # block5_conv1..3
VGG16_TO_BLOCK4 = VGG16_BASE - VGG16_BLOCK5            # up to block4_pool, output (9, 9, 512)
VGG16_BLOCK4_HEAD = (9 * 9 * 512 + 1) * 256 + 257
assert (VGG16_HEAD, VGG16_TOTAL) == (2_097_665, 16_812_353)

VGG16 = ('__import__("keras").applications.VGG16(weights=None, include_top=False, '
         'input_shape=(150, 150, 3))')
COURSE_BASE = ('__import__("keras").models.load_model(__import__("os").path.expanduser('
               f'"~/.keras/datasets/transfer/{cb.BASE_FILE}"))')
N_CLASSES = len(cb.TARGET_CLASSES)
COURSE_HEAD = (int(np.prod(cb.BASE_OUTPUT)) + 1) * 256 + (256 + 1) * N_CLASSES
FINE_TUNE_MAX_RATE = {"case 2": 1e-4, "case 3": 1e-5}

# the decision rule: (images per class, similar) -> case
RULE = {(n, similar): (1 if similar else 4) if n < 1_000 else
        (5 if not similar else 2 if n < 10_000 else 3)
        for n in (1, 20, 100, 999, 1_000, 1_001, 5_000, 9_999, 10_000, 10_001, 100_000,
                  1_000_000) for similar in (True, False)}
RULE_NAMES = {1: "feature extraction", 2: "fine-tune the last block",
              3: "fine-tune everything", 4: "features from an earlier layer",
              5: "pretrained initialisation, train everything"}


# ----------------------------------------------------------------------------------- helpers
VGG16_LAYER = re.compile(r"^block\d+_(conv\d+|pool)$")


def head_layers(model):
    """The layers on top of VGG16, however the model holds the base: nested as one layer
    (`Sequential([base, ...])`, `head(base(inputs))`), or inlined, the head built on the base's
    own graph (`keras.Model(base.inputs, head(base.outputs[0]))`, as Keras's transfer-learning
    guide does); a head that is itself a nested model is opened."""
    flat = []

    def walk(layers):
        for layer in layers:
            inner = getattr(layer, "layers", None)
            if inner and any(VGG16_LAYER.match(sub.name) for sub in inner):
                flat.append(None)            # the nested base
            elif inner:
                walk(inner)                  # a nested head
            elif type(layer).__name__ != "InputLayer":
                flat.append(layer)

    walk(model.layers)
    base = [i for i, x in enumerate(flat) if x is None or VGG16_LAYER.match(x.name)]
    return [x for x in flat[base[-1] + 1 if base else 0:] if x is not None]


def flat_layers(model):
    """(layer, effectively trainable) for every layer, nested models opened."""
    out = []

    def walk(layer, parent_on):
        on = parent_on and layer.trainable
        inner = getattr(layer, "layers", None)
        if inner:
            for sub in inner:
                walk(sub, on)
        else:
            out.append((layer, on))

    for layer in model.layers:
        walk(layer, True)
    return out


def counts(model) -> tuple[int, int, int]:
    """(total, trainable, non-trainable) parameters, counted here."""
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    total = int(model.count_params())
    return total, trainable, total - trainable


def frozen_names(model) -> list[str]:
    return [layer.name for layer, on in flat_layers(model) if layer.weights and not on]


def trainable_names(model) -> list[str]:
    return [layer.name for layer, on in flat_layers(model) if layer.weights and on]


def learning_rate(model, what: str) -> float:
    optimizer = getattr(model, "optimizer", None)
    assert optimizer is not None, f"{what} is not compiled; call compile_for(model, rate)"
    return float(np.asarray(optimizer.learning_rate))


def check_counts(model, what: str, total: int, trainable: int) -> None:
    have = counts(model)
    want = (total, trainable, total - trainable)
    if have != want:
        raise AssertionError(
            f"{what}: {have[1]:,} trainable and {have[2]:,} non-trainable parameters of "
            f"{have[0]:,}, expected {want[1]:,} trainable and {want[2]:,} non-trainable of "
            f"{want[0]:,}")


class Builds:
    """The models the student's functions make, each built once per grading run:
    `get(key)` -> (model, trainable parameters at each compile call)."""

    EXPRESSIONS = {
        "vgg case 1": f"feature_extraction_model({VGG16}, 1)",
        "vgg case 2": f'(lambda b: fine_tune_last_block(feature_extraction_model(b, 1), b, '
                      f'"block5_conv1"))({VGG16})',
        "vgg case 3": f"(lambda b: fine_tune_all(feature_extraction_model(b, 1), b))({VGG16})",
        "vgg case 4": f'earlier_layer_model({VGG16}, "block4_pool", 1)',
        "vgg case 5": f"pretrained_init_model({VGG16}, 1)",
        "course case 5": f"pretrained_init_model({COURSE_BASE}, {N_CLASSES})",
    }
    CALLS = {
        "vgg case 1": "feature_extraction_model(VGG16, 1)",
        "vgg case 2": 'fine_tune_last_block(feature_extraction_model(VGG16, 1), VGG16, '
                      '"block5_conv1")',
        "vgg case 3": "fine_tune_all(feature_extraction_model(VGG16, 1), VGG16)",
        "vgg case 4": 'earlier_layer_model(VGG16, "block4_pool", 1)',
        "vgg case 5": "pretrained_init_model(VGG16, 1)",
        "course case 5": f"pretrained_init_model(course base, {N_CLASSES})",
    }

    def __init__(self, student):
        self.get = mc.Remembered(
            lambda key: student.build_model(self.EXPRESSIONS[key], self.CALLS[key]))


@pytest.fixture(scope="session")
def builds(student):
    return Builds(student)


@pytest.fixture(scope="session")
def models(student):
    return mc.ModelLoader(student)


@pytest.fixture(scope="session")
def course_base(course_data):
    import keras

    from cnngrade.course.data import TRANSFER
    return keras.saving.load_model(course_data.public(TRANSFER) / cb.BASE_FILE, safe_mode=True)


@pytest.fixture(scope="session")
def hidden_test(course_data):
    from cnngrade.course.data import TRANSFER
    with np.load(course_data.hidden / TRANSFER / cb.TEST_FILE, allow_pickle=False) as data:
        return cb.scale(data["x"]), data["y"].astype(np.int64)


def _accuracy(model, x, labels, assignment, feedback, what: str, key: str) -> None:
    predictions = model.predict(x, batch_size=500, verbose=0)
    assert predictions.shape[1:] == (N_CLASSES,), \
        f"{what} gives outputs of shape {predictions.shape[1:]}, expected ({N_CLASSES},)"
    mc.check_accuracy(predictions, labels, mc.threshold(assignment, key), what,
                      f"hidden target test images ({', '.join(cb.TARGET_NAMES)})", feedback,
                      "Train it as the notebook says (20 images per class, the epochs given) "
                      "from a fresh course base.")


# =============================================================================== the rule
@pytest.mark.points(3)
def test_decision_rule(student):
    """choose_case gives the lecture's case for every dataset size and similarity, the
    boundaries 1,000 and 10,000 images per class included."""
    inputs = list(RULE)
    got = student.eval("[int(choose_case(n, s)) for n, s in inputs]", "choose_case",
                       inputs=[[n, s] for n, s in inputs])
    got = [int(x) for x in np.asarray(got).reshape(-1)]
    wrong = [f"choose_case({n:,}, similar={s}) returned {g}, expected {RULE[(n, s)]} "
             f"({RULE_NAMES[RULE[(n, s)]]})" for (n, s), g in zip(inputs, got, strict=True)
             if g != RULE[(n, s)]]
    assert not wrong, f"{len(wrong)} of {len(inputs)} answers are wrong: " + "; ".join(wrong[:4])


# ====================================================================== case 1 on VGG16
def _head_kinds(model) -> list[tuple]:
    """(kind, units, activation) of each head layer; `Dense(256)` then `Activation("relu")` or
    `ReLU()` reads as `Dense(256, activation="relu")`."""
    return [(type(x).__name__, settings.get("units"), settings.get("activation"))
            for x, settings in mc.folded_settings(head_layers(model))]


@pytest.mark.points(1)
def test_head(builds):
    """add_head puts Flatten, Dense(256, relu) and Dense(1, sigmoid) on VGG16 (16,812,353
    parameters in all), and Dense(NUM_CLASSES, softmax) last for several classes."""
    model, _ = builds.get("vgg case 1")
    kinds = _head_kinds(model)
    want = [("Flatten", None, None), ("Dense", 256, "relu"), ("Dense", 1, "sigmoid")]
    assert kinds == want, f"the head on VGG16 is {kinds}, expected {want}"
    assert model.count_params() == VGG16_TOTAL, \
        f"VGG16 with the head has {model.count_params():,} parameters, expected {VGG16_TOTAL:,}"
    kinds = _head_kinds(builds.get("course case 5")[0])
    want[-1] = ("Dense", N_CLASSES, "softmax")
    assert kinds == want, (f"the head for {N_CLASSES} classes is {kinds}, expected {want}: "
                           "softmax when num_classes > 1")


@pytest.mark.points(1)
def test_head_learning_rates(builds):
    """Cases 1, 4 and 5 (a new head on a frozen, cut or trainable base) are compiled with
    learning rate 1e-3."""
    problems = []
    for key in ("vgg case 1", "vgg case 4", "vgg case 5"):
        rate = learning_rate(builds.get(key)[0], Builds.CALLS[key])
        if not np.isclose(rate, 1e-3, rtol=1e-6):
            problems.append(f"{Builds.CALLS[key]} is compiled with learning rate {rate:g}")
    assert not problems, "; ".join(problems) + ", expected 1e-3 (compile_for(model, 1e-3))"


@pytest.mark.points(2)
def test_case1_frozen_base(builds, feedback):
    """Case 1: feature_extraction_model freezes all of VGG16: 2,097,665 trainable and
    14,714,688 non-trainable parameters of 16,812,353."""
    model, _ = builds.get("vgg case 1")
    total, trainable, frozen = counts(model)
    feedback.table("VGG16 with a frozen base (case 1)",
                   ["", "total", "trainable", "non-trainable"],
                   [["yours", total, trainable, frozen],
                    ["expected", VGG16_TOTAL, VGG16_HEAD, VGG16_BASE]])
    unfrozen = [n for n in trainable_names(model) if n.startswith("block")]
    assert not unfrozen, (f"feature_extraction_model leaves {len(unfrozen)} VGG16 layers "
                          f"trainable ({', '.join(unfrozen[:3])}, ...): {trainable:,} trainable "
                          f"parameters, expected {VGG16_HEAD:,}; set base.trainable = False")
    check_counts(model, "feature_extraction_model(VGG16, 1)", VGG16_TOTAL, VGG16_HEAD)


@pytest.mark.points(2)
def test_case1_features(student, course_base):
    """Case 1: the course base's features of the training images are saved once to
    features_train.npy, shaped (100, 3, 3, 128); extract_features on VGG16 at 150x150 gives
    (4, 4, 512) per image."""
    import io
    data = student.scratch_file("features_train.npy", 64 * 1024**2)
    try:
        saved = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise AssertionError(f"features_train.npy is not a NumPy array file ({exc})") from None
    images = student.value("x_train")
    assert isinstance(images, np.ndarray) and images.shape == (
        N_CLASSES * cb.TARGET_PER_CLASS, 28, 28, 1), "x_train is not the target training set"
    want_shape = (len(images), *cb.BASE_OUTPUT)
    assert saved.shape == want_shape, \
        f"features_train.npy holds an array of shape {saved.shape}, expected {want_shape}"
    expected = course_base.predict(images.astype("float32"), verbose=0)
    assert np.allclose(saved, expected, rtol=1e-3, atol=1e-4), \
        "features_train.npy is not the course base's output for x_train"
    shape = student.eval(f"extract_features({VGG16}, images).shape",
                         "extract_features(VGG16, 2 images)",
                         images=np.zeros((2, 150, 150, 3), np.float32))
    shape = tuple(int(d) for d in np.asarray(shape).reshape(-1))
    assert shape == (2, 4, 4, 512), \
        f"extract_features(VGG16, 2 images of 150x150) has shape {shape}, expected (2, 4, 4, 512)"


@pytest.mark.points(2)
def test_case1_accuracy(models, course_base, hidden_test, assignment, feedback):
    """Case 1: case1_classifier, fed the course base's features of the hidden test images
    (computed here), reaches the assignment's accuracy."""
    classifier = models.get("case1_classifier")
    x, labels = hidden_test
    want = tuple(cb.BASE_OUTPUT)
    inputs = tuple(int(d) if d is not None else -1 for d in classifier.inputs[0].shape[1:])
    assert inputs == want, \
        f"case1_classifier takes inputs of shape {inputs}, expected the base's features {want}"
    features = course_base.predict(x, batch_size=500, verbose=0)
    _accuracy(classifier, features, labels, assignment, feedback, "case1_classifier",
              "case1_accuracy")


# ============================================================================ cases 2 and 3
@pytest.mark.points(2)
def test_case2_frozen_layers(builds, models):
    """Case 2: fine_tune_last_block unfreezes VGG16 from block5_conv1 on (9,177,089 trainable
    parameters), and case2_model's course base from block3_conv1 on."""
    model, _ = builds.get("vgg case 2")
    block5 = [f"block5_conv{i}" for i in (1, 2, 3)]
    base_on = [n for n in trainable_names(model) if n.startswith("block")]
    assert base_on == block5, (f"fine_tune_last_block(..., VGG16, 'block5_conv1') leaves "
                               f"{base_on or 'no VGG16 layers'} trainable, expected {block5}")
    check_counts(model, "fine_tune_last_block on VGG16", VGG16_TOTAL,
                 VGG16_BLOCK5 + VGG16_HEAD)
    trained = models.get("case2_model")
    base_on = [n for n in trainable_names(trained) if n.startswith("block")]
    assert base_on == ["block3_conv1", "block3_conv2"], \
        f"case2_model's trainable base layers are {base_on}, expected block3_conv1, block3_conv2"


@pytest.mark.points(1)
def test_case3_all_trainable(builds, models):
    """Case 3: fine_tune_all makes all of VGG16 trainable (16,812,353 parameters), and all of
    case3_model's course base."""
    model, _ = builds.get("vgg case 3")
    check_counts(model, "fine_tune_all on VGG16", VGG16_TOTAL, VGG16_TOTAL)
    trained = models.get("case3_model")
    assert not frozen_names(trained), \
        f"case3_model keeps {', '.join(frozen_names(trained))} frozen; fine-tune everything"


@pytest.mark.points(2)
def test_fine_tuning_learning_rates(builds, models):
    """Fine-tuning uses a small learning rate: at most 1e-4 for the last block (case 2) and
    at most 1e-5 for everything (case 3)."""
    problems = []
    for case, key, trained in (("case 2", "vgg case 2", "case2_model"),
                               ("case 3", "vgg case 3", "case3_model")):
        limit = FINE_TUNE_MAX_RATE[case]
        for what, model in ((Builds.CALLS[key], builds.get(key)[0]),
                            (trained, models.get(trained))):
            rate = learning_rate(model, what)
            if not 0 < rate <= limit * (1 + 1e-6):
                problems.append(f"{what} is compiled with learning rate {rate:g}, expected at "
                                f"most {limit:g} ({case})")
    assert not problems, "; ".join(problems)


@pytest.mark.points(2)
def test_frozen_before_compile(builds):
    """Every case sets trainable before compiling: the trainable parameters Keras saw at the
    last compile call are those of the model returned."""
    problems = []
    for key in ("vgg case 1", "vgg case 2", "vgg case 3", "vgg case 4", "vgg case 5"):
        model, compiles = builds.get(key)
        trainable = counts(model)[1]
        if not compiles:
            problems.append(f"{Builds.CALLS[key]} never compiles the model")
        elif compiles[-1] != trainable:
            problems.append(f"{Builds.CALLS[key]} compiled with {compiles[-1]:,} trainable "
                            f"parameters but returns a model with {trainable:,}: change "
                            "trainable before compile_for, not after")
    assert not problems, "; ".join(problems)


@pytest.mark.points(2)
def test_case2_accuracy(models, hidden_test, assignment, feedback):
    """Case 2: case2_model reaches the assignment's accuracy on the hidden test images."""
    x, labels = hidden_test
    _accuracy(models.get("case2_model"), x, labels, assignment, feedback, "case2_model",
              "case2_accuracy")


@pytest.mark.points(2)
def test_case3_accuracy(models, hidden_test, assignment, feedback):
    """Case 3: case3_model reaches the assignment's accuracy on the hidden test images."""
    x, labels = hidden_test
    _accuracy(models.get("case3_model"), x, labels, assignment, feedback, "case3_model",
              "case3_accuracy")


# ============================================================================ cases 4 and 5
@pytest.mark.points(2)
def test_case4_earlier_layer(builds, models, course_base):
    """Case 4: earlier_layer_model keeps VGG16 only up to block4_pool, frozen, with the head
    on its (9, 9, 512) output; case4_model's base stops at block2_pool and its weights are
    still the pretrained ones."""
    model, _ = builds.get("vgg case 4")
    names = [layer.name for layer, _ in flat_layers(model)]
    later = [n for n in names if n.startswith("block5")]
    assert "block4_pool" in names and not later, \
        f"earlier_layer_model(VGG16, 'block4_pool', 1) holds {later or 'no block4_pool'}; " \
        "cut the base at block4_pool"
    check_counts(model, "earlier_layer_model(VGG16, 'block4_pool', 1)",
                 VGG16_TO_BLOCK4 + VGG16_BLOCK4_HEAD, VGG16_BLOCK4_HEAD)
    trained = models.get("case4_model")
    layers = {layer.name: layer for layer, _ in flat_layers(trained)}
    kept = [n for n in layers if n.startswith("block")]
    want = ["block1_conv1", "block1_pool", "block2_conv1", "block2_pool"]
    assert kept == want, f"case4_model's base layers are {kept}, expected {want}"
    for name in ("block1_conv1", "block2_conv1"):
        for got, pretrained in zip(layers[name].get_weights(),
                                   course_base.get_layer(name).get_weights(), strict=True):
            assert np.allclose(got, pretrained), \
                f"case4_model's {name} weights changed in training; its base must stay frozen"


@pytest.mark.points(2)
def test_case5_pretrained_init(builds, models, course_base):
    """Case 5: pretrained_init_model keeps the base's pretrained weights and makes everything
    trainable (all 16,812,353 of VGG16's); case5_model's whole base was trained."""
    model, _ = builds.get("vgg case 5")
    check_counts(model, "pretrained_init_model(VGG16, 1)", VGG16_TOTAL, VGG16_TOTAL)
    fresh, _ = builds.get("course case 5")
    layers = {layer.name: layer for layer, _ in flat_layers(fresh)}
    for name in ("block1_conv1", "block2_conv1", "block3_conv1", "block3_conv2"):
        assert name in layers, f"pretrained_init_model(course base) has no {name}"
        for got, pretrained in zip(layers[name].get_weights(),
                                   course_base.get_layer(name).get_weights(), strict=True):
            assert np.allclose(got, pretrained), \
                (f"pretrained_init_model(course base)'s {name} does not start from the "
                 "pretrained weights; use the base itself, not a re-initialised copy")
    trained = models.get("case5_model")
    assert not frozen_names(trained), \
        f"case5_model keeps {', '.join(frozen_names(trained))} frozen; train everything"
    check_counts(trained, "case5_model", cb.BASE_PARAMS + COURSE_HEAD,
                 cb.BASE_PARAMS + COURSE_HEAD)


@pytest.mark.points(2)
def test_case4_accuracy(models, hidden_test, assignment, feedback):
    """Case 4: case4_model reaches the assignment's accuracy on the hidden test images."""
    x, labels = hidden_test
    _accuracy(models.get("case4_model"), x, labels, assignment, feedback, "case4_model",
              "case4_accuracy")


@pytest.mark.points(2)
def test_case5_accuracy(models, hidden_test, assignment, feedback):
    """Case 5: case5_model reaches the assignment's accuracy on the hidden test images."""
    x, labels = hidden_test
    _accuracy(models.get("case5_model"), x, labels, assignment, feedback, "case5_model",
              "case5_accuracy")
