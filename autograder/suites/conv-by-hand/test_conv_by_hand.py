"""Hidden suite for conv-by-hand: every input is drawn from the grader's `rng`, every expected
value comes from an independent oracle (NumPy's np.pad and windows, SciPy, the Gabor formula)
or from the course's own constants; the rules (NumPy only, inputs left unchanged) are read from
the answer cells' source and from calls in the kernel. 23 tests, 30 points."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from cnngrade.grading.answer_rules import check_no_imports

try:
    import conv_by_hand_oracles as O
except ImportError:  # e.g. pytest --import-mode=importlib does not put this folder on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import conv_by_hand_oracles as O

PAD_MODES = ("zero", "edge")


# =========================================================================== padding
@pytest.mark.points(1)
def test_pad_zero(student, rng):
    """pad(mode="zero") adds p rows/columns of zeros on every side of 2-D and 3-D images."""
    h, w = O.non_square(rng, 2, 8)
    p = int(rng.integers(1, 4))
    img = rng.normal(size=(h, w))
    O.assert_matches(student.pad(img, p), O.np_pad(img, p, "zero"), "pad(image, p) (default mode)",
                     {"image.shape": img.shape, "p": p},
                     shape_hint=f"expected (H + 2p, W + 2p) = ({h + 2 * p}, {w + 2 * p})")

    c = int(rng.integers(2, 5))
    img3 = rng.normal(size=(h, w, c))
    O.assert_matches(student.pad(img3, p, mode="zero"), O.np_pad(img3, p, "zero"),
                     'pad(image, p, mode="zero") on a multi-channel image',
                     {"image.shape": img3.shape, "p": p},
                     shape_hint="pad only the two spatial axes (H and W), never the channel axis")

    O.assert_matches(student.pad(img, 0, mode="zero"), img, 'pad(image, 0, mode="zero")',
                     {"image.shape": img.shape, "p": 0},
                     shape_hint="p = 0 must return the image unchanged (careful: x[p:-p] is "
                                "empty when p = 0)")


@pytest.mark.points(1)
def test_pad_edge(student, rng):
    """pad(mode="edge") repeats the border pixels outwards like np.pad(mode="edge"), 2-D and 3-D."""
    h, w = O.non_square(rng, 2, 8)
    p = int(rng.integers(1, 4))
    c = int(rng.integers(2, 5))
    for img in (rng.normal(size=(h, w)), rng.normal(size=(h, w, c))):
        expected = O.np_pad(img, p, "edge")
        O.assert_matches(student.pad(img, p, mode="edge"), expected, 'pad(image, p, mode="edge")',
                         {"image.shape": img.shape, "p": p},
                         shape_hint="pad only the two spatial axes (H and W), not the channels",
                         alternatives=[(O.np_pad(img, p, "zero"),
                                        'this is zero padding; "edge" copies the nearest border '
                                        "pixel into the padding, including the corners")])


# =========================================================================== conv2d
def _flip_hint():
    return ("your result equals a true convolution with the kernel flipped; CNNs use "
            "cross-correlation: out[i, j] = np.sum(kernel * patch), no flip")


@pytest.mark.points(2)
def test_conv2d_valid(student, rng):
    """conv2d (stride 1, no padding) equals SciPy's correlate2d on a non-square image and kernel."""
    h, w = O.non_square(rng, 6, 12)
    kh, kw = O.non_square(rng, 2, 5)
    img = rng.normal(size=(h, w))
    ker = rng.normal(size=(kh, kw))
    params = {"image.shape": img.shape, "kernel.shape": ker.shape, "stride": 1, "padding": 0}
    O.assert_matches(student.conv2d(img, ker), O.scipy_conv2d(img, ker), "conv2d(image, kernel)",
                     params, shape_hint=O.shape_hint(h, w, kh, kw, 0, 1),
                     alternatives=[(O.scipy_conv2d(img, ker, flip=True), _flip_hint()),
                                   (O.scipy_conv2d(img, ker.T),
                                    "rows and columns are swapped somewhere: kernel.shape is "
                                    "(kh, kw) = (rows, columns)")])


