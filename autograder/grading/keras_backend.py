"""The Keras backend of the checker (this trusted process): the assignment's `keras_backend`,
the same one its students' kernels get as KERAS_BACKEND, so that a saved model is loaded and
run by the backend it was trained with."""

from __future__ import annotations

import importlib.util
import os
import sys

from ..course.errors import CnnGradeError


def use_backend(name: str) -> None:
    """Make `name` this process's Keras backend: set KERAS_BACKEND before Keras is imported,
    or switch an already imported Keras (keras.config.set_backend reloads it). One clear
    sentence where the backend's package is not installed here."""
    check_backend(name)
    os.environ["KERAS_BACKEND"] = name
    keras = sys.modules.get("keras")
    if keras is None:
        return
    try:
        current = keras.backend.backend()
    except AttributeError:   # a Keras still being imported
        return
    if current == name:
        return
    try:
        keras.config.set_backend(name)
    except ImportError as exc:
        raise CnnGradeError(
            f"The assignment uses Keras's {name} backend, which this machine cannot load "
            f"({exc}); install it here (e.g. pip install {_package(name)}) or grade with "
            "--keras-backend tensorflow.") from None


def check_backend(name: str) -> None:
    """One clear sentence where the backend's package is not installed on this machine."""
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(name, name)
    if importlib.util.find_spec(module) is None:
        raise CnnGradeError(
            f"The assignment uses Keras's {name} backend, but {module} is not installed on "
            f"this machine; install it (pip install {_package(name)}) or grade with "
            "--keras-backend tensorflow.")


def _package(name: str) -> str:
    return {"jax": "jax jaxlib", "torch": "torch"}.get(name, "tensorflow-cpu")
