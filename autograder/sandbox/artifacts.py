"""What a student's kernel leaves in its scratch folder, read by the trusted side: without
following symbolic links, with size caps, and a saved Keras model loaded with `safe_mode=True`
(built-in layers only, no Lambda code). Anything malformed is the student's failed check, with
one sentence saying why, never a crash of the grader."""

from __future__ import annotations

import json
import os
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

MAX_FILE = 256 * 1024**2
MAX_UNZIPPED = 1024**3
MAX_CONFIG = 16 * 1024**2


class ArtifactError(AssertionError):
    """The file is missing, a link, too large or unreadable; the message says which."""


def read_scratch_file(scratch: Path, rel: str, cap: int = MAX_FILE) -> bytes:
    """The bytes of `rel` below `scratch`; no component may be a symbolic link."""
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
        raise ArtifactError(f"'{rel}' is not a path inside the notebook's working folder.")
    flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fds: list[int] = []
    try:
        try:
            fds.append(os.open(scratch, flags | os.O_DIRECTORY))
            for part in parts[:-1]:
                fds.append(os.open(part, flags | os.O_DIRECTORY, dir_fd=fds[-1]))
            fd = os.open(parts[-1], flags | os.O_NONBLOCK, dir_fd=fds[-1])
        except FileNotFoundError:
            raise ArtifactError(f"The notebook did not leave '{rel}' in its working folder; "
                                "run the cell that saves it.") from None
        except OSError:   # ELOOP / ENOTDIR: a link or something that is not a folder
            raise ArtifactError(f"'{rel}' is a symbolic link or not a plain file; the grader "
                                "reads only plain files the notebook wrote itself.") from None
        fds.append(fd)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ArtifactError(f"'{rel}' is not a plain file.")
        if info.st_size > cap:
            raise ArtifactError(f"'{rel}' is {info.st_size:,} bytes, more than the "
                                f"{cap:,} the grader reads.")
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(cap + 1)
        if len(data) > cap:
            raise ArtifactError(f"'{rel}' grew beyond {cap:,} bytes while being read.")
        return data
    finally:
        for fd in fds:
            os.close(fd)


def read_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(f"{what} is not valid JSON ({exc}).") from None


def load_keras_model(data: bytes, what: str) -> Any:
    """A `.keras` file's bytes -> a Keras model, loaded in the trusted process in safe mode."""
    with tempfile.TemporaryDirectory(prefix="cnngrade-model-") as folder:
        path = Path(folder) / "model.keras"
        path.write_bytes(data)
        try:
            with zipfile.ZipFile(path) as archive:
                if sum(i.file_size for i in archive.infolist()) > MAX_UNZIPPED:
                    raise ArtifactError(f"{what} unpacks to more than {MAX_UNZIPPED:,} bytes.")
                outside = _code_outside_keras(archive, what)
        except zipfile.BadZipFile:
            raise ArtifactError(f"{what} is not a .keras file (not a zip archive).") from None
        if outside:
            raise ArtifactError(f"{what} names code outside Keras ({outside}), which the grader "
                                "does not load; build the model from Keras's built-in layers "
                                "(no Lambda or custom classes).")
        import keras
        try:
            return keras.saving.load_model(path, safe_mode=True)
        except Exception as exc:   # untrusted content: any failure is the student's
            detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            raise ArtifactError(
                f"{what} could not be loaded by the grader ({type(exc).__name__}: {detail}); "
                "build the model from Keras's built-in layers (no Lambda or custom "
                "classes).") from None


def _keras_function(name: Any) -> bool:
    """A function saved by its name only (`{"module": "builtins", "class_name": "function"}`),
    which Keras looks up among its own losses, metrics and activations (never elsewhere): it
    is one of those."""
    if not isinstance(name, str) or not name.isidentifier():
        return False
    import keras
    return any(callable(getattr(getattr(keras, family), name, None))
               for family in ("losses", "metrics", "activations"))


def _code_outside_keras(archive: zipfile.ZipFile, what: str) -> str | None:
    """The first object in the model's config.json that Keras would look up outside its own
    modules (a custom class, or `os.system` in a forged file), before Keras reads the file.
    safe_mode stops Lambda code; this stops a config naming any other importable callable, and
    any name of Keras's registry of custom objects in this (the trusted) process: Keras looks
    every class's registered name, every function's name and every plain string it
    deserializes (a loss given by name) up there first, so a forged config could reach a
    function or class registered on the trusted side (by a course's own code) and run it."""
    import keras
    try:
        if archive.getinfo("config.json").file_size > MAX_CONFIG:
            return "a config.json larger than any model of this course needs"
        config = json.loads(archive.read("config.json"))
    except KeyError:
        raise ArtifactError(f"{what} is not a .keras file (no config.json).") from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ArtifactError(f"{what} has an unreadable config.json.") from None
    stack, seen = [config], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > 1_000_000:
            return "a config too large to check"
        if isinstance(node, str):
            if keras.saving.get_registered_object(node) is not None:
                return f"{node[:80]}, a name registered on the grader's side"
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            module, name = node.get("module"), node.get("class_name")
            registered = node.get("registered_name")
            if module == "builtins" and name == "function" and _keras_function(node.get("config")):
                # e.g. loss=keras.losses.binary_crossentropy, saved by its name (which Keras
                # still looks up in its registry first)
                stack.extend(v for v in node.values() if isinstance(v, str))
                continue
            if "module" in node and module is not None and (
                    not isinstance(module, str) or not (module == "keras"
                                                        or module.startswith("keras."))):
                return f"{str(module)[:60]}.{str(name)[:60]}"
            if isinstance(registered, str) and ">" in registered:
                return f"the custom class {registered[:80]}"
            stack.extend(node.values())
    return None
