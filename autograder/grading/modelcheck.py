"""Model checks for hidden suites, run in the trusted process on models loaded with
`safe_mode=True`: layer types and settings, output shapes, parameter counts, compile settings
and accuracy, each with a message that says what was expected and what was found, and the
student's layer table beside the expected one for the feedback report."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Layers that change no shape and hold no weights the course counts: preprocessing and
# augmentation in front of a model, and the input itself.
PREPROCESSING = ("InputLayer", "Rescaling", "Normalization", "Resizing", "CenterCrop",
                 "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
                 "RandomContrast", "RandomCrop", "RandomBrightness")


@dataclass(frozen=True)
class Spec:
    """One expected layer: its Keras class, output shape (no batch axis), parameter count and
    the settings the course fixes (e.g. kernel_size, padding, activation, rate)."""

    kind: str
    shape: tuple[int, ...]
    params: int
    settings: dict[str, Any] = field(default_factory=dict)


def conv(filters_in: int, filters: int, shape: tuple[int, ...], activation: str = "relu",
         kernel: int = 3) -> Spec:
    return Spec("Conv2D", shape, (kernel * kernel * filters_in + 1) * filters,
                {"kernel_size": (kernel, kernel), "strides": (1, 1), "padding": "valid",
                 "activation": activation})


def pool(shape: tuple[int, ...]) -> Spec:
    return Spec("MaxPooling2D", shape, 0, {"pool_size": (2, 2)})


def flatten(shape: tuple[int, ...]) -> Spec:
    return Spec("Flatten", shape, 0)


def dense(n_in: int, units: int, activation: str) -> Spec:
    return Spec("Dense", (units,), (n_in + 1) * units, {"activation": activation})


def dropout(shape: tuple[int, ...], rate: float) -> Spec:
    return Spec("Dropout", shape, 0, {"rate": rate})


def is_preprocessing(layer: Any) -> bool:
    if type(layer).__name__ in PREPROCESSING:
        return True
    inner = getattr(layer, "layers", None)   # a nested Sequential of augmentation layers
    return bool(inner) and all(is_preprocessing(x) for x in inner)


def _activation_of(layer: Any) -> str | None:
    """What a separate activation layer applies ("relu", "sigmoid" ...); None for other layers
    and for a ReLU with a cap, a slope or a threshold, which is not plain relu."""
    kind = type(layer).__name__
    if kind == "Activation":
        activation = layer.get_config().get("activation")
        return activation if isinstance(activation, str) else str(
            getattr(activation, "__name__", activation))
    if kind == "ReLU":
        config = layer.get_config()
        plain = not config.get("max_value") and not config.get("negative_slope") \
            and not config.get("threshold")
        return "relu" if plain else None
    return None


def _feeds(layer: Any, consumer: Any) -> bool:
    """`consumer` takes `layer`'s output as its only input (in any graph the layer is in: a
    loaded Sequential rebuilds its graph)."""
    try:
        return any([p.operation for p in node.parent_nodes] == [layer]
                   for node in consumer._inbound_nodes)
    except (AttributeError, ValueError, TypeError):
        return False


def activation_folds(model: Any) -> dict[int, tuple[Any, str]]:
    """id(an Activation/ReLU layer) -> (the layer it belongs to, its activation), for each one
    that directly follows and consumes a layer without an activation of its own:
    `Conv2D(32, 3)` then `ReLU()` is read as `Conv2D(32, 3, activation="relu")`."""
    layers = [x for x in model.layers if not is_preprocessing(x)]
    folds: dict[int, tuple[Any, str]] = {}
    for layer, after in zip(layers, layers[1:], strict=False):
        activation = _activation_of(after)
        if activation and id(layer) not in folds and _feeds(layer, after) and \
                layer.get_config().get("activation", "") == "linear":
            folds[id(after)] = (layer, activation)
    return folds


def core_layers(model: Any) -> list[Any]:
    """The model's layers without input, rescaling and augmentation layers, and without the
    separate activation layers read as their layer's activation (activation_folds)."""
    folds = activation_folds(model)
    return [x for x in model.layers if not is_preprocessing(x) and id(x) not in folds]


def core_settings(model: Any) -> list[tuple[Any, dict[str, Any]]]:
    """(layer, settings) for each core layer, a folded activation layer's activation in its
    layer's settings."""
    folded = {id(layer): activation for layer, activation in activation_folds(model).values()}
    out = []
    for layer in core_layers(model):
        settings = settings_of(layer)
        if id(layer) in folded:
            settings["activation"] = folded[id(layer)]
        out.append((layer, settings))
    return out