@pytest.mark.points(2)
def test_conv2d_stride(student, rng):
    """conv2d with a stride that does not divide the size keeps floor((n - k)/s) + 1 positions."""
    s = int(rng.integers(2, 4))
    kh, kw = O.non_square(rng, 2, 4)
    h = O.size_not_dividing(rng, kh, s, 7, 14)
    w = O.size_not_dividing(rng, kw, s, 7, 14)
    img = rng.normal(size=(h, w))
    ker = rng.normal(size=(kh, kw))
    expected = O.window_conv(img[:, :, None], ker[:, :, None, None], stride=s)[:, :, 0]
    params = {"image.shape": img.shape, "kernel.shape": ker.shape, "stride": s, "padding": 0}
    O.assert_matches(student.conv2d(img, ker, stride=s), expected, "conv2d(image, kernel, stride)",
                     params, shape_hint=O.shape_hint(h, w, kh, kw, 0, s),
                     alternatives=[(O.scipy_conv2d(img, ker, stride=s, flip=True), _flip_hint())])


@pytest.mark.points(2)
def test_conv2d_padding(student, rng):
    """conv2d pads first (zero and edge padding), then slides the kernel with the stride."""
    h, w = O.non_square(rng, 5, 10)
    kh, kw = O.non_square(rng, 2, 5)
    for mode in PAD_MODES:
        p = int(rng.integers(1, 3))
        s = int(rng.integers(1, 3))
        img = rng.normal(size=(h, w))
        ker = rng.normal(size=(kh, kw))
        other = "edge" if mode == "zero" else "zero"
        params = {"image.shape": img.shape, "kernel.shape": ker.shape, "stride": s,
                  "padding": p, "pad_mode": mode}
        O.assert_matches(student.conv2d(img, ker, stride=s, padding=p, pad_mode=mode),
                         O.scipy_conv2d(img, ker, stride=s, padding=p, pad_mode=mode),
                         f'conv2d(image, kernel, stride, padding, pad_mode="{mode}")', params,
                         shape_hint=O.shape_hint(h, w, kh, kw, p, s),
                         alternatives=[
                             (O.scipy_conv2d(img, ker, stride=s, padding=p, pad_mode=other),
                              f'this is the result of {other} padding, not {mode} padding: '
                              "is pad_mode passed on to pad?"),
                             (O.scipy_conv2d(img, ker, s, p, mode, flip=True), _flip_hint())])


@pytest.mark.points(1)
def test_conv2d_edge_cases(student, rng):
    """conv2d handles a 1x1 kernel, a kernel as large as the image, and an integer image."""
    h, w = O.non_square(rng, 3, 9)
    img = rng.normal(size=(h, w))
    one = rng.normal(size=(1, 1))
    s = int(rng.integers(1, 3))
    O.assert_matches(student.conv2d(img, one, stride=s), O.scipy_conv2d(img, one, stride=s),
                     "conv2d with a 1x1 kernel", {"image.shape": img.shape, "kernel.shape": (1, 1),
                                                  "stride": s},
                     shape_hint=O.shape_hint(h, w, 1, 1, 0, s))

    full = rng.normal(size=(h, w))
    O.assert_matches(student.conv2d(img, full), np.sum(img * full).reshape(1, 1),
                     "conv2d with a kernel as large as the image",
                     {"image.shape": img.shape, "kernel.shape": full.shape},
                     shape_hint="a kernel that covers the whole image fits exactly once: (1, 1)")

    pixels = rng.integers(0, 256, size=(h, w))  # like a uint8 photo, sent as int64
    ker = rng.normal(size=(3, 2))
    O.assert_matches(student.conv2d(pixels, ker), O.scipy_conv2d(pixels, ker),
                     "conv2d on an integer image with a float kernel",
                     {"image.shape": pixels.shape, "image.dtype": pixels.dtype,
                      "kernel.shape": ker.shape})


@pytest.mark.points(2)
def test_conv2d_multichannel(student, rng):
    """conv2d with an (H, W, C) image and a (kh, kw, C) kernel sums over channels: one 2-D map."""
    h, w = O.non_square(rng, 5, 11)
    kh, kw = O.non_square(rng, 1, 4)
    c = int(rng.integers(2, 5))
    s = int(rng.integers(1, 3))
    p = int(rng.integers(0, 2))
    mode = str(rng.choice(PAD_MODES))
    img = rng.normal(size=(h, w, c))
    ker = rng.normal(size=(kh, kw, c))
    expected = O.window_conv(img, ker[:, :, :, None], stride=s, padding=p, pad_mode=mode)[:, :, 0]
    per_channel = np.stack([O.scipy_conv2d(img[:, :, i], ker[:, :, i], s, p, mode)
                            for i in range(c)], axis=-1)
    O.assert_matches(student.conv2d(img, ker, stride=s, padding=p, pad_mode=mode), expected,
                     "conv2d(image, kernel) with several channels",
                     {"image.shape": img.shape, "kernel.shape": ker.shape, "stride": s,
                      "padding": p, "pad_mode": mode},
                     shape_hint=O.shape_hint(h, w, kh, kw, p, s) + "; a single kernel gives ONE "
                     "2-D map (sum over the channels too)",
                     alternatives=[(per_channel, "you return one map per channel; the patch is "
                                    "(kh, kw, C) and np.sum(kernel * patch) also sums over C")])


