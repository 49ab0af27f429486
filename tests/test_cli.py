"""The `cnngrade` command as a user runs it: output, exit codes, one-sentence errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import filled, submit, template_of

CNNGRADE = [str(Path(sys.executable).parent / "cnngrade")]


def cnngrade(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(CNNGRADE + [str(a) for a in args], capture_output=True, text=True,
                          cwd=cwd, timeout=900, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200",
                                                     "HOME": str(Path.home())})


def assert_one_sentence(proc: subprocess.CompletedProcess, fragment: str) -> None:
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr + proc.stdout
    assert fragment in " ".join(proc.stderr.split()), proc.stderr


def test_user_mistakes_are_one_sentence(mini_course, tmp_path):
    d = mini_course.course_dir
    assert_one_sentence(cnngrade("release", "nope", "--course-dir", d), "no assignment 'nope'")
    assert_one_sentence(cnngrade("collect", "mini", tmp_path / "missing", "--course-dir", d),
                        "does not exist")
    assert_one_sentence(cnngrade("grade", "mini", "--student", "ghost", "--course-dir", d),
                        "No submission of 'ghost'")
    bad = tmp_path / "mini.ipynb"
    bad.write_text("{oops")
    assert_one_sentence(cnngrade("check", bad, "--course-dir", d), "is not valid notebook JSON")
    (d / "cnngrade.toml").write_text("[content\n")
    assert_one_sentence(cnngrade("report", "mini", "--course-dir", d), "is not valid TOML")


@pytest.mark.slow
def test_release_collect_grade_report_export_check(mini_course, tmp_path):
    d = mini_course.course_dir
    proc = cnngrade("release", "mini", "--course-dir", d)
    assert proc.returncode == 0 and "Released" in proc.stdout
    inbox = tmp_path / "inbox"
    submit(inbox, "ada", filled(mini_course, "mini"))
    submit(inbox, "bob", template_of(mini_course, "mini"))
    submit(inbox, "cyd", b"\x00\x01 not a notebook")
    proc = cnngrade("collect", "mini", inbox, "--course-dir", d)
    assert proc.returncode == 0 and "3 new submission(s)" in proc.stdout, proc.stdout
    proc = cnngrade("grade", "mini", "--workers", "2", "--course-dir", d)
    assert proc.returncode == 0, proc.stderr
    assert "ada: 4/4" in proc.stdout and "bob: 0/4" in proc.stdout
    proc = cnngrade("report", "mini", "--course-dir", d)
    assert proc.returncode == 0
    assert "Class summary" in proc.stdout and "Failures" in proc.stdout
    assert "cyd/mini.ipynb is not valid notebook JSON" in " ".join(proc.stdout.split())
    proc = cnngrade("report", "mini", "--student", "bob", "--course-dir", d)
    assert "not implemented yet" in proc.stdout and "ada" not in proc.stdout
    proc = cnngrade("export", "mini", "--format", "csv", "-o", "-", "--course-dir", d)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("student,assignment,score,max_score")
    assert sorted(line.split(",")[:4] for line in lines[1:]) == [
        ["ada", "mini", "4", "4"], ["bob", "mini", "0", "4"], ["cyd", "mini", "0", "4"]]
    nb_path = tmp_path / "mine" / "mini.ipynb"
    nb_path.parent.mkdir()
    nb_path.write_text(nbformat.writes(filled(mini_course, "mini")))
    proc = cnngrade("check", nb_path, "--course-dir", d)
    assert proc.returncode == 0 and "1 of 1 public tests passed" in proc.stdout, proc.stdout


def test_data_prepare(tmp_path):
    """`cnngrade data prepare` with an instructor's own two-class folder: writes, then on the
    second run leaves everything in place; a wrong folder is one sentence."""
    import gzip

    from PIL import Image

    from cnngrade.course.data import FASHION_FILES
    keras_home = tmp_path / "keras"
    (keras_home / "datasets" / "fashion-mnist").mkdir(parents=True)
    for name in FASHION_FILES:   # already cached: prepare keeps it
        with gzip.open(keras_home / "datasets" / "fashion-mnist" / name, "wb") as f:
            f.write(b"\0" * 16)
    own = tmp_path / "cats_and_dogs_small"
    for split in ("train", "validation", "test"):
        for animal in ("cats", "dogs"):
            (own / split / animal).mkdir(parents=True)
            Image.new("RGB", (30, 20)).save(own / split / animal / f"{animal}.0.jpg")
    course = tmp_path / "course"
    course.mkdir()
    (course / "cnngrade.toml").write_text(f'[data]\ntwo_class = "{own}"\n'
                                          f'hidden = "{tmp_path / "hidden"}"\n')
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": str(tmp_path),
           "KERAS_HOME": str(keras_home)}

    def run(*args):
        return subprocess.run(CNNGRADE + ["data", "prepare", "--course-dir", str(course),
                                          "--only", "fashion-mnist", "--only", "two-class",
                                          *args],
                              capture_output=True, text=True, env=env, timeout=900)

    first = run()
    assert first.returncode == 0, first.stderr
    assert f"copied from {own}" in " ".join(first.stdout.split())
    assert (tmp_path / "hidden" / "two-class" / "test" / "cats" / "cats.0.jpg").is_file()
    second = run()
    assert second.returncode == 0 and second.stdout.count("already in place") == 2
    (course / "cnngrade.toml").write_text(f'[data]\ntwo_class = "{tmp_path / "nope"}"\n')
    assert_one_sentence(run(), "needs train/, validation/ and test/ subfolders")


@pytest.mark.slow
def test_demo_runs_the_whole_job(tmp_path):
    """`make demo`'s command: release, collect, grade, report and the feedback pages."""
    proc = cnngrade("demo", "--course-dir", tmp_path / "course")
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())
    assert "Wrote 4 feedback page(s)" in out and "Traceback" not in proc.stdout + proc.stderr
    pages = sorted(p.parent.name for p in (tmp_path / "course" / "feedback").rglob("*.html"))
    assert pages == ["broken", "partial", "perfect", "template"]
    assert "full marks 0 (0%)" in out   # the written answers wait for a person:
    assert "graded by hand 1 of 4 answer(s); 3 left" in out and "30/32*" in out
