"""Hidden suite for output-size: every size and every layer stack is drawn from the grader's
`rng`; expected shapes and parameter counts come from real Keras layers built here (Conv2D,
MaxPooling2D, ZeroPadding2D, Flatten, Dense on a keras.Input; nothing is trained), the course's
own tables (93,322 and 3,453,121 parameters) and, for multiplication counts, the course example
and an independent count; the rule "do not import Keras or TensorFlow" is read from the answer
cells' source. 18 tests, 28 points."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cnngrade.grading.answer_rules import check_no_imports

try:
    import output_size_oracles as O
except ImportError:  # e.g. pytest --import-mode=importlib does not put this folder on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import output_size_oracles as O


def _size_message(call: str, got: int, expected: int, n: int, k: int, p: int, s: int) -> str:
    msg = (f"{call} returned {got}, expected {expected} = {O.conv_formula(n, k, p, s)}"
           f" (what Keras gives)")
    exact = (n + 2 * p - k) / s
    if got == -(-(n + 2 * p - k) // s) + 1 and got != expected:
        msg += (f"\n  hint: you rounded up; ({n} + 2·{p} − {k})/{s} = {exact:g} and the last "
                "window position that would stick out is dropped: use the floor, `//`")
    elif got == round(exact) + 1 and got != expected:
        msg += (f"\n  hint: round({exact:g}) rounds to the nearest integer; the formula takes the "
                "floor, `//`")
    elif got == expected - 1:
        msg += "\n  hint: the + 1 is missing (the first window position counts too)"
    elif got == (n - k) // s + 1 and p:
        msg += f"\n  hint: the padding adds p = {p} on BOTH sides: n + 2p"
    return msg


# =========================================================================== output sizes
@pytest.mark.points(1)
def test_conv_output_size_defaults(student, rng):
    """conv_output_size(n, k) with the defaults p=0, s=1 matches a "valid" Keras Conv2D."""
    for _ in range(3):
        n = int(rng.integers(4, 65))
        k = int(rng.integers(1, min(n, 9) + 1))
        call = f"conv_output_size(n={n}, k={k}) (defaults p=0, s=1)"
        got = O.need_int(student.conv_output_size(n, k), call)
        expected = O.keras_conv_size(n, k)
        if got != expected:
            raise AssertionError(_size_message(call, got, expected, n, k, 0, 1))


@pytest.mark.points(3)
def test_conv_output_size(student, rng):
    """conv_output_size(n, k, p, s) matches ZeroPadding2D(p) + Conv2D(k, strides=s), floor."""
    cases = []
    # a stride that does not divide n + 2p - k, by one (x.5 for s = 2) ...
    s = 2
    p = int(rng.integers(0, 3))
    k = int(rng.choice([3, 5]))
    n = int(rng.choice([v for v in range(9, 40) if (v + 2 * p - k) % s == 1]))
    cases.append((n, k, p, s))
    # ... and by s - 1 with s >= 3 (a fraction over one half: rounding up or to nearest differ)
    s = int(rng.integers(3, 5))
    p = int(rng.integers(1, 3))
    k = int(rng.integers(2, 6))
    n = int(rng.choice([v for v in range(10, 50) if (v + 2 * p - k) % s == s - 1]))
    cases.append((n, k, p, s))
    for _ in range(4):  # anything valid
        s = int(rng.integers(1, 5))
        p = int(rng.integers(0, 4))
        k = int(rng.integers(1, 8))
        n = int(rng.integers(max(1, k - 2 * p), 60))
        cases.append((n, k, p, s))
    for index, (n, k, p, s) in enumerate(cases):
        call = f"conv_output_size(n={n}, k={k}, p={p}, s={s})"
        answer = (student.conv_output_size(n, k, p, s) if index % 2 == 0
                  else student.conv_output_size(n, k, p=p, s=s))
        got = O.need_int(answer, call)
        expected = O.keras_conv_size(n, k, p, s)
        if got != expected:
            raise AssertionError(_size_message(call, got, expected, n, k, p, s))


@pytest.mark.points(1)
def test_same_padding(student, rng):
    """same_padding(k) is the p with which Keras's stride-1 convolution keeps the size (odd k)."""
    for k in sorted(int(v) for v in rng.choice([1, 3, 5, 7, 9, 11], size=3, replace=False)):
        n = int(rng.integers(max(k, 8), 40))
        call = f"same_padding(k={k})"
        p = O.need_int(student.same_padding(k), call)
        if not 0 <= p <= k:
            raise AssertionError(f"{call} returned {p}; solve n + 2p − {k} + 1 = n for p "
                                 f"(stride 1, odd k): p = (k − 1)/2.")
        out = O.keras_conv_size(n, k, p, 1)
        if out != n:
            same = O.keras_same_conv_size(n, k)
            raise AssertionError(
                f"{call} returned {p}, but Keras's ZeroPadding2D({p}) + Conv2D(kernel {k}) turns "
                f"a {n}×{n} input into {out}×{out}, while Conv2D({k}, padding=\"same\") gives "
                f"{same}×{same}. At stride 1 the size is n + 2p − k + 1; it stays n when "
                "p = (k − 1)/2.")