# =========================================================================== conv_layer
@pytest.mark.points(2)
def test_conv_layer(student, rng):
    """conv_layer with d kernels (kh, kw, C, d) gives (H', W', d), matching a NumPy-window oracle."""
    for config in range(2):
        h, w = O.non_square(rng, 6, 12)
        kh, kw = O.non_square(rng, 1, 4)
        c = int(rng.integers(1, 4))
        d = int(rng.integers(2, 6))
        s = 1 if config == 0 else int(rng.integers(2, 4))
        p = 0 if config == 0 else int(rng.integers(1, 3))
        mode = "zero" if config == 0 else str(rng.choice(PAD_MODES))
        img = rng.normal(size=(h, w, c))
        kernels = rng.normal(size=(kh, kw, c, d))
        expected = O.window_conv(img, kernels, stride=s, padding=p, pad_mode=mode)
        kwargs = {} if config == 0 else {"stride": s, "padding": p, "pad_mode": mode}
        O.assert_matches(student.conv_layer(img, kernels, **kwargs), expected,
                         "conv_layer(image, kernels)",
                         {"image.shape": img.shape, "kernels.shape": kernels.shape, "stride": s,
                          "padding": p, "pad_mode": mode},
                         shape_hint=O.shape_hint(h, w, kh, kw, p, s)
                         + f"; the d = {d} feature maps are stacked on the LAST axis: (H', W', d)",
                         alternatives=[(np.moveaxis(expected, -1, 0),
                                        "the feature maps are stacked on the first axis; use "
                                        "np.stack(maps, axis=-1) to get (H', W', d)")])


# =========================================================================== relu / pooling
@pytest.mark.points(1)
def test_relu(student, rng):
    """relu zeroes negative values and keeps positive ones, for any shape."""
    for shape in ((int(rng.integers(3, 8)), int(rng.integers(3, 8))),
                  tuple(int(v) for v in rng.integers(2, 6, size=3))):
        x = rng.normal(size=shape)
        x.flat[0] = 0.0
        O.assert_matches(student.relu(x), np.maximum(x, 0.0), "relu(x)", {"x.shape": shape},
                         shape_hint="relu is element-wise: same shape as x",
                         alternatives=[(np.abs(x), "negative values must become 0, not their "
                                                   "absolute value")])


def _pool_test(student, rng, kind):
    fn = getattr(student, f"{kind}_pool")
    # 1) 3-D input, default stride (= size), sizes that the window does not divide
    size = int(rng.integers(2, 4))
    h = O.size_not_dividing(rng, size, size, 5, 13)
    w = O.size_not_dividing(rng, size, size, 5, 13)
    c = int(rng.integers(2, 4))
    x = rng.normal(size=(h, w, c))
    expected = O.window_pool(x, size, size, kind)
    O.assert_matches(fn(x, size=size), expected, f"{kind}_pool(x, size) (default stride = size)",
                     {"x.shape": x.shape, "size": size, "stride": None},
                     shape_hint=O.shape_hint(h, w, size, size, 0, size)
                     + "; pool each channel separately (the channel count stays the same)")
    # 2) 2-D input, overlapping windows: stride < size
    size, stride = 3, 2
    h, w = O.non_square(rng, 5, 11)
    x = rng.normal(size=(h, w))
    expected = O.window_pool(x, size, stride, kind)
    O.assert_matches(fn(x, size=size, stride=stride), expected, f"{kind}_pool(x, size, stride)",
                     {"x.shape": x.shape, "size": size, "stride": stride},
                     shape_hint=O.shape_hint(h, w, size, size, 0, stride))


@pytest.mark.points(2)
def test_max_pool(student, rng):
    """max_pool matches a NumPy-window oracle: 2-D and 3-D, default and overlapping strides, floor."""
    _pool_test(student, rng, "max")


