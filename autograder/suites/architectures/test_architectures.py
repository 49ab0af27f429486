"""Hidden suite for architectures. The three models are saved by the student's kernel and loaded
here, in the trusted process, with safe_mode=True. Each one's defining structure is read from the
loaded model's own layer graph (its serialized config: which layer feeds which), not matched
against one exact list of layers; parameter counts and accuracy on the dataset's test split are
this process's own, and the notebook's comparison table is checked against them. 30 points."""

from __future__ import annotations

import io
import math
import struct
from itertools import combinations
from typing import Any

import numpy as np
import pytest

from cnngrade.grading import modelcheck as mc

NAMES = ("lenet", "vgg", "resnet")
CONVS = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose", "Conv1D", "Conv3D")
POOLS = ("MaxPooling2D", "AveragePooling2D")
NORMS = ("BatchNormalization", "LayerNormalization", "GroupNormalization", "Dropout",
         "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout")
# Layers that change neither the design nor the shape: activations, normalisation, dropout,
# noise, preprocessing. They are skipped when one layer is said to "follow" another.
TRANSPARENT = frozenset(("Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax",
                         "ActivityRegularization", *NORMS, *mc.PREPROCESSING))
# Operations on tensors that the functional API records without a layer: `x + y` is an
# addition like layers.Add, `keras.ops.relu(x)` a ReLU.
OPS = {"Add": "Add", "Relu": "ReLU"}
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_CAP = 20 * 1024**2          # bytes of learning_curves.png the grader reads
PNG_MAX_PIXELS = 25_000_000     # decompression-bomb guard, checked on the header before decoding
PNG_MIN_SIZE = (300, 200)


# ============================================================== the layer graph of a loaded model
class Node:
    """One call of a layer in the model's graph (a layer used twice gives two nodes)."""

    def __init__(self, name: str, kind: str, settings: dict[str, Any],
                 inputs: list[int] | None = None):
        self.name, self.kind, self.settings = name, kind, settings
        self.inputs: list[int] = list(inputs or [])
        self.consumers: list[int] = []


def _settings(layer: Any) -> dict[str, Any]:
    try:
        found = mc.settings_of(layer)
    except Exception:   # a layer whose config cannot be read has no settings we judge
        found = {}
    if type(layer).__name__ == "ReLU":
        found["activation"] = "relu"
    return found


def _is_model(layer: Any) -> bool:
    return hasattr(layer, "layers") and callable(getattr(layer, "get_config", None)) \
        and type(layer).__name__ in ("Sequential", "Functional", "Model")


