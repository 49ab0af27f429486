"""Public tests for output-size: run them with `cnngrade check`.

They use a few small fixed examples. Passing them is a good sign, not a grade: the hidden tests
call your functions on other, random sizes and random layer stacks and compare them with what
real Keras layers (Conv2D, MaxPooling2D, Flatten, Dense) report.
"""

import numpy as np
import pytest


def whole(answer, what):
    """The answer as an int; a clear message when it is not a whole number."""
    number = answer.item() if isinstance(answer, np.ndarray) and answer.size == 1 else answer
    ok = isinstance(number, (int, np.integer)) and not isinstance(number, bool)
    ok = ok or (isinstance(number, float) and number.is_integer())
    assert ok, f"{what} should return an int, got {answer!r}"
    return int(number)


def shape(answer):
    """A shape as a tuple of ints; anything else is returned as it is (and fails the check)."""
    items = answer.tolist() if isinstance(answer, np.ndarray) else answer
    if isinstance(items, (list, tuple)):
        return tuple(int(v) if isinstance(v, (int, float, np.number)) else v for v in items)
    return items


@pytest.mark.points(0)
def test_public_conv_output_size(student):
    """conv_output_size on three small examples (valid, strided, padded)."""
    for args, expected in (((10, 3), 8), ((9, 2, 0, 3), 3), ((6, 3, 1, 1), 6)):
        got = whole(student.conv_output_size(*args), f"conv_output_size{args}")
        assert got == expected, f"conv_output_size{args}: expected {expected}, got {got}"


@pytest.mark.points(0)
def test_public_same_padding(student):
    """same_padding(3) is 1 and same_padding(9) is 4."""
    for k, expected in ((3, 1), (9, 4)):
        got = whole(student.same_padding(k), f"same_padding({k})")
        assert got == expected, f"same_padding({k}): expected {expected}, got {got}"


@pytest.mark.points(0)
def test_public_pool_output_size(student):
    """pool_output_size: 10 -> 5 with the defaults, 9 -> 4 (floor), 9 with pool 3, stride 1 -> 7."""
    for args, expected in (((10,), 5), ((9,), 4), ((9, 3, 1), 7)):
        got = whole(student.pool_output_size(*args), f"pool_output_size{args}")
        assert got == expected, f"pool_output_size{args}: expected {expected}, got {got}"


@pytest.mark.points(0)
def test_public_params(student):
    """conv2d_params(3, 3, 8) is 224 and dense_params(100, 10) is 1010."""
    got = whole(student.conv2d_params(3, 3, 8), "conv2d_params(3, 3, 8)")
    assert got == 224, f"conv2d_params(3, 3, 8): expected (3*3*3 + 1)*8 = 224, got {got}"
    got = whole(student.dense_params(100, 10), "dense_params(100, 10)")
    assert got == 1010, f"dense_params(100, 10): expected (100 + 1)*10 = 1010, got {got}"


TINY_INPUT = (10, 12, 2)
TINY_LAYERS = [{"type": "conv", "filters": 4, "kernel": 3},
               {"type": "pool", "size": 2},
               {"type": "flatten"},
               {"type": "dense", "units": 3}]


@pytest.mark.points(0)
def test_public_tiny_network(student):
    """A tiny network on a 10x12x2 input: shapes and parameter counts per layer."""
    shapes = [shape(s) for s in student.network_shapes(TINY_INPUT, TINY_LAYERS)]
    assert shapes == [(8, 10, 4), (4, 5, 4), (80,), (3,)], \
        f"network_shapes: expected [(8, 10, 4), (4, 5, 4), (80,), (3,)], got {shapes}"
    params = [int(v) for v in student.network_params(TINY_INPUT, TINY_LAYERS)]
    assert params == [76, 0, 0, 243], f"network_params: expected [76, 0, 0, 243], got {params}"


@pytest.mark.points(0)
def test_public_multiplications(student):
    """A 3x3 "same" convolution of 4x4x2 to 5 channels, and with a 1x1 bottleneck to 1 channel."""
    got = whole(student.conv_multiplications(4, 4, 2, 3, 5), "conv_multiplications(4, 4, 2, 3, 5)")
    assert got == 1440, \
        f"conv_multiplications(4, 4, 2, 3, 5): expected 4*4*5 * 3*3*2 = 1440, got {got}"
    got = whole(student.bottleneck_multiplications(4, 4, 2, 1, 3, 5),
                "bottleneck_multiplications(4, 4, 2, 1, 3, 5)")
    assert got == 752, ("bottleneck_multiplications(4, 4, 2, 1, 3, 5): expected "
                        f"4*4*1 * 2 + 4*4*5 * 3*3*1 = 752, got {got}")


@pytest.mark.points(0)
def test_public_answers_are_set(student):
    """The written answers exist and have the right type (not whether they are right)."""
    for name, length in (("q1_mnist_sizes", 6), ("q2_cats_dogs_sizes", 9)):
        sizes = shape(student.value(name))
        assert isinstance(sizes, tuple) and len(sizes) == length, f"{name}: a list of {length} ints"
    whole(student.value("q3_flatten_features"), "q3_flatten_features")