@pytest.mark.points(2)
def test_avg_pool(student, rng):
    """avg_pool matches a NumPy-window oracle: 2-D and 3-D, default and overlapping strides, floor."""
    _pool_test(student, rng, "avg")


# =========================================================================== Sobel & gradients
@pytest.mark.points(1)
def test_sobel(student, rng):
    """sobel returns (gx, gy), the valid cross-correlations with the course's Gx and Gy = Gx.T."""
    h, w = O.non_square(rng, 5, 12)
    img = rng.normal(size=(h, w))
    got = student.sobel(img)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise AssertionError(f"sobel(image) should return a tuple (gx, gy) of two arrays, got "
                             f"{type(got).__name__}" + (f" of length {len(got)}"
                                                         if isinstance(got, (tuple, list)) else ""))
    ex = O.scipy_conv2d(img, O.SOBEL_X)
    ey = O.scipy_conv2d(img, O.SOBEL_Y)
    params = {"image.shape": img.shape}
    for name, value, exp, swapped in (("gx", got[0], ex, ey), ("gy", got[1], ey, ex)):
        O.assert_matches(value, exp, f"sobel(image)[{0 if name == 'gx' else 1}] ({name})", params,
                         shape_hint="valid cross-correlation with a 3x3 kernel: (H - 2, W - 2)",
                         alternatives=[(swapped, "gx and gy are swapped: return (gx, gy), with "
                                                 "Gx = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]"),
                                       (-exp, "the sign is reversed: the kernel was flipped "
                                              "(convolution) or Gx written with the wrong sign")])


@pytest.mark.points(1)
def test_gradient_magnitude(student, rng):
    """gradient_magnitude is sqrt(gx**2 + gy**2) element-wise."""
    shape = O.non_square(rng, 3, 9)
    gx = rng.normal(size=shape) * 3
    gy = rng.normal(size=shape) * 3
    O.assert_matches(student.gradient_magnitude(gx, gy), np.hypot(gx, gy),
                     "gradient_magnitude(gx, gy)", {"gx.shape": shape},
                     alternatives=[(np.abs(gx) + np.abs(gy), "|gx| + |gy| is an approximation; "
                                    "use sqrt(gx**2 + gy**2)"),
                                   (gx ** 2 + gy ** 2, "the square root is missing")])


@pytest.mark.points(1)
def test_gradient_direction(student, rng):
    """gradient_direction is arctan2(gy, gx) in radians, correct in all four quadrants."""
    shape = O.non_square(rng, 3, 9)
    gx = rng.normal(size=shape)
    gy = rng.normal(size=shape)
    gx.flat[0], gy.flat[0] = -abs(gx.flat[0]), abs(gy.flat[0])  # at least one in quadrant II
    gx.flat[1], gy.flat[1] = -abs(gx.flat[1]), -abs(gy.flat[1])  # and one in quadrant III
    expected = np.arctan2(gy, gx)
    O.assert_matches(student.gradient_direction(gx, gy), expected,
                     "gradient_direction(gx, gy)", {"gx.shape": shape},
                     alternatives=[(np.arctan(gy / gx), "arctan(gy / gx) loses the quadrant when "
                                    "gx < 0; use np.arctan2(gy, gx)"),
                                   (np.arctan2(gx, gy), "the arguments are swapped: "
                                    "np.arctan2(gy, gx) takes y first"),
                                   (np.degrees(expected), "the angle must be in radians, not "
                                                          "degrees")])


@pytest.mark.points(1)
def test_renormalize(student, rng):
    """renormalize maps the whole array linearly onto [0, 1] (float and integer inputs)."""
    shape = (int(rng.integers(3, 8)), int(rng.integers(3, 8)), int(rng.integers(1, 4)))
    lo, span = float(rng.uniform(-50, 50)), float(rng.uniform(0.5, 200))
    x = lo + span * rng.random(size=shape)
    expected = (x - x.min()) / (x.max() - x.min())
    per_channel = (x - x.min(axis=(0, 1))) / (x.max(axis=(0, 1)) - x.min(axis=(0, 1)))
    O.assert_matches(student.renormalize(x), expected, "renormalize(x)",
                     {"x.shape": shape, "x.min": round(x.min(), 3), "x.max": round(x.max(), 3)},
                     alternatives=[(per_channel, "use the min and max of the WHOLE array, not "
                                                 "per channel")])
    pixels = rng.integers(0, 256, size=shape[:2])
    pixels.flat[0], pixels.flat[1] = 3, 250
    O.assert_matches(student.renormalize(pixels),
                     (pixels - pixels.min()) / (pixels.max() - pixels.min()),
                     "renormalize(x) on an integer image", {"x.shape": pixels.shape,
                                                            "x.dtype": pixels.dtype})


