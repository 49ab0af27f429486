"""Independent oracles and teaching assertion helpers for the conv-by-hand hidden suite.

Nothing here comes from the student or from the solution notebook: convolutions are checked
against SciPy's ``correlate2d`` and against NumPy windows (``sliding_window_view`` contracted
by ``einsum``, or reduced by max / mean), which need no deep-learning framework, so the suite
grades the same under any Keras backend; padding against ``np.pad``; the Gabor kernel against
an explicit per-pixel evaluation of the course formula.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
SOBEL_Y = SOBEL_X.T


# --------------------------------------------------------------------------- oracles
def np_pad(image: np.ndarray, p: int, mode: str) -> np.ndarray:
    """Pad the two spatial axes with NumPy's own np.pad ("zero" -> constant 0, "edge" -> edge)."""
    widths = [(p, p), (p, p)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, widths, mode={"zero": "constant", "edge": "edge"}[mode])


def scipy_conv2d(image, kernel, stride=1, padding=0, pad_mode="zero", flip=False):
    """2-D cross-correlation: scipy.signal.correlate2d ('valid') of the padded image, then stride.

    flip=True gives a true convolution (kernel flipped) — used only to diagnose a common mistake.
    """
    padded = np_pad(np.asarray(image, dtype=float), padding, pad_mode) if padding else image
    fn = signal.convolve2d if flip else signal.correlate2d
    full = fn(np.asarray(padded, dtype=float), np.asarray(kernel, dtype=float), mode="valid")
    return full[::stride, ::stride]


def window_conv(image, kernels, stride=1, padding=0, pad_mode="zero") -> np.ndarray:
    """(H, W, C) image, (kh, kw, C, d) kernels -> (H', W', d): every (kh, kw, C) window of the
    padded image (NumPy's sliding_window_view) contracted with each kernel by einsum, then
    strided. A different computation from the loops a student writes, on any Keras backend."""
    image = np.asarray(image, dtype=np.float64)
    kernels = np.asarray(kernels, dtype=np.float64)
    if padding:
        image = np_pad(image, padding, pad_mode)
    kh, kw = kernels.shape[:2]
    windows = sliding_window_view(image, (kh, kw), axis=(0, 1))   # (H', W', C, kh, kw)
    return np.einsum("ijcab,abcd->ijd", windows[::stride, ::stride], kernels)


def window_pool(x, size, stride, kind) -> np.ndarray:
    """Max or average pooling (no padding, the floor formula) of an (H, W) or (H, W, C) array:
    NumPy's max or mean over each size x size window (sliding_window_view), then strided."""
    x = np.asarray(x, dtype=np.float64)
    windows = sliding_window_view(x, (size, size), axis=(0, 1))[::stride, ::stride]
    return {"max": np.max, "avg": np.mean}[kind](windows, axis=(-2, -1))


def gabor_reference(size, sigma, theta, lambd, gamma=0.5, psi=0.0, swap_xy=False) -> np.ndarray:
    """The course's Gabor formula evaluated pixel by pixel (x along columns, y along rows)."""
    h = size // 2
    out = np.empty((size, size))
    c, s = math.cos(theta), math.sin(theta)
    for row in range(size):
        for col in range(size):
            x, y = col - h, row - h
            if swap_xy:
                x, y = y, x
            xr = x * c + y * s
            yr = -x * s + y * c
            out[row, col] = (math.exp(-(xr * xr + gamma * gamma * yr * yr) / (2.0 * sigma * sigma))
                             * math.cos(2.0 * math.pi * xr / lambd + psi))
    return out


def out_size(n: int, k: int, p: int, s: int) -> int:
    """floor((n + 2p - k) / s) + 1."""
    return (n + 2 * p - k) // s + 1


# --------------------------------------------------------------------------- random inputs
def non_square(rng, low: int, high: int) -> tuple[int, int]:
    """Two different ints in [low, high]."""
    a = int(rng.integers(low, high + 1))
    b = a
    while b == a:
        b = int(rng.integers(low, high + 1))
    return a, b


def size_not_dividing(rng, k: int, s: int, low: int, high: int) -> int:
    """An n in [low, high] (n >= k) with (n - k) % s != 0, so the stride does not divide."""
    choices = [n for n in range(max(low, k), high + 1) if (n - k) % s != 0]
    return int(rng.choice(choices))


