"""`cnngrade report` for TAs: a class of 300 built straight into the gradebook (no notebook
runs), the report's data (pass rates, histogram, slowest, failed, one test) and what the
terminal shows (short by default, --failed, --test, --student, one-sentence errors, --plot)."""

from __future__ import annotations

import io

import pytest
from test_cli import assert_one_sentence, cnngrade

from cnngrade.course.config import load_course
from cnngrade.course.errors import CnnGradeError
from cnngrade.course.gradebook import open_gradebook
from cnngrade.grading import suite_runner as checker
from cnngrade.grading.results import build_results, ungradable
from cnngrade.views.report import check_view, class_report, student_row, summary_png

N = 300
TESTS = [   # name, points, description, fails for student i when
    ("test_add", 2.0, "add sums two arrays element by element", lambda i: i % 3 == 0),
    ("test_square", 1.0, "square squares each element", lambda i: i % 5 == 0),
    ("test_answer", 1.0, "the answer is 42", lambda i: i % 10 == 1),
]
UNGRADABLE = {7: "ungradable", 8: "grader-error"}   # student index -> status
MARKUP = "got [green]passed[/green] <script>alert(1)</script>"


def student_id(i: int) -> str:
    return f"s{i:03d}"


def results_for(i: int) -> tuple[dict, str]:
    if i in UNGRADABLE:
        status = UNGRADABLE[i]
        message = (f"{student_id(i)}/mini.ipynb is not valid notebook JSON" if
                   status == "ungradable" else "Grader error: RuntimeError: the kernel vanished")
        return ungradable(message, 4.0, {"student": student_id(i)}), status
    tests = []
    for name, points, description, fails in TESTS:
        bad = fails(i)
        message = ""
        if bad and name == "test_add":
            message = "wrong values" if i % 2 else f"shape (3, {i % 7}), expected (3, 4)"
            if i == 9:   # what a student's code put in a message is shown as text
                message = MARKUP
        elif bad:
            message = "NotImplementedError: not implemented yet"
        tests.append(checker.TestResult(name, description, points, 0.0 if bad else points,
                                "failed" if bad else "passed", message))
    extra = {"student": student_id(i), "problems": ["cell 4 raised NameError: x"] if i == 1
             else [], "notebook_seconds": 2.0 + (i % 50) / 10 + (60.0 if i == 42 else 0.0),
             "cell_errors": int(i == 1), "seed": 1234}
    res = build_results(tests=tests, max_score=4.0, output="checks ran.", seconds=3.0,
                        extra=extra)
    if i == 5:   # a layer table from a model check
        res["tests"][0]["extra_data"] = {"tables": [{"title": "Your layers", "columns": [
            "layer", "parameters"], "rows": [["conv2d", 320], ["dense", 1290]]}]}
    return res, "graded"


def fill(course, n: int = N) -> None:
    book = open_gradebook(course.course_dir)
    try:
        with book.transaction():
            for i in range(n):
                book.add_submission(assignment="mini", student=student_id(i), sha256=f"{i:064x}",
                                    filename="mini.ipynb", origin="inbox",
                                    submitted_at=f"2024-03-01T10:{i % 60:02d}:00+00:00",
                                    late=i % 25 == 3)
            for sub in book.latest("mini"):
                i = int(sub.student[1:])
                res, status = results_for(i)
                book.record(sub.id, "suite", "env", res, status, 3.0 + i / 1000)
            book.add_submission(assignment="mini", student="zed", sha256="f" * 64,
                                filename="mini.ipynb", origin="inbox",
                                submitted_at="2024-03-02T10:00:00+00:00", late=False)
    finally:
        book.close()


@pytest.fixture
def course(mini_course):
    fill(mini_course)
    return mini_course


def expected_fails(name: str) -> set[str]:
    fails = dict((t[0], t[3]) for t in TESTS)[name]
    return {student_id(i) for i in range(N) if i not in UNGRADABLE and fails(i)}


