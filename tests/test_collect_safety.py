"""`cnngrade collect` on hostile input: zip slip, links, special files, zip bombs, LMS namesakes,
names in every script and files that are not notebooks. Each bad entry is one printable sentence,
never a traceback; the good entries are all collected; nothing is written outside the course."""

from __future__ import annotations

import io
import os
import socket
import stat
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import submit, template_of

from cnngrade.course.errors import CnnGradeError
from cnngrade.course.gradebook import open_gradebook
from cnngrade.course.store import Store
from cnngrade.intake import collect as collect_module
from cnngrade.intake.collect import MAX_PROBLEMS, collect


def _nb(course, tag: str = "") -> bytes:
    """The released template as bytes, made distinct by `tag`."""
    nb = template_of(course, "mini")
    nb.metadata["tag"] = tag
    return nbformat.writes(nb).encode()


def _patch_header(data: bytes, member: str, at: tuple[int, int], fmt: str, value: int) -> bytes:
    """`data` with a field of `member`'s local and central headers, at offsets `at`, set."""
    out, name = bytearray(data), member.encode()
    for signature, offset, name_at in ((b"PK\x03\x04", at[0], 30), (b"PK\x01\x02", at[1], 46)):
        start = out.find(signature)
        while start >= 0:
            if out[start + name_at:start + name_at + len(name)] == name:
                out[start + offset:start + offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
            start = out.find(signature, start + 4)
    return bytes(out)


def _zip(entries: dict[str, bytes], *, symlink: str | None = None,
         method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 3, 1, 12, 0, 0))
            info.compress_type = method
            archive.writestr(info, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _tree(root: Path, skip: Path) -> set[str]:
    """Every path under `root` but those in `skip`, links not followed."""
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            if path != skip and skip not in path.parents:
                found.add(str(path))
    return found


def _students(course) -> dict[str, int]:
    book = open_gradebook(course.course_dir)
    subs = book.submissions("mini")
    book.close()
    counts: dict[str, int] = {}
    for sub in subs:
        counts[sub.student] = counts.get(sub.student, 0) + 1
    return counts


def _one_line_each(problems: list[str]) -> None:
    assert all(p.isprintable() and "\n" not in p for p in problems), problems


# -- zip slip and paths ----------------------------------------------------------------------

def test_zip_paths_count_only_by_base_name(mini_course, tmp_path):
    outside = tmp_path / "outside"
    entries = {
        "../../evil_1_2_mini.ipynb": _nb(mini_course, "evil"),
        f"{outside}/abs_3_4_mini.ipynb": _nb(mini_course, "abs"),
        "C:\\Users\\x\\..\\win_5_6_mini.ipynb": _nb(mini_course, "win"),
        "..\\..\\back_7_8_mini.ipynb": _nb(mini_course, "back"),
        "\\\\server\\share\\unc_9_10_mini.ipynb": _nb(mini_course, "unc"),
        "submissions/plain_11_12_mini.ipynb": _nb(mini_course, "plain"),
        "__MACOSX/submissions/._plain_11_12_mini.ipynb": b"\0\5\26\7",   # skipped silently
    }
    path = _write(tmp_path / "slip.zip", _zip(entries))
    before = _tree(tmp_path, mini_course.course_dir)
    report = collect(mini_course, "mini", path)
    assert sorted(s for s, _ in report.added) == ["abs", "back", "evil", "plain", "unc", "win"]
    assert {f for _, f in report.added} == {"mini.ipynb"}
    ignored = [p for p in report.problems if "folders in this path were ignored" in p]
    assert len(ignored) == 5 and not any("plain_11" in p for p in report.problems)
    _one_line_each(report.problems)
    assert _tree(tmp_path, mini_course.course_dir) == before
    assert not (tmp_path.parent / "evil_1_2_mini.ipynb").exists()
    assert {p.name for p in mini_course.course_dir.iterdir()} <= {
        "cnngrade.toml", "store", "gradebook.sqlite", "gradebook.sqlite-wal",
        "gradebook.sqlite-shm"}


def test_zip_links_encrypted_and_corrupt_members_are_skipped(mini_course, tmp_path):
    data = bytearray(_zip({"good_1_2_mini.ipynb": _nb(mini_course, "good"),
                           "bad_3_4_mini.ipynb": b"x" * 4000 + os.urandom(4000)},
                          symlink="link_5_6_mini.ipynb"))
    start = data.index(b"bad_3_4_mini.ipynb") + len("bad_3_4_mini.ipynb") + 100
    data[start:start + 200] = os.urandom(200)   # the deflate stream of bad_3_4
    buffer = io.BytesIO(bytes(data))
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("locked_7_8_mini.ipynb", b"{}")
    locked = _patch_header(buffer.getvalue(), "locked_7_8_mini.ipynb", (6, 8), "<H", 0x1)
    report = collect(mini_course, "mini", _write(tmp_path / "s.zip", locked))
    assert report.added == [("good", "mini.ipynb")]
    text = "\n".join(report.problems)
    assert "link_5_6_mini.ipynb is a symbolic link" in text
    assert "bad_3_4_mini.ipynb cannot be read from the zip" in text
    assert "locked_7_8_mini.ipynb cannot be read from the zip" in text
    _one_line_each(report.problems)


# -- zip bombs -------------------------------------------------------------------------------

def test_zip_bomb_member_and_oversized_member(mini_course, tmp_path, monkeypatch):
    monkeypatch.setattr(collect_module, "MAX_FILE", 2 * 1024 * 1024)
    big = os.urandom(3 * 1024 * 1024)   # incompressible, over MAX_FILE
    path = _write(tmp_path / "b.zip", _zip({
        "bomb_1_1_mini.ipynb": b"\0" * (20 * 1024 * 1024),   # 20 MiB in about 20 KiB
        "big_2_2_mini.ipynb": big,
        "ok_3_3_mini.ipynb": _nb(mini_course, "ok")}))
    assert path.stat().st_size < 4 * 1024 * 1024
    report = collect(mini_course, "mini", path)
    assert report.added == [("ok", "mini.ipynb")]
    text = "\n".join(report.problems)
    assert "bomb_1_1_mini.ipynb is too large or too compressed" in text
    assert "big_2_2_mini.ipynb is too large or too compressed" in text


def test_nested_zip_is_stored_as_it_is_and_flagged(mini_course, tmp_path):
    inner = _zip({"deep_1_1_mini.ipynb": b"\0" * (10 * 1024 * 1024)})
    path = _write(tmp_path / "n.zip", _zip({"nest_2_2_mini.ipynb": inner}))
    report = collect(mini_course, "mini", path)
    assert report.added == [("nest", "mini.ipynb")]
    assert "nest/mini.ipynb" in report.problems[0] and "graded 0" in report.problems[0]
    book = open_gradebook(mini_course.course_dir)
    sub, = book.submissions("mini")
    book.close()
    assert Store(mini_course.course_dir / "store").get(sub.sha256) == inner   # never extracted




def test_member_whose_declared_size_lies(mini_course, tmp_path):
    """The headers say 1 KiB; the stream inflates to 50 MiB: reading stops at the declared size
    (the CRC then fails), so memory stays small and the other members are collected."""
    data = _zip({"liar_1_1_mini.ipynb": b"\0" * (50 * 1024 * 1024),
                 "ok_2_2_mini.ipynb": _nb(mini_course, "ok")})
    data = _patch_header(data, "liar_1_1_mini.ipynb", (22, 24), "<I", 1024)   # size fields
    path = _write(tmp_path / "l.zip", data)
    tracemalloc.start()
    try:
        report = collect(mini_course, "mini", path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024
    assert report.added == [("ok", "mini.ipynb")]
    assert any("liar_1_1_mini.ipynb cannot be read from the zip" in p for p in report.problems)


def test_members_summing_past_the_total_cap(mini_course, tmp_path, monkeypatch):
    notebooks = {f"s{i}_{i}_1_mini.ipynb": _nb(mini_course, str(i)) for i in range(5)}
    monkeypatch.setattr(collect_module, "MAX_TOTAL", 3 * max(map(len, notebooks.values())) + 10)
    report = collect(mini_course, "mini", _write(tmp_path / "t.zip", _zip(notebooks)))
    assert [s for s, _ in report.added] == ["s0", "s1", "s2"]
    assert report.problems == [f"t.zip unpacks to more than {collect_module.MAX_TOTAL} bytes; "
                               "s3_3_1_mini.ipynb and the files after it were skipped: split "
                               "the download and collect each part."]


def test_zip_with_100k_members_is_capped_and_fast(mini_course, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("first_1_1_mini.ipynb", _nb(mini_course, "first"))
        for i in range(100_000):
            archive.writestr(zipfile.ZipInfo(f"f{i}.txt"), b"x")
    path = _write(tmp_path / "many.zip", buffer.getvalue())
    started = time.process_time()   # CPU time: the same on a busy machine as on an idle one
    report = collect(mini_course, "mini", path)
    assert time.process_time() - started < 10
    assert report.added == [("first", "mini.ipynb")]
    assert "many.zip holds 100001 files, more than the 10000" in report.problems[0]
    assert len(report.problems) == MAX_PROBLEMS + 1
    assert report.problems[-1].startswith(f"{10_000 - MAX_PROBLEMS} more problems in ")


# -- names -----------------------------------------------------------------------------------

def _rename_in_zip(data: bytes, renames: dict[bytes, bytes]) -> bytes:
    for old, new in renames.items():
        assert len(old) == len(new)
        data = data.replace(old, new)
    return data


def test_zip_names_in_cp437_or_unflagged_utf8(mini_course, tmp_path):
    data = _zip({"ZoXX_1_2_mini.ipynb": _nb(mini_course, "zoe"),
                 "MXller_3_4_mini.ipynb": _nb(mini_course, "muller"),
                 "XXXX_5_6_mini.ipynb": _nb(mini_course, "box")})
    data = _rename_in_zip(data, {b"ZoXX_": "Zoë_".encode(),          # UTF-8, no UTF-8 flag
                                 b"MXller_": b"M\x81ller_",           # cp437 u-umlaut
                                 b"XXXX_": b"\xc8\xcd\xcd\xbc_"})      # cp437 box drawing
    report = collect(mini_course, "mini", _write(tmp_path / "c.zip", data))
    assert sorted(s for s, _ in report.added) == ["Müller", "Zoë"]
    assert len(report.problems) == 1 and "U+255A (BOX DRAWINGS" in report.problems[0]


def test_names_in_other_scripts_and_unicode_normalization(mini_course, tmp_path):
    inbox = tmp_path / "inbox"
    names = ["李雷", "Ђорђе", "محمد", "مُحَمَّد", "हिन्दी", "ไทย",
             "ada.lovelace@uni.edu", "x_y+z-1"]
    for name in names:
        submit(inbox, name, _nb(mini_course, name))
    submit(inbox, "Zo\u00eb", _nb(mini_course, "nfc"))       # composed
    submit(inbox, "Zoe\u0308", _nb(mini_course, "nfd"))      # decomposed, as macOS zips it
    zipped = _write(tmp_path / "z.zip", _zip({"Zoe\u0308_1_2_mini.ipynb": _nb(mini_course, "z")}))
    report = collect(mini_course, "mini", inbox)
    assert not report.problems, report.problems
    assert collect(mini_course, "mini", zipped).added == [("Zo\u00eb", "mini.ipynb")]
    counts = _students(mini_course)
    assert counts.pop("Zo\u00eb") == 3 and sorted(counts) == sorted(names)


def test_hostile_student_ids_are_refused(mini_course, tmp_path):
    inbox = tmp_path / "inbox"
    bad = {"bad\u202eevil": "U+202E (RIGHT-TO-LEFT OVERRIDE)",
           "zero\u200bwidth": "U+200B (ZERO WIDTH SPACE)",
           "ctl\x07x": "U+0007 (a control character)",
           "new\nline": "U+000A (a control character)",
           "with space": "U+0020 (SPACE)",
           "back\\slash": "U+005C (REVERSE SOLIDUS)",
           "semi;colon": "U+003B (SEMICOLON)",
           "-minus": "does not start with", "=cmd": "does not start with",
           "+plus": "does not start with", "@at": "does not start with",
           ".hidden-not": None,   # hidden folders are not students: skipped silently
           "a" * 101: "is longer than 100 characters"}
    for name in bad:
        submit(inbox, name, _nb(mini_course, name))
    submit(inbox, "ok", _nb(mini_course, "ok"))
    report = collect(mini_course, "mini", inbox)
    assert report.added == [("ok", "mini.ipynb")]
    _one_line_each(report.problems)
    assert len(report.problems) == len(bad) - 1
    for fragment in filter(None, bad.values()):
        assert any(fragment in p for p in report.problems), fragment
    assert all("rename it" in p for p in report.problems)
    # in a zip: the name part, and a 100-character name too long in bytes for a file name
    path = _write(tmp_path / "h.zip", _zip({"=HYPERLINK_1_2_mini.ipynb": b"{}",
                                            "李" * 100 + "_3_4_mini.ipynb": b"{}"}))
    report = collect(mini_course, "mini", path)
    assert not report.added and len(report.problems) == 2
    assert "U+003D (EQUALS SIGN)" in report.problems[0] and "longer" in report.problems[1]


def test_lms_namesakes_are_not_merged(mini_course, tmp_path):
    """Two LMS users called smithjohn (ids 111 and 222), both submitting the untouched template:
    two students, neither lost; 111 resubmitting stays 111; later zips keep the same split."""
    template, answered = _nb(mini_course), _nb(mini_course, "answered")
    first = _write(tmp_path / "1.zip", _zip({"smithjohn_222_9_mini.ipynb": template,
                                             "smithjohn_111_7_mini.ipynb": template,
                                             "smithjohn_LATE_111_8_mini-1.ipynb": answered,
                                             "doejane_333_5_mini.ipynb": template}))
    report = collect(mini_course, "mini", first)
    assert sorted(report.added) == [("doejane", "mini.ipynb"), ("smithjohn", "mini-1.ipynb"),
                                    ("smithjohn", "mini.ipynb"),
                                    ("smithjohn-222", "mini.ipynb")]
    assert len(report.problems) == 1
    assert "LMS users 111 and 222 are both named 'smithjohn'" in report.problems[0]
    assert "'smithjohn-222'" in report.problems[0]
    again = collect(mini_course, "mini", first)
    assert not again.added and len(again.unchanged) == 4
    later = _write(tmp_path / "2.zip", _zip({"smithjohn_222_10_mini.ipynb": answered + b" "}))
    assert collect(mini_course, "mini", later).added == [("smithjohn-222", "mini.ipynb")]
    assert _students(mini_course) == {"doejane": 1, "smithjohn": 2, "smithjohn-222": 2}


# -- folders: links and special files --------------------------------------------------------

@pytest.mark.timeout(600)   # a hang guard (a pipe read would block), not a speed test
def test_folder_links_pipes_sockets_and_devices_are_skipped(mini_course, tmp_path):
    inbox = tmp_path / "inbox"
    submit(inbox, "ada", _nb(mini_course, "ada"))
    elsewhere = tmp_path / "elsewhere"
    submit(elsewhere, "x", _nb(mini_course, "elsewhere"))
    (inbox / "bob").symlink_to(elsewhere / "x")
    for student in ("cyd", "dee", "eve", "fay", "gus", "hal"):
        (inbox / student).mkdir()
    (inbox / "cyd" / "mini.ipynb").symlink_to("/etc/passwd")
    (inbox / "dee" / "mini.ipynb").symlink_to(inbox / "ada" / "mini.ipynb")
    os.mkfifo(inbox / "eve" / "mini.ipynb")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(inbox / "fay" / "mini.ipynb"))
    (inbox / "hal" / "mini.ipynb").mkdir()
    kinds = {"bob": "is a symbolic link", "cyd": "is a symbolic link, not a notebook file",
             "dee": "is a symbolic link, not a notebook file", "eve": "is a named pipe",
             "fay": "is a socket", "hal": "is a folder"}
    try:
        os.mknod(inbox / "gus" / "mini.ipynb", stat.S_IFCHR | 0o600, os.makedev(1, 5))
        kinds["gus"] = "is a device"
    except (PermissionError, OSError):
        (inbox / "gus").rmdir()
    report = collect(mini_course, "mini", inbox)
    assert report.added == [("ada", "mini.ipynb")]
    assert len(report.problems) == len(kinds), report.problems
    for student, fragment in kinds.items():
        assert any(str(inbox / student) in p and fragment in p for p in report.problems), student
    stored = [p for p in (mini_course.course_dir / "store").rglob("*") if p.is_file()]
    assert len(stored) == 1


@pytest.mark.timeout(600)   # a hang guard (a pipe read would block), not a speed test
def test_exchange_links_and_pipes(mini_course, tmp_path):
    inbound = tmp_path / "exchange" / "inbound"
    stamp = "2026-03-01 10:00:00.000000 UTC"
    ada = inbound / f"ada+mini+{stamp}"
    submit(inbound, ada.name, _nb(mini_course, "ada"))
    os.mkfifo(ada / "timestamp.txt")            # read without blocking: the name's stamp wins
    submit(tmp_path, "real", _nb(mini_course, "bob"))
    (inbound / f"bob+mini+{stamp}").symlink_to(tmp_path / "real")
    report = collect(mini_course, "mini", inbound.parent)
    assert report.added == [("ada", "mini.ipynb")]
    assert len(report.problems) == 1 and "is a symbolic link" in report.problems[0]


# -- files that are not notebooks, and bad sources -------------------------------------------

def test_files_that_are_not_notebooks(mini_course, tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(64)
    empty_nb = nbformat.v4.new_notebook()
    path = _write(tmp_path / "f.zip", _zip({
        "ada_1_2_answer.py": b"print(1)", "bob_3_4_report.pdf": b"%PDF-1.4",
        "cyd_5_6_mini.ipynb": png, "dee_7_8_mini.ipynb": b"",
        "eve_9_10_mini.ipynb": nbformat.writes(empty_nb).encode()}))
    report = collect(mini_course, "mini", path)
    assert sorted(s for s, _ in report.added) == ["cyd", "dee", "eve"]   # stored, flagged
    text = "\n".join(report.problems)
    assert "ada_1_2_answer.py is not a .ipynb notebook" in text
    assert "bob_3_4_report.pdf is not a .ipynb notebook" in text
    for student in ("cyd", "dee", "eve"):
        assert any(p.startswith(f"{student}/mini.ipynb") and "graded 0" in p
                   for p in report.problems), student
    inbox = tmp_path / "inbox"
    submit(inbox, "fay", b"print(1)", "answer.py")
    submit(inbox, "gus", _nb(mini_course, "gus"))
    report = collect(mini_course, "mini", inbox)
    assert report.added == [("gus", "mini.ipynb")]
    assert report.problems == [f"{inbox / 'fay'} holds no .ipynb notebook (only answer.py); "
                               "nothing was collected from it."]


@pytest.mark.timeout(600)   # a hang guard (a pipe read would block), not a speed test
def test_bad_sources_raise_one_sentence(mini_course, tmp_path):
    good = _zip({"ada_1_2_mini.ipynb": _nb(mini_course, "ada")})
    cases = {
        "truncated.zip": (good[:len(good) // 2], "not a zip archive, or a truncated one"),
        "cd.zip": (good.replace(b"PK\x01\x02", b"XK\x01\x02"), "cannot be opened as a zip"),
        "empty.zip": (_zip({}), "holds no submissions for 'mini'"),
        "notes.pdf": (b"%PDF-1.4 hello", "not a zip archive"),
    }
    for name, (data, fragment) in cases.items():
        with pytest.raises(CnnGradeError, match=fragment):
            collect(mini_course, "mini", _write(tmp_path / name, data))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CnnGradeError, match="is empty"):
        collect(mini_course, "mini", tmp_path / "empty")
    os.mkfifo(tmp_path / "pipe.zip")
    with pytest.raises(CnnGradeError, match="neither a folder nor a zip file"):
        collect(mini_course, "mini", tmp_path / "pipe.zip")


def test_cli_prints_each_problem_on_one_line(mini_course, tmp_path, monkeypatch):
    from click.testing import CliRunner
    from rich.console import Console

    import cnngrade.cli.main
    monkeypatch.setattr(cnngrade.cli.main, "console", Console(width=10_000))   # no wrapping
    path = _write(tmp_path / "hostile.zip", _zip({
        "../../evil_1_2_mini.ipynb": _nb(mini_course, "evil"),
        "bad\u202eevil_3_4_mini.ipynb": _nb(mini_course, "bidi"),
        "ada_5_6_mi\nni.ipynb": _nb(mini_course, "ada"),
        "x\x1b[31mred_7_8_mini.ipynb": _nb(mini_course, "ansi"),
        "notes.txt": b"hello"}, symlink="link_9_9_mini.ipynb"))
    result = CliRunner().invoke(cnngrade.cli.main.cnngrade, ["collect", "mini", str(path),
                                                             "--course-dir",
                                                             str(mini_course.course_dir)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and result.exception is None
    assert "Collected 2 new submission(s)" in result.output
    lines = result.output.splitlines()
    problems = [line for line in lines if line.startswith("  ! ")]
    assert len(problems) == 6, result.output
    assert len(lines) == 1 + 2 + len(problems)
    assert "\x1b" not in result.output and "\u202e" not in result.output
    assert any("\\u202e" in line for line in problems) and any("\\x1b" in line
                                                               for line in problems)


def test_a_member_under_the_size_cap_but_over_the_ratio_is_a_bomb(mini_course, tmp_path):
    """1.5 MiB of zeros in a few kB: under MAX_FILE, so only MAX_RATIO stops it."""
    member = b"\0" * (1536 * 1024)
    assert len(member) < collect_module.MAX_FILE
    path = _write(tmp_path / "r.zip", _zip({"ratio_4_4_mini.ipynb": member,
                                            "ok_3_3_mini.ipynb": _nb(mini_course, "ok")}))
    report = collect(mini_course, "mini", path)
    assert report.added == [("ok", "mini.ipynb")]
    assert "ratio_4_4_mini.ipynb is too large or too compressed" in "\n".join(report.problems)


def test_a_file_swapped_for_a_link_after_the_listing_is_not_followed(mini_course, tmp_path):
    """The folder walk skips links it sees; one put in place after the listing (a race) is
    opened with O_NOFOLLOW, so another student's valid notebook is not read through it."""
    other = _write(tmp_path / "bob.ipynb", _nb(mini_course, "bob"))
    (tmp_path / "alice").mkdir()
    link = tmp_path / "alice" / "mini.ipynb"
    link.symlink_to(other)
    problems: list[str] = []
    assert collect_module._read(link, problems) is None
    assert problems == [f"{link} cannot be read (Too many levels of symbolic links); it was "
                        "skipped."]