@pytest.mark.points(1)
def test_renormalize_constant(student, rng):
    """renormalize of a constant array returns zeros of the same shape (no NaN)."""
    shape = O.non_square(rng, 2, 7)
    value = float(np.round(rng.uniform(-10, 10), 3))
    x = np.full(shape, value)
    O.assert_matches(student.renormalize(x), np.zeros(shape), "renormalize(constant array)",
                     {"x.shape": shape, "value": value},
                     alternatives=[(np.full(shape, np.nan), "max == min: dividing by zero gives "
                                    "NaN; return zeros for a constant input")])


# =========================================================================== Gabor
@pytest.mark.points(1)
def test_gabor_kernel(student, rng):
    """gabor_kernel follows the course formula on the centred grid (x = columns, y = rows)."""
    for use_defaults in (True, False):
        size = int(rng.choice([5, 7, 9, 11, 13]))
        sigma = float(np.round(rng.uniform(1.0, 4.0), 3))
        theta = float(np.round(rng.uniform(0.1, math.pi - 0.1), 3))
        lambd = float(np.round(rng.uniform(3.0, 10.0), 3))
        if use_defaults:
            gamma, psi = 0.5, 0.0
            got = student.gabor_kernel(size, sigma, theta, lambd)
        else:
            gamma = float(np.round(rng.uniform(0.3, 1.0), 3))
            psi = float(np.round(rng.uniform(-math.pi / 2, math.pi / 2), 3))
            got = student.gabor_kernel(size, sigma, theta, lambd, gamma=gamma, psi=psi)
        params = {"size": size, "sigma": sigma, "theta": theta, "lambd": lambd, "gamma": gamma,
                  "psi": psi}
        O.assert_matches(got, O.gabor_reference(size, sigma, theta, lambd, gamma, psi),
                         "gabor_kernel", params, shape_hint="the kernel is (size, size)",
                         alternatives=[
                             (O.gabor_reference(size, sigma, theta, lambd, gamma, psi, True),
                              "x and y are swapped: x runs along the columns (second index), "
                              "y along the rows (first index)"),
                             (O.gabor_reference(size, sigma, -theta, lambd, gamma, psi),
                              "the rotation has the wrong sign: x' = x cos(theta) + y sin(theta), "
                              "y' = -x sin(theta) + y cos(theta)"),
                             (O.gabor_reference(size, sigma, theta, lambd, 1 / gamma, psi),
                              "gamma multiplies y' inside the exponent: gamma**2 * y'**2"),
                         ])


@pytest.mark.points(1)
def test_gabor_bank(student, rng):
    """gabor_bank stacks n Gabor kernels with theta_i = i*pi/n as (size, size, 1, n)."""
    size = int(rng.choice([5, 7, 9]))
    sigma = float(np.round(rng.uniform(1.0, 3.0), 3))
    lambd = float(np.round(rng.uniform(3.0, 8.0), 3))
    gamma = float(np.round(rng.uniform(0.3, 1.0), 3))
    n = int(rng.integers(2, 7))
    expected = np.stack([O.gabor_reference(size, sigma, i * math.pi / n, lambd, gamma)
                         for i in range(n)], axis=-1)[:, :, None, :]
    O.assert_matches(student.gabor_bank(size, sigma, lambd, n, gamma=gamma), expected,
                     "gabor_bank", {"size": size, "sigma": sigma, "lambd": lambd,
                                    "n_orientations": n, "gamma": gamma},
                     shape_hint="the layer layout is (size, size, 1, n): one input channel, "
                                "n kernels on the last axis",
                     alternatives=[(np.stack([O.gabor_reference(size, sigma, i * math.pi / (n - 1),
                                                                lambd, gamma)
                                              for i in range(n)], axis=-1)[:, :, None, :],
                                    "theta_i = i * pi / n for i = 0 .. n-1 (not pi / (n - 1))")])


