"""Final grades: the automatic score, with the TAs' overrides and the late penalty applied.

Overrides (`cnngrade override`, `set_override` / `clear_override`) set the points of one test for
one student's latest graded submission. Every change is a new row of the gradebook's append-only
audit trail (who, when, the submission's sha256, the test, the points before and after, the
reason); a later override of the same test supersedes the earlier one, and a clear returns the
test to its automatic points, each by a new row. An override belongs to the submission it was
made for: when the student submits again, it does not carry over to the new file (which may
differ just where it was judged); `FinalGrade.stale_overrides` lists it, and the TA repeats it
with `cnngrade override` where it still holds. A regrade of the same file keeps it.

The late penalty follows the course's `[late]` settings (see `cnngrade.course.config`). The
deadline is the student's extension where one is given, else the assignment's; the grace period
moves it later. A submission is late by the time from that moment to its `submitted_at` (recorded
at collect: the LMS or exchange time stamp, or a folder file's modification time), counted in
whole days rounded up: a minute late is one day late, 24 hours and a minute two. Penalties:

- none: nothing off;
- zero: a late submission scores 0;
- per-day: percent_per_day for each day late, at most max_percent, of the maximum score
  (deduct_from = "max_score", the default) or of the score after overrides ("score").

The final score is never below 0 nor above the maximum. The LMS `_LATE` flag of a submission
(`Submission.late`) is informational only: the time stamp decides.

Order: overrides first (the test points after review), then the late penalty on that score.
"""

from __future__ import annotations

import getpass
import math
import os
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .config import Course, LatePolicy
from .errors import CnnGradeError
from .gradebook import Gradebook, GradeRow, Override, open_gradebook

DAY = timedelta(days=1)
MAX_REASON = 500   # characters


@dataclass(frozen=True)
class LateInfo:
    """How late a submission was and what that cost."""
    penalty: str                  # the policy: "none" | "zero" | "per-day"
    deadline: str | None          # ISO 8601, the deadline that held (extension or assignment's)
    extended: bool                # the deadline is the student's extension
    grace_minutes: float
    submitted_at: str
    days_late: int                # whole days after deadline + grace, rounded up; 0: on time
    percent: float                # percent off (of the max score or of the score, as set)
    points: float                 # points off, as applied (never more than the score had)


@dataclass(frozen=True)
class ManualTotal:
    """A student's answers graded by hand (cnngrade.grading.manual.totals)."""
    points: float                 # the points that count (graded, carried over, unchanged)
    max_points: float
    incomplete: int               # answers a person must still grade (ungraded, stale, empty)
    cells: list[dict[str, Any]] = field(default_factory=list)  # cell, points, max, state, ...


@dataclass(frozen=True)
class FinalGrade:
    row: GradeRow                 # the newest grading of the student's latest submission
    auto_score: float             # the grader's score
    max_score: float
    overrides: list[dict[str, Any]]        # in force: test, old, new, reason, who, when, id
    stale_overrides: list[dict[str, Any]]  # made for another submission or a missing test
    override_points: float        # what the overrides changed in all (new - old, summed)
    late: LateInfo
    final_score: float
    adjustments: list[dict[str, Any]] = field(default_factory=list)   # kind, text, points
    manual: ManualTotal | None = None   # the answers graded by hand, where the notebook has any

    @property
    def student(self) -> str:
        return self.row.submission.student

    @property
    def percent(self) -> float:
        return 100 * self.final_score / self.max_score if self.max_score else 0.0


def _points(value: float) -> str:
    value = round(value, 4) + 0.0   # + 0.0: no "-0"
    return f"{value:g}"


