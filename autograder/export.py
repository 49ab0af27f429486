"""Exports from the gradebook. CSV: `student,assignment,score,max_score,...`."""

from __future__ import annotations

import csv
import io

from autograder.config import Course
from autograder.errors import CnnGradeError
from autograder.gradebook import open_gradebook

CSV_COLUMNS = ["student", "assignment", "score", "max_score", "percent", "status", "late",
               "submitted_at", "graded_at", "submission_sha256"]
FORMATS = ("csv",)


def export(course: Course, slug: str, fmt: str = "csv") -> str:
    if fmt not in FORMATS:
        raise CnnGradeError(f"Unknown export format '{fmt}'; use one of: {', '.join(FORMATS)}.")
    course.assignment(slug)
    book = open_gradebook(course.course_dir)
    try:
        rows = book.grades(slug)
    finally:
        book.close()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        sub = row.submission
        percent = 100 * row.score / row.max_score if row.max_score else 0.0
        writer.writerow([sub.student, slug, f"{row.score:g}", f"{row.max_score:g}",
                         f"{percent:.1f}", row.status, int(sub.late), sub.submitted_at,
                         row.graded_at, sub.sha256])
    return out.getvalue()
