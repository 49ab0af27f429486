"""Exports from the gradebook, all of final grades (`cnngrade.course.policy.final_grades`:
overrides and late penalties applied), one row per graded student (the newest grading of the latest
submission). Students collected but not graded are left out.

Formats:

- csv: cnngrade's own table, `CSV_COLUMNS`. `score` and `percent` are the final grade;
  `auto_score` is the grader's; `late` is the LMS's `_LATE` flag (informational), `days_late`,
  `penalty_percent` and `penalty_points` what the late policy took; `override_points` the sum of
  the overrides' changes and `overridden_tests` the tests in force as `name=points;...`.
- canvas: a Canvas gradebook import file (Grades > Import). See `canvas_csv`.
- moodle: a Moodle "Import grades from CSV" file. See `moodle_csv`.
- gradescope: one Gradescope `results.json` per student. See `gradescope_results`.

Text cells that a spreadsheet would run as a formula (starting with = + - @, a tab or a carriage
return) get a leading `'`. Student ids cannot start so (collect refuses them), but test names,
reasons and configured column names are escaped all the same; numbers are written plainly.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from ..course.config import Course
from ..course.errors import CnnGradeError
from ..course.gradebook import open_gradebook
from ..course.policy import FinalGrade
from ..course.store import atomic_write
from ..grading.overrides import final_grades

CSV_COLUMNS = ["student", "assignment", "score", "max_score", "percent", "status", "late",
               "submitted_at", "graded_at", "submission_sha256", "auto_score", "override_points",
               "overridden_tests", "days_late", "penalty_percent", "penalty_points", "deadline",
               "manual_points", "manual_incomplete"]
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
FORMATS = ("csv", "canvas", "moodle", "gradescope")
TEXT_FORMATS = ("csv", "canvas", "moodle")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# the Canvas zip name `<name>[_LATE]_<id>_<subid>_<file>` (as cnngrade.intake.collect reads it)
CANVAS_NAME = re.compile(r"[^_]+?(?:_LATE)?_(?P<id>[0-9]{1,20})_[0-9]+_.+", re.DOTALL)


def cell(value: object) -> str:
    """A text cell, with a `'` before what a spreadsheet would read as a formula."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def number(value: float) -> str:
    """Points as plain text: at most 4 decimals, no trailing zeros, never "-0"."""
    text = f"{round(float(value), 4) + 0.0:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _writer() -> tuple[io.StringIO, Any]:
    out = io.StringIO()
    return out, csv.writer(out, lineterminator="\n")


def manual_note(answer: dict[str, Any]) -> str:
    """One answer graded by hand (a cell of cnngrade.course.policy.ManualTotal) as the student
    reads it: its points, the rubric items applied (text, points, comment) and the comment,
    never who graded it; one not graded yet says so."""
    if answer["state"] not in ("graded", "carried", "unchanged"):
        unit = "point" if answer["max"] == 1 else "points"
        return f"{answer['cell']}: not graded yet ({number(answer['max'])} {unit}, counted 0)"
    said = {"unchanged": "left as released", "carried": "graded on an earlier, identical "
            "answer"}.get(answer["state"], "graded by hand")
    items = "; ".join(f"{item['points']:+g} {item['text']}"
                      + (f" ({item['comment']})" if item.get("comment") else "")
                      for item in answer.get("applied", []))
    items = f". Rubric: {items}." if items else ""
    comment = answer.get("comment", "")
    comment = (f" Comment: {comment}" if items else f": {comment}") if comment else ""
    return (f"{answer['cell']}, {said}, {number(answer['points'])} of {number(answer['max'])} "
            f"points{items}{comment}")


def student_notes(grade: FinalGrade) -> list[str]:
    """What the student is told about the adjustments: overrides in force (with the reason, not
    who made them), each answer graded by hand (`manual_note`) and the late penalty (last);
    overrides not applied are for TAs only."""
    notes = [f"{o['test']} was reviewed: {number(o['old'])} → {number(o['new'])} points "
             f"({o['reason']})" for o in grade.overrides]
    notes += [manual_note(a) for a in (grade.manual.cells if grade.manual else [])]
    late = grade.late
    if late.days_late:
        days = f"{late.days_late} day{'s' if late.days_late != 1 else ''}"
        cost = {"none": "no penalty", "zero": "the score is 0"}.get(
            late.penalty, f"−{late.percent:g}%, {number(late.points)} points")
        notes.append(f"Submitted {days} after the {'extended ' if late.extended else ''}"
                     f"deadline ({late.deadline}): {cost}.")
    return notes