def _history_refs(value: Any) -> list[tuple[str, int, int]]:
    """(layer name, node index, tensor index) of every tensor in a serialized call."""
    found: list[tuple[str, int, int]] = []
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            name, node, tensor = value["config"]["keras_history"]
            return [(str(name), int(node), int(tensor))]
        for item in value.values():
            found += _history_refs(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            found += _history_refs(item)
    return found


def _layer_refs(value: Any) -> list[tuple[str, int, int]]:
    """A config's input_layers / output_layers: one [name, node, tensor] or a nest of them."""
    if isinstance(value, (list, tuple)) and len(value) == 3 and isinstance(value[0], str):
        return [(value[0], int(value[1]), int(value[2]))]
    items = value.values() if isinstance(value, dict) else value
    found: list[tuple[str, int, int]] = []
    for item in items:
        found += _layer_refs(item)
    return found


class Graph:
    """The loaded model's layers as a graph, in topological order, nested models expanded."""

    def __init__(self, model: Any, what: str):
        self.sequential = type(model).__name__ == "Sequential"
        self.nodes: list[Node] = []
        try:
            self.outputs = self._expand(model, None, "")
        except Exception as exc:   # untrusted structure: anything odd is the student's
            raise AssertionError(
                f"the grader could not read the layer graph of `{what}` ({type(exc).__name__}: "
                f"{str(exc)[:200]}); build it from Keras's built-in layers") from None
        for index, node in enumerate(self.nodes):
            for source in node.inputs:
                self.nodes[source].consumers.append(index)

    def _add(self, layer: Any, inputs: list[int], prefix: str) -> int:
        return self._node(prefix + layer.name, type(layer).__name__, _settings(layer), inputs)

    def _node(self, name: str, kind: str, settings: dict[str, Any], inputs: list[int]) -> int:
        self.nodes.append(Node(name, kind, settings, inputs))
        return len(self.nodes) - 1

    def _expand(self, model: Any, inputs: list[int] | None, prefix: str) -> list[int]:
        if type(model).__name__ == "Sequential":
            current = list(inputs) if inputs is not None else [
                self._node(prefix + "input", "InputLayer", {}, [])]
            for layer in model.layers:
                current = (self._expand(layer, current, f"{prefix}{layer.name}/")
                           if _is_model(layer) else [self._add(layer, current, prefix)])
            return current
        config = model.get_config()
        by_name = {layer.name: layer for layer in model.layers}
        produced: dict[tuple[str, int], list[int]] = {}
        for k, (name, node, _) in enumerate(_layer_refs(config["input_layers"])):
            produced[(name, node)] = [inputs[k]] if inputs is not None and k < len(inputs) \
                else [self._node(prefix + name, "InputLayer", {}, [])]
        pending = [(entry, i, call) for entry in config["layers"]
                   for i, call in enumerate(entry.get("inbound_nodes") or [])]
        while pending:
            waiting = []
            for entry, i, call in pending:
                refs = _history_refs(call)
                if not all((n, k) in produced for n, k, _ in refs):
                    waiting.append((entry, i, call))
                    continue
                sources = [_pick(produced[(n, k)], t) for n, k, t in refs]
                name = str(entry.get("name") or entry["config"]["name"])
                layer = by_name.get(name)
                if layer is None:   # an operation on tensors (x + y, keras.ops.relu), no layer
                    kind = str(entry.get("class_name"))
                    produced[(name, i)] = [self._node(prefix + name, OPS.get(kind, kind),
                                                      {}, sources)]
                elif _is_model(layer):
                    produced[(name, i)] = self._expand(layer, sources, f"{prefix}{name}/")
                else:
                    produced[(name, i)] = [self._add(layer, sources, prefix)]
            if len(waiting) == len(pending):
                raise ValueError(f"layer {waiting[0][0].get('name')} is fed by a layer not in "
                                 "the model")
            pending = waiting
        return [_pick(produced[(n, k)], t) for n, k, t in _layer_refs(config["output_layers"])]

    # ------------------------------------------------------------------------- walking it
    def core(self) -> list[Node]:
        """The layers that make the design: no input, activation, normalisation or dropout."""
        return [n for n in self.nodes if n.kind not in TRANSPARENT]

    def next_core(self, index: int) -> Node | None:
        """The layer a node's output goes into, skipping transparent layers; None where it goes
        nowhere or into several layers."""
        while True:
            consumers = self.nodes[index].consumers
            if len(consumers) != 1:
                return None
            index = consumers[0]
            if self.nodes[index].kind not in TRANSPARENT:
                return self.nodes[index]

    def chain_back(self, index: int) -> list[int]:
        """The node and its ancestors, as long as each has exactly one input."""
        chain = [index]
        while len(self.nodes[chain[-1]].inputs) == 1:
            chain.append(self.nodes[chain[-1]].inputs[0])
        return chain

    def sequence(self) -> str:
        return " → ".join(describe(n) for n in self.core()) or "no layers"

    def signature(self) -> tuple:
        """The design: each core layer's kind, kernel, pool size and strides, and how many
        inputs it has; filters, units, padding and activations left out."""
        return tuple((n.kind, n.settings.get("kernel_size"), n.settings.get("pool_size"),
                      n.settings.get("strides"), len(n.inputs)) for n in self.core())


def _pick(outputs: list[int], tensor: int) -> int:
    return outputs[tensor] if tensor < len(outputs) else outputs[0]


def _size(value: Any) -> str:
    return "×".join(str(v) for v in value) if isinstance(value, tuple) else str(value)


def describe(node: Node | None) -> str:
    if node is None:
        return "nothing (or several layers)"
    s = node.settings
    if node.kind in CONVS:
        return f"{node.kind} {_size(s.get('kernel_size'))} {s.get('padding', '')}".strip()
    if node.kind in POOLS:
        return f"{node.kind} {_size(s.get('pool_size'))}"
    if node.kind == "Dense":
        return f"Dense {s.get('units')}"
    if node.kind == "Activation":
        return f"Activation {s.get('activation')}"
    return node.kind


def activation(node: Node) -> str:
    return str(node.settings.get("activation") or "linear")


def is_relu(node: Node | None) -> bool:
    return node is not None and (node.kind == "ReLU" or (node.kind == "Activation"
                                                         and activation(node) == "relu"))


def is_halving_pool(node: Node | None, kinds: tuple[str, ...] = POOLS) -> bool:
    return node is not None and node.kind in kinds and node.settings.get("pool_size") == (2, 2) \
        and node.settings.get("strides") in (None, (2, 2))


# =========================================================================== structure rules
def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def lenet_problems(graph: Graph) -> list[str]:
    problems = []
    convs = [i for i, n in enumerate(graph.nodes) if n.kind in CONVS]
    if len(convs) != 2:
        problems.append(f"{_count(len(convs), 'convolution')}, expected exactly 2")
    wrong = [f"{graph.nodes[i].name} is a {describe(graph.nodes[i])}" for i in convs
             if graph.nodes[i].kind != "Conv2D"
             or graph.nodes[i].settings.get("kernel_size") != (5, 5)]
    if wrong:
        problems.append("every convolution should be a 5×5 Conv2D; " + ", ".join(wrong))
    unpooled = [f"{graph.nodes[i].name} is followed by {describe(graph.next_core(i))}"
                for i in convs if not is_halving_pool(graph.next_core(i))]
    if unpooled:
        problems.append("each convolution should be followed by 2×2 pooling (MaxPooling2D or "
                        "AveragePooling2D); " + ", ".join(unpooled))
    dense = [n for n in graph.nodes if n.kind == "Dense"]
    if len(dense) < 3:
        problems.append(f"{_count(len(dense), 'Dense layer')}, expected at least 3 (two hidden "
                        "layers, e.g. 120 and 84 units, before the 10-way output)")
    return problems


def vgg_problems(graph: Graph) -> list[str]:
    problems = []
    convs = [n for n in graph.nodes if n.kind in CONVS]
    wrong = [f"{n.name} is a {describe(n)}" for n in convs if n.kind != "Conv2D"
             or n.settings.get("kernel_size") != (3, 3) or n.settings.get("padding") != "same"]
    if wrong:
        problems.append("every convolution should be a 3×3 Conv2D with padding=\"same\"; "
                        + ", ".join(wrong))
    blocks = 0
    for i, node in enumerate(graph.nodes):
        if not is_halving_pool(node, ("MaxPooling2D",)):
            continue
        stacked = 0
        for j in graph.chain_back(i)[1:]:
            kind = graph.nodes[j].kind
            if kind in CONVS:
                stacked += 1
            elif kind not in TRANSPARENT or kind == "InputLayer":
                break
        blocks += stacked >= 2
    if blocks < 2:
        problems.append(f"{_count(blocks, 'block')} of two or more stacked convolutions ending "
                        "in 2×2 MaxPooling2D, expected at least 2")
    return problems


def residual_problems(graph: Graph, index: int) -> list[str]:
    """One Add of a ResNet-style model: identity shortcut, a branch of ≥ 2 convolutions from
    the same input whose last convolution has no activation, and a ReLU after the sum."""
    add = graph.nodes[index]
    if len(add.inputs) != 2:
        return [f"{add.name} adds {len(add.inputs)} tensors, expected 2 (the block's input and "
                "the output of its second convolution)"]
    a, b = add.inputs
    chains = {a: graph.chain_back(a), b: graph.chain_back(b)}
    branch = None
    for shortcut, end in ((a, b), (b, a)):
        if shortcut in chains[end]:
            branch = chains[end][:chains[end].index(shortcut)]
            break
    if branch is None:
        common = next((j for j in chains[a] if j in chains[b]), None)
        if common is not None:
            sides = [chains[j][:chains[j].index(common)] for j in (a, b)]
            shortcut_layers = min(sides, key=len)
            names = ", ".join(f"{graph.nodes[j].name} ({describe(graph.nodes[j])})"
                              for j in reversed(shortcut_layers))
            return [f"the shortcut into {add.name} passes through {names}; expected an identity "
                    f"shortcut: add the block's input ({graph.nodes[common].name}) itself"]
        return [f"neither input of {add.name} ({graph.nodes[a].name}, {graph.nodes[b].name}) is "
                "the input of the other's branch; expected the block's input x added to the "
                "output of the convolutions that start from x (an identity shortcut)"]
    problems = []
    convs = [j for j in branch if graph.nodes[j].kind in CONVS]
    if len(convs) < 2:
        problems.append(f"the branch into {add.name} has {_count(len(convs), 'convolution')}, "
                        "expected at least 2")
    last = next((graph.nodes[j] for j in branch if graph.nodes[j].kind not in NORMS), None)
    if last is not None and last.kind in CONVS and activation(last) != "linear":
        problems.append(f"{last.name}, the last convolution before {add.name}, has "
                        f"activation=\"{activation(last)}\", expected none (the ReLU comes after "
                        "the addition)")
    elif last is not None and last.kind not in CONVS:
        problems.append(f"the branch into {add.name} ends with {last.name} ({describe(last)}), "
                        "expected its second convolution with no activation (the ReLU comes "
                        "after the addition)")
    after = [graph.nodes[j] for j in add.consumers]
    if len(after) != 1 or not is_relu(after[0]):
        got = ", ".join(f"{n.name} ({describe(n)})" for n in after) or "nothing"
        problems.append(f"{add.name} goes into {got}, expected a ReLU right after the addition "
                        "(layers.Activation(\"relu\") or layers.ReLU())")
    return problems


def resnet_problems(graph: Graph) -> list[str]:
    problems = []
    if graph.sequential:
        problems.append("it is a keras.Sequential model, expected a functional model "
                        "(keras.Input, layers called on tensors, keras.Model(inputs, outputs))")
    adds = [i for i, n in enumerate(graph.nodes) if n.kind == "Add"]
    if not adds:
        problems.append("it has no Add layer, so no skip connection; expected residual blocks "
                        "whose input x is added to the output of their second convolution "
                        "(layers.Add()([x, y])) before the ReLU")
    for i in adds:
        problems += residual_problems(graph, i)
    return problems


# =================================================================================== fixtures
@pytest.fixture(scope="session")
def models(student):
    return mc.ModelLoader(student)


@pytest.fixture(scope="session")
def graphs(models):
    return mc.Remembered(lambda name: Graph(models.get(name), name))


@pytest.fixture(scope="session")
def test_set(course_data):
    return mc.grey_test_split(course_data)


@pytest.fixture(scope="session")
def notebook_test_set(course_data):
    return mc.notebook_test_split(course_data)


@pytest.fixture(scope="session")
def predictions(models, test_set):
    """Each model's outputs on the held-back test images, computed here once."""
    return _predictor(models, test_set)


@pytest.fixture(scope="session")
def notebook_predictions(models, notebook_test_set):
    """Each model's outputs on the test images the notebook had (its comparison table's)."""
    return _predictor(models, notebook_test_set)


def _predictor(models, test_set):
    x, _, images = test_set

    def predict(name: str) -> np.ndarray:
        try:
            out = np.asarray(models.get(name).predict(x, batch_size=500, verbose=0))
        except AssertionError:
            raise
        except Exception as exc:   # e.g. a model built for another input shape
            raise AssertionError(
                f"{name} could not classify the {images} (shape (28, 28, 1)): "
                f"{type(exc).__name__}: {str(exc).strip()[:200]}") from None
        assert out.shape == (len(x), 10), \
            f"{name} gives outputs of shape {out.shape[1:]}, expected (10,)"
        return out
    return mc.Remembered(predict)


def _record_layers(feedback, graphs, models, name: str) -> Graph:
    model = models.get(name)
    feedback.table(name, ["layer", "type", "output shape", "params", "settings"],
                   mc.layer_rows(model))
    return graphs(name)


# ================================================================================ structures
@pytest.mark.points(3)
def test_lenet_structure(models, graphs, feedback):
    """lenet is LeNet-style: two 5×5 convolutions, each followed by 2×2 pooling, then at least
    two hidden Dense layers before the output."""
    graph = _record_layers(feedback, graphs, models, "lenet")
    problems = lenet_problems(graph)
    assert not problems, (f"lenet is not LeNet-style: {'; '.join(problems)}. "
                          f"Got [{graph.sequence()}]")


@pytest.mark.points(3)
def test_vgg_structure(models, graphs, feedback):
    """vgg is VGG-style: only 3×3 convolutions with "same" padding, stacked in at least two
    blocks of two or more, each block ending with 2×2 max pooling."""
    graph = _record_layers(feedback, graphs, models, "vgg")
    problems = vgg_problems(graph)
    assert not problems, (f"vgg is not VGG-style: {'; '.join(problems)}. "
                          f"Got [{graph.sequence()}]")


@pytest.mark.points(4)
def test_resnet_structure(models, graphs, feedback):
    """resnet is ResNet-style: a functional model whose residual blocks add their input (an
    identity shortcut) to the output of their second convolution, then apply ReLU."""
    graph = _record_layers(feedback, graphs, models, "resnet")
    problems = resnet_problems(graph)
    assert not problems, (f"resnet is not ResNet-style: {'; '.join(problems)}. "
                          f"Got [{graph.sequence()}]")


@pytest.mark.points(2)
def test_architectures_differ(graphs):
    """lenet, vgg and resnet are three different architectures, not one submitted twice."""
    built = {name: graphs(name) for name in NAMES}
    same = [(a, b) for a, b in combinations(NAMES, 2)
            if built[a].signature() == built[b].signature()]
    assert not same, (
        "; ".join(f"{b} has the same architecture as {a} ([{built[a].sequence()}])"
                  for a, b in same)
        + ". Expected three different designs: LeNet-style, VGG-style and ResNet-style")


@pytest.mark.points(1)
def test_inputs_and_outputs(models, rng):
    """Each of the three takes (28, 28, 1) images and gives 10 class probabilities."""
    x = rng.random((6, 28, 28, 1)).astype("float32")
    problems = []
    for name in NAMES:
        model = models.get(name)
        shapes = [tuple(t.shape[1:]) for t in model.inputs]
        if shapes != [(28, 28, 1)]:
            problems.append(f"{name} takes inputs of shape {shapes}, expected [(28, 28, 1)]")
            continue
        out = np.asarray(model.predict(x, verbose=0))
        if out.shape != (len(x), 10):
            problems.append(f"{name} gives outputs of shape {out.shape[1:]}, expected (10,)")
        elif not (np.all(out >= -1e-6) and np.allclose(out.sum(axis=1), 1.0, atol=1e-3)):
            problems.append(f"{name}'s outputs are not probabilities (a row sums to "
                            f"{out.sum(axis=1)[0]:.3g}); end with Dense(10, "
                            "activation=\"softmax\")")
    assert not problems, "; ".join(problems)


@pytest.mark.points(1)
def test_compiled_alike(models):
    """The three are compiled the same way: Adam and the (sparse) categorical cross-entropy."""
    problems = []
    for name in NAMES:
        try:
            mc.check_compiled(models.get(name), name, ("sparse_categorical_crossentropy",
                                                       "categorical_crossentropy"), "Adam")
        except AssertionError as exc:
            problems.append(str(exc))
    assert not problems, "; ".join(problems) + (
        " (the same settings for all three, as the comparison needs: optimizer=\"adam\", "
        "loss=\"sparse_categorical_crossentropy\")")


# ==================================================================== the comparison table
def _table(student) -> dict:
    table = student.value("comparison")
    assert isinstance(table, dict), (
        f"comparison is a {type(table).__name__}, expected a dict with the keys 'lenet', 'vgg' "
        "and 'resnet', each {'params': ..., 'train_time': ..., 'test_accuracy': ...}")
    missing = [name for name in NAMES if not isinstance(table.get(name), dict)]
    assert not missing, (f"comparison has no row (a dict) for {', '.join(missing)}; expected "
                         "the keys 'lenet', 'vgg' and 'resnet', each {'params': ..., "
                         "'train_time': ..., 'test_accuracy': ...}")
    return table


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.size == 1 and array.dtype.kind in "iuf":
            return float(array.reshape(-1)[0])
    return None


def _shown(value: Any) -> str:
    number = _number(value)
    return repr(value)[:40] if number is None else f"{number:,.6g}"


@pytest.mark.points(2)
def test_comparison_params(student, models, feedback):
    """comparison's parameter counts are the three models' own (count_params())."""
    table = _table(student)
    rows, problems = [], []
    for name in NAMES:
        want = int(models.get(name).count_params())
        have = table[name].get("params")
        rows.append([name, _shown(have), want])
        if _number(have) != want:
            problems.append(f"{name}: params {_shown(have)} in comparison, expected {want:,} "
                            "(the model's count_params())")
    feedback.table("comparison: parameters", ["network", "in comparison", "the model's"], rows)
    assert not problems, "; ".join(problems)


@pytest.mark.points(2)
def test_comparison_accuracy_and_time(student, notebook_predictions, notebook_test_set,
                                      feedback):
    """comparison's test accuracies agree within 0.01 with the grader's measurement on the test
    images the notebook had, and its training times are positive numbers of seconds."""
    table = _table(student)
    predictions = notebook_predictions
    _, labels, images = notebook_test_set
    rows, problems = [], []
    for name in NAMES:
        row = table[name]
        seconds = _number(row.get("train_time"))
        if seconds is None or not math.isfinite(seconds) or seconds <= 0:
            problems.append(f"{name}: train_time {_shown(row.get('train_time'))}, expected the "
                            "seconds fit took (a positive number)")
        measured = mc.accuracy(predictions(name), labels)
        have = _number(row.get("test_accuracy"))
        rows.append([name, _shown(row.get("test_accuracy")), round(measured, 4),
                     _shown(row.get("train_time"))])
        if have is None or not math.isfinite(have) or abs(have - measured) > 0.01:
            problems.append(f"{name}: test_accuracy {_shown(row.get('test_accuracy'))} in "
                            f"comparison, expected {measured:.4f} (the grader's measurement on "
                            f"the {len(labels):,} {images}, as a fraction)")
    feedback.table("comparison: test accuracy and training time",
                   ["network", "test accuracy in comparison", "measured by the grader",
                    "train_time (s)"], rows)
    assert not problems, "; ".join(problems)


@pytest.mark.points(2)
def test_histories_saved(student, feedback):
    """histories.json holds the three training histories, validation included, all trained for
    the same number of epochs."""
    histories = student.json_file("histories.json")
    assert isinstance(histories, dict), \
        "histories.json should hold a dict {'lenet': history.history, 'vgg': ..., 'resnet': ...}"
    for name in NAMES:   # the learning curves of the feedback report, whatever the checks find
        mc.record_history(feedback, name, histories.get(name))
    for name in NAMES:
        mc.check_history(histories.get(name), f"histories.json['{name}']", HISTORY_KEYS)
    epochs = {name: len(histories[name]["loss"]) for name in NAMES}
    assert len(set(epochs.values())) == 1, (
        f"the three were trained for different numbers of epochs ({epochs}); train them the "
        "same way (epochs=EPOCHS) so that the comparison is fair")


@pytest.mark.points(1)
def test_learning_curves_png(student):
    """learning_curves.png is a PNG image of at least 300×200 pixels that is not blank."""
    data = student.scratch_file("learning_curves.png", cap=PNG_CAP)
    assert data[:8] == PNG_SIGNATURE, (
        f"learning_curves.png is not a PNG image (it starts with {data[:8]!r}); save the figure "
        "with fig.savefig(\"learning_curves.png\")")
    assert len(data) >= 24 and data[12:16] == b"IHDR", \
        "learning_curves.png has no PNG header; save the figure again with matplotlib"
    width, height = struct.unpack(">II", data[16:24])
    assert width * height <= PNG_MAX_PIXELS, (
        f"learning_curves.png says it is {width}×{height} pixels, more than the "
        f"{PNG_MAX_PIXELS:,} the grader reads; save the figure at an ordinary size")
    try:
        from PIL import Image
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            pixels = np.asarray(image.convert("RGB"))
    except Exception as exc:   # untrusted bytes: any failure is the student's
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise AssertionError(f"learning_curves.png could not be read as an image "
                             f"({type(exc).__name__}: {detail}); save the figure again with "
                             "matplotlib") from None
    height, width = pixels.shape[:2]
    assert width >= PNG_MIN_SIZE[0] and height >= PNG_MIN_SIZE[1], (
        f"learning_curves.png is {width}×{height} pixels, expected at least "
        f"{PNG_MIN_SIZE[0]}×{PNG_MIN_SIZE[1]}")
    assert pixels.min() != pixels.max(), \
        "learning_curves.png is blank (every pixel has the same colour); plot the curves first"


# =================================================================================== accuracy
def _check_accuracy(name, predictions, test_set, assignment, feedback):
    _, labels, images = test_set
    mc.check_accuracy(predictions(name), labels, mc.threshold(assignment, f"{name}_accuracy"),
                      name, images, feedback,
                      "Train it as asked (x_train, EPOCHS epochs, BATCH_SIZE) before the "
                      "grader reads it.")


@pytest.mark.points(3)
def test_lenet_accuracy(predictions, test_set, assignment, feedback):
    """lenet, trained, reaches the assignment's accuracy on the test images."""
    _check_accuracy("lenet", predictions, test_set, assignment, feedback)


@pytest.mark.points(3)
def test_vgg_accuracy(predictions, test_set, assignment, feedback):
    """vgg, trained, reaches the assignment's accuracy on the test images."""
    _check_accuracy("vgg", predictions, test_set, assignment, feedback)


@pytest.mark.points(3)
def test_resnet_accuracy(predictions, test_set, assignment, feedback):
    """resnet, trained, reaches the assignment's accuracy on the test images."""
    _check_accuracy("resnet", predictions, test_set, assignment, feedback)
