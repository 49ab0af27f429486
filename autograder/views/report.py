"""What TAs read, as data (the CLI renders it with rich): the class summary and score histogram,
the per-test pass rates (the check that fails most first), the slowest submissions, the
failed ones, who failed one test and with which message, one student's full result, and a
PNG summary of the class.

Every score the report uses comes from `ClassReport.score(row)`, filled by `_final_scores`: the
final grade, with instructor overrides, the answers graded by hand and the late penalty applied
(cnngrade.course.policy). Where the notebook has answers a person grades, the maximum is the
suite's points plus theirs, and `ClassReport.manual` is the progress of that grading per cell."""

from __future__ import annotations

import difflib
import io
import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..course.config import Course
from ..course.errors import CnnGradeError
from ..course.gradebook import GradeRow, open_gradebook
from ..course.policy import ManualTotal
from ..course.rubric import Rubric
from ..grading import manual as hand

BUCKETS = 10   # the histogram's buckets: 0–9%, 10–19%, ..., 90–100%
SLOWEST = 5    # how many slowest submissions the class summary lists


@dataclass
class Failure:
    student: str
    test: str
    points: float
    message: str


@dataclass
class CheckStat:
    """One check across the class (over the submissions that ran it)."""
    name: str
    description: str
    points: float
    passed: int = 0
    failed: int = 0
    points_lost: float = 0.0
    messages: Counter[str] = field(default_factory=Counter)   # first line -> how many

    @property
    def ran(self) -> int:
        return self.passed + self.failed

    @property
    def pass_rate(self) -> float:
        return self.passed / self.ran if self.ran else 1.0

    def common_messages(self, n: int = 1) -> list[tuple[str, int]]:
        return self.messages.most_common(n)


@dataclass
class CheckView:
    """`--test NAME`: one check (or each case of a parametrized one) and who failed it."""
    name: str
    stats: list[CheckStat]                      # the check, or each of its cases
    failures: list[tuple[GradeRow, dict]]       # (the student's row, the failed test's dict)
    not_run: list[GradeRow]                     # graded rows in which it did not run


@dataclass
class ClassReport:
    slug: str
    title: str
    max_score: float
    rows: list[GradeRow]
    ungraded: list[str]                          # collected, not graded yet
    count: int = 0
    mean: float | None = None
    median: float | None = None
    distribution: list[tuple[str, int]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)   # student -> the final score
    adjustments: dict[str, list[dict]] = field(default_factory=dict)  # late penalty, overrides
    reviews: dict[str, dict[str, dict]] = field(default_factory=dict)  # student -> test -> override
    tests: list[CheckStat] = field(default_factory=list)     # most failed first
    failed: list[GradeRow] = field(default_factory=list)     # lost points or not gradable
    slowest: list[GradeRow] = field(default_factory=list)    # the SLOWEST slowest
    manual: list[hand.CellProgress] = field(default_factory=list)  # per cell graded by hand
    pending: dict[str, float] = field(default_factory=dict)   # student -> points left to grade
    answers: dict[str, list[hand.Answer]] = field(default_factory=dict)  # with `student` only
    rubrics: dict[str, Rubric] = field(default_factory=dict)  # of the cells graded by hand

    def score(self, row: GradeRow) -> float:
        """The score the report shows, ranks and counts for this row."""
        return self.scores.get(row.submission.student, row.score)

    def percent(self, row: GradeRow) -> float:
        return 100 * self.score(row) / (self.max_score or 1)

    @property
    def full_marks(self) -> int:
        return sum(1 for row in self.rows if row.status == "graded"
                   and self.score(row) >= self.max_score - 1e-9)

    def statuses(self) -> Counter[str]:
        return Counter(row.status for row in self.rows)

    def late(self) -> int:
        return sum(1 for row in self.rows if row.submission.late)

    def rerun_alone(self) -> int:
        """Results that come from a run again alone (after a wall-clock stop beside others)."""
        return sum(1 for row in self.rows if rerun_alone(row))