def graded_grades(course: Course, slug: str, allow_incomplete: bool = False) -> list[FinalGrade]:
    """The final grades to export; refuses (one sentence) while answers graded by hand are left
    to grade, unless `allow_incomplete` (their points then count 0, and the csv says how many
    are left)."""
    grades = final_grades(course, slug)
    left = [g for g in grades if g.manual is not None and g.manual.incomplete]
    if left and not allow_incomplete:
        answers = sum(g.manual.incomplete for g in left if g.manual)
        raise CnnGradeError(f"{answers} answer(s) of {slug} graded by hand are not graded yet "
                            f"({len(left)} student(s)); grade them with `cnngrade manual {slug}`"
                            " or export anyway with --allow-incomplete.")
    return grades


def export(course: Course, slug: str, fmt: str = "csv", allow_incomplete: bool = False) -> str:
    """The text of a csv, canvas or moodle export of `slug` (gradescope: `write_gradescope`)."""
    if fmt not in FORMATS:
        raise CnnGradeError(f"Unknown export format '{fmt}'; use one of: {', '.join(FORMATS)}.")
    if fmt == "gradescope":
        raise CnnGradeError("The gradescope export is one results.json per student; give a "
                            "folder with -o (for example -o gradescope/).")
    grades = graded_grades(course, slug, allow_incomplete)
    if fmt == "canvas":
        return canvas_csv(course, slug, grades)
    if fmt == "moodle":
        return moodle_csv(course, slug, grades)
    return plain_csv(slug, grades)


def plain_csv(slug: str, grades: list[FinalGrade]) -> str:
    out, writer = _writer()
    writer.writerow(CSV_COLUMNS)
    for grade in grades:
        row, sub, late = grade.row, grade.row.submission, grade.late
        tests = ";".join(f"{o['test']}={number(o['new'])}" for o in grade.overrides)
        writer.writerow([cell(sub.student), cell(slug), number(grade.final_score),
                         number(grade.max_score), f"{grade.percent:.1f}", cell(row.status),
                         int(sub.late), cell(sub.submitted_at), cell(row.graded_at),
                         cell(sub.sha256), number(grade.auto_score),
                         number(grade.override_points), cell(tests), late.days_late,
                         f"{late.percent:g}", number(late.points), cell(late.deadline or ""),
                         number(grade.manual.points) if grade.manual else "",
                         grade.manual.incomplete if grade.manual else ""])
    return out.getvalue()


def lms_ids(course: Course) -> dict[str, str]:
    """Student id -> the numeric LMS (Canvas) user id of the student's first zip submission
    (any assignment): the `<id>` of `<name>_<id>_<subid>_<file>`."""
    book = open_gradebook(course.course_dir)
    try:
        rows = book.db.execute("SELECT student, origin FROM submissions WHERE origin LIKE "
                               "'zip:%' ORDER BY id").fetchall()
    finally:
        book.close()
    found: dict[str, str] = {}
    for student, origin in rows:
        match = CANVAS_NAME.fullmatch(re.split(r"[:/\\]", origin)[-1])
        if match and student not in found:
            found[student] = match["id"]
    return found


