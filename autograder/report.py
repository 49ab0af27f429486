"""What TAs read: the class summary, per-student per-test results and the failures, as data
(the CLI renders it with rich)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from autograder.config import Course
from autograder.gradebook import GradeRow, open_gradebook


@dataclass
class Failure:
    student: str
    test: str
    points: float
    message: str


@dataclass
class ClassReport:
    slug: str
    title: str
    max_score: float
    rows: list[GradeRow]
    ungraded: list[str]
    count: int = 0
    mean: float | None = None
    median: float | None = None
    distribution: list[tuple[str, int]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


def _distribution(percents: list[float]) -> list[tuple[str, int]]:
    buckets = [(f"{lo}–{lo + 9}%" if lo < 90 else "90–100%", lo) for lo in range(0, 100, 10)]
    counts = []
    for label, lo in buckets:
        hi = lo + 10 if lo < 90 else 101
        counts.append((label, sum(1 for p in percents if lo <= p < hi)))
    return counts


def class_report(course: Course, slug: str, student: str | None = None) -> ClassReport:
    assignment = course.assignment(slug)
    book = open_gradebook(course.course_dir)
    try:
        with book.snapshot():   # one committed state, even while a collect runs
            rows = book.grades(slug, student)
            collected = {s.student for s in book.latest(slug, student)}
    finally:
        book.close()
    graded = {row.submission.student for row in rows}
    report = ClassReport(slug, assignment.title, assignment.points, rows,
                         sorted(collected - graded))
    scores = [row.score for row in rows]
    report.count = len(rows)
    if scores:
        report.mean = statistics.fmean(scores)
        report.median = statistics.median(scores)
        top = assignment.points or 1
        report.distribution = _distribution([100 * s / top for s in scores])
    for row in rows:
        for test in row.results.get("tests", []):
            if test.get("status") != "passed":
                report.failures.append(Failure(row.submission.student, test.get("name", "?"),
                                               test.get("max_score", 0), test.get("output", "")))
    return report