def test_report_data(course):
    rep = class_report(course, "mini")
    assert rep.count == N and rep.ungraded == ["zed"]
    # pass rates: the most failed first
    assert [s.name for s in rep.tests] == ["test_add", "test_square", "test_answer"]
    add = rep.tests[0]
    assert add.failed == len(expected_fails("test_add")) and add.ran == N - 2
    assert add.points_lost == 2 * add.failed
    assert add.common_messages(1)[0] == ("wrong values", 49)
    # the histogram: every graded row in one bucket, full marks at the top
    counts = dict(rep.distribution)
    assert sum(counts.values()) == N
    scores = [rep.score(row) for row in rep.rows]
    assert counts["90–100%"] == sum(1 for s in scores if s == 4) == rep.full_marks
    assert counts["0–9%"] == sum(1 for s in scores if s == 0)
    assert counts["50–59%"] == sum(1 for s in scores if s == 2)
    # the slowest: s042's notebook ran a minute longer than anyone's
    assert rep.slowest[0].submission.student == "s042" and len(rep.slowest) == 5
    # failed: could not be graded first, then the lowest scores; never a full-marks row
    failed = [row.submission.student for row in rep.failed]
    assert failed[:2] == ["s007", "s008"]
    assert set(failed) == {row.submission.student for row in rep.rows
                           if row.status != "graded" or rep.score(row) < 4}
    assert [rep.score(r) for r in rep.failed[2:]] == sorted(rep.score(r) for r in rep.failed[2:])
    # one test: exactly who failed it, each with the message
    view = check_view(rep, "test_square")
    assert {row.submission.student for row, _ in view.failures} == expected_fails("test_square")
    assert all(t["output"] == "NotImplementedError: not implemented yet"
               for _, t in view.failures)
    assert {r.submission.student for r in view.not_run} == {"s007", "s008"}
    with pytest.raises(CnnGradeError, match="Did you mean 'test_square'"):
        check_view(rep, "test_sqare")
    assert student_row(rep, "s005").submission.student == "s005"
    with pytest.raises(CnnGradeError, match="No submission of 'ghost'"):
        class_report(course, "mini", "ghost")
    with pytest.raises(CnnGradeError, match="has not been graded yet"):
        class_report(course, "mini", "zed")


def test_summary_png(course):
    from PIL import Image
    data = summary_png(class_report(course, "mini"))
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.width > 600 and image.height > 300
    colors = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 20   # drawn, not blank


def students_in(text: str) -> set[str]:
    """The students listed in a table: the rows that begin with a student id."""
    firsts = [line.split()[0] for line in text.splitlines() if line.strip()]
    return {word for word in firsts if word[:1] == "s" and word[1:].isdigit()}


def test_cli_report_views(course, tmp_path):
    d = course.course_dir
    proc = cnngrade("report", "mini", "--course-dir", d)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr
    assert len(out.splitlines()) < 80, out
    assert "Class summary" in out and "Score histogram" in out and "Failures" in out
    per_test = out.index("Per test")
    assert (out.index("test_add", per_test) < out.index("test_square", per_test)
            < out.index("test_answer", per_test))
    assert "s042" in out[out.index("Slowest"):]
    assert "s007/mini.ipynb is not valid notebook JSON" in out
    assert "--failed" in out and "--test NAME" in out and "--student ID" in out
    assert "not graded yet" in out and "zed" in out

    proc = cnngrade("report", "mini", "--failed", "--course-dir", d)
    assert proc.returncode == 0, proc.stderr
    rep = class_report(course, "mini")
    assert students_in(proc.stdout) == {row.submission.student for row in rep.failed}
    assert "test_add (-2): wrong values" in proc.stdout
    assert "s007/mini.ipynb is not valid notebook JSON" in proc.stdout

    proc = cnngrade("report", "mini", "--test", "test_answer", "--course-dir", d)
    assert proc.returncode == 0, proc.stderr
    assert students_in(proc.stdout) == expected_fails("test_answer")
    assert "not implemented yet" in proc.stdout and "passed by 268 of 298" in proc.stdout
    assert "Not run in 2 submission(s)" in proc.stdout

    proc = cnngrade("report", "mini", "--student", "s005", "--course-dir", d)
    out = " ".join(proc.stdout.split())
    assert proc.returncode == 0, proc.stderr
    for fragment in ("add sums two arrays element by element", "square squares each element",
                     "the answer is 42", "2/2", "1/1", "2024-03-01T10:05:00+00:00",
                     "notebook 2.5 s", "Your layers", "1,290", "on time", "NotImplementedError"):
        assert fragment in out, fragment
    proc = cnngrade("report", "mini", "--student", "s001", "--course-dir", d)
    assert "cell 4 raised NameError: x" in proc.stdout and "s005" not in proc.stdout
    assert "LATE" in cnngrade("report", "mini", "--student", "s003", "--course-dir", d).stdout

    assert_one_sentence(cnngrade("report", "mini", "--test", "test_nope", "--course-dir", d),
                        "There is no test 'test_nope' in the results of 'mini'")
    assert_one_sentence(cnngrade("report", "mini", "--student", "s9999", "--course-dir", d),
                        "No submission of 's9999' for 'mini' has been collected")


