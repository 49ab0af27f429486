"""Late policy (the `[late]` tables of cnngrade.toml, penalty arithmetic) and overrides (the
audit trail, supersede, clear, resubmission), through the API and the `cnngrade` command. The
gradebook is filled directly with results dicts: no notebook is run."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from test_cli import assert_one_sentence, cnngrade

from cnngrade.course.config import LatePolicy, load_course
from cnngrade.course.errors import CnnGradeError, ConfigError
from cnngrade.course.gradebook import SCHEMA_VERSION, open_gradebook
from cnngrade.course.policy import (
    clear_override,
    days_late,
    final_grades,
    override_history,
    penalty_percent,
    set_override,
)

DEADLINE = "2026-10-01T23:59:00+00:00"
MINI_TESTS = {"test_add": 2.0, "test_square": 1.0, "test_answer": 1.0}


def results(**scores: float) -> dict:
    """Gradescope-shaped results of the mini suite; unnamed tests pass."""
    tests = []
    for name, top in MINI_TESTS.items():
        got = scores.get(name, top)
        tests.append({"name": name, "description": name, "score": got, "max_score": top,
                      "status": "passed" if got == top else "failed",
                      "output": "" if got == top else "wrong values", "visibility": "visible"})
    return {"score": sum(t["score"] for t in tests), "max_score": 4, "output": "",
            "visibility": "visible", "execution_time": 1.0, "tests": tests, "extra_data": {}}


def submit_graded(course, student: str, submitted_at: str, res: dict | None = None, *,
                  origin: str = "folder:x", status: str = "graded", graded: bool = True) -> str:
    """Record a submission of `student` (and its grading); returns its sha256."""
    sha = hashlib.sha256(f"{student}@{submitted_at}".encode()).hexdigest()
    book = open_gradebook(course.course_dir)
    try:
        with book.transaction():
            book.add_submission(assignment="mini", student=student, sha256=sha,
                                filename="mini.ipynb", origin=origin, submitted_at=submitted_at,
                                late=False)
            if graded:
                sub = next(s for s in book.submissions("mini", student) if s.sha256 == sha)
                book.record(sub.id, "suite", "env", res or results(), status, 1.0)
    finally:
        book.close()
    return sha


def configure(course, toml: str):
    """The course with `toml` put first in its cnngrade.toml (so top-level keys stay top-level)."""
    path = course.course_dir / "cnngrade.toml"
    path.write_text(toml + "\n" + path.read_text())
    return load_course(course.course_dir)


def at(delta: timedelta, base: str = DEADLINE) -> str:
    return (datetime.fromisoformat(base) + delta).isoformat()


# -- schema ------------------------------------------------------------------------------------

def test_schema_course_default_assignment_tables_and_extensions(mini_course):
    course = configure(mini_course, f'''
[late]
penalty = "per-day"
percent_per_day = 10
max_percent = 50
grace_minutes = 15
timezone = "Europe/Berlin"

[late.mini]
deadline = "{DEADLINE}"
percent_per_day = 20

[late.mini.extensions]
ada = "2026-10-03T23:59:00+00:00"
bob = 2
"zoe\u0308" = 2026-10-05T12:00:00
''')
    policy = course.late_policy("mini")
    assert policy.penalty == "per-day" and policy.percent_per_day == 20
    assert policy.max_percent == 50 and policy.grace == timedelta(minutes=15)
    assert policy.deadline == datetime(2026, 10, 1, 23, 59, tzinfo=UTC)
    assert policy.deadline_for("ada") == (datetime(2026, 10, 3, 23, 59, tzinfo=UTC), True)
    assert policy.deadline_for("bob")[0] == policy.deadline + timedelta(days=2)
    assert policy.deadline_for("cyd") == (policy.deadline, False)
    zoe, extended = policy.deadline_for("zo\u00eb")   # NFC: one student in either spelling
    assert extended and zoe.utcoffset() == timedelta(hours=2)   # Berlin summer time


def test_no_late_table_means_no_penalty(mini_course):
    policy = mini_course.late_policy("mini")
    assert policy.deadline is None and policy.penalty == "none"
    submit_graded(mini_course, "ada", "2030-01-01T00:00:00+00:00", results(test_add=1))
    [grade] = final_grades(mini_course, "mini")
    assert grade.final_score == grade.auto_score == 3 and grade.adjustments == []


@pytest.mark.parametrize("toml, fragment", [
    ('[late]\npenalty = "half"', "late.penalty = 'half' is not one of none, zero, per-day"),
    ('[late]\npenalty = "per-day"', "late.penalty = 'per-day' needs percent_per_day"),
    ('[late]\npercent_per_day = "10%"', "late.percent_per_day = '10%' is not a number"),
    ('[late]\nmax_percent = 150', "late.max_percent = 150 is not a number from 0 to 100"),
    ('[late]\ngrace_minutes = -5', "late.grace_minutes = -5 is not a number 0 or more"),
    ('[late]\ndeadline = "2026-10-01T23:59:00+00:00"', "put deadline in the table of its"),
    ('[late]\npenalty_per_day = 10', "late.penalty_per_day = 10 is not a late-policy setting"),
    ('[late]\ntimezone = "Mars/Olympus"', "is not a time zone"),
    ('[late.mini-typo]\ndeadline = "2026-10-01T23:59:00+00:00"',
     "[late.mini-typo] names no assignment of this course; fix the slug (known: mini)"),
    ('[late.mini]\ndeadline = "2026-10-01T23:59:00"', "has no time zone offset"),
    ('[late.mini]\ndeadline = "2026-10-01"', "is not a date and time"),
    ('[late.mini]\ndeadline = "next friday"', "is not a date and time"),
    ('[late.mini]\ndeadline = 2026-10-01', "is not a date and time"),
    ('[late.mini]\ndue = "2026-10-01T23:59:00+00:00"', "late.mini.due"),
    ('[late.mini]\npenalty = "zero"\n[late.mini.extensions]\nada = 1',
     "late.mini.extensions = {'ada': 1} extends no deadline"),
    (f'[late.mini]\ndeadline = "{DEADLINE}"\n[late.mini.extensions]\nada = "2026-09-01T00:00Z"',
     "late.mini.extensions.ada = '2026-09-01T00:00Z' is before the deadline it extends"),
    (f'[late.mini]\ndeadline = "{DEADLINE}"\n[late.mini.extensions]\nada = -1',
     "late.mini.extensions.ada = -1 is not a number"),
    (f'[late.mini]\ndeadline = "{DEADLINE}"\nextensions = "ada"',
     "late.mini.extensions = 'ada' is not a table"),
    ('late = 3', "late = 3 is not a table"),
])
def test_schema_mistakes_are_one_sentence(mini_course, toml, fragment):
    course = configure(mini_course, toml)
    with pytest.raises(ConfigError) as caught:
        course.late_policy("mini")
    message = str(caught.value)
    assert message.startswith(str(course.course_dir / "cnngrade.toml") + ": "), message
    assert fragment in message, message
    assert message.endswith(".") and message.count("; ") == 1, message


def test_a_mistake_for_another_assignment_is_found_too(mini_course):
    (mini_course.assignments_dir / "other").mkdir()
    (mini_course.assignments_dir / "other" / "assignment.toml").write_text('points = 1\n')
    course = configure(mini_course, '[late.other]\npenalty = "sometimes"\n')
    with pytest.raises(ConfigError, match="late.other.penalty = 'sometimes'"):
        course.late_policy("mini")


# -- penalty arithmetic --------------------------------------------------------------------------

def test_days_late_round_up_after_grace():
    deadline = datetime.fromisoformat(DEADLINE)
    grace = timedelta(minutes=15)
    assert days_late(deadline - timedelta(days=3), deadline, grace) == 0
    assert days_late(deadline + timedelta(minutes=15), deadline, grace) == 0   # within grace
    assert days_late(deadline + timedelta(minutes=16), deadline, grace) == 1
    assert days_late(deadline + timedelta(days=1, minutes=15), deadline, grace) == 1
    assert days_late(deadline + timedelta(days=1, minutes=16), deadline, grace) == 2
    assert days_late(deadline + timedelta(seconds=1), deadline, timedelta(0)) == 1


def test_penalty_percent_per_day_capped_and_zero():
    per_day = LatePolicy("mini", penalty="per-day", percent_per_day=10, max_percent=25)
    assert [penalty_percent(per_day, d) for d in (0, 1, 2, 3, 9)] == [0, 10, 20, 25, 25]
    assert penalty_percent(LatePolicy("mini", penalty="zero"), 1) == 100
    assert penalty_percent(LatePolicy("mini", penalty="zero"), 0) == 0
    assert penalty_percent(LatePolicy("mini", penalty="none"), 30) == 0


def test_final_scores_with_grace_cap_extension_and_floor(mini_course):
    course = configure(mini_course, f'''
[late]
penalty = "per-day"
percent_per_day = 10
max_percent = 50
grace_minutes = 15

[late.mini]
deadline = "{DEADLINE}"

[late.mini.extensions]
eve = 3
''')
    submit_graded(course, "ada", at(-timedelta(hours=2)))                         # on time
    submit_graded(course, "bob", at(timedelta(minutes=10)))                       # in grace
    submit_graded(course, "cyd", at(timedelta(hours=25)), results(test_add=0))    # 2 days
    submit_graded(course, "dan", at(timedelta(days=9)))                           # capped
    submit_graded(course, "eve", at(timedelta(days=2)))                           # extended
    submit_graded(course, "fay", at(timedelta(days=3)), results(test_add=0, test_square=0,
                                                                 test_answer=0.5))
    grades = {g.student: g for g in final_grades(course, "mini")}
    summary = {s: (g.auto_score, g.late.days_late, g.late.percent, g.final_score)
               for s, g in grades.items()}
    assert summary == {
        "ada": (4, 0, 0, 4), "bob": (4, 0, 0, 4),
        "cyd": (2, 2, 20, 1.2),      # 20% of the max score (4): 0.8 off
        "dan": (4, 9, 50, 2),
        "eve": (4, 0, 0, 4),
        "fay": (0.5, 3, 30, 0),      # 1.2 off a score of 0.5: never below 0
    }
    assert grades["fay"].late.points == 0.5
    assert grades["eve"].late.extended and grades["eve"].late.deadline.startswith("2026-10-04")
    [late] = grades["cyd"].adjustments
    assert late["kind"] == "late" and late["points"] == -0.8
    assert "2 days after the deadline 2026-10-01T23:59:00+00:00 + 15 min grace" in late["text"]
    assert "−20% (0.8 points)" in late["text"]


def test_zero_and_deduct_from_score(mini_course):
    course = configure(mini_course, f'''
[late]
penalty = "per-day"
percent_per_day = 25
deduct_from = "score"

[late.mini]
deadline = "{DEADLINE}"
''')
    submit_graded(course, "ada", at(timedelta(days=1, hours=1)), results(test_add=0))
    [grade] = final_grades(course, "mini")
    assert (grade.late.days_late, grade.late.percent, grade.final_score) == (2, 50, 1)
    course = configure(course, '')   # unchanged file, reloaded
    (course.course_dir / "cnngrade.toml").write_text(
        (course.course_dir / "cnngrade.toml").read_text().replace(
            'penalty = "per-day"', 'penalty = "zero"'))
    [grade] = final_grades(load_course(course.course_dir), "mini")
    assert grade.final_score == 0 and "scored 0" in grade.adjustments[0]["text"]


def test_lms_late_flag_is_informational(mini_course):
    course = configure(mini_course, f'[late.mini]\ndeadline = "{DEADLINE}"\npenalty = "zero"\n')
    book = open_gradebook(course.course_dir)
    try:
        book.add_submission(assignment="mini", student="ada", sha256="a" * 64,
                            filename="mini.ipynb", origin="zip:x.zip:ada_LATE_1_2_mini.ipynb",
                            submitted_at=at(-timedelta(hours=1)), late=True)
        book.record(book.submissions("mini")[0].id, "s", "e", results(), "graded", 1.0)
    finally:
        book.close()
    [grade] = final_grades(course, "mini")
    assert grade.row.submission.late and grade.final_score == 4 and grade.late.days_late == 0


# -- overrides -------------------------------------------------------------------------------

def test_override_audit_trail_supersede_and_clear(mini_course):
    sha = submit_graded(mini_course, "ada", DEADLINE, results(test_add=0, test_square=0))
    submit_graded(mini_course, "bob", DEADLINE)
    first = set_override(mini_course, "mini", "ada", "test_add", 1.5, "partial credit",
                         who="ta1")
    assert (first.previous, first.auto, first.max_points) == (0, 0, 2)
    assert first.grade.final_score == 2.5 and first.override.sha256 == sha   # auto 1
    second = set_override(mini_course, "mini", "ada", "test_add", 2, "regraded by hand",
                          who="ta2")
    assert second.previous == 1.5 and second.grade.final_score == 3
    set_override(mini_course, "mini", "ada", "test_square", 0.5, "half right", who="ta1")
    [grade] = final_grades(mini_course, "mini", "ada")
    assert grade.auto_score == 1 and grade.final_score == 3.5 and grade.override_points == 2.5
    assert [(o["test"], o["old"], o["new"], o["who"]) for o in grade.overrides] == [
        ("test_add", 0, 2, "ta2"), ("test_square", 0, 0.5, "ta1")]
    assert all(a["kind"] == "override" for a in grade.adjustments)
    assert "test_add: 0 → 2 points by ta2" in grade.adjustments[0]["text"]

    cleared = clear_override(mini_course, "mini", "ada", "test_add", "back to automatic",
                             who="ta3")
    assert cleared.previous == 2 and cleared.override.new_points is None
    assert cleared.grade.final_score == 1.5
    trail = override_history(mini_course, "mini", "ada")
    assert [(o.test, o.old_points, o.new_points, o.who, o.reason) for o in trail] == [
        ("test_add", 0, 1.5, "ta1", "partial credit"),
        ("test_add", 1.5, 2, "ta2", "regraded by hand"),
        ("test_square", 0, 0.5, "ta1", "half right"),
        ("test_add", 2, None, "ta3", "back to automatic")]
    assert all(o.sha256 == sha and o.made_at for o in trail)
    again = set_override(mini_course, "mini", "ada", "test_add", 1, "after all")
    assert again.previous == 0 and again.override.who   # the user running it
    assert [g.final_score for g in final_grades(mini_course, "mini")] == [2.5, 4]   # ada, bob


def test_override_is_for_its_submission_only(mini_course):
    old = submit_graded(mini_course, "ada", DEADLINE, results(test_add=0))
    set_override(mini_course, "mini", "ada", "test_add", 2, "hand-checked", who="ta")
    submit_graded(mini_course, "ada", at(timedelta(hours=-1), "2026-10-01T23:00:00+00:00"),
                  graded=False)   # an earlier time stamp: not the latest
    [grade] = final_grades(mini_course, "mini")
    assert grade.final_score == 4 and grade.row.submission.sha256 == old
    submit_graded(mini_course, "ada", at(timedelta(hours=1)), results(test_add=1))
    [grade] = final_grades(mini_course, "mini")
    assert grade.final_score == 3 and grade.overrides == []
    [stale] = grade.stale_overrides
    assert stale["sha256"] == old and stale["new"] == 2
    [note] = grade.adjustments
    assert note["kind"] == "override" and note["points"] == 0
    assert "not applied" in note["text"] and "earlier submission" in note["text"]


def test_override_mistakes_are_one_sentence(mini_course):
    submit_graded(mini_course, "ada", DEADLINE, results(test_add=0))
    submit_graded(mini_course, "bob", DEADLINE, graded=False)
    submit_graded(mini_course, "cyd", DEADLINE, {"score": 0, "max_score": 4, "tests": [],
                                                 "output": "not a notebook"},
                  status="ungradable")
    cases = [
        (("ada", "test_add", 2.5, "x"), "--points 2.5 is outside 0 to 2, the points test_add"),
        (("ada", "test_add", -1, "x"), "--points -1 is outside 0 to 2"),
        (("ada", "test_add", float("nan"), "x"), "is outside 0 to 2"),
        (("ada", "test_ad", 1, "x"), "has no test 'test_ad' (its tests: test_add, test_answer, "
                                     "test_square)"),
        (("ghost", "test_add", 1, "x"), "No submission of 'ghost' for 'mini'"),
        (("bob", "test_add", 1, "x"), "is not graded yet; run cnngrade grade mini --student bob"),
        (("cyd", "test_add", 1, "x"), "its tests: none, its grading ended as ungradable"),
        (("ada", "test_add", 1, "  "), "An override needs a reason"),
        (("ada", "test_add", 1, "a\x1b[31mb"), "one line of at most 500 printable characters"),
        (("ada", "test_add", 1, "y" * 501), "one line of at most 500"),
    ]
    for (student, test, points, reason), fragment in cases:
        with pytest.raises(CnnGradeError) as caught:
            set_override(mini_course, "mini", student, test, points, reason)
        assert fragment in str(caught.value), (fragment, str(caught.value))
        assert str(caught.value).endswith("."), str(caught.value)
    with pytest.raises(CnnGradeError, match="no override of test_add in force"):
        clear_override(mini_course, "mini", "ada", "test_add", "nothing to clear")
    with pytest.raises(CnnGradeError, match="no assignment 'nope'"):
        set_override(mini_course, "nope", "ada", "test_add", 1, "x")
    assert override_history(mini_course, "mini") == []   # nothing was written


def test_the_audit_trail_cannot_be_rewritten(mini_course):
    submit_graded(mini_course, "ada", DEADLINE, results(test_add=0))
    set_override(mini_course, "mini", "ada", "test_add", 2, "ok", who="ta")
    book = open_gradebook(mini_course.course_dir)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="audit trail"):
            book.db.execute("UPDATE overrides SET new_points = 0")
        with pytest.raises(sqlite3.DatabaseError, match="audit trail"):
            book.db.execute("DELETE FROM overrides")
        assert len(book.overrides("mini")) == 1 and book.integrity_problems() == []
    finally:
        book.close()


def test_a_schema_1_gradebook_gains_the_overrides_table(mini_course):
    from cnngrade.course.gradebook import SCHEMA
    path = mini_course.course_dir / "gradebook.sqlite"
    db = sqlite3.connect(path)
    for statement in SCHEMA.split(";"):
        if statement.strip() and not any(t in statement for t in ("overrides", "manual",
                                                                  "rubric")):
            db.execute(statement)
    db.execute("INSERT INTO submissions (assignment, student, sha256, filename, origin, "
               "submitted_at, collected_at) VALUES ('mini', 'ada', 'ab', 'mini.ipynb', 'x', ?, ?)",
               (DEADLINE, DEADLINE))
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    book = open_gradebook(mini_course.course_dir)
    try:
        assert book.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
        assert book.overrides("mini") == [] and len(book.submissions("mini")) == 1
        assert book.manual_grades("mini") == [] and book.rubric_edits("mini") == []
    finally:
        book.close()


# -- the command ---------------------------------------------------------------------------------

def test_override_command(mini_course):
    d = mini_course.course_dir
    submit_graded(mini_course, "ada", DEADLINE, results(test_add=0))
    proc = cnngrade("override", "mini", "ada", "test_add", "--points", "1.5", "--reason",
                    "partial credit [b]bold[/b]", "--course-dir", d)
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())
    assert "Override test_add: 0 → 1.5 of 2 points for ada" in out
    assert "final score 3.5/4" in out and "(partial credit [b]bold[/b])" in out
    proc = cnngrade("override", "mini", "ada", "test_add", "--clear", "--reason", "undo",
                    "--course-dir", d)
    assert proc.returncode == 0 and "cleared: test_add is back to its automatic 0" in \
        " ".join(proc.stdout.split())
    assert [o.new_points for o in override_history(mini_course, "mini")] == [1.5, None]
    assert override_history(mini_course, "mini")[0].who   # getpass.getuser() of the command
    assert_one_sentence(cnngrade("override", "mini", "ada", "test_add", "--points", "3",
                                 "--reason", "x", "--course-dir", d), "is outside 0 to 2")
    assert_one_sentence(cnngrade("override", "mini", "ada", "test_add", "--points", "1",
                                 "--clear", "--reason", "x", "--course-dir", d),
                        "Give either --points P")
    assert_one_sentence(cnngrade("override", "mini", "ada", "test_add", "--reason", "x",
                                 "--course-dir", d), "Give either --points P")
    assert_one_sentence(cnngrade("override", "mini", "ghost", "test_add", "--points", "1",
                                 "--reason", "x", "--course-dir", d), "No submission of 'ghost'")
    proc = cnngrade("override", "mini", "ada", "test_add", "--points", "1", "--course-dir", d)
    assert proc.returncode == 2 and "Missing option '--reason'" in proc.stderr
    assert "Traceback" not in proc.stderr
    (d / "cnngrade.toml").write_text((d / "cnngrade.toml").read_text()
                                     + '\n[late.mini]\ndeadline = "tomorrow"\n')
    assert_one_sentence(cnngrade("override", "mini", "ada", "test_add", "--points", "1",
                                 "--reason", "x", "--course-dir", d),
                        "late.mini.deadline = 'tomorrow' is not a date and time")
    assert_one_sentence(cnngrade("export", "mini", "--course-dir", d),
                        "late.mini.deadline = 'tomorrow' is not a date and time")
    assert len(override_history(mini_course, "mini")) == 2
