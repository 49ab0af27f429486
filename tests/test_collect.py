"""Collecting from a folder, an LMS zip and an nbgrader exchange; the store and the gradebook."""

from __future__ import annotations

import io
import os
import stat
import zipfile

import nbformat
import pytest
from conftest import filled, submit, template_of

from cnngrade.course.errors import CnnGradeError
from cnngrade.course.gradebook import open_gradebook
from cnngrade.course.store import Store
from cnngrade.intake.collect import collect


def test_folder_resubmission_and_idempotence(mini_course, tmp_path):
    inbox = tmp_path / "inbox"
    first = submit(inbox, "ada", template_of(mini_course, "mini"))
    report = collect(mini_course, "mini", inbox)
    assert report.added == [("ada", "mini.ipynb")] and not report.problems
    assert collect(mini_course, "mini", inbox).unchanged == [("ada", "mini.ipynb")]
    first.write_text(nbformat.writes(filled(mini_course, "mini")))
    os.utime(first, (2_000_000_000, 2_000_000_000))
    assert collect(mini_course, "mini", inbox).added == [("ada", "mini.ipynb")]
    book = open_gradebook(mini_course.course_dir)
    subs = book.submissions("mini", "ada")
    latest = book.latest("mini")
    book.close()
    assert len(subs) == 2 and latest[0].id == subs[-1].id
    store = Store(mini_course.course_dir / "store")
    for sub in subs:   # both originals are kept, read-only, intact
        path = store.path(sub.sha256)
        assert store.get(sub.sha256) and not path.stat().st_mode & stat.S_IWUSR


def _canvas_zip(entries: dict[str, bytes], symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 3, 1, 12, 0, 0)), data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def test_canvas_zip(mini_course, tmp_path):
    nb = nbformat.writes(template_of(mini_course, "mini")).encode()
    path = tmp_path / "submissions.zip"
    path.write_bytes(_canvas_zip({
        "lovelaceada_1234_5678_mini.ipynb": nb,
        "turingalan_LATE_2345_6789_mini-1.ipynb": nb + b" ",
        "../../evil_1_2_mini.ipynb": nb + b"  ",
        "readme.txt": b"hello",
        "nobody.ipynb": nb,
    }, symlink="hopper_3_4_mini.ipynb"))
    report = collect(mini_course, "mini", path)
    assert sorted(report.added) == [("evil", "mini.ipynb"), ("lovelaceada", "mini.ipynb"),
                                    ("turingalan", "mini-1.ipynb")]
    text = " ".join(report.problems)
    assert "readme.txt is not a .ipynb notebook" in text
    assert "nobody.ipynb: cannot tell whose file this is" in text
    assert "symbolic link" in text
    book = open_gradebook(mini_course.course_dir)
    late = {s.student: s.late for s in book.submissions("mini")}
    book.close()
    assert late == {"evil": False, "lovelaceada": False, "turingalan": True}
    # nothing was written outside the course directory
    assert not (tmp_path.parent / "evil_1_2_mini.ipynb").exists()


def test_exchange_inbound(mini_course, tmp_path):
    inbound = tmp_path / "exchange" / "course101" / "inbound"
    nb = nbformat.writes(template_of(mini_course, "mini"))
    for student, stamp in [("ada", "2026-03-01 10:00:00.000000 UTC"),
                           ("ada", "2026-03-02 10:00:00.000000 UTC"),
                           ("bob", "2026-03-01 11:00:00.000000 UTC")]:
        folder = inbound / f"{student}+mini+{stamp}"
        folder.mkdir(parents=True)
        (folder / "mini.ipynb").write_text(nb + stamp)
        (folder / "timestamp.txt").write_text(stamp)
    (inbound / "ada+other+2026-03-01 10:00:00.000000 UTC").mkdir()
    report = collect(mini_course, "mini", inbound.parent)
    assert sorted(report.added) == [("ada", "mini.ipynb"), ("ada", "mini.ipynb"),
                                    ("bob", "mini.ipynb")]
    book = open_gradebook(mini_course.course_dir)
    latest = {s.student: s.submitted_at for s in book.latest("mini")}
    book.close()
    assert latest["ada"].startswith("2026-03-02T10:00:00")


def test_bad_sources_are_one_sentence(mini_course, tmp_path):
    with pytest.raises(CnnGradeError, match="does not exist"):
        collect(mini_course, "mini", tmp_path / "nowhere")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(CnnGradeError, match="not a zip archive"):
        collect(mini_course, "mini", tmp_path / "notes.txt")
    with pytest.raises(CnnGradeError, match="no assignment 'nope'"):
        collect(mini_course, "nope", tmp_path)


def test_invalid_notebook_is_stored_and_flagged(mini_course, tmp_path):
    submit(tmp_path / "inbox", "dee", b"not a notebook")
    report = collect(mini_course, "mini", tmp_path / "inbox")
    assert report.added == [("dee", "mini.ipynb")]
    assert "is not valid notebook JSON" in report.problems[0]
