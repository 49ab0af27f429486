"""Public tests for conv-by-hand: run them with `cnngrade check`.

They use small fixed examples from the lecture. Passing them is a good sign, not a grade: the
hidden tests call your functions on other, random inputs (other sizes, strides, paddings,
channels and values) and compare them with an independent reference.
"""

import math

import numpy as np
import pytest

EXAMPLE = np.array([[3, 0, 1, 2, 7, 4],
                    [1, 5, 8, 9, 3, 1],
                    [2, 7, 2, 5, 1, 3],
                    [0, 1, 3, 1, 7, 8],
                    [4, 2, 1, 6, 2, 8],
                    [2, 4, 5, 2, 3, 9]], dtype=float)
VERTICAL_EDGE = np.array([[1, 0, -1],
                          [1, 0, -1],
                          [1, 0, -1]], dtype=float)


def check(got, expected, what):
    """Shape first, then values, with a readable message."""
    expected = np.asarray(expected, dtype=float)
    assert isinstance(got, np.ndarray), \
        f"{what} should return a NumPy array, got {type(got).__name__}"
    assert got.shape == expected.shape, f"{what}: expected shape {expected.shape}, got {got.shape}"
    assert np.issubdtype(got.dtype, np.floating), f"{what}: expected a float array, got {got.dtype}"
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9,
                               err_msg=f"{what}: values differ (expected, then yours)")


@pytest.mark.points(0)
def test_public_pad(student):
    """pad: zero and edge padding of a small 2x3 image by one pixel."""
    img = np.array([[1.0, 2.0, 3.0],
                    [4.0, 5.0, 6.0]])
    check(student.pad(img, 1, mode="zero"),
          [[0, 0, 0, 0, 0],
           [0, 1, 2, 3, 0],
           [0, 4, 5, 6, 0],
           [0, 0, 0, 0, 0]], 'pad(img, 1, mode="zero")')
    check(student.pad(img, 1, mode="edge"),
          [[1, 1, 2, 3, 3],
           [1, 1, 2, 3, 3],
           [4, 4, 5, 6, 6],
           [4, 4, 5, 6, 6]], 'pad(img, 1, mode="edge")')
    check(student.pad(np.ones((2, 3, 4)), 2), np.pad(np.ones((2, 3, 4)), ((2, 2), (2, 2), (0, 0))),
          "pad of a (2, 3, 4) image by 2 (channels are not padded)")


@pytest.mark.points(0)
def test_public_conv2d_worked_example(student):
    """conv2d: the lecture's 6x6 image with the vertical-edge kernel."""
    check(student.conv2d(EXAMPLE, VERTICAL_EDGE),
          [[-5, -4, 0, 8],
           [-10, -2, 2, 3],
           [0, -2, -4, -7],
           [-3, -2, -3, -16]], "conv2d(EXAMPLE, VERTICAL_EDGE)")


@pytest.mark.points(0)
def test_public_conv2d_stride_and_padding(student):
    """conv2d: stride 2 keeps every second position; padding 1 with stride 2 gives 3x3."""
    check(student.conv2d(EXAMPLE, VERTICAL_EDGE, stride=2), [[-5, 0], [0, -4]],
          "conv2d(EXAMPLE, VERTICAL_EDGE, stride=2)")
    got = student.conv2d(EXAMPLE, VERTICAL_EDGE, stride=2, padding=1)
    assert got.shape == (3, 3), f"stride 2, padding 1: expected shape (3, 3), got {got.shape}"


@pytest.mark.points(0)
def test_public_conv_layer_shape(student):
    """conv_layer: four (3, 2, 2) kernels of ones on a (5, 7, 2) image of ones."""
    check(student.conv_layer(np.ones((5, 7, 2)), np.ones((3, 2, 2, 4))), np.full((3, 6, 4), 12.0),
          "conv_layer(ones (5, 7, 2), ones (3, 2, 2, 4))")