# =========================================================================== written part
def _as_int(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return None


@pytest.mark.points(1)
def test_q1_output_shape(student):
    """Q1: output shape of the 16-kernel 5x3 layer, stride 2, padding 1, on a 64x48x3 input."""
    got = student.value("q1_output_shape")
    if isinstance(got, np.ndarray):
        got = got.tolist()
    if not isinstance(got, (tuple, list)) or len(got) != 3 or any(_as_int(v) is None for v in got):
        raise AssertionError(f"q1_output_shape should be a tuple of three ints (H', W', d), "
                             f"got {got!r}")
    if tuple(_as_int(v) for v in got) != (31, 24, 16):
        raise AssertionError(f"q1_output_shape = {tuple(got)} is not right. Apply "
                             "floor((n + 2p - k) / s) + 1 to the height (k = kh) and to the "
                             "width (k = kw) separately; the depth is the number of kernels.")


@pytest.mark.points(1)
def test_q2_same_padding(student):
    """Q2: the zero padding that keeps 28x28 at 28x28 for a 7x7 kernel at stride 1."""
    got = student.value("q2_same_padding")
    if _as_int(got) is None:
        raise AssertionError(f"q2_same_padding should be an int, got {got!r}")
    if _as_int(got) != 3:
        raise AssertionError(f"q2_same_padding = {got!r} is not right: solve "
                             "28 + 2p - 7 + 1 = 28 for p.")


@pytest.mark.points(1)
def test_q3_learned_kernels(student):
    """Q3: why a CNN learns its kernels instead of using fixed Sobel/Gabor filters."""
    got = student.value("q3_choice")
    if not isinstance(got, str) or got.strip().rstrip(".").upper() not in {"A", "B", "C", "D"}:
        raise AssertionError(f'q3_choice should be one letter "A", "B", "C" or "D", got {got!r}')
    if got.strip().rstrip(".").upper() != "B":
        raise AssertionError(f"q3_choice = {got!r} is not the best answer. Think about what "
                             "training optimises, and what a fixed filter bank cannot adapt to.")


# =========================================================================== the rules
BANNED = {"tensorflow": "TensorFlow", "keras": "Keras", "tf_keras": "Keras", "scipy": "SciPy",
          "cv2": "OpenCV", "torch": "PyTorch", "jax": "JAX", "skimage": "scikit-image"}


@pytest.mark.points(1)
def test_numpy_only(answers):
    """The answer cells use NumPy only: no TensorFlow, Keras, SciPy or OpenCV is imported."""
    check_no_imports(answers, BANNED, "use NumPy only (no TensorFlow, Keras, SciPy or OpenCV "
                                      "in your answers); write the operations yourself.")


# function -> the call made in the kernel on copies of the grader's arrays `a` (and `b`)
PURE_CALLS = {
    "pad": "pad(a, 1)", "conv2d": "conv2d(a, b[:, :, 0, 0], padding=1)",
    "conv_layer": "conv_layer(a3, b, padding=1)", "relu": "relu(a)", "max_pool": "max_pool(a)",
    "avg_pool": "avg_pool(a)", "sobel": "sobel(a)", "gradient_magnitude":
    "gradient_magnitude(a, a2)", "gradient_direction": "gradient_direction(a, a2)",
    "renormalize": "renormalize(a)",
}


@pytest.mark.points(1)
def test_inputs_left_unchanged(student, rng):
    """Every function leaves the arrays it is given unchanged (it returns a new array)."""
    a = rng.normal(size=(8, 10))
    a2, a3 = rng.normal(size=(8, 10)), rng.normal(size=(8, 10, 3))
    b = rng.normal(size=(3, 3, 3, 2))
    changed, ran = [], 0
    for name, call in PURE_CALLS.items():
        # the originals go in as arguments too: a lambda's body does not see eval's locals
        expression = (f"(lambda a, a2, a3, b, x, x2, x3, k: ({call}, bool((a == x).all() and "
                      f"(a2 == x2).all() and (a3 == x3).all() and (b == k).all()))[1])("
                      f"x.copy(), x2.copy(), x3.copy(), k.copy(), x, x2, x3, k)")
        try:
            same = student.eval(expression, f"calling {call}", x=a, x2=a2, x3=a3, k=b)
        except Exception:   # noqa: BLE001 - a function that fails is judged by its own test
            continue
        ran += 1
        if not (isinstance(same, (bool, np.bool_)) and bool(same)):
            changed.append(call.replace("a3", "image").replace("a2", "gy").replace("(a", "(x"))
    assert ran, "none of the functions could be called; implement them first"
    assert not changed, (f"{', '.join(changed)} changed the array{'s' if len(changed) > 1 else ''} "
                         "it was given: the instructions ask for a new array (work on "
                         "x.copy() or build the result with np.zeros/np.maximum/...)")

