"""Regrading without re-training: the executed kernel's answers, exported.

While the hidden suite runs, a `Recorder` stands between it and the student proxy and keeps
every answer the kernel gave (values as data, models as their `.keras` files, scratch files as
bytes, refusals as their messages), keyed by the exact question. After a change to the hidden
suite, the next `grade` runs the new suite against a `Replayer` of that record, with the same
seed, instead of executing the notebook again: a test that asks what the old suite asked gets
the kernel's old answer; a test that asks anything new makes the replay fail, and that
submission is executed again in full. So a changed message, threshold or expected value costs
seconds, a new question costs a full run, and the result is the same either way.

The record is exported only where it is small enough (`MAX_RECORD` bytes) and is valid only for
the same submission, the same notebook-side inputs (template, assignment.toml, public files)
and the same environment.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any

from ..sandbox.artifacts import load_keras_model
from ..sandbox.proxy import StudentError, _encode, decode_answer

MAX_RECORD = 64 * 1024**2
FORMAT = 1


class ReplayMiss(StudentError):
    """The suite asked the recorded kernel something it was never asked."""


def _key(method: str, *args: Any, **kwargs: Any) -> str:
    encoded = json.dumps([method, [_encode(a) for a in args],
                          {k: _encode(v) for k, v in sorted(kwargs.items())}], sort_keys=True)
    return hashlib.sha256(encoded.encode()).hexdigest()


class Recorder:
    """The `student` fixture during a real grading: passes every question to `proxy` and keeps
    its answer. `replayable` turns False when something could not be kept."""

    def __init__(self, proxy: Any):
        self._proxy = proxy
        self._entries: dict[str, dict] = {}
        self._blobs: dict[str, bytes] = {}
        self.replayable = True

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    def _keep(self, key: str, ask, store=lambda v: {"data": _encode(v)}):
        try:
            value = ask()
        except AssertionError as exc:   # the student's failure: replayed as the same message
            self._entries[key] = {"raise": str(exc)}
            raise
        except BaseException:
            self.replayable = False
            raise
        try:
            self._entries[key] = store(value)
        except (TypeError, ValueError):
            self.replayable = False
        return value

    def _blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self._blobs[digest] = data
        return digest

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._keep(_key("call", name, *args, **kwargs),
                          lambda: self._proxy.call(name, *args, **kwargs))

    def value(self, name: str) -> Any:
        return self._keep(_key("value", name), lambda: self._proxy.value(name))

    def eval(self, expression: str, what: str | None = None, **values: Any) -> Any:
        return self._keep(_key("eval", expression, what, **values),
                          lambda: self._proxy.eval(expression, what, **values))

    def scratch_file(self, rel: str, cap: int | None = None) -> bytes:
        args = (rel,) if cap is None else (rel, cap)
        return self._keep(_key("scratch_file", *args),
                          lambda: self._proxy.scratch_file(*args),
                          lambda data: {"blob": self._blob(data)})

    def json_file(self, rel: str) -> Any:
        return self._keep(_key("json_file", rel), lambda: self._proxy.json_file(rel))

    def keras_model(self, name: str) -> Any:
        data = self._keep(_key("keras_model", name),
                          lambda: self._proxy.keras_model_bytes(name),
                          lambda data: {"blob": self._blob(data)})
        return load_keras_model(data, f"the model `{name}`")

    def saved_model(self, rel: str) -> Any:
        return load_keras_model(self.scratch_file(rel), f"'{rel}'")

    def build_model(self, expression: str, what: str | None = None,
                    **values: Any) -> tuple[Any, list[int]]:
        what = what or expression
        data, compiles = self._keep(
            _key("build_model", expression, what, **values),
            lambda: self._proxy.build_model_bytes(expression, what, **values),
            lambda pair: {"blob": self._blob(pair[0]), "compiles": pair[1]})
        return load_keras_model(data, f"the model made by {what}"), compiles

    def export(self, meta: dict) -> bytes | None:
        """The record as a zip (index.json + blobs), or None if it cannot be replayed."""
        if not self.replayable or sum(map(len, self._blobs.values())) > MAX_RECORD:
            return None
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("index.json", json.dumps(
                {"format": FORMAT, "meta": meta, "entries": self._entries}))
            for digest, data in self._blobs.items():
                archive.writestr(f"blobs/{digest}", data)
        data = buffer.getvalue()
        return data if len(data) <= MAX_RECORD else None


class Replayer:
    """The `student` fixture during a regrade: answers from a record; `missed` turns True (and
    the question fails) when the suite asks anything the record does not hold."""

    def __init__(self, record: bytes):
        self._archive = zipfile.ZipFile(io.BytesIO(record))
        index = json.loads(self._archive.read("index.json"))
        self.meta: dict = index["meta"]
        self._entries: dict[str, dict] = index["entries"]
        self.missed = False

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    def _answer(self, key: str) -> dict:
        entry = self._entries.get(key)
        if entry is None:
            self.missed = True
            raise ReplayMiss("this question was not asked when the notebook ran; the "
                             "submission is graded again in full")
        if "raise" in entry:
            raise StudentError(entry["raise"])
        return entry

    def _data(self, key: str) -> Any:
        return decode_answer(self._answer(key)["data"])

    def _bytes(self, entry: dict) -> bytes:
        return self._archive.read(f"blobs/{entry['blob']}")

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._data(_key("call", name, *args, **kwargs))

    def value(self, name: str) -> Any:
        return self._data(_key("value", name))

    def eval(self, expression: str, what: str | None = None, **values: Any) -> Any:
        return self._data(_key("eval", expression, what, **values))

    def scratch_file(self, rel: str, cap: int | None = None) -> bytes:
        args = (rel,) if cap is None else (rel, cap)
        return self._bytes(self._answer(_key("scratch_file", *args)))

    def json_file(self, rel: str) -> Any:
        return self._data(_key("json_file", rel))

    def keras_model(self, name: str) -> Any:
        data = self._bytes(self._answer(_key("keras_model", name)))
        return load_keras_model(data, f"the model `{name}`")

    def saved_model(self, rel: str) -> Any:
        return load_keras_model(self.scratch_file(rel), f"'{rel}'")

    def build_model(self, expression: str, what: str | None = None,
                    **values: Any) -> tuple[Any, list[int]]:
        what = what or expression
        entry = self._answer(_key("build_model", expression, what, **values))
        model = load_keras_model(self._bytes(entry), f"the model made by {what}")
        return model, [int(c) for c in entry["compiles"]]