@pytest.mark.points(0)
def test_public_relu_and_pooling(student):
    """relu, max_pool and avg_pool on the lecture's 4x4 example."""
    check(student.relu(np.array([-2.0, -0.5, 0.0, 1.5])), [0, 0, 0, 1.5], "relu")
    x = np.array([[1, 3, 2, 1],
                  [2, 9, 1, 1],
                  [1, 3, 2, 3],
                  [5, 6, 1, 2]], dtype=float)
    check(student.max_pool(x), [[9, 2], [6, 3]], "max_pool(x) (size 2)")
    check(student.avg_pool(x), [[3.75, 1.25], [3.75, 2.0]], "avg_pool(x) (size 2)")


@pytest.mark.points(0)
def test_public_sobel_and_gradients(student):
    """sobel on a vertical step edge; gradient magnitude and direction of simple vectors."""
    step = np.zeros((5, 6))
    step[:, 3:] = 1.0
    gx, gy = student.sobel(step)
    check(gx, [[0, 4, 4, 0]] * 3, "gx of a dark-to-bright vertical edge")
    check(gy, np.zeros((3, 4)), "gy of a vertical edge")
    check(student.gradient_magnitude(np.array([3.0, 0.0]), np.array([4.0, 2.0])), [5.0, 2.0],
          "gradient_magnitude")
    check(student.gradient_direction(np.array([0.0, -1.0]), np.array([1.0, 0.0])),
          [math.pi / 2, math.pi], "gradient_direction (radians)")


@pytest.mark.points(0)
def test_public_renormalize(student):
    """renormalize maps [2, 4, 6] to [0, 0.5, 1] and a constant array to zeros."""
    check(student.renormalize(np.array([2.0, 4.0, 6.0])), [0.0, 0.5, 1.0], "renormalize([2, 4, 6])")
    check(student.renormalize(np.full((2, 2), 7.0)), np.zeros((2, 2)), "renormalize(constant)")


@pytest.mark.points(0)
def test_public_gabor(student):
    """gabor_kernel is (size, size) with value 1 at the centre for psi = 0; the bank's layout."""
    g = student.gabor_kernel(5, 2.0, 0.0, 4.0)
    assert isinstance(g, np.ndarray) and g.shape == (5, 5), "gabor_kernel(5, ...) should be (5, 5)"
    assert abs(g[2, 2] - 1.0) < 1e-9, f"the centre (x = y = 0) should be 1, got {g[2, 2]}"
    # x runs along the columns: g[2, 4] is x = 2, y = 0, so x' = 2 and y' = 0 for theta = 0
    assert abs(g[2, 4] - math.exp(-4 / 8) * math.cos(math.pi)) < 1e-9, \
        f"g[2, 4] (x = 2, y = 0) should be exp(-4/8) * cos(2*pi*2/4) = -0.6065, got {g[2, 4]:.4f}"
    bank = student.gabor_bank(5, 2.0, 4.0, 3)
    assert isinstance(bank, np.ndarray) and bank.shape == (5, 5, 1, 3), \
        f"gabor_bank(5, ..., n_orientations=3) should be (5, 5, 1, 3), got {np.shape(bank)}"
    check(bank[:, :, 0, 0], g, "gabor_bank(...)[:, :, 0, 0] (theta = 0)")


@pytest.mark.points(0)
def test_public_answers_are_set(student):
    """The written answers exist and have the right type (not whether they are right)."""
    q1 = student.value("q1_output_shape")
    if isinstance(q1, np.ndarray):
        q1 = q1.tolist()
    assert isinstance(q1, (tuple, list)) and len(q1) == 3, "q1_output_shape: a tuple of 3 ints"
    assert isinstance(student.value("q2_same_padding"), int), "q2_same_padding: an int"
    q3 = student.value("q3_choice")
    assert isinstance(q3, str) and q3.strip().upper() in {"A", "B", "C", "D"}, \
        'q3_choice: one letter, "A" to "D"'
