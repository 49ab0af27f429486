"""Oracles, random inputs and teaching messages for the output-size hidden suite.

Nothing here comes from the student or from the solution notebook. Expected shapes and parameter
counts come from REAL Keras layers (`Conv2D`, `MaxPooling2D`, `ZeroPadding2D`, `Flatten`, `Dense`)
applied to a `keras.Input` in this, the trusted, process: no model is compiled or trained, the
layers are only built. Keras is imported on first use, so collecting the suite stays fast. The
closed-form formulas below are used to explain a failure (and to keep random stacks valid),
never as the expected value of a shape or parameter check.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

_KERAS: Any = None


def keras() -> Any:
    """The keras module, imported on first use."""
    global _KERAS
    if _KERAS is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras as module
        _KERAS = module
    return _KERAS


# --------------------------------------------------------------------------- Keras oracles
def keras_layer(spec: dict) -> Any:
    """The Keras layer a course layer dict stands for (see the notebook's table)."""
    layers = keras().layers
    kind = spec["type"]
    if kind == "conv":
        return layers.Conv2D(spec["filters"], spec["kernel"], strides=spec.get("stride", 1),
                             padding=spec.get("padding", "valid"))
    if kind == "pool":
        return layers.MaxPooling2D(pool_size=spec["size"], strides=spec.get("stride"))
    if kind == "flatten":
        return layers.Flatten()
    if kind == "dense":
        return layers.Dense(spec["units"])
    raise ValueError(f"unknown layer type {kind!r}")


def keras_trace(input_shape: tuple, specs: list[dict]) -> list[tuple[tuple, int, tuple]]:
    """Apply the layers one after the other to keras.Input(input_shape).

    Returns, per layer, (output shape without the batch axis, count_params(), input shape).
    """
    x = keras().Input(shape=tuple(input_shape))
    out = []
    for spec in specs:
        before = tuple(int(v) for v in x.shape[1:])
        layer = keras_layer(spec)
        x = layer(x)
        out.append((tuple(int(v) for v in x.shape[1:]), int(layer.count_params()), before))
    return out


def keras_conv_size(n: int, k: int, p: int = 0, s: int = 1) -> int:
    """Output height of ZeroPadding2D(p) then Conv2D(1, k, strides=s, padding="valid") on n x n."""
    layers = keras().layers
    x = keras().Input(shape=(n, n, 1))
    if p:
        x = layers.ZeroPadding2D(p)(x)
    return int(layers.Conv2D(1, k, strides=s, padding="valid")(x).shape[1])


def keras_same_conv_size(n: int, k: int) -> int:
    """Output height of Conv2D(1, k, padding="same") (stride 1) on n x n."""
    layers = keras().layers
    return int(layers.Conv2D(1, k, padding="same")(keras().Input(shape=(n, n, 1))).shape[1])


def keras_pool_size(n: int, pool: int, s: int | None) -> int:
    """Output height of MaxPooling2D(pool_size=pool, strides=s) ("valid") on n x n."""
    layers = keras().layers
    x = keras().Input(shape=(n, n, 1))
    return int(layers.MaxPooling2D(pool_size=pool, strides=s)(x).shape[1])


def keras_conv_params(k: int, c_in: int, c_out: int) -> int:
    """Conv2D(c_out, k).count_params() for an input with c_in channels."""
    layer = keras().layers.Conv2D(c_out, k)
    layer(keras().Input(shape=(k, k, c_in)))
    return int(layer.count_params())


def keras_dense_params(n_in: int, n_out: int) -> int:
    """Dense(n_out).count_params() for an input of length n_in."""
    layer = keras().layers.Dense(n_out)
    layer(keras().Input(shape=(n_in,)))
    return int(layer.count_params())


# --------------------------------------------------------------------------- closed forms
def floor_size(n: int, k: int, p: int, s: int) -> int:
    """floor((n + 2p - k) / s) + 1, only to explain failures and to keep random stacks valid."""
    return (n + 2 * p - k) // s + 1


def conv_formula(n: int, k: int, p: int, s: int) -> str:
    return f"⌊({n} + 2·{p} − {k})/{s}⌋ + 1"


def multiplications(h: int, w: int, c_in: int, k: int, c_out: int) -> int:
    """A "same" k x k convolution: every one of the h*w*c_out output values is a sum of
    k*k*c_in products."""
    outputs = h * w * c_out
    products_per_output = k * k * c_in
    return outputs * products_per_output


# --------------------------------------------------------------------------- course networks
def _conv(filters: int, activation: str = "relu") -> dict:
    """A 3x3 "valid" Conv2D at stride 1, written with the defaults left out as the course does."""
    return {"type": "conv", "filters": filters, "kernel": 3, "activation": activation}


def _pool() -> dict:
    return {"type": "pool", "size": 2}


def _dense(units: int, activation: str) -> dict:
    return {"type": "dense", "units": units, "activation": activation}


MNIST_INPUT = (28, 28, 1)
MNIST_CONVNET = [_conv(32), _pool(), _conv(64), _pool(), _conv(64), {"type": "flatten"},
                 _dense(64, "relu"), _dense(10, "softmax")]
MNIST_TOTAL = 93_322          # the course's model.summary()

CATS_DOGS_INPUT = (150, 150, 3)
CATS_DOGS_CONVNET = [layer for filters in (32, 64, 128, 128) for layer in (_conv(filters), _pool())]
CATS_DOGS_CONVNET += [{"type": "flatten"}, _dense(512, "relu"), _dense(1, "sigmoid")]
CATS_DOGS_TOTAL = 3_453_121   # the course's model.summary()


# --------------------------------------------------------------------------- random inputs
def _spatial_ok(shape: tuple, spec: dict) -> tuple | None:
    """The next shape by the closed forms, or None when a size would drop below 1."""
    h, w, c = shape
    if spec["type"] == "conv":
        k, s = spec["kernel"], spec.get("stride", 1)
        p = (k - 1) // 2 if spec.get("padding", "valid") == "same" else 0
        h2, w2, c2 = floor_size(h, k, p, s), floor_size(w, k, p, s), spec["filters"]
    else:
        size = spec["size"]
        s = spec.get("stride") or size
        h2, w2, c2 = floor_size(h, size, 0, s), floor_size(w, size, 0, s), c
    return (h2, w2, c2) if min(h2, w2) >= 1 else None


def _random_layer(rng: np.random.Generator, previous: str | None) -> dict:
    if previous in (None, "pool") or rng.random() < 0.55:
        filters = int(rng.choice([4, 8, 12, 16, 24, 32]))
        if rng.random() < 0.3:   # "same": odd kernel, stride 1 (keeps the size)
            spec = {"type": "conv", "filters": filters, "kernel": int(rng.choice([1, 3, 5, 7])),
                    "stride": 1, "padding": "same"}
            if rng.random() < 0.5:
                del spec["stride"]
            return spec
        spec = {"type": "conv", "filters": filters, "kernel": int(rng.integers(1, 6)),
                "stride": int(rng.choice([1, 1, 2, 3])), "padding": "valid"}
        if spec["stride"] == 1 and rng.random() < 0.5:
            del spec["stride"]            # the default stride is 1
        if rng.random() < 0.5:
            del spec["padding"]           # the default padding is "valid"
        return spec
    spec = {"type": "pool", "size": int(rng.choice([2, 2, 3]))}
    if rng.random() < 0.4:
        spec["stride"] = int(rng.integers(1, spec["size"] + 1))
    return spec


def random_stack(rng: np.random.Generator, head: bool = True) -> tuple[tuple, list[dict]]:
    """A random valid network: a non-square (H, W, C) input, 3 to 6 conv/pool layers (every size
    stays >= 1), then, with head=True, Flatten and one or two Dense layers."""
    for _ in range(1000):
        h = int(rng.integers(12, 61))
        w = int(rng.integers(12, 61))
        if h == w:
            continue
        shape = (h, w, int(rng.choice([1, 3])))
        specs: list[dict] = []
        current: tuple | None = shape
        for _ in range(int(rng.integers(3, 7))):
            spec = _random_layer(rng, specs[-1]["type"] if specs else None)
            current = _spatial_ok(current, spec)
            if current is None:
                break
            specs.append(spec)
        if current is None or current[0] * current[1] * current[2] > 20_000:
            continue
        if head:
            specs.append({"type": "flatten"})
            for _ in range(int(rng.integers(1, 3))):
                specs.append({"type": "dense", "units": int(rng.choice([1, 10, 16, 32, 64]))})
        return shape, specs
    raise RuntimeError("could not draw a valid random layer stack")


# --------------------------------------------------------------------------- reading answers
def as_int(value: Any) -> int | None:
    """An int (or a float / 0-d array holding an integral number) as int; anything else None."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return None


def show(value: Any) -> str:
    """A short readable form of what the student returned."""
    if isinstance(value, np.ndarray):
        value = value.item() if value.ndim == 0 else value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple)):
        inner = ", ".join(show(v) for v in value)
        if isinstance(value, tuple):
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        return f"[{inner}]"
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def need_int(got: Any, what: str) -> int:
    """The student's answer as an int, or a failure that says what came back instead."""
    if isinstance(got, np.ndarray) and got.ndim == 0:
        got = got.item()
    if got is None:
        raise AssertionError(f"{what} returned None — is a `return` statement missing?")
    value = as_int(got)
    if value is None:
        extra = ""
        if isinstance(got, (float, np.floating)):
            extra = " — use integer division `//` (the floor), not `/`"
        raise AssertionError(f"{what} should return a whole number (an int), got {show(got)}"
                             f"{extra}.")
    return value


def as_shape(value: Any) -> tuple | None:
    """A shape (tuple/list/1-d array of integral numbers, None allowed) as a tuple, else None."""
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            return None
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        return None
    out = []
    for v in value:
        if v is None:
            out.append(None)
            continue
        iv = as_int(v)
        if iv is None:
            return None
        out.append(iv)
    return tuple(out)


def as_list(got: Any, what: str, length: int) -> list:
    """The student's list (or tuple / 1-d array) of `length` items, or a teaching failure."""
    if got is None:
        raise AssertionError(f"{what} returned None — is a `return` statement missing?")
    if isinstance(got, np.ndarray) and got.ndim >= 1:
        got = list(got)
    if not isinstance(got, (list, tuple)):
        raise AssertionError(f"{what} should return a list with one entry per layer, got "
                             f"{show(got)}.")
    if len(got) != length:
        raise AssertionError(f"{what} returned {len(got)} entries for {length} layers; return "
                             "one entry per layer, in order (the input itself is not a layer).\n"
                             f"  got: {show(got)}")
    return list(got)


# --------------------------------------------------------------------------- describing layers
def layer_text(spec: dict) -> str:
    return json.dumps(spec)


def keras_text(spec: dict) -> str:
    kind = spec["type"]
    if kind == "conv":
        return (f"Conv2D({spec['filters']}, {spec['kernel']}, strides={spec.get('stride', 1)}, "
                f"padding=\"{spec.get('padding', 'valid')}\")")
    if kind == "pool":
        stride = spec.get("stride")
        return (f"MaxPooling2D(pool_size={spec['size']}"
                + (f", strides={stride})" if stride is not None else ")"))
    if kind == "flatten":
        return "Flatten()"
    return f"Dense({spec['units']})"


def stack_text(input_shape: tuple, specs: list[dict]) -> str:
    rows = "\n".join(f"    {i + 1}. {layer_text(s)}" for i, s in enumerate(specs))
    return f"  input_shape = {input_shape}, layers:\n{rows}"


def shape_hint(spec: dict, before: tuple, expected: tuple, got: tuple | None) -> str:
    """Why the layer's output has the expected shape."""
    kind = spec["type"]
    if got is not None and len(got) == len(expected) + 1 and got[1:] == expected:
        return "leave out the batch axis: Keras's (None, ...) is not part of the shape"
    if kind == "conv":
        h, w, _ = before
        k, s = spec["kernel"], spec.get("stride", 1)
        same = spec.get("padding", "valid") == "same"
        p = (k - 1) // 2 if same else 0
        pad = f'"same": p = (k − 1)/2 = {p}' if same else '"valid": p = 0'
        text = (f"{pad}; H' = {conv_formula(h, k, p, s)} = {floor_size(h, k, p, s)}, "
                f"W' = {conv_formula(w, k, p, s)} = {floor_size(w, k, p, s)}; "
                f"the depth is the number of filters, {spec['filters']}")
        if "stride" not in spec or "padding" not in spec:
            text += " (a missing \"stride\" means 1, a missing \"padding\" means \"valid\")"
        return text
    if kind == "pool":
        h, w, c = before
        size = spec["size"]
        s = spec.get("stride") or size
        text = (f"H' = {conv_formula(h, size, 0, s)} = {floor_size(h, size, 0, s)}, "
                f"W' = {conv_formula(w, size, 0, s)} = {floor_size(w, size, 0, s)}; pooling "
                f"keeps the {c} channels")
        if "stride" not in spec:
            text += " (no \"stride\": the stride is the pool size)"
        return text
    if kind == "flatten":
        return (f"Flatten turns {before} into one axis of {' · '.join(map(str, before))} = "
                f"{expected[0]} values: the shape is the 1-tuple {expected}")
    return f"a Dense layer outputs its {spec['units']} units: {expected}"


def params_hint(spec: dict, before: tuple, expected: int, got: int | None) -> str:
    """Why the layer has the expected number of parameters."""
    kind = spec["type"]
    if kind == "conv":
        k, c_in, c_out = spec["kernel"], before[-1], spec["filters"]
        text = (f"(k·k·c_in + 1)·c_out = ({k}·{k}·{c_in} + 1)·{c_out} = {expected}: each of the "
                f"{c_out} filters has {k}·{k}·{c_in} weights (c_in = {c_in}, the channels of "
                "this layer's input) and one bias")
        if got == k * k * c_in * c_out:
            text += "; the + 1 (bias) is missing"
        return text + ". The height and width of the input do not matter."
    if kind == "dense":
        n_in = before[-1]
        text = (f"(n_in + 1)·n_out = ({n_in} + 1)·{spec['units']} = {expected}, where n_in = "
                f"{n_in} is the length of this layer's input")
        if got == n_in * spec["units"]:
            text += "; the + 1 (bias) is missing"
        return text
    return f"a {'pooling' if kind == 'pool' else 'Flatten'} layer has no weights: 0 parameters"