# --------------------------------------------------------------------------- assertions
def describe(params: dict | None) -> str:
    if not params:
        return ""
    return "; ".join(f"{k}={v}" for k, v in params.items())


def _ctx(params) -> str:
    text = describe(params)
    return f"\n  inputs: {text}" if text else ""


def as_array(got, what: str, params=None) -> np.ndarray:
    """The student's return value as an ndarray, or a failure that says what came back instead."""
    if got is None:
        raise AssertionError(
            f"{what} returned None — is a `return` statement missing?{_ctx(params)}")
    if isinstance(got, np.ndarray):
        return got
    if isinstance(got, (list, tuple)):
        try:
            arr = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            arr = None
        if arr is not None:
            return arr
    raise AssertionError(
        f"{what} should return a NumPy array, but returned a {type(got).__name__}.{_ctx(params)}")


def assert_matches(got, expected, what: str, params=None, *, shape_hint: str = "",
                   alternatives=(), require_float: bool = True, rtol: float = 1e-5,
                   atol: float = 1e-6) -> None:
    """Shape first, then dtype, then values; each failure explains itself.

    alternatives: (array, explanation) pairs for known mistakes; when the student's result
    matches one of them, its explanation is added to the message.
    """
    expected = np.asarray(expected, dtype=float)
    got = as_array(got, what, params)
    ctx = _ctx(params)
    if got.shape != expected.shape:
        msg = f"{what}: wrong output shape — expected {expected.shape}, got {got.shape}.{ctx}"
        for alt, why in alternatives:
            if np.shape(alt) == got.shape and not np.shape(alt) == expected.shape:
                msg += f"\n  hint: {why}"
                break
        else:
            if shape_hint:
                msg += f"\n  hint: {shape_hint}"
        raise AssertionError(msg)
    if require_float and not np.issubdtype(got.dtype, np.floating):
        raise AssertionError(
            f"{what}: returned dtype {got.dtype}, expected a floating-point array (e.g. float64). "
            f"An integer or boolean result truncates values; create the output with a float dtype "
            f"(np.zeros(shape) is float64).{ctx}")
    try:
        got_f = got.astype(float)
    except (TypeError, ValueError):
        raise AssertionError(
            f"{what}: returned an array of {got.dtype} that is not numeric.{ctx}") from None
    scale = max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
    bad = ~np.isclose(got_f, expected, rtol=rtol, atol=atol * scale, equal_nan=False)
    if not bad.any():
        return
    n_bad = int(bad.sum())
    if np.isnan(got_f).any():
        lead = f"{int(np.isnan(got_f).sum())} value(s) are NaN (a division by zero?)"
    else:
        diff = np.abs(got_f - expected)
        idx = np.unravel_index(int(np.argmax(diff)), diff.shape)
        lead = (f"largest difference {diff[idx]:.4g} at index {tuple(int(i) for i in idx)}: "
                f"expected {expected[idx]:.6g}, got {got_f[idx]:.6g}")
    msg = (f"{what}: values differ from the reference — {n_bad} of {expected.size} entries are "
           f"wrong; {lead}.{ctx}")
    for alt, why in alternatives:
        alt = np.asarray(alt, dtype=float)
        if alt.shape == got_f.shape and np.allclose(got_f, alt, rtol=rtol, atol=atol * scale):
            msg += f"\n  hint: {why}"
            break
    raise AssertionError(msg)


def shape_hint(n_h, n_w, kh, kw, p, s) -> str:
    """Explain the expected output size and what the ceiling would give instead."""
    h, w = out_size(n_h, kh, p, s), out_size(n_w, kw, p, s)
    text = (f"H' = floor(({n_h} + 2*{p} - {kh}) / {s}) + 1 = {h} and "
            f"W' = floor(({n_w} + 2*{p} - {kw}) / {s}) + 1 = {w}")
    ch = -(-(n_h + 2 * p - kh) // s) + 1
    cw = -(-(n_w + 2 * p - kw) // s) + 1
    if (ch, cw) != (h, w):
        text += f" (rounding up instead of down would give ({ch}, {cw}): use the floor)"
    return text