def test_cli_plot(course, tmp_path):
    from PIL import Image
    d = course.course_dir
    proc = cnngrade("report", "mini", "--plot", "--course-dir", d)
    assert proc.returncode == 0, proc.stderr
    default = d / "reports" / "mini.png"
    assert f"Wrote {default}" in proc.stdout
    target = tmp_path / "out" / "class.png"
    proc = cnngrade("report", "mini", "--failed", "--plot", target, "--course-dir", d)
    assert proc.returncode == 0, proc.stderr
    for path in (default, target):
        assert path.stat().st_size > 0
        with Image.open(path) as image:
            assert image.format == "PNG"
            extrema = image.convert("L").getextrema()
            assert extrema[0] < extrema[1]   # not one flat colour
    assert not [p for p in target.parent.iterdir() if p.name != "class.png"]   # no temporary


def test_student_text_is_shown_as_text(course):
    from rich.console import Console

    from cnngrade.cli import render
    rep = class_report(course, "mini")
    for kwargs in ({"student": "s009"}, {"failed": True}, {"test": "test_add"}):
        console = Console(record=True, width=200)
        render.report(console, rep, **kwargs)
        assert MARKUP in console.export_text(), kwargs


def test_overrides_and_late_penalty_are_in_the_report(course):
    """The report counts and shows the final grade: the override (with its reason) first, then
    the late penalty of the course's policy."""
    from cnngrade.course.policy import set_override
    (course.course_dir / "cnngrade.toml").write_text(
        (course.course_dir / "cnngrade.toml").read_text()
        + '\n[late.mini]\ndeadline = "2024-03-01T10:30:00+00:00"\npenalty = "per-day"\n'
          'percent_per_day = 25\n')
    course = load_course(course.course_dir)
    # s000 lost test_add and test_square (1/4) and submitted on time; s032 is late (10:32), 4/4
    set_override(course, "mini", "s000", "test_add", 2, "counted by hand: the shapes match")
    rep = class_report(course, "mini")
    rows = {r.submission.student: r for r in rep.rows}
    assert rows["s000"].score == 1 and rep.score(rows["s000"]) == 3
    assert rows["s032"].score == 4 and rep.score(rows["s032"]) == 3   # 1 day late: 25% of 4
    shown = " ".join(cnngrade("report", "mini", "--student", "s000", "--course-dir",
                              course.course_dir).stdout.split())
    assert "counted by hand: the shapes match" in shown and "3/4" in shown
    one = " ".join(cnngrade("report", "mini", "--test", "test_add", "--course-dir",
                            course.course_dir).stdout.split())
    assert "(reviewed: 2 point(s), counted by hand: the shapes match)" in one
    late = " ".join(cnngrade("report", "mini", "--student", "s032", "--course-dir",
                             course.course_dir).stdout.split())
    assert "late" in late and "3/4" in late
