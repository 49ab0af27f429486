"""Overrides as the CLI and the web desk make them: cnngrade.course.policy records the change,
and the outcome's final grade is the whole final grade, with the answers graded by hand counted
(the course layer cannot read them: they need the released template and the store)."""

from __future__ import annotations

import dataclasses

from ..course import policy
from ..course.config import Course
from ..course.policy import FinalGrade, OverrideOutcome
from .manual import totals


def final_grades(course: Course, slug: str, student: str | None = None) -> list[FinalGrade]:
    """cnngrade.course.policy.final_grades with the answers graded by hand counted."""
    return policy.final_grades(course, slug, student, manual=totals(course, slug, student))


def _whole(course: Course, slug: str, done: OverrideOutcome) -> OverrideOutcome:
    grade = final_grades(course, slug, done.grade.student)
    return dataclasses.replace(done, grade=grade[0]) if grade else done


def set_override(course: Course, slug: str, student: str, test: str, points: float,
                 reason: str, who: str | None = None) -> OverrideOutcome:
    """cnngrade.course.policy.set_override; the outcome's grade counts the manual answers."""
    return _whole(course, slug, policy.set_override(course, slug, student, test, points,
                                                    reason, who))


def clear_override(course: Course, slug: str, student: str, test: str, reason: str,
                   who: str | None = None) -> OverrideOutcome:
    """cnngrade.course.policy.clear_override; the outcome's grade counts the manual answers."""
    return _whole(course, slug, policy.clear_override(course, slug, student, test, reason, who))