def _final_scores(course: Course, slug: str, rows: list[GradeRow], student: str | None,
                  manual: dict[str, ManualTotal]
                  ) -> tuple[dict[str, float], dict[str, list[dict]], dict[str, dict]]:
    """The score of each row the report uses, the final grade (instructor overrides, the
    answers graded by hand and the late penalty applied, cnngrade.course.policy), the
    adjustments that made it, and the overrides in force by student and test."""
    from ..course.policy import final_grades
    finals = {g.student: g for g in final_grades(course, slug, student, manual=manual)}
    graded = {row.submission.student for row in rows}
    return ({name: g.final_score for name, g in finals.items() if name in graded},
            {name: g.adjustments for name, g in finals.items() if g.adjustments},
            {name: {o["test"]: o for o in g.overrides} for name, g in finals.items()
             if g.overrides})


def _distribution(percents: list[float]) -> list[tuple[str, int]]:
    """How many scores fall in each 10% bucket; the last bucket is 90–100% (and above, for a
    bonus), the first takes anything below 0."""
    counts = [0] * BUCKETS
    for p in percents:
        counts[min(BUCKETS - 1, max(0, math.floor(round(p, 6) / 10)))] += 1
    labels = [f"{lo}–{lo + 9}%" for lo in range(0, 90, 10)] + ["90–100%"]
    return list(zip(labels, counts, strict=True))


def notebook_seconds(row: GradeRow) -> float | None:
    """How long the submission's notebook ran in the sandbox; None where it did not run."""
    value = (row.results.get("extra_data") or {}).get("notebook_seconds")
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def seconds(row: GradeRow) -> float:
    """What makes a submission slow: its notebook's run time, else the grading time."""
    ran = notebook_seconds(row)
    return row.seconds if ran is None else ran


def rerun_alone(row: GradeRow) -> list[str] | None:
    """What a wall-clock limit stopped in the first run, where this result comes from the run
    again alone that followed (cnngrade.grading.runners); None for an ordinary result."""
    extra = row.results.get("extra_data") or {}
    if not extra.get("rerun_alone"):
        return None
    return [str(s) for s in extra.get("first_run_stops") or []]


def cpu_seconds(row: GradeRow) -> float | None:
    """The CPU seconds the notebook's cells used (what the time limits count)."""
    value = (row.results.get("extra_data") or {}).get("notebook_cpu_seconds")
    return float(value) if isinstance(value, (int, float)) and value >= 0 else None


def problems(row: GradeRow) -> list[str]:
    """The notebook problems the grader noted (a cell error, a time limit, not a notebook)."""
    return [str(p) for p in (row.results.get("extra_data") or {}).get("problems", [])]


def failed_tests(row: GradeRow) -> list[dict]:
    return [t for t in row.results.get("tests", []) if t.get("status") != "passed"]


def first_line(text: str) -> str:
    text = (text or "").strip()
    return text.splitlines()[0].strip() if text else ""


def is_failed(rep: ClassReport, row: GradeRow) -> bool:
    """Lost points (not counting answers still to grade by hand), or could not be graded
    (ungradable, grader error)."""
    left = rep.pending.get(row.submission.student, 0.0)
    return row.status != "graded" or rep.score(row) + left < rep.max_score - 1e-9


def check_stats(rows: list[GradeRow]) -> list[CheckStat]:
    """Each check's pass rate over the submissions that ran it: the most failed first (then
    the most points lost, then by name)."""
    stats: dict[str, CheckStat] = {}
    for row in rows:
        for test in row.results.get("tests", []):
            name = str(test.get("name", "?"))
            stat = stats.get(name)
            if stat is None:
                stat = stats[name] = CheckStat(name, str(test.get("description", "")),
                                              float(test.get("max_score", 0)))
            if test.get("status") == "passed":
                stat.passed += 1
            else:
                stat.failed += 1
                stat.messages[first_line(test.get("output", "")) or "(no message)"] += 1
            stat.points_lost += max(0.0, float(test.get("max_score", 0))
                                    - float(test.get("score", 0)))
    return sorted(stats.values(), key=lambda s: (s.pass_rate, -s.points_lost, s.name))


