"""The rules read from the answer cells' source (cnngrade.grading.answer_rules): every way of
importing a module is seen, a cell that is not Python is still read, and an untouched template
answers nothing."""

from __future__ import annotations

import pytest

from cnngrade.grading.answer_rules import check_no_imports, forbidden_imports, imported_modules

BANNED = {"scipy": "SciPy", "tensorflow": "TensorFlow", "keras": "Keras", "cv2": "OpenCV"}


@pytest.mark.parametrize("source, found", [
    ("import scipy.signal", {"scipy"}),
    ("from scipy import ndimage as nd", {"scipy"}),
    ("import numpy as np, cv2 as cv", {"numpy", "cv2"}),
    ("from tensorflow.keras import layers", {"tensorflow"}),
    ("def f(x):\n    import keras\n    return keras", {"keras"}),
    ("signal = __import__('scipy.signal')", {"scipy"}),
    ("import importlib\nk = importlib.import_module('keras')", {"importlib", "keras"}),
    ("from . import helper", set()),
    ("%matplotlib inline\nimport scipy\nx = 1", {"scipy"}),    # not Python: read by line
    ("!pip install opencv-python\nfrom cv2 import filter2D", {"cv2"}),
    ("x = 'import scipy'  # a string, not an import", set()),
])
def test_every_spelling_of_an_import_is_seen(source, found):
    assert imported_modules(source) == found


def test_the_message_names_the_cell_and_the_library():
    answers = {"conv2d": "from scipy import signal", "relu": "import numpy as np"}
    assert forbidden_imports(answers, BANNED) == {"conv2d": ["scipy"]}
    with pytest.raises(AssertionError) as info:
        check_no_imports(answers, BANNED, "use NumPy only.")
    assert str(info.value) == "cell 'conv2d' imports SciPy. The rule is: use NumPy only."
    check_no_imports({"relu": "import numpy as np"}, BANNED, "use NumPy only.")


def test_an_untouched_template_earns_no_rule_points():
    with pytest.raises(AssertionError, match="no answer cell has been changed"):
        check_no_imports({}, BANNED, "use NumPy only.")