def folded_settings(layers: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
    """core_settings for a list of layers in order (e.g. a transfer-learning head): an
    Activation/ReLU layer right after a layer without an activation of its own is read as that
    layer's activation."""
    out: list[tuple[Any, dict[str, Any]]] = []
    for layer in layers:
        activation = _activation_of(layer)
        if activation and out and out[-1][1].get("activation") == "linear":
            out[-1][1]["activation"] = activation
            continue
        out.append((layer, settings_of(layer)))
    return out


def output_shape(layer: Any) -> tuple[int, ...]:
    try:
        return tuple(int(d) if d is not None else -1 for d in layer.output.shape[1:])
    except (AttributeError, ValueError, TypeError):
        return ()


def settings_of(layer: Any) -> dict[str, Any]:
    config = layer.get_config()
    found: dict[str, Any] = {}
    for key in ("kernel_size", "strides", "pool_size"):
        if key in config:
            found[key] = tuple(config[key]) if isinstance(config[key], (list, tuple)) \
                else (config[key], config[key])
    for key in ("padding", "rate", "units", "filters"):
        if key in config:
            found[key] = config[key]
    if "activation" in config:
        activation = config["activation"]
        found["activation"] = activation if isinstance(activation, str) else str(
            getattr(activation, "__name__", activation))
    return found


def layer_rows(model: Any) -> list[list[Any]]:
    """[name, type, output shape, params, settings] for each of the model's core layers."""
    rows = []
    for layer, settings in core_settings(model):
        shown = {k: v for k, v in settings.items() if k not in ("units", "filters")}
        rows.append([layer.name, type(layer).__name__, str(output_shape(layer)),
                     int(layer.count_params()), _settings_text(shown)])
    return rows


def _settings_text(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
                     for k, v in settings.items())


def record_table(feedback: Any, title: str, model: Any, expected: list[Spec]) -> None:
    """The student's layer table beside the expected one, for the feedback report."""
    got = layer_rows(model)
    rows = []
    for i in range(max(len(got), len(expected))):
        mine = got[i] if i < len(got) else ["—", "—", "—", "—", ""]
        spec = expected[i] if i < len(expected) else None
        rows.append([*mine[:4],
                     spec.kind if spec else "—", str(spec.shape) if spec else "—",
                     spec.params if spec else "—"])
    feedback.table(title, ["layer", "type", "output shape", "params", "expected type",
                           "expected shape", "expected params"], rows)


def _count_mismatch(what: str, layers: list[Any], expected: list[Spec]) -> str:
    got = ", ".join(type(x).__name__ for x in layers) or "none"
    want = ", ".join(s.kind for s in expected)
    return (f"{what} has {len(layers)} layers where the course's model has {len(expected)}: "
            f"got [{got}], expected [{want}]")


def check_layers(model: Any, expected: list[Spec], what: str,
                 ignore: tuple[str, ...] = ()) -> None:
    """Types in order and the settings the course fixes (kernel, stride, padding, activation,
    pool size, dropout rate); units and filters are left to the parameter check. Layers of the
    `ignore` kinds (e.g. Dropout, whose place another check judges) are left out."""
    pairs = [(x, c) for x, c in core_settings(model) if type(x).__name__ not in ignore]
    expected = [s for s in expected if s.kind not in ignore]
    layers = [layer for layer, _ in pairs]
    if len(layers) != len(expected):
        raise AssertionError(_count_mismatch(what, layers, expected))
    _check_order(what, layers, expected)
    problems = []
    for (layer, settings), spec in zip(pairs, expected, strict=True):
        for key, want in spec.settings.items():
            have = settings.get(key)
            if key == "rate" and have is not None and abs(float(have) - float(want)) < 1e-9:
                continue
            if have != want:
                problems.append(_setting_message(layer.name, key, have, want))
    assert not problems, f"{what}: " + "; ".join(problems)


def _check_order(what: str, layers: list[Any], expected: list[Spec]) -> None:
    for i, (layer, spec) in enumerate(zip(layers, expected, strict=True)):
        if type(layer).__name__ != spec.kind:
            before = type(layers[i - 1]).__name__ if i else "the input"
            raise AssertionError(
                f"{what}: layer {i + 1} ({layer.name}) is a {type(layer).__name__} where the "
                f"course has a {spec.kind} (after {before}); got "
                f"[{', '.join(type(x).__name__ for x in layers)}]")


def _setting_message(name: str, key: str, have: Any, want: Any) -> str:
    if key == "padding":
        return (f'{name} uses padding="{have}" where the course uses "{want}" '
                f'({"no padding: a 3×3 kernel shrinks each side by 1" if want == "valid" else ""})')
    return f"{name}: {key}={have!r}, expected {want!r}"


def check_shapes(model: Any, expected: list[Spec], what: str,
                 kinds: Iterable[str] = ("Conv2D", "MaxPooling2D", "Flatten")) -> None:
    """Output shapes of the feature-map layers (convolutions, poolings, flatten by default)."""
    kinds = tuple(kinds)
    layers = [x for x in core_layers(model) if type(x).__name__ in kinds]
    specs = [s for s in expected if s.kind in kinds]
    got = [output_shape(x) for x in layers]
    want = [s.shape for s in specs]
    if got == want:
        return
    if len(got) != len(want):
        raise AssertionError(
            f"{what}: {len(got)} feature-map layers ({', '.join(kinds)}) where the course has "
            f"{len(want)}; their output shapes are {got}, expected {want}")
    diffs = [f"{x.name}: {g}, expected {w}" for x, g, w in zip(layers, got, want, strict=True)
             if g != w]
    raise AssertionError(f"{what} output shapes: " + "; ".join(diffs))


def check_params(model: Any, expected: list[Spec], what: str,
                 ignore: tuple[str, ...] = ()) -> None:
    """Each layer's parameter count and the total, e.g. "dense: 18,464 params, expected 36,928;
    total 74,538, expected 93,322". Layers of the `ignore` kinds (e.g. Dropout, whose place
    another check judges) are left out of the layer-by-layer comparison."""
    layers = [x for x in core_layers(model) if type(x).__name__ not in ignore]
    expected = [s for s in expected if s.kind not in ignore]
    total, want_total = int(model.count_params()), sum(s.params for s in expected)
    if len(layers) != len(expected):
        raise AssertionError(_count_mismatch(what, layers, expected)
                             + f"; total {total:,} params, expected {want_total:,}")
    diffs: list[str] = []
    for layer, spec in zip(layers, expected, strict=True):
        have = int(layer.count_params())
        if have != spec.params:   # "params" once, as in "dense: 18,464 params, expected ..."
            unit = "" if diffs else " params"
            diffs.append(f"{layer.name}: {have:,}{unit}, expected {spec.params:,}")
    if total != want_total:
        diffs.append(f"total {total:,}, expected {want_total:,}")
    assert not diffs, f"{what}: " + "; ".join(diffs)


def loss_name(model: Any) -> str | None:
    loss = getattr(model, "loss", None)
    if loss is None:
        return None
    if isinstance(loss, str):
        return loss.lower()
    name = getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() if name[:1].isupper() else name.lower()


def check_compiled(model: Any, what: str, losses: tuple[str, ...], optimizer: str,
                   learning_rate: float | None = None) -> None:
    found_optimizer = getattr(model, "optimizer", None)
    assert found_optimizer is not None, \
        f"{what} was saved without being compiled; call {what}.compile(...) before fit"
    problems = []
    loss = loss_name(model)
    if loss not in losses:
        problems.append(f"loss {loss!r}, expected {' or '.join(map(repr, losses))}")
    kind = type(found_optimizer).__name__
    if kind.lower() != optimizer.lower():
        problems.append(f"optimizer {kind}, expected {optimizer}")
    elif learning_rate is not None:
        rate = float(np.asarray(found_optimizer.learning_rate))
        if not np.isclose(rate, learning_rate, rtol=1e-3):
            problems.append(f"learning rate {rate:g}, expected {learning_rate:g}")
    assert not problems, f"{what} is compiled with " + "; ".join(problems)


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Share of correct predictions: argmax for several outputs, > 0.5 for one sigmoid."""
    predictions = np.asarray(predictions)
    labels = np.asarray(labels).reshape(-1)
    if predictions.ndim == 2 and predictions.shape[1] > 1:
        guessed = predictions.argmax(axis=1)
    else:
        guessed = (predictions.reshape(-1) > 0.5).astype(labels.dtype)
    return float(np.mean(guessed == labels))


def rescales_itself(model: Any) -> bool:
    """True when the model has its own Rescaling layer (it then takes pixels in 0..255)."""
    return any(type(x).__name__ == "Rescaling" for x in model.layers)


class Remembered:
    """`fn(*key)` computed once per key in a grading run. A failure (AssertionError) is
    remembered too and raised again, as the failure of each test that needs that value."""

    def __init__(self, fn: Any):
        self.fn = fn
        self.cache: dict[tuple, Any] = {}

    def __call__(self, *key: Any) -> Any:
        if key not in self.cache:
            try:
                self.cache[key] = self.fn(*key)
            except AssertionError as exc:
                self.cache[key] = exc
        if isinstance(self.cache[key], AssertionError):
            raise AssertionError(str(self.cache[key]))
        return self.cache[key]


class ModelLoader:
    """A suite's access to the student's models, each loaded once per grading run:
    `get("convnet")` saves the notebook's variable and loads it; `get("convnet.keras",
    saved=True)` loads a file the notebook saved."""

    def __init__(self, student: Any):
        self.student = student
        self._load = Remembered(lambda saved, name: student.saved_model(name) if saved
                                else student.keras_model(name))

    def get(self, name: str, saved: bool = False) -> Any:
        return self._load(saved, name)


def threshold(assignment: Any, key: str) -> float:
    """The assignment's `[thresholds] key` from assignment.toml."""
    value = assignment.thresholds.get(key)
    assert value is not None, f"assignment.toml has no [thresholds] {key}"
    return value


def _grey(images: np.ndarray, labels: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray,
                                                                        str]:
    return images.reshape(-1, 28, 28, 1).astype("float32") / 255.0, labels, what


def grey_test_split(course_data: Any) -> tuple[np.ndarray, np.ndarray, str]:
    """The 28x28 test images the convnet notebooks are judged on, as (x float32 N x 28 x 28 x 1
    in [0, 1], labels, what they are): Fashion-MNIST's held-back test images, which the sandbox
    never holds (cnngrade.course.data), so no graded run can have trained on them."""
    from ..course.dataset_readers import read_fashion
    return _grey(*read_fashion(course_data.held_back_fashion, "t10k"),
                 "held-back Fashion-MNIST test images")


def notebook_test_split(course_data: Any) -> tuple[np.ndarray, np.ndarray, str]:
    """The 28x28 test images the graded notebook itself had in the sandbox (its own
    `evaluate` figures are measured on these), in grey_test_split's form."""
    from ..course.dataset_readers import read_fashion
    cut = course_data.sandbox_fashion
    return _grey(*read_fashion(cut if cut.is_dir() else course_data.fashion, "t10k"),
                 "Fashion-MNIST test images your notebook had")


def check_accuracy(predictions: np.ndarray, labels: np.ndarray, need: float, what: str,
                   images: str, feedback: Any, advice: str) -> None:
    """`predictions` (made here, by the loaded model) against `labels`; the figure is stored
    for the feedback report whether or not it passes."""
    got = accuracy(predictions, labels)
    feedback.table(f"{what} accuracy", ["test images", "accuracy", "needed"],
                   [[f"{images} ({len(labels):,})", round(got, 4), need]])
    assert got >= need, (f"{what} classifies {got:.1%} of the {len(labels):,} {images} "
                         f"correctly; at least {need:.0%} is needed. {advice}")


def check_hidden_accuracy(model: Any, course_data: Any, need: float, what: str,
                          feedback: Any, advice: str, dataset: str = "two-class") -> None:
    """Accuracy of a one-sigmoid model on a hidden folder split, measured here."""
    from ..course.dataset_readers import load_folder_split
    images, labels, classes = load_folder_split(course_data.hidden_split(dataset))
    x = images if rescales_itself(model) else images / 255.0
    predictions = model.predict(x, batch_size=50, verbose=0)
    assert predictions.shape[1:] == (1,), \
        f"{what} gives outputs of shape {predictions.shape[1:]}, expected (1,)"
    check_accuracy(predictions, labels, need, what,
                   f"hidden {dataset} test images ({' / '.join(classes)})", feedback, advice)


def check_history(history: Any, name: str, keys: tuple[str, ...]) -> None:
    """A saved `history.history`: a dict with a list of finite numbers under each key, all of
    the same length."""
    assert isinstance(history, dict), f"{name} should hold history.history (a dict of lists)"
    lengths = set()
    for key in keys:
        values = history.get(key)
        assert isinstance(values, list) and values and all(
            isinstance(v, (int, float)) and np.isfinite(v) for v in values), \
            f"{name} has no list of numbers under '{key}' (keys: {sorted(history)[:8]})"
        lengths.add(len(values))
    assert len(lengths) == 1, f"{name}: the lists have different lengths {sorted(lengths)}"


HISTORY_EPOCHS = 200   # epochs of a training history kept for the feedback report
HISTORY_KEYS = 8       # curves kept (loss, accuracy, val_loss, val_accuracy, ...)


def record_history(feedback: Any, title: str, history: Any) -> None:
    """A `history.history` (a dict of per-epoch numbers) as a table whose first column is
    "epoch", for the learning curves of the feedback report. What is not a list of finite
    numbers is left out; this never fails a test (check_history judges the history)."""
    if not isinstance(history, dict):
        return
    curves: dict[str, list[float]] = {}
    for key, values in list(history.items())[:HISTORY_KEYS]:
        values = values[:HISTORY_EPOCHS] if isinstance(values, list) else []
        if isinstance(key, str) and values and all(_finite(v) for v in values):
            curves[key[:40]] = [round(float(v), 6) for v in values]
    if curves:
        epochs = max(len(v) for v in curves.values())
        feedback.table(f"{title} training history", ["epoch", *curves],
                       [[i + 1, *(v[i] if i < len(v) else None for v in curves.values())]
                        for i in range(epochs)])


def _finite(value: Any) -> bool:
    """A JSON number that is a finite float (not a bool, not an int too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def check_saved_is_trained(saved: Any, live: Any, x: np.ndarray, file: str, name: str) -> None:
    """The saved file holds the model as it is in the notebook after training."""
    assert saved.count_params() == live.count_params() and np.allclose(
        saved.predict(x, verbose=0), live.predict(x, verbose=0), atol=1e-5), \
        f"{file} is not the trained {name}: save it after fit"


# ------------------------------------------------------------- what the models were trained on
@dataclass(frozen=True)
class FitInput:
    """One batch the grader drew from what a `fit` call of the notebook was given."""

    model: str          # the model's name
    role: str           # "training" or "validation"
    what: str           # the input's type (Dataset, DirectoryIterator, ndarray...) or why none
    shape: tuple[int, ...]
    low: float
    high: float


def fit_inputs(student: Any) -> list[FitInput]:
    """Every input of the notebook's `fit` calls (recorded by the kernel hook
    cnngrade.grading.kernel_hooks.FIT_RECORDER), one batch of each drawn now; untrusted data,
    read defensively."""
    from .kernel_hooks import FIT_INPUTS
    rows = student.eval(FIT_INPUTS, "reading the batches the notebook's fit calls train on")
    found = []
    for row in rows if isinstance(rows, (list, tuple)) else []:
        try:
            model, role, what, shape, low, high, _ = row
            found.append(FitInput(str(model), str(role), str(what),
                                  tuple(int(s) for s in shape), float(low), float(high)))
        except (TypeError, ValueError):
            continue
    return found


def check_scaled_inputs(inputs: list[FitInput], model: Any, image_shape: tuple[int, ...],
                        what: str, feedback: Any, advice: str) -> None:
    """The batches `model` was trained and validated on hold pixels in [0, 1] (0..255 where the
    model rescales them itself): read from the very datasets, generators or arrays its `fit`
    was given, whatever their names, on batches the grader draws."""
    mine = [i for i in inputs if i.model == model.name]
    assert mine, (f"the grader saw no `fit` call of {what}: train it with {what}.fit(...) as "
                  "the instructions say")
    images = [i for i in mine if i.shape[1:] == image_shape]
    feedback.table(f"what {what} was trained on", ["data", "type", "batch", "min", "max"],
                   [[i.role, i.what, "x".join(map(str, i.shape)), round(i.low, 4),
                     round(i.high, 4)] for i in mine])
    top = 255.0 if rescales_itself(model) else 1.0
    wrong = [i for i in images if i.low < -1e-6 or i.high > top * (1 + 1e-6)
             or i.high < top * 0.2]
    if wrong:
        first = wrong[0]
        scale = "[0, 255] (your model rescales them itself)" if top > 1 else "[0, 1]"
        raise AssertionError(
            f"{what} was {'validated' if first.role == 'validation' else 'trained'} on pixel "
            f"values from {first.low:g} to {first.high:g} (a batch the grader drew from your "
            f"{first.role} {first.what}); the instructions ask for {scale}. {advice}")
