"""What a grade depends on besides the submission, as short hashes: the suite (and the shared
code the suites use), the notebook's execution (template, public files, limits, data) and the
environment. The gradebook caches results by (submission, suite hash, environment hash); a record
of the kernel's answers (cnngrade.grading.replay) is reused only with the same execution and
environment hashes."""

from __future__ import annotations

import hashlib
import json
import platform
import tomllib
from importlib import metadata
from pathlib import Path

from ..course import base_network, dataset_readers
from ..course.config import Assignment
from ..sandbox.walls import sandbox_kind
from . import answer_rules, modelcheck

# code outside the suite folders that the suites run: their shared model checks and answer
# rules, the readers of the hidden splits, the course base network of the transfer-learning task
SHARED_SUITE_CODE = (Path(modelcheck.__file__), Path(answer_rules.__file__),
                     Path(dataset_readers.__file__), Path(base_network.__file__))
NBGRADER_RULES = Path(__file__).with_name("nbgrader_compat.py")   # nbgrader's rules, as applied


def suite_hash(assignment: Assignment) -> str:
    """Everything a grade depends on besides the submission and the environment."""
    digest = hashlib.sha256()
    paths = [assignment.template_dir / "assignment.toml", assignment.solution]
    if assignment.suite_dir.is_dir():
        paths += sorted(p for p in assignment.suite_dir.rglob("*") if p.is_file()
                        and "__pycache__" not in p.parts)
    for rel in assignment.public_files:
        paths.append(assignment.template_dir / rel)
    paths += [NBGRADER_RULES] if assignment.kind == "nbgrader" else list(SHARED_SUITE_CODE)
    for path in paths:   # names relative to their folder, so moving the course changes nothing
        digest.update(f"{path.parent.name}/{path.name}".encode())
        digest.update(_settings(path) if path.name == "assignment.toml" else
                      path.read_bytes() if path.is_file() else b"<missing>")
    digest.update(_backend(assignment))
    return digest.hexdigest()[:16]


def _backend(assignment: Assignment) -> bytes:
    """The Keras backend where it is not the default: `--keras-backend jax` grades anew."""
    return b"" if assignment.keras_backend == "tensorflow" else \
        f"keras_backend={assignment.keras_backend}".encode()


def _settings(path: Path) -> bytes:
    """assignment.toml without its `[manual.*]` rubrics: a rubric changed while grading by hand
    does not grade every submission again (an unreadable file counts as its bytes)."""
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return path.read_bytes() if path.is_file() else b"<missing>"
    table.pop("manual", None)
    return json.dumps(table, sort_keys=True, default=str).encode()


def exec_hash(assignment: Assignment) -> str:
    """What the notebook's execution depends on besides the submission: the template, the
    public files, the limits and the data (not the suite, the points or the thresholds)."""
    digest = hashlib.sha256(repr((assignment.notebook, assignment.gpu, assignment.limits,
                                  assignment.data, assignment.public_files)).encode())
    for path in [assignment.solution, *(assignment.template_dir / r
                                        for r in assignment.public_files)]:
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
    digest.update(_backend(assignment))
    return digest.hexdigest()[:16]


def env_hash() -> str:
    parts = [platform.python_version(), sandbox_kind()]
    for dist in ("cnngrade", "numpy", "scipy", "keras", "tensorflow", "tensorflow-cpu",
                 "jax", "jaxlib", "torch", "ipykernel", "nbclient", "pytest"):
        try:
            parts.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