def class_report(course: Course, slug: str, student: str | None = None) -> ClassReport:
    """The class's report; with `student`, only that student's row (a CnnGradeError when the
    student has no graded submission)."""
    assignment = course.assignment(slug)
    book = open_gradebook(course.course_dir)
    try:
        with book.snapshot():   # one committed state, even while a collect runs
            rows = book.grades(slug, student)
            collected = {s.student for s in book.latest(slug, student)}
            known = ({s.student for s in book.latest(slug)}
                     if student is not None and not rows else set())
    finally:
        book.close()
    if student is not None and not rows:
        raise CnnGradeError(_no_student(slug, student, collected, known))
    graded = {row.submission.student for row in rows}
    cells = hand.released_cells(course, slug)
    found = hand.answers(course, slug, student=student) if cells else []
    rubric_of = hand.rubrics(course, slug) if cells else {}
    manual = hand.totals_of(found, rubric_of)
    report = ClassReport(slug, assignment.title,
                         assignment.points + sum(c.points for c in cells.values()), rows,
                         sorted(collected - graded))
    report.scores, report.adjustments, report.reviews = _final_scores(course, slug, rows,
                                                                      student, manual)
    report.pending = {name: sum(c["max"] for c in total.cells
                                if c["state"] in hand.NEEDS_A_PERSON)
                      for name, total in manual.items() if total.incomplete}
    report.rubrics = rubric_of
    if student is None:
        report.manual = hand.progress_of(cells, found)
    elif found:
        report.answers = {student: [a for a in found if a.student == student]}
    report.count = len(rows)
    if rows:
        scores = [report.score(row) for row in rows]
        report.mean = statistics.fmean(scores)
        report.median = statistics.median(scores)
        report.distribution = _distribution([report.percent(row) for row in rows])
    for row in rows:
        for test in failed_tests(row):
            report.failures.append(Failure(row.submission.student, test.get("name", "?"),
                                           test.get("max_score", 0), test.get("output", "")))
    report.tests = check_stats(rows)
    report.failed = sorted((row for row in rows if is_failed(report, row)),
                           key=lambda r: (r.status == "graded", report.score(r),
                                          r.submission.student))
    report.slowest = sorted(rows, key=lambda r: (-seconds(r), r.submission.student))[:SLOWEST]
    return report


def _no_student(slug: str, student: str, collected: set[str], known: set[str]) -> str:
    if collected:
        return (f"The submission of '{student}' for '{slug}' has not been graded yet; run "
                f"`cnngrade grade {slug} --student {student}`.")
    close = difflib.get_close_matches(student, sorted(known), n=3)
    hint = f" Did you mean {_either(close)}?" if close else ""
    return (f"No submission of '{student}' for '{slug}' has been collected ({len(known)} "
            f"student(s) have submitted it).{hint}")


