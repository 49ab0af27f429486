"""The `student` proxy: the trusted checker's only way into a student's kernel.

A call is sent as code whose arguments are `.npy`/JSON text; the kernel answers with one
display output of a private MIME type holding `.npy`/JSON text, never pickle. Everything the
kernel sends is decoded strictly here, in the trusted process, with size caps: an answer can
only ever be data, so a student's monkeypatching, `__eq__` tricks or printed claims cannot
reach a verdict.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import secrets
from typing import Any

import numpy as np

from .artifacts import MAX_FILE, load_keras_model, read_json, read_scratch_file
from .student_kernel import KernelGone, StudentKernel
from .walls import kernel_environment

MIME = "application/vnd.cnngrade.answer+json"
MAX_ANSWER_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 8

# Runs in the student's kernel. It is resent with every call, so nothing the student defines
# can stand in for it; and what it returns is untrusted data all the same.
_KERNEL_CODE = r'''
def __cnngrade_request(text):
    import base64, io, json
    import numpy
    from IPython.display import display

    def decode(v):
        kind, value = v["t"], v["v"]
        if kind == "json":
            return value
        if kind == "npy":
            return numpy.load(io.BytesIO(base64.b64decode(value)), allow_pickle=False)
        if kind == "tuple":
            return tuple(decode(x) for x in value)
        if kind == "list":
            return [decode(x) for x in value]
        return {k: decode(x) for k, x in value.items()}

    def encode(v, depth=0):
        if depth > 8:
            raise TypeError("the answer is nested too deeply")
        if v is None or type(v) in (bool, int, float, str):
            return {"t": "json", "v": v}
        if isinstance(v, tuple):
            return {"t": "tuple", "v": [encode(x, depth + 1) for x in v]}
        if isinstance(v, list) and not all(isinstance(x, (int, float)) for x in v):
            return {"t": "list", "v": [encode(x, depth + 1) for x in v]}
        if isinstance(v, dict):
            return {"t": "dict", "v": {str(k): encode(x, depth + 1) for k, x in v.items()}}
        array = numpy.asarray(v)
        if array.dtype.hasobject:
            raise TypeError(f"an object of type {type(v).__name__} cannot be read as numbers")
        buffer = io.BytesIO()
        numpy.save(buffer, array, allow_pickle=False)
        return {"t": "npy", "v": base64.b64encode(buffer.getvalue()).decode("ascii")}

    request = json.loads(text)
    name = request["name"]
    namespace = globals()
    try:
        if request["op"] == "eval":
            scope = dict(namespace)
            scope.update({k: decode(v) for k, v in request["kwargs"].items()})
            try:
                value = eval(request["expr"], scope)
            except NameError as exc:   # a name the notebook should have defined
                answer = {"missing": exc.name}
            else:
                answer = {"ok": encode(value)}
        elif request["op"] == "build":
            # a grader-written expression that makes a model, e.g. `fine_tune_all(m)`; the
            # trainable parameter count is recorded at every compile call on the way
            import os
            import keras
            compiles = []

            def recording_compile(self, *args, **kwargs):
                compiles.append(int(sum(int(numpy.prod(v.shape))
                                        for v in self.trainable_weights)))
                return original(self, *args, **kwargs)

            answer = None
            had = "compile" in vars(keras.Model)
            original = keras.Model.compile
            keras.Model.compile = recording_compile
            try:
                scope = dict(namespace)
                scope.update({k: decode(v) for k, v in request["kwargs"].items()})
                target = eval(request["expr"], scope)
            except NameError as exc:
                answer = {"missing": exc.name}
            finally:
                if had:
                    keras.Model.compile = original
                else:
                    del keras.Model.compile
            if answer is None:
                if not callable(getattr(target, "save", None)) or not hasattr(target, "layers"):
                    raise TypeError(f"it gave a {type(target).__name__}, not a Keras model")
                os.makedirs(os.path.dirname(request["path"]), exist_ok=True)
                target.save(request["path"])
                answer = {"ok": encode({"compiles": compiles})}
        elif name not in namespace:
            answer = {"missing": name}
        elif request["op"] == "save":
            import os
            target = namespace[name]
            if not callable(getattr(target, "save", None)) or not hasattr(target, "layers"):
                raise TypeError(f"`{name}` is a {type(target).__name__}, not a Keras model")
            os.makedirs(os.path.dirname(request["path"]), exist_ok=True)
            target.save(request["path"])
            answer = {"ok": encode(None)}
        elif request["op"] == "value":
            answer = {"ok": encode(namespace[name])}
        else:
            args = [decode(a) for a in request["args"]]
            kwargs = {k: decode(v) for k, v in request["kwargs"].items()}
            answer = {"ok": encode(namespace[name](*args, **kwargs))}
    except NotImplementedError:
        answer = {"not_implemented": name}
    except BaseException as exc:
        answer = {"raised": type(exc).__name__, "message": str(exc)[:500]}
    display({MIME: answer}, raw=True)

__cnngrade_request(REQUEST)
del __cnngrade_request
'''


class StudentError(AssertionError):
    """The student's code raised, was missing, or gave an answer that is not plain data."""


