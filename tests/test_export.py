"""Exports of final grades: cnngrade's CSV, Canvas's and Moodle's grade import CSVs and
Gradescope's results.json, on a small gradebook filled through the Gradebook API."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from test_cli import assert_one_sentence, cnngrade
from test_policy import DEADLINE, at, configure, results, submit_graded

from cnngrade.course.config import load_course
from cnngrade.course.errors import CnnGradeError
from cnngrade.course.policy import set_override
from cnngrade.views.export import CSV_COLUMNS, cell, export, gradescope_results, number

LATE = f'''
[late]
penalty = "per-day"
percent_per_day = 10
max_percent = 50

[late.mini]
deadline = "{DEADLINE}"
'''


@pytest.fixture
def book(mini_course):
    """ada: on time, test_add overridden 0 -> 2; bob: 2 days late, from a Canvas zip;
    cyd: could not be graded; dan: collected, not graded (left out of every export)."""
    course = configure(mini_course, LATE)
    submit_graded(course, "ada", at(-timedelta(hours=3)), results(test_add=0))
    set_override(course, "mini", "ada", "test_add", 2, "=HYPERLINK(\"x\") checked by hand",
                 who="ta")
    submit_graded(course, "bob", at(timedelta(hours=30)), results(test_square=0),
                  origin="zip:submissions.zip:bob_LATE_48213_777_mini.ipynb")
    submit_graded(course, "cyd", at(-timedelta(days=1)),
                  {"score": 0, "max_score": 4, "output": "cyd/mini.ipynb is not valid notebook "
                   "JSON", "tests": []}, status="ungradable")
    submit_graded(course, "dan", DEADLINE, graded=False)
    return course


def with_export(course, toml: str):
    """The course with `toml` first in its cnngrade.toml, in place of what it added before."""
    path = course.course_dir / "cnngrade.toml"
    base = course.course_dir / "cnngrade.toml.base"
    if not base.exists():
        base.write_text(path.read_text())
    path.write_text(toml + "\n" + base.read_text())
    return load_course(course.course_dir)


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_cells_and_numbers():
    assert [cell(t) for t in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "ada", "")] == [
        "'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "ada", ""]
    assert [number(x) for x in (4, 4.0, 2.5, 1.23456, -0.0, 0.00001, 93.3333333)] == [
        "4", "4", "2.5", "1.2346", "0", "0", "93.3333"]


def test_csv(book):
    table = rows(export(book, "mini", "csv"))
    assert table[0] == CSV_COLUMNS
    got = {r[0]: dict(zip(CSV_COLUMNS, r, strict=True)) for r in table[1:]}
    assert sorted(got) == ["ada", "bob", "cyd"]
    ada, bob, cyd = got["ada"], got["bob"], got["cyd"]
    assert (ada["score"], ada["auto_score"], ada["override_points"], ada["overridden_tests"],
            ada["days_late"], ada["penalty_percent"], ada["percent"]) == (
        "4", "2", "2", "test_add=2", "0", "0", "100.0")
    assert (bob["score"], bob["auto_score"], bob["days_late"], bob["penalty_percent"],
            bob["penalty_points"], bob["late"], bob["deadline"]) == (
        "2.2", "3", "2", "20", "0.8", "0", DEADLINE)
    assert (cyd["score"], cyd["status"], cyd["max_score"]) == ("0", "ungradable", "4")
    assert len(ada["submission_sha256"]) == 64


def test_canvas(book):
    table = rows(export(book, "mini", "canvas"))
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Mini"]
    assert table[1] == ["Points Possible", "", "", "", "", "4"]
    assert sorted(table[2:]) == [["ada", "", "", "", "", "4"],
                                 ["bob", "48213", "", "", "", "2.2"],
                                 ["cyd", "", "", "", "", "0"]]
    course = with_export(book, '[export]\ncanvas_student_id = "sis_login_id"\n'
                             '[export.canvas_columns]\nmini = "Mini notebook (4417)"\n')
    table = rows(export(course, "mini", "canvas"))
    assert table[0][-1] == "Mini notebook (4417)"
    assert ["bob", "48213", "", "bob", "", "2.2"] in table
    course = with_export(book, '[export.canvas_columns]\nmini = "=cmd()"\n')
    assert rows(export(course, "mini", "canvas"))[0][-1] == "'=cmd()"


def test_moodle(book):
    table = rows(export(book, "mini", "moodle"))
    assert table[0] == ["username", "Mini", "Mini feedback"]
    got = {r[0]: r[1:] for r in table[1:]}
    assert got["cyd"] == ["0", ""]
    assert got["ada"][0] == "4"
    assert got["ada"][1] == ("test_add was reviewed: 0 → 2 points "
                             "(=HYPERLINK(\"x\") checked by hand)")
    assert got["bob"] == ["2.2", "Submitted 2 days after the deadline (2026-10-01T23:59:00+00:00):"
                                 " −20%, 0.8 points."]
    course = with_export(book, '[export]\nmoodle_user_field = "email"\n')
    with pytest.raises(CnnGradeError, match="set moodle_email_domain in \\[export\\]"):
        export(course, "mini", "moodle")
    course = with_export(book, '[export]\nmoodle_user_field = "email"\n'
                             'moodle_email_domain = "uni.example"\n')
    table = rows(export(course, "mini", "moodle"))
    assert table[0][0] == "email" and sorted(r[0] for r in table[1:]) == [
        "ada@uni.example", "bob@uni.example", "cyd@uni.example"]


def test_export_settings_mistakes(book):
    for toml, fragment in [
        ('[export]\nmoodle_user_field = "name"', "export.moodle_user_field = 'name' is not one"),
        ('[export]\ncanvas_student_id = "id"', "export.canvas_student_id = 'id' is not one"),
        ('[export]\ncanvas_column = "x"', "export.canvas_column = 'x' is not an export setting"),
        ('[export]\nmoodle_email_domain = "@uni"', "is not a domain name"),
        ('[export.canvas_columns]\nmini = 3', "is not a table of column names"),
    ]:
        with pytest.raises(CnnGradeError, match=fragment):
            export(with_export(book, toml), "mini", "canvas" if "canvas" in toml else "moodle")


def test_gradescope(book):
    found = gradescope_results(book, "mini")
    assert sorted(found) == ["ada", "bob", "cyd"]
    ada = found["ada"]
    assert ada["score"] == 4 and ada["max_score"] == 4
    test_add = next(t for t in ada["tests"] if t["name"] == "test_add")
    assert test_add["score"] == 2 and test_add["status"] == "passed"
    assert test_add["output"].endswith("Reviewed: 0 → 2 points (=HYPERLINK(\"x\") checked by "
                                       "hand).")
    assert ada["extra_data"]["cnngrade"]["auto_score"] == 2
    assert ada["extra_data"]["cnngrade"]["overrides"][0]["new"] == 2
    bob = found["bob"]
    assert bob["score"] == 2.2 and sum(t["score"] for t in bob["tests"]) == 3
    assert bob["output"].endswith("Submitted 2 days after the deadline "
                                  "(2026-10-01T23:59:00+00:00): −20%, 0.8 points.")
    assert bob["extra_data"]["cnngrade"]["late"]["days_late"] == 2
    assert found["cyd"]["score"] == 0 and "not valid notebook JSON" in found["cyd"]["output"]
    # the gradebook's own results are untouched
    assert gradescope_results(book, "mini")["ada"] == ada


def test_export_command(book, tmp_path):
    d = book.course_dir
    out = tmp_path / "canvas.csv"
    proc = cnngrade("export", "mini", "--format", "canvas", "-o", out, "--course-dir", d)
    assert proc.returncode == 0 and f"Wrote {out}" in " ".join(proc.stderr.split())
    assert out.read_text() == export(book, "mini", "canvas")
    proc = cnngrade("export", "mini", "--course-dir", d)   # csv to stdout, as before
    assert proc.returncode == 0 and proc.stdout.startswith("student,assignment,score,max_score")
    proc = cnngrade("export", "mini", "--format", "gradescope", "-o", tmp_path / "gs",
                    "--course-dir", d)
    assert proc.returncode == 0, proc.stderr
    written = sorted(p.relative_to(tmp_path / "gs").as_posix()
                     for p in (tmp_path / "gs").rglob("*") if p.is_file())
    assert written == ["ada/results.json", "bob/results.json", "cyd/results.json"]
    assert json.loads((tmp_path / "gs" / "bob" / "results.json").read_text())["score"] == 2.2
    assert_one_sentence(cnngrade("export", "mini", "--format", "gradescope", "--course-dir", d),
                        "give a folder with -o")
    assert_one_sentence(cnngrade("export", "mini", "--format", "gradescope", "-o", out,
                                 "--course-dir", d), "is a file")
    (tmp_path / "taken").write_text("a file where a folder should be")
    assert_one_sentence(cnngrade("export", "mini", "-o", tmp_path / "taken" / "x.csv",
                                 "--course-dir", d), "Cannot write")
    proc = cnngrade("export", "mini", "--format", "xls", "--course-dir", d)
    assert proc.returncode == 2 and "Invalid value for '--format'" in proc.stderr