def _aware(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def days_late(submitted: datetime, deadline: datetime, grace: timedelta) -> int:
    """Whole days from deadline + grace to `submitted`, rounded up; 0 when not after it."""
    late_by = submitted - (deadline + grace)
    if late_by <= timedelta(0):
        return 0
    return math.ceil(late_by / DAY)


def penalty_percent(policy: LatePolicy, days: int) -> float:
    if days <= 0 or policy.penalty == "none":
        return 0.0
    if policy.penalty == "zero":
        return 100.0
    return min(days * policy.percent_per_day, policy.max_percent)


def late_info(policy: LatePolicy, student: str, submitted_at: str, score: float,
              max_score: float) -> LateInfo:
    """The late penalty of a submission of `student` at `submitted_at` that scored `score`."""
    deadline, extended = policy.deadline_for(student)
    submitted = _aware(submitted_at)
    days = days_late(submitted, deadline, policy.grace) if deadline and submitted else 0
    percent = penalty_percent(policy, days)
    base = max_score if policy.deduct_from == "max_score" and policy.penalty == "per-day" \
        else score
    points = min(max(score, 0.0), base * percent / 100) if percent else 0.0
    return LateInfo(policy.penalty, deadline.isoformat() if deadline else None, extended,
                    policy.grace.total_seconds() / 60, submitted_at, days, percent,
                    round(points, 4))


def _as_dict(override: Override, auto: float | None) -> dict[str, Any]:
    return {"test": override.test, "old": auto if auto is not None else override.old_points,
            "new": override.new_points, "reason": override.reason, "who": override.who,
            "when": override.made_at, "id": override.id, "sha256": override.sha256}


def in_force(trail: list[Override]) -> dict[tuple[str, str], Override]:
    """(sha256, test) -> the newest override row where it was not a clear."""
    newest: dict[tuple[str, str], Override] = {}
    for override in trail:   # oldest first
        newest[(override.sha256, override.test)] = override
    return {key: o for key, o in newest.items() if o.new_points is not None}


def _final(row: GradeRow, policy: LatePolicy, trail: list[Override],
           manual: ManualTotal | None = None) -> FinalGrade:
    sub = row.submission
    tests = {t.get("name"): t for t in row.results.get("tests", []) if isinstance(t, dict)}
    applied: list[dict[str, Any]] = []
    stale: list[dict[str, Any]] = []
    adjustments: list[dict[str, Any]] = []
    delta = 0.0
    for (sha, test), override in sorted(in_force(trail).items(), key=lambda kv: kv[1].id):
        if sha == sub.sha256 and test in tests:
            auto = float(tests[test].get("score", 0.0))
            entry = _as_dict(override, auto)
            applied.append(entry)
            change = float(override.new_points or 0.0) - auto
            delta += change
            adjustments.append({
                "kind": "override", "points": round(change, 4),
                "text": f"{test}: {_points(auto)} → {_points(override.new_points or 0.0)} "
                        f"points by {override.who} on {override.made_at} ({override.reason})"})
        else:
            entry = _as_dict(override, None)
            stale.append(entry)
            why = ("an earlier submission" if sha != sub.sha256
                   else "this submission, but the test is no longer in its results")
            adjustments.append({
                "kind": "override", "points": 0.0,
                "text": f"not applied: the override of {test} to "
                        f"{_points(override.new_points or 0.0)} points by {override.who} on "
                        f"{override.made_at} was made for {why} (sha256 {sha[:12]}); repeat it "
                        "with cnngrade override if it still holds"})
    max_score = float(row.max_score)
    reviewed = min(max(float(row.score) + delta, 0.0), max_score) if max_score > 0 else \
        max(float(row.score) + delta, 0.0)
    if manual is not None:   # final = automatic (with overrides) + manual, then the late penalty
        max_score += manual.max_points
        reviewed += manual.points
        left = (f"; {manual.incomplete} answer{'s' if manual.incomplete != 1 else ''} still to "
                "grade (counted 0 until graded)") if manual.incomplete else ""
        adjustments.append({"kind": "manual", "points": round(manual.points, 4),
                            "text": f"answers graded by hand: {_points(manual.points)} of "
                                    f"{_points(manual.max_points)} points{left}"})
    late = late_info(policy, sub.student, sub.submitted_at, reviewed, max_score)
    if late.days_late:
        where = "extended deadline" if late.extended else "deadline"
        grace = f" + {late.grace_minutes:g} min grace" if late.grace_minutes else ""
        cost = {"none": "no penalty", "zero": "scored 0"}.get(
            late.penalty, f"−{late.percent:g}% ({_points(late.points)} points)")
        adjustments.append({
            "kind": "late", "points": -late.points,
            "text": f"submitted {sub.submitted_at}, {late.days_late} day"
                    f"{'s' if late.days_late != 1 else ''} after the {where} {late.deadline}"
                    f"{grace}: {cost}"})
    elif late.deadline and _aware(sub.submitted_at) is None:
        adjustments.append({"kind": "late", "points": 0.0,
                            "text": f"the submission time {sub.submitted_at!r} cannot be read; "
                                    "no late penalty was applied"})
    final = round(max(reviewed - late.points, 0.0), 4) + 0.0
    return FinalGrade(row, float(row.score), max_score, applied, stale, round(delta, 4), late,
                      final, adjustments, manual)


def final_grades(course: Course, slug: str, student: str | None = None,
                 manual: dict[str, ManualTotal] | None = None) -> list[FinalGrade]:
    """The final grade of each graded student of `slug` (one student's where given): the
    automatic score with the overrides in force, plus the answers graded by hand (`manual`,
    from cnngrade.grading.manual.totals), then the late penalty."""
    course.assignment(slug)
    policy = course.late_policy(slug)
    if student is not None:
        student = unicodedata.normalize("NFC", student)
    book = open_gradebook(course.course_dir)
    try:
        with book.snapshot():   # the grades and overrides of one committed state
            rows = book.grades(slug, student)
            trail = book.overrides(slug, student)
    finally:
        book.close()
    by_student: dict[str, list[Override]] = {}
    for override in trail:
        by_student.setdefault(override.student, []).append(override)
    manual = manual or {}
    return [_final(row, policy, by_student.get(row.submission.student, []),
                   manual.get(row.submission.student)) for row in rows]


def override_history(course: Course, slug: str, student: str | None = None) -> list[Override]:
    """The audit trail of `slug`'s overrides (one student's where given), oldest first."""
    course.assignment(slug)
    book = open_gradebook(course.course_dir)
    try:
        return book.overrides(slug, None if student is None
                              else unicodedata.normalize("NFC", student))
    finally:
        book.close()


# -- making overrides ----------------------------------------------------------------------------

def whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no USER/LOGNAME and no passwd entry (getpass raises OSError or KeyError)
        return f"uid {os.getuid()}"


def _reason(reason: str | None) -> str:
    text = " ".join((reason or "").split())
    if not text:
        raise CnnGradeError("An override needs a reason; give it with --reason \"...\" (it is "
                            "kept in the gradebook's audit trail).")
    if len(text) > MAX_REASON or not text.isprintable():
        raise CnnGradeError(f"The reason must be one line of at most {MAX_REASON} printable "
                            "characters; shorten it.")
    return text


def _target(book: Gradebook, slug: str, student: str, test: str) -> tuple[GradeRow, dict]:
    """The student's latest graded submission and the test's result in it."""
    rows = book.grades(slug, student)
    if not rows:
        if book.latest(slug, student):
            raise CnnGradeError(f"The latest submission of '{student}' for '{slug}' is not "
                                f"graded yet; run cnngrade grade {slug} --student {student} "
                                "first.")
        raise CnnGradeError(f"No submission of '{student}' for '{slug}'; check the student id "
                            f"(cnngrade report {slug} lists the students).")
    row = rows[0]
    tests = {t.get("name"): t for t in row.results.get("tests", []) if isinstance(t, dict)}
    if test not in tests:
        names = (", ".join(sorted(str(n) for n in tests)) if tests
                 else f"none, its grading ended as {row.status}")
        raise CnnGradeError(f"The latest submission of '{student}' for '{slug}' has no test "
                            f"'{test}' (its tests: {names}); give one of its test names.")
    return row, tests[test]


@dataclass(frozen=True)
class OverrideOutcome:
    override: Override            # the row added to the audit trail
    previous: float               # the test's points before (automatic or earlier override)
    auto: float                   # the test's automatic points
    max_points: float
    grade: FinalGrade             # the student's final grade afterwards


def _change(course: Course, slug: str, student: str, test: str, points: float | None,
            reason: str | None, who: str | None) -> OverrideOutcome:
    course.assignment(slug)
    course.late_policy(slug)   # a mistake in [late] is told before anything is written
    student = unicodedata.normalize("NFC", student)
    reason = _reason(reason)
    book = open_gradebook(course.course_dir)
    try:
        with book.transaction():   # no grading or other override in between
            row, result = _target(book, slug, student, test)
            sha = row.submission.sha256
            auto = float(result.get("score", 0.0))
            top = float(result.get("max_score", 0.0))
            current = in_force(book.overrides(slug, student)).get((sha, test))
            previous = float(current.new_points) if current and current.new_points is not None \
                else auto
            if points is None:
                if current is None:
                    raise CnnGradeError(f"There is no override of {test} in force for the "
                                        f"latest submission of '{student}' for '{slug}', so "
                                        "there is nothing to clear.")
            elif not math.isfinite(points) or not 0 <= points <= top:
                raise CnnGradeError(f"--points {points:g} is outside 0 to {top:g}, the points "
                                    f"{test} is worth; give a number in that range.")
            added = book.add_override(assignment=slug, student=student, sha256=sha, test=test,
                                      old_points=previous, new_points=points, reason=reason,
                                      who=who or whoami())
    finally:
        book.close()
    grade = final_grades(course, slug, student)[0]
    return OverrideOutcome(added, previous, auto, top, grade)


def set_override(course: Course, slug: str, student: str, test: str, points: float,
                 reason: str, who: str | None = None) -> OverrideOutcome:
    """Give `test` `points` for `student`'s latest graded submission of `slug` (0 to the test's
    maximum), with a reason; recorded in the audit trail as `who` (default: the user)."""
    return _change(course, slug, student, test, float(points), reason, who)


def clear_override(course: Course, slug: str, student: str, test: str, reason: str,
                   who: str | None = None) -> OverrideOutcome:
    """Return `test` to its automatic points for `student`'s latest submission, by a new row of
    the audit trail (nothing is deleted)."""
    return _change(course, slug, student, test, None, reason, who)