def _encode(value: Any, depth: int = 0) -> dict:
    if depth > MAX_DEPTH:
        raise ValueError("argument nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"t": "json", "v": value.item() if isinstance(value, np.generic) else value}
    if isinstance(value, tuple):
        return {"t": "tuple", "v": [_encode(x, depth + 1) for x in value]}
    if isinstance(value, list):
        return {"t": "list", "v": [_encode(x, depth + 1) for x in value]}
    if isinstance(value, dict):
        return {"t": "dict", "v": {str(k): _encode(x, depth + 1) for k, x in value.items()}}
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(value), allow_pickle=False)
    return {"t": "npy", "v": base64.b64encode(buffer.getvalue()).decode("ascii")}


def decode_answer(value: Any, depth: int = 0) -> Any:
    """Untrusted JSON from the kernel -> plain Python/NumPy data, or ValueError."""
    if depth > MAX_DEPTH or not isinstance(value, dict) or set(value) != {"t", "v"}:
        raise ValueError("malformed answer")
    kind, data = value["t"], value["v"]
    if kind == "json":
        if data is None or isinstance(data, (bool, int, float, str)):
            return data
        if isinstance(data, list) and all(isinstance(x, (int, float)) for x in data):
            return data
        raise ValueError("malformed answer")
    if kind == "npy":
        if not isinstance(data, str) or len(data) > MAX_ANSWER_BYTES * 4 // 3 + 4:
            raise ValueError("the answer is too large")
        try:
            array = np.load(io.BytesIO(base64.b64decode(data, validate=True)), allow_pickle=False)
        except (binascii.Error, ValueError, OSError, EOFError) as exc:
            raise ValueError(f"the answer is not a readable array ({exc})") from None
        if not isinstance(array, np.ndarray) or array.dtype.hasobject:
            raise ValueError("the answer is not an array of numbers")
        return array
    if kind in ("tuple", "list") and isinstance(data, list):
        items = [decode_answer(x, depth + 1) for x in data]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict" and isinstance(data, dict):
        return {str(k): decode_answer(x, depth + 1) for k, x in data.items()}
    raise ValueError("malformed answer")


