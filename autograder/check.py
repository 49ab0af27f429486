"""The student side: `cnngrade check NOTEBOOK` runs the assignment's public tests against the
student's own notebook, in the same sandbox the grader uses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autograder.checker import TestResult
from autograder.config import Course
from autograder.errors import CnnGradeError
from autograder.grade import evaluate
from autograder.notebook import read_notebook_file


@dataclass
class CheckResult:
    slug: str
    notebook: Path
    tests: list[TestResult]
    problems: list[str]


def assignment_of(path: Path, course: Course) -> str:
    nb = read_notebook_file(path)
    slug = nb.metadata.get("cnngrade", {}).get("assignment") if isinstance(
        nb.metadata.get("cnngrade"), dict) else None
    if slug in course.slugs():
        return slug
    if path.stem in course.slugs():
        return path.stem
    raise CnnGradeError(f"{path} does not say which assignment it belongs to; use the notebook "
                        "released for your assignment (its file name is the assignment's name).")


def check_notebook(path: Path, course: Course) -> CheckResult:
    path = Path(path)
    slug = assignment_of(path, course)
    assignment = course.assignment(slug)
    if not assignment.public_tests_dir.is_dir():
        raise CnnGradeError(f"'{slug}' has no public tests ({assignment.public_tests_dir}).")
    ev = evaluate(path.read_bytes(), str(path), assignment, assignment.public_tests_dir,
                  layout=course.data)
    return CheckResult(slug, path, ev.tests, ev.problems + [f"grader: {e}" for e in ev.errors])