@pytest.mark.points(2)
def test_pool_output_size(student, rng):
    """pool_output_size matches Keras MaxPooling2D: stride defaults to the pool size, floor."""
    n_odd = int(rng.choice(range(5, 60, 2)))
    cases = [((n_odd,), {}, n_odd, 2, None)]                     # all defaults, an odd size
    pool = 3
    n = int(rng.choice([v for v in range(7, 60) if v % 3 != 0]))
    cases.append(((n,), {"pool": pool}, n, pool, None))          # stride defaults to pool
    pool, s = 3, 2                                                # overlapping windows
    n = int(rng.integers(6, 60))
    cases.append(((n, pool, s), {}, n, pool, s))
    pool = int(rng.integers(2, 5))
    s = int(rng.integers(1, pool + 1))
    n = int(rng.integers(pool, 60))
    cases.append(((n,), {"pool": pool, "s": s}, n, pool, s))
    for args, kwargs, n, pool, s in cases:
        named = dict(zip(("pool", "s"), args[1:], strict=False)) | kwargs
        shown = ", ".join([f"n={n}"] + [f"{name}={value}" for name, value in named.items()])
        call = f"pool_output_size({shown})"
        got = O.need_int(student.pool_output_size(*args, **kwargs), call)
        expected = O.keras_pool_size(n, pool, s)
        stride = s or pool
        if got != expected:
            msg = (f"{call} returned {got}, expected {expected} = "
                   f"{O.conv_formula(n, pool, 0, stride)} (Keras MaxPooling2D(pool_size={pool}, "
                   f"strides={s}))")
            if s is None and got == O.floor_size(n, pool, 0, 1):
                msg += f"\n  hint: s=None means the stride equals the pool size, {pool}, not 1"
            elif got == -(-(n - pool) // stride) + 1:
                msg += ("\n  hint: rows and columns that do not fill a whole window are dropped "
                        "(\"valid\" pooling): use the floor, `//`")
            raise AssertionError(msg)


# =========================================================================== parameters
@pytest.mark.points(2)
def test_conv2d_params(student, rng):
    """conv2d_params(k, c_in, c_out) equals Keras Conv2D(c_out, k).count_params()."""
    cases = [(int(rng.choice([1, 3, 5, 7])), int(rng.integers(1, 4)), int(rng.integers(2, 65)))
             for _ in range(2)]
    cases.append((int(rng.integers(2, 6)), int(rng.integers(8, 257)), int(rng.integers(8, 257))))
    for k, c_in, c_out in cases:
        call = f"conv2d_params(k={k}, c_in={c_in}, c_out={c_out})"
        got = O.need_int(student.conv2d_params(k, c_in, c_out), call)
        expected = O.keras_conv_params(k, c_in, c_out)
        if got != expected:
            msg = (f"{call} returned {got}, expected {expected} = (k·k·c_in + 1)·c_out = "
                   f"({k}·{k}·{c_in} + 1)·{c_out} (Keras Conv2D({c_out}, {k}).count_params() with "
                   f"c_in = {c_in})")
            if got == k * k * c_in * c_out:
                msg += ("\n  hint: the bias is missing: every filter has one bias besides its "
                        "k·k·c_in weights, hence the + 1")
            elif got == (k * k + 1) * c_out:
                msg += ("\n  hint: a filter spans ALL c_in input channels: k·k·c_in weights, "
                        "not k·k")
            elif got == k * k * c_in * c_out + c_in:
                msg += ("\n  hint: there is one bias per filter (c_out of them), not one per "
                        "input channel")
            raise AssertionError(msg)


@pytest.mark.points(1)
def test_dense_params(student, rng):
    """dense_params(n_in, n_out) equals Keras Dense(n_out).count_params()."""
    for n_in, n_out in ((int(rng.integers(2, 50)), int(rng.integers(1, 20))),
                        (int(rng.integers(100, 10_000)), int(rng.integers(16, 600)))):
        call = f"dense_params(n_in={n_in}, n_out={n_out})"
        got = O.need_int(student.dense_params(n_in, n_out), call)
        expected = O.keras_dense_params(n_in, n_out)
        if got != expected:
            msg = (f"{call} returned {got}, expected {expected} = (n_in + 1)·n_out = "
                   f"({n_in} + 1)·{n_out} (Keras Dense({n_out}).count_params())")
            if got == n_in * n_out:
                msg += "\n  hint: the bias is missing: each of the n_out units has one bias"
            raise AssertionError(msg)


# =========================================================================== whole networks
def _check_shapes(student, input_shape, specs, extra=""):
    trace = O.keras_trace(input_shape, specs)
    what = f"network_shapes({input_shape}, layers)"
    got_list = O.as_list(student.network_shapes(tuple(input_shape), specs), what, len(specs))
    rows = zip(specs, trace, got_list, strict=True)
    for index, (spec, (expected, _, before), got) in enumerate(rows):
        shape = O.as_shape(got)
        if shape == expected:
            continue
        msg = (f"{what}: layer {index + 1} of {len(specs)}, {O.layer_text(spec)}, on an input of "
               f"shape {before}: expected {expected} (Keras {O.keras_text(spec)}), got "
               f"{O.show(got)}")
        if shape is None:
            msg += ("\n  hint: each entry is a shape, a tuple of ints such as (26, 26, 32), or "
                    "(576,) after a Flatten")
        else:
            msg += f"\n  hint: {O.shape_hint(spec, before, expected, shape)}"
        raise AssertionError(msg + extra + "\n" + O.stack_text(input_shape, specs))


def _check_params(student, input_shape, specs, extra=""):
    trace = O.keras_trace(input_shape, specs)
    what = f"network_params({input_shape}, layers)"
    got_list = O.as_list(student.network_params(tuple(input_shape), specs), what, len(specs))
    rows = zip(specs, trace, got_list, strict=True)
    for index, (spec, (_, expected, before), got) in enumerate(rows):
        value = O.as_int(got)
        if value == expected:
            continue
        msg = (f"{what}: layer {index + 1} of {len(specs)}, {O.layer_text(spec)}, on an input of "
               f"shape {before}: expected {expected} parameters (Keras "
               f"{O.keras_text(spec)}.count_params()), got {O.show(got)}"
               f"\n  hint: {O.params_hint(spec, before, expected, value)}")
        raise AssertionError(msg + extra + "\n" + O.stack_text(input_shape, specs))


@pytest.mark.points(3)
def test_network_shapes_random(student, rng):
    """network_shapes on random conv/pool stacks (with and without a dense head) equals the
    output shape of each Keras layer."""
    for head in (True, True, False):
        input_shape, specs = O.random_stack(rng, head=head)
        _check_shapes(student, input_shape, specs)


@pytest.mark.points(3)
def test_network_params_random(student, rng):
    """network_params on random conv/pool/dense stacks equals each Keras layer's count_params()."""
    for head in (True, True, False):
        input_shape, specs = O.random_stack(rng, head=head)
        _check_params(student, input_shape, specs)


@pytest.mark.points(1)
def test_mnist_convnet_shapes(student):
    """The course's MNIST convnet: 28 -> 26 -> 13 -> 11 -> 5 -> 3, Flatten 576, Dense 64, 10."""
    _check_shapes(student, O.MNIST_INPUT, O.MNIST_CONVNET,
                  "\n  (the course's table: 28 → 26 → 13 → 11 → 5 → 3; keys such as "
                  "\"activation\" change neither shapes nor parameters)")


@pytest.mark.points(1)
def test_mnist_convnet_params(student):
    """The course's MNIST convnet has 93,322 parameters; each layer as Keras counts it."""
    _check_params(student, O.MNIST_INPUT, O.MNIST_CONVNET,
                  f"\n  (model.summary() of the course's MNIST convnet: {O.MNIST_TOTAL:,} "
                  "parameters in total)")


@pytest.mark.points(1)
def test_cats_dogs_convnet_shapes(student):
    """The course's 150x150x3 convnet: 150 -> 148 -> 74 -> 72 -> 36 -> 34 -> 17 -> 15 -> 7."""
    _check_shapes(student, O.CATS_DOGS_INPUT, O.CATS_DOGS_CONVNET,
                  "\n  (the course's table: 150 → 148 → 74 → 72 → 36 → 34 → 17 → 15 → 7)")


@pytest.mark.points(1)
def test_cats_dogs_convnet_params(student):
    """The course's 150x150x3 convnet has 3,453,121 parameters; each layer as Keras counts it."""
    _check_params(student, O.CATS_DOGS_INPUT, O.CATS_DOGS_CONVNET,
                  f"\n  (model.summary() of the course's cats-vs-dogs convnet: "
                  f"{O.CATS_DOGS_TOTAL:,} parameters in total)")


# =========================================================================== cost
COURSE_CONV = (28, 28, 192, 5, 32)              # h, w, c_in, k, c_out
COURSE_CONV_MULTIPLICATIONS = 120_422_400       # "about 120 million"
COURSE_BOTTLENECK = (28, 28, 192, 16, 5, 32)    # h, w, c_in, mid, k, c_out
COURSE_BOTTLENECK_MULTIPLICATIONS = 12_443_648  # "about 12.4 million"


@pytest.mark.points(2)
def test_conv_multiplications(student, rng):
    """conv_multiplications: the course's 120,422,400 and random "same" convolutions."""
    cases = [(COURSE_CONV, COURSE_CONV_MULTIPLICATIONS)]
    for _ in range(2):
        h, w = int(rng.integers(4, 65)), int(rng.integers(4, 65))
        args = (h, w, int(rng.integers(1, 257)), int(rng.choice([1, 3, 5, 7])),
                int(rng.integers(1, 129)))
        cases.append((args, O.multiplications(*args)))
    for (h, w, c_in, k, c_out), expected in cases:
        call = f"conv_multiplications(h={h}, w={w}, c_in={c_in}, k={k}, c_out={c_out})"
        got = O.need_int(student.conv_multiplications(h, w, c_in, k, c_out), call)
        if got != expected:
            msg = (f"{call} returned {got:,}, expected {expected:,} = {h}·{w}·{c_out} output "
                   f"values × {k}·{k}·{c_in} multiplications each")
            if got == h * w * c_out * k * k:
                msg += ("\n  hint: each output value sums over the k×k window in ALL c_in input "
                        "channels")
            elif got == h * w * k * k * c_in:
                msg += "\n  hint: there are c_out filters, each computing its own h×w output map"
            raise AssertionError(msg)


@pytest.mark.points(2)
def test_bottleneck_multiplications(student, rng):
    """bottleneck_multiplications: 1x1 to `mid` channels, then k x k; the course's 12,443,648."""
    cases = [COURSE_BOTTLENECK]
    for _ in range(2):
        cases.append((int(rng.integers(4, 65)), int(rng.integers(4, 65)),
                      int(rng.integers(32, 513)), int(rng.integers(4, 33)),
                      int(rng.choice([3, 5, 7])), int(rng.integers(8, 129))))
    for h, w, c_in, mid, k, c_out in cases:
        one_by_one = O.multiplications(h, w, c_in, 1, mid)
        k_by_k = O.multiplications(h, w, mid, k, c_out)
        expected = one_by_one + k_by_k
        if (h, w, c_in, mid, k, c_out) == COURSE_BOTTLENECK:
            expected = COURSE_BOTTLENECK_MULTIPLICATIONS
        call = (f"bottleneck_multiplications(h={h}, w={w}, c_in={c_in}, mid={mid}, k={k}, "
                f"c_out={c_out})")
        got = O.need_int(student.bottleneck_multiplications(h, w, c_in, mid, k, c_out), call)
        if got != expected:
            msg = (f"{call} returned {got:,}, expected {expected:,} = {one_by_one:,} for the 1×1 "
                   f"convolution ({h}·{w}·{mid} outputs × 1·1·{c_in}) + {k_by_k:,} for the "
                   f"{k}×{k} convolution ({h}·{w}·{c_out} outputs × {k}·{k}·{mid})")
            if got == k_by_k:
                msg += "\n  hint: the 1×1 convolution's multiplications are missing"
            elif got == one_by_one:
                msg += f"\n  hint: the {k}×{k} convolution's multiplications are missing"
            elif got == one_by_one + O.multiplications(h, w, c_in, k, c_out):
                msg += (f"\n  hint: the {k}×{k} convolution reads the {mid} channels of the "
                        f"bottleneck, not the {c_in} of the input")
            raise AssertionError(msg)


# =========================================================================== questions
def _sizes_answer(student, name, expected, layers_text):
    got = student.value(name)
    values = O.as_shape(got)
    if values is None or None in values:
        raise AssertionError(f"{name} should be a list of ints, got {O.show(got)}")
    if len(values) != len(expected):
        raise AssertionError(f"{name} has {len(values)} entries; it needs {len(expected)}: the "
                             f"input size {expected[0]}, then the size after each of the "
                             f"{len(expected) - 1} layers {layers_text}")
    for index, (mine, right) in enumerate(zip(values, expected, strict=True)):
        if mine == right:
            continue
        if index == 0:
            raise AssertionError(f"{name}[0] = {mine}: the list starts with the input size")
        conv = layers_text.split(" → ")[index - 1].startswith("Conv")
        rule = ("a 3×3 \"valid\" convolution: ⌊(n − 3)/1⌋ + 1 = n − 2" if conv
                else "2×2 max pooling: ⌊(n − 2)/2⌋ + 1, the floor of n/2")
        raise AssertionError(f"{name}[{index}] = {mine} is not right: the layer before it is "
                             f"{rule}, with n = {name}[{index - 1}] = {values[index - 1]}.")


@pytest.mark.points(1)
def test_q1_mnist_sizes(student):
    """Q1: the spatial sizes through the MNIST convnet's convolutional base."""
    _sizes_answer(student, "q1_mnist_sizes", [28, 26, 13, 11, 5, 3],
                  "Conv2D → MaxPooling2D → Conv2D → MaxPooling2D → Conv2D")


@pytest.mark.points(1)
def test_q2_cats_dogs_sizes(student):
    """Q2: the spatial sizes through the 150x150 cats-vs-dogs convnet's convolutional base."""
    _sizes_answer(student, "q2_cats_dogs_sizes", [150, 148, 74, 72, 36, 34, 17, 15, 7],
                  " → ".join(["Conv2D → MaxPooling2D"] * 4))


@pytest.mark.points(1)
def test_q3_flatten_features(student):
    """Q3: how many values Flatten hands to Dense(512) in the cats-vs-dogs convnet."""
    got = student.value("q3_flatten_features")
    value = O.as_int(got)
    if value is None:
        raise AssertionError(f"q3_flatten_features should be an int, got {O.show(got)}")
    if value != 6272:
        raise AssertionError(f"q3_flatten_features = {value} is not right: Flatten lays out the "
                             "last feature map (height × width × channels) as one vector; take "
                             "the last size of Q2 and the number of filters of the last Conv2D.")


# =========================================================================== the rule
BANNED = {"tensorflow": "TensorFlow", "keras": "Keras", "tf_keras": "Keras", "torch": "PyTorch",
          "jax": "JAX", "flax": "Flax"}


@pytest.mark.points(1)
def test_no_keras(answers):
    """The answer cells compute sizes by hand: no Keras or TensorFlow is imported."""
    check_no_imports(answers, BANNED, "plain Python (NumPy if you like); do not import Keras "
                                      "or TensorFlow: the point is to know what Keras will "
                                      "report before asking it.")

