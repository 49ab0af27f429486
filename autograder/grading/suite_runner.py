"""The trusted side: an assignment's hidden pytest suite, run in the grader's own process
against a `student` proxy. Only what happens here decides a score."""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import sys
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

MAX_MESSAGE = 2000


@dataclass
class TestResult:
    name: str
    description: str
    points: float
    score: float
    status: str          # "passed" | "failed" | "error"
    output: str
    extra: dict | None = None   # e.g. {"tables": [...]}: the student's layers beside the expected

    def as_dict(self) -> dict:
        return asdict(self)


class Feedback:
    """What a test shows beside its verdict in the feedback report: `feedback.table(...)`."""

    def __init__(self) -> None:
        self.tables: list[dict] = []

    def table(self, title: str, columns: list[str], rows: list[list[Any]]) -> None:
        self.tables.append({"title": title, "columns": list(columns),
                            "rows": [[_plain(v) for v in row] for row in rows]})

    def as_extra(self) -> dict | None:
        return {"tables": self.tables} if self.tables else None


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class CheckerPlugin:
    """Gives the suite its fixtures (`student`, `rng`, `feedback`, `course_data`, `assignment`,
    `answers`)
    and the `points` marker, and records each test's outcome."""

    def __init__(self, student: Any, seed: int, context: dict[str, Any] | None = None):
        self._student = student
        self._context = context or {}
        self.seed = seed
        self.results: dict[str, TestResult] = {}
        self.collection_errors: list[str] = []
        self._feedback: dict[str, Feedback] = {}

    @pytest.fixture(scope="session")
    def student(self) -> Any:
        return self._student

    @pytest.fixture(scope="session")
    def course_data(self) -> Any:
        """Where the datasets are (cnngrade.course.data.DataLayout); hidden splits included."""
        return self._context.get("course_data")

    @pytest.fixture(scope="session")
    def assignment(self) -> Any:
        """The assignment being graded (cnngrade.course.config.Assignment)."""
        return self._context.get("assignment")

    @pytest.fixture(scope="session")
    def answers(self) -> dict[str, str]:
        """{grade_id: source} of the submitted answer cells, read in this trusted process
        (cnngrade.grading.answer_rules)."""
        return dict(self._context.get("answers") or {})

    @pytest.fixture
    def feedback(self, request: pytest.FixtureRequest) -> Feedback:
        return self._feedback.setdefault(request.node.nodeid, Feedback())

    @pytest.fixture
    def rng(self, request: pytest.FixtureRequest) -> np.random.Generator:
        # Fresh each grading run (the seed is drawn per submission), distinct per test.
        return np.random.default_rng([self.seed, zlib.crc32(request.node.nodeid.encode())])

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "points(n): points this test is worth")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Any:
        outcome = yield
        report = outcome.get_result()
        name = item.name
        marker = item.get_closest_marker("points")
        points = float(marker.args[0]) if marker and marker.args else 1.0
        doc = (getattr(item, "obj", None).__doc__ or "").strip().splitlines()
        description = doc[0] if doc else name.replace("_", " ")
        if hasattr(item, "callspec"):   # a parametrized test: say which case
            description = f"{description} [{item.callspec.id}]"
        key = item.nodeid
        if report.when == "setup" and report.failed:
            self.results[key] = TestResult(name, description, points, 0.0, "error",
                                           "the grader could not set up this test: "
                                           + _message(call.excinfo))
        elif report.when == "call":
            passed = report.passed
            extra = self._feedback.get(key)
            self.results[key] = TestResult(
                name, description, points, points if passed else 0.0,
                "passed" if passed else "failed", "" if passed else _message(call.excinfo),
                extra.as_extra() if extra else None)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(f"{report.nodeid}: {str(report.longrepr)[-500:]}")


def _message(excinfo: Any) -> str:
    if excinfo is None:
        return ""
    exc = excinfo.value
    if isinstance(exc, AssertionError):
        text = str(exc) or "assertion failed"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + " ..."


@dataclass
class SuiteRun:
    tests: list[TestResult]
    seed: int
    errors: list[str]      # problems of the suite itself (a grader error, not the student's)


def _forget_modules(folder: Path) -> None:
    """Drop the suite's modules from sys.modules: another assignment's file of the same name
    (every public_tests/test_public.py) must not be taken for this one's next time."""
    root = str(Path(folder).resolve())
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) or ""
        if path and str(Path(path).resolve()).startswith(root + os.sep):
            del sys.modules[name]


def run_suite(suite_dir: Path, student: Any, seed: int | None = None,
              context: dict[str, Any] | None = None) -> SuiteRun:
    """Run every test in `suite_dir` against `student`; nothing is printed."""
    seed = secrets.randbits(63) if seed is None else seed
    plugin = CheckerPlugin(student, seed, context)
    args = [str(suite_dir), "-c", os.devnull, "--rootdir", str(suite_dir), "-q",
            "-p", "no:cacheprovider", "-p", "no:randomly", "--import-mode=importlib",
            "--assert=plain",   # a failed check shows its own message, not pytest's rewrite
            "-W", "ignore::DeprecationWarning"]
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            code = pytest.main(args, plugins=[plugin])
    finally:
        _forget_modules(suite_dir)
    errors = list(plugin.collection_errors)
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and not errors:
        errors.append(f"pytest ended with {code!r}: {sink.getvalue()[-500:]}")
    return SuiteRun(list(plugin.results.values()), seed, errors)