def canvas_csv(course: Course, slug: str, grades: list[FinalGrade]) -> str:
    """A Canvas gradebook import file (Grades > Import > the CSV), in the layout of Canvas's own
    gradebook export: `Student,ID,SIS User ID,SIS Login ID,Section,<assignment>`, a `Points
    Possible` row, then one row per student.

    Canvas's importer (canvas-lms lib/gradebook_importer.rb) needs a header starting with
    `Student` and `ID` and ending its student columns with `Section`; it finds a student by `ID`
    (the Canvas user id), else by `SIS User ID` or `SIS Login ID`, else by name, and asks the
    instructor to match any it cannot find; the assignment column is found by the id in
    `Title (id)`, else by its exact title, else Canvas offers to create a new assignment.
    Filled here:

    - Student: cnngrade's student id (for a Canvas zip, the `<name>` of its file names);
    - ID: the Canvas user id from the zip file name `<name>_<id>_<subid>_<file>`, for students
      collected from a Canvas bulk download; empty for other sources;
    - SIS User ID / SIS Login ID: the student id, when `[export] canvas_student_id` says that
      cnngrade's ids are those (`"sis_user_id"`, `"sis_login_id"`); empty otherwise;
    - Section: empty (Canvas does not read it on import);
    - the assignment column: `[export.canvas_columns] <slug>`, which should be the header of the
      assignment in Canvas's own export, `Title (assignment id)`; default: the assignment's
      title, matched by name. Its value is the final score, and the Points Possible row holds
      the assignment's maximum.

    The instructor imports the file in Canvas (Grades > Import), checks in the preview that the
    column lands on the matching assignment and that every student was found, and confirms.
    References: Canvas's importer source above; "How do I import grades in the Gradebook?"
    (community.canvaslms.com) and OSU's guide to importing a CSV into Carmen (Canvas),
    https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades
    """
    settings = course.export_settings()
    asg = course.assignment(slug)
    column = settings.canvas_columns.get(slug) or asg.title
    ids = lms_ids(course)
    out, writer = _writer()
    writer.writerow(CANVAS_COLUMNS + [cell(column)])
    top = grades[0].max_score if grades else asg.points   # the manual points included
    writer.writerow(["Points Possible", "", "", "", "", number(top)])
    for grade in grades:
        student = grade.student
        writer.writerow([cell(student), ids.get(student, ""),
                         cell(student) if settings.canvas_student_id == "sis_user_id" else "",
                         cell(student) if settings.canvas_student_id == "sis_login_id" else "",
                         "", number(grade.final_score)])
    return out.getvalue()


def moodle_csv(course: Course, slug: str, grades: list[FinalGrade]) -> str:
    """A file for Moodle's Grades > Import > CSV file: `<user field>,<assignment>,<assignment>
    feedback`, one row per student.

    Moodle's CSV import (grade/import/csv, class gradeimport_csv_load_data) identifies each row's
    user by the column the teacher picks under "Identify user by" ("Map from"), matched against
    the user field picked under "Map to": userid, username, useridnumber or useremail; every other
    column is mapped in the preview to a grade item, to the feedback of one, or ignored. A row
    whose user is not found stops the whole import, so every student id must be a Moodle user.
    The first column is `[export] moodle_user_field`: `username` (default: cnngrade's student id
    is the Moodle username), `idnumber` (the ID number field) or `email` (the id, with
    `@<moodle_email_domain>` appended where it has no `@`). The grade is the final score (points,
    with a `.` decimal point); the feedback column lists the overrides (with their reasons) and
    the late penalty, and is empty when there are none. Moodle's note: map the grade column as
    well as the feedback column of the same item, since an imported feedback column also sets
    that item's grades.

    In Moodle: Grades > Import > CSV file, upload, then map "Map from" = the first column to
    "Map to" = the matching user field, and the assignment columns to the assignment's grade item
    and its feedback. References: MoodleDocs "Grade import"
    (https://docs.moodle.org/311/en/Grade_import); moodle/moodle
    grade/import/csv/classes/load_data.php (map_user_data_with_value).
    """
    settings = course.export_settings()
    title = course.assignment(slug).title
    field = settings.moodle_user_field
    out, writer = _writer()
    writer.writerow([field, cell(title), cell(f"{title} feedback")])
    for grade in grades:
        user = grade.student
        if field == "email" and "@" not in user:
            if not settings.moodle_email_domain:
                raise CnnGradeError(f"{course.config_path}: moodle_user_field = \"email\" but "
                                    f"the student id '{user}' is no email address; set "
                                    "moodle_email_domain in [export] (for example "
                                    "\"uni.example\").")
            user = f"{user}@{settings.moodle_email_domain}"
        writer.writerow([cell(user), number(grade.final_score),
                         cell(" ".join(student_notes(grade)))])
    return out.getvalue()