def _either(names: list[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def check_view(rep: ClassReport, name: str) -> CheckView:
    """Who failed the check `name` (or, for a parametrized check's base name, any of its
    cases), with each message; a CnnGradeError naming the checks when there is none."""
    def matches(test_name: str) -> bool:
        return test_name == name or test_name.startswith(name + "[")

    stats = [s for s in rep.tests if matches(s.name)]
    if not stats:
        names = sorted(s.name for s in rep.tests)
        if not names:
            raise CnnGradeError(f"No submission of '{rep.slug}' has been graded yet, so there "
                                f"is no test '{name}' to show; run `cnngrade grade {rep.slug}`.")
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Did you mean {_either(close)}?" if close else ""
        listed = f" The tests are: {', '.join(names)}." if len(names) <= 30 else ""
        raise CnnGradeError(f"There is no test '{name}' in the results of '{rep.slug}'."
                            f"{hint}{listed}")
    exact = any(s.name == name for s in stats)
    failures, not_run = [], []
    for row in rep.rows:
        ran = [t for t in row.results.get("tests", [])
               if (t.get("name") == name if exact else matches(str(t.get("name"))))]
        if not ran:
            not_run.append(row)
        failures += [(row, t) for t in ran if t.get("status") != "passed"]
    failures.sort(key=lambda f: (first_line(f[1].get("output", "")), f[0].submission.student))
    return CheckView(name, stats if not exact else [s for s in stats if s.name == name],
                    failures, not_run)


def student_row(rep: ClassReport, student: str) -> GradeRow:
    for row in rep.rows:
        if row.submission.student == student:
            return row
    raise CnnGradeError(_no_student(rep.slug, student, set(rep.ungraded) & {student},
                                    {row.submission.student for row in rep.rows}))


# -- the class summary as a PNG ------------------------------------------------------------

def summary_png(rep: ClassReport) -> bytes:
    """A PNG of the class: the score histogram and each test's pass rate (most failed at the
    top), drawn with matplotlib's Agg backend (no display needed)."""
    if not rep.rows:
        raise CnnGradeError(f"No submission of '{rep.slug}' has been graded yet, so there is "
                            f"nothing to plot; run `cnngrade grade {rep.slug}` first.")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tests = rep.tests
    height = max(4.5, 1.6 + 0.32 * len(tests))
    fig = Figure(figsize=(13, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    hist, rates = fig.subplots(1, 2, width_ratios=[1, 1.25])

    labels = [label.replace("%", "") for label, _ in rep.distribution]
    counts = [count for _, count in rep.distribution]
    hist.bar(range(len(counts)), counts, color="#4C72B0", edgecolor="white")
    hist.set_xticks(range(len(counts)), labels, rotation=45, ha="right")
    for x, count in enumerate(counts):
        if count:
            hist.annotate(str(count), (x, count), ha="center", va="bottom", fontsize=8)
    hist.set_title(f"Scores: {rep.count} graded, mean {rep.mean:.2f} / {rep.max_score:g}, "
                   f"median {rep.median:.2f}")
    hist.set_xlabel("score (% of the maximum)")
    hist.set_ylabel("students")
    hist.set_ylim(0, max(counts) * 1.12 + 0.5)

    if tests:
        names = [s.name if len(s.name) <= 40 else s.name[:39] + "…" for s in tests]
        values = [100 * s.pass_rate for s in tests]
        colors = ["#C44E52" if v < 50 else "#DD8452" if v < 80 else "#55A868" for v in values]
        y = range(len(tests))
        rates.barh(y, values, color=colors)
        rates.set_yticks(y, names, fontsize=8)
        rates.invert_yaxis()   # the most failed check at the top
        for i, stat in enumerate(tests):
            rates.annotate(f"{values[i]:.0f}% ({stat.passed}/{stat.ran})", (values[i], i),
                           xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
        rates.set_xlim(0, 118)
    else:
        rates.text(0.5, 0.5, "no test ran", ha="center", va="center",
                   transform=rates.transAxes)
    rates.set_title("Pass rate per test (most failed first)")
    rates.set_xlabel("pass rate (% of the submissions that ran the test)")
    rates.set_ylabel("test")
    fig.suptitle(f"{rep.title} ({rep.slug})")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def write_plot(course: Course, rep: ClassReport, path: Path | None = None) -> Path:
    """Write `summary_png` atomically to `path` (default DIR/reports/<slug>.png)."""
    from ..course.store import atomic_write
    target = path or course.course_dir / "reports" / f"{rep.slug}.png"
    atomic_write(target, summary_png(rep))
    return target
