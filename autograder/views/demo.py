"""The embedded default job: release conv-by-hand, collect the bundled sample submissions,
grade them, report, and write each student's feedback page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..course.config import Course
from ..course.errors import CnnGradeError
from ..grading.grade import GradeOutcome, GradeSummary, grade
from ..intake.collect import CollectReport, collect
from ..intake.release import ReleaseResult, release
from .feedback import FeedbackReport, write_feedback
from .report import ClassReport, class_report

DEMO_SLUG = "conv-by-hand"


@dataclass
class DemoResult:
    release: ReleaseResult
    collect: CollectReport
    grade: GradeSummary
    report: ClassReport
    feedback: FeedbackReport


def samples_dir(course: Course, slug: str = DEMO_SLUG):
    return course.solutions_dir / "samples" / slug


def demo(course: Course, workers: int | None = None, slug: str = DEMO_SLUG,
         on_step: Callable[[str], None] | None = None,
         on_start: Callable[[int], None] | None = None,
         on_done: Callable[[GradeOutcome], None] | None = None,
         on_plan: Callable[[str], None] | None = None) -> DemoResult:
    step = on_step or (lambda _message: None)
    course.assignment(slug)   # a clear message for an unknown slug
    if not samples_dir(course, slug).is_dir():
        raise CnnGradeError(f"There are no bundled samples for '{slug}' in "
                            f"{samples_dir(course, slug)}; run scripts/make_samples.py {slug}.")
    step(f"release {slug}")
    released = release(course, slug)
    step(f"collect the sample submissions from {samples_dir(course, slug)}")
    collected = collect(course, slug, samples_dir(course, slug))
    step("grade")
    graded = grade(course, slug, workers=workers, on_start=on_start, on_done=on_done,
                   on_plan=on_plan)
    report = class_report(course, slug)
    step("write the feedback pages")
    return DemoResult(released, collected, graded, report, write_feedback(course, slug))