def gradescope_results(course: Course, slug: str) -> dict[str, dict[str, Any]]:
    """Student id -> a Gradescope autograder `results.json` of the student's final grade.

    The format (https://gradescope-autograders.readthedocs.io/en/latest/specs/): the top-level
    `score` is the final score and overrides the sum of the tests' scores, which is what carries
    the late penalty; `tests[]` (name, score, max_score, status, output, visibility) are the
    grader's, with an overridden test's `score` set to the override (`status` "passed" where that is
    its maximum) and a line in its `output`;
    the top-level `output` ends with the adjustments; `extra_data.cnngrade` records the
    automatic score, the overrides, the late information and the submission's sha256.
    """
    out: dict[str, dict[str, Any]] = {}
    for grade in final_grades(course, slug):
        results = copy.deepcopy(grade.row.results)
        by_name = {o["test"]: o for o in grade.overrides}
        for test in results.get("tests", []):
            override = by_name.get(test.get("name")) if isinstance(test, dict) else None
            if override:
                test["score"] = override["new"]
                if override["new"] >= float(test.get("max_score") or 0):
                    test["status"] = "passed"
                note = (f"Reviewed: {number(override['old'])} → {number(override['new'])} "
                        f"points ({override['reason']}).")
                test["output"] = f"{test.get('output') or ''}\n{note}".lstrip("\n")
        notes = student_notes(grade)
        if notes:
            results["output"] = "\n".join([str(results.get("output") or "").rstrip("\n"),
                                           *notes]).lstrip("\n")
        for answer in (grade.manual.cells if grade.manual else []):   # one test per answer
            waiting = answer["state"] not in ("graded", "carried", "unchanged")
            results.setdefault("tests", []).append({
                "name": f"{answer['cell']} (graded by hand)",
                "score": 0.0 if waiting else answer["points"], "max_score": answer["max"],
                "status": "failed" if waiting or answer["points"] < answer["max"] else "passed",
                "output": manual_note(answer), "visibility": "visible"})
        results["score"] = grade.final_score
        results["max_score"] = grade.max_score
        late = grade.late
        extra = results.get("extra_data")
        results["extra_data"] = {**(extra if isinstance(extra, dict) else {}), "cnngrade": {
            "assignment": slug, "auto_score": grade.auto_score,
            "submission_sha256": grade.row.submission.sha256,
            "submitted_at": grade.row.submission.submitted_at,
            "overrides": [{k: o[k] for k in ("test", "old", "new", "reason", "when")}
                          for o in grade.overrides],
            "manual": None if grade.manual is None else {
                "points": grade.manual.points, "max_points": grade.manual.max_points,
                "incomplete": grade.manual.incomplete,
                "cells": [{k: a[k] for k in ("cell", "points", "max", "state")}
                          for a in grade.manual.cells]},
            "late": {"deadline": late.deadline, "extended": late.extended,
                     "days_late": late.days_late, "penalty_percent": late.percent,
                     "penalty_points": late.points}}}
        out[grade.student] = results
    return out


def write_export(course: Course, slug: str, fmt: str, path: Path,
                 allow_incomplete: bool = False) -> Path:
    """Write the csv, canvas or moodle export of `slug` to `path`, atomically."""
    text = export(course, slug, fmt, allow_incomplete)
    try:
        atomic_write(Path(path), text.encode())
    except OSError as exc:
        raise CnnGradeError(f"Cannot write {exc.filename or path} ({exc.strerror or exc}); "
                            "choose a path you can write to.") from None
    return Path(path)


def write_gradescope(course: Course, slug: str, folder: Path,
                     allow_incomplete: bool = False) -> list[Path]:
    """Write `<folder>/<student>/results.json` for each graded student, each atomically."""
    graded_grades(course, slug, allow_incomplete)   # refuses while manual grading is left
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise CnnGradeError(f"{folder} is a file; the gradescope export writes a folder of "
                            "<student>/results.json, so give a folder with -o.")
    written = []
    for student, results in gradescope_results(course, slug).items():
        if student in ("", ".", "..") or Path(student).name != student or "\\" in student:
            raise CnnGradeError(f"The student id {student!r} cannot be a folder name; rename "
                                "the student and collect again.")
        path = folder / student / "results.json"
        atomic_write(path, (json.dumps(results, indent=2, ensure_ascii=False) + "\n").encode())
        written.append(path)
    return written
