"""The trusted side's decoding of what a kernel sends back: data only, strictly."""

from __future__ import annotations

import base64
import io
import pickle

import numpy as np
import pytest

from cnngrade.sandbox.proxy import StudentError, StudentProxy, _encode, decode_answer


def npy(array: np.ndarray, allow_pickle: bool = False) -> str:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return base64.b64encode(buffer.getvalue()).decode()


def test_round_trip_of_plain_data():
    value = (np.arange(6.0).reshape(2, 3), 3, "B", [1.5, 2], {"k": np.int64(4)})
    back = decode_answer(_encode(value))
    assert isinstance(back, tuple) and np.array_equal(back[0], value[0])
    assert back[1:4] == (3, "B", [1.5, 2]) and int(back[4]["k"]) == 4


@pytest.mark.parametrize("answer", [
    {"t": "npy", "v": npy(np.array([object()], dtype=object), allow_pickle=True)},
    {"t": "npy", "v": base64.b64encode(pickle.dumps({"score": 100})).decode()},
    {"t": "npy", "v": "not base64 !!"},
    {"t": "json", "v": {"nested": "dict"}},
    {"t": "pickle", "v": "x"},
    {"t": "json"},
    "just a string",
])
def test_anything_but_data_is_refused(answer):
    with pytest.raises(ValueError):
        decode_answer(answer)


@pytest.mark.parametrize("answer, fragment", [
    ({"missing": "conv2d"}, "`conv2d` is not defined"),
    ({"not_implemented": "conv2d"}, "not implemented yet"),
    ({"raised": "ValueError", "message": "bad shape"}, "raised ValueError: bad shape"),
    ({"ok": {"t": "npy", "v": "@@"}}, "not a readable array"),
    (["not", "a", "dict"], "malformed answer"),
])
def test_student_failures_become_clear_messages(answer, fragment):
    with pytest.raises(StudentError, match=fragment.replace("(", r"\(")):
        StudentProxy._read(answer, "conv2d", "conv2d(<array 3x3>)")