def _describe_args(args: tuple, kwargs: dict) -> str:
    def short(v: Any) -> str:
        if isinstance(v, np.ndarray):
            return f"<array {'x'.join(map(str, v.shape)) or 'scalar'}>"
        text = repr(v)
        return text if len(text) <= 40 else text[:37] + "..."
    parts = [short(a) for a in args] + [f"{k}={short(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


class StudentProxy:
    """`student.conv2d(x, k, stride=2)` runs the student's `conv2d` in their kernel and returns
    its answer as data; `student.value("q1")` returns a variable's value."""

    def __init__(self, kernel: StudentKernel, call_timeout: float):
        self._kernel = kernel
        self._timeout = call_timeout

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        what = f"{name}({_describe_args(args, kwargs)})"
        request = {"op": "call", "name": name, "args": [_encode(a) for a in args],
                   "kwargs": {k: _encode(v) for k, v in kwargs.items()}}
        return self._ask(request, what)

    def value(self, name: str) -> Any:
        return self._ask({"op": "value", "name": name, "args": [], "kwargs": {}}, name)

    def eval(self, expression: str, what: str | None = None, **values: Any) -> Any:
        """Evaluate a grader-written expression among the notebook's names (with `values` bound
        as extra names), e.g. `student.eval("next(test_datagen.flow(x))", x=batch)`. The answer
        is untrusted data, decoded strictly."""
        request = {"op": "eval", "name": "", "expr": expression, "args": [],
                   "kwargs": {k: _encode(v) for k, v in values.items()}}
        return self._ask(request, what or expression)

    def keras_model(self, name: str) -> Any:
        """The notebook's model `name`, saved by its kernel to a `.keras` file and loaded here,
        in the trusted process, with `safe_mode=True`."""
        return load_keras_model(self.keras_model_bytes(name), f"the model `{name}`")

    def keras_model_bytes(self, name: str) -> bytes:
        """The `.keras` file the kernel writes for its model `name` (not yet loaded)."""
        rel = f".cnngrade/{secrets.token_hex(8)}.keras"
        inside = f"{kernel_environment(self._kernel.plan)['HOME']}/{rel}"
        self._ask({"op": "save", "name": name, "path": inside, "args": [], "kwargs": {}},
                  f"saving `{name}`")
        return self.scratch_file(rel)

    def build_model(self, expression: str, what: str | None = None,
                    **values: Any) -> tuple[Any, list[int]]:
        """Evaluate a grader-written expression that makes a model in the notebook's kernel
        (e.g. "fine_tune_all(feature_extraction_model(load_base(), 5))"), save it there and load
        it here with `safe_mode=True`. Returns (model, compiles): the number of trainable
        parameters the model had at each `compile` call made while the expression ran, as the
        kernel reported them (untrusted: used to say *when* layers were frozen, nothing more)."""
        what = what or expression
        data, compiles = self.build_model_bytes(expression, what, **values)
        return load_keras_model(data, f"the model made by {what}"), compiles

    def build_model_bytes(self, expression: str, what: str,
                          **values: Any) -> tuple[bytes, list[int]]:
        """build_model's `.keras` file and compile counts, the file not yet loaded."""
        rel = f".cnngrade/{secrets.token_hex(8)}.keras"
        inside = f"{kernel_environment(self._kernel.plan)['HOME']}/{rel}"
        answer = self._ask({"op": "build", "name": "", "expr": expression, "path": inside,
                            "args": [], "kwargs": {k: _encode(v) for k, v in values.items()}},
                           what)
        counts = np.asarray(answer.get("compiles") if isinstance(answer, dict) else None)
        if counts.ndim != 1 or (counts.size and counts.dtype.kind not in "iu"):
            raise StudentError(f"{what}: the notebook gave a malformed answer.")
        return self.scratch_file(rel), [int(c) for c in counts]

    def saved_model(self, rel: str) -> Any:
        """A `.keras` file the notebook saved itself (e.g. "convnet.keras"), loaded safely."""
        return load_keras_model(self.scratch_file(rel), f"'{rel}'")

    def scratch_file(self, rel: str, cap: int = MAX_FILE) -> bytes:
        """The bytes of a file the notebook left in its working folder (links not followed)."""
        return read_scratch_file(self._kernel.plan.scratch, rel, cap)

    def json_file(self, rel: str) -> Any:
        return read_json(self.scratch_file(rel, 16 * 1024**2), f"'{rel}'")

    def _ask(self, request: dict, what: str) -> Any:
        code = _KERNEL_CODE.replace("MIME", repr(MIME)).replace(
            "REQUEST", repr(json.dumps(request)))
        try:
            outputs = self._kernel.run_code(code, self._timeout)
        except KernelGone as gone:
            raise StudentError(f"{what}: {gone}.") from None
        answers = [o["data"][MIME] for o in outputs
                   if o.get("output_type") == "display_data" and MIME in o.get("data", {})]
        if not answers:
            errors = [o for o in outputs if o.get("output_type") == "error"]
            detail = f" ({errors[0].get('ename')}: {str(errors[0].get('evalue'))[:200]})" \
                if errors else ""
            raise StudentError(f"{what}: the notebook gave no answer{detail}.")
        return self._read(answers[-1], request["name"], what)

    @staticmethod
    def _read(answer: Any, name: str, what: str) -> Any:
        if not isinstance(answer, dict):
            raise StudentError(f"{what}: the notebook gave a malformed answer.")
        name = name or what   # an expression names no single variable
        if "missing" in answer:
            name = str(answer["missing"])[:80] if answer["missing"] else name
            raise StudentError(f"`{name}` is not defined in the notebook; run its cell and keep "
                               "the name given in the assignment.")
        if "not_implemented" in answer:
            raise StudentError(f"`{name}` is not implemented yet (it raises NotImplementedError).")
        if "raised" in answer:
            kind = str(answer.get("raised"))[:80]
            message = str(answer.get("message", ""))[:300]
            raise StudentError(f"{what} raised {kind}: {message}")
        try:
            return decode_answer(answer.get("ok"))
        except ValueError as exc:
            raise StudentError(f"{what}: {exc}.") from None
