"""Crash safety with real SIGKILLs of real processes: during a gradebook write, during collect,
during export and between grade's results file and its gradebook row. Afterwards the gradebook
opens and passes SQLite's integrity check, every collected original is intact, no file is ever
seen half written under its final name, and running the same work again completes it.

The kills at random moments use a seeded generator (reproducible), and every assertion is an
invariant that holds whatever the moment; the kills at chosen moments are made by the child
itself (a function wrapped in the child only)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
from conftest import REPO, filled, submit, template_of

from cnngrade.course.gradebook import Gradebook, open_gradebook
from cnngrade.course.store import (
    STALE_AFTER,
    TMP_SUFFIX,
    Store,
    atomic_write,
    remove_stale_temporaries,
)
from cnngrade.intake.collect import collect
from cnngrade.views.export import export

CNNGRADE = [str(Path(sys.executable).with_name("cnngrade"))]
ENV = dict(os.environ, COLUMNS="200")
KILLED = -signal.SIGKILL


# -- helpers ----------------------------------------------------------------------------------
def start(args: list[str]) -> subprocess.Popen:
    """A process in its own group (so that its workers die with it); stderr kept in a file,
    since a worker left behind by a kill would hold a pipe open."""
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen([str(a) for a in args], env=ENV, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=err)
    proc.err = err   # type: ignore[attr-defined]
    return proc


def child(script: str, *args: object) -> subprocess.Popen:
    """`python -c script args...` with the repository on sys.path."""
    code = f"import sys\nsys.path.insert(0, {str(REPO)!r})\n" + textwrap.dedent(script)
    return start([sys.executable, "-c", code, *args])


def finish(proc: subprocess.Popen, timeout: float = 900) -> tuple[int, str]:
    """Wait for `proc`, then kill whatever of its group is left; its exit status and stderr."""
    try:
        proc.wait(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    proc.err.seek(0)   # type: ignore[attr-defined]
    text = proc.err.read().decode(errors="replace")   # type: ignore[attr-defined]
    proc.err.close()   # type: ignore[attr-defined]
    return proc.returncode, text


def kill(proc: subprocess.Popen) -> int:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    return finish(proc)[0]


def strays(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob(f".*{TMP_SUFFIX}"))


def age(paths: list[Path]) -> None:
    """Make temporaries old enough that, with no writer holding them, they count as dead."""
    old = time.time() - 2 * STALE_AFTER
    for path in paths:
        os.utime(path, (old, old))


def check_course(course_dir: Path, sources: dict[str, bytes]) -> int:
    """The invariants that hold after a kill at any moment; returns how many were collected."""
    book = open_gradebook(course_dir)
    try:
        assert book.integrity_problems() == []
        subs = book.submissions("mini")
    finally:
        book.close()
    store = Store(course_dir / "store")
    assert store.verify() == []   # no file under its final name with the wrong content
    for sub in subs:              # every recorded submission has its original, intact
        assert store.get(sub.sha256) == sources[sub.student]
        assert not store.path(sub.sha256).stat().st_mode & 0o222
    assert len({s.student for s in subs}) == len(subs)   # nothing recorded twice
    return len(subs)


def collected(course_dir: Path) -> int:
    """Rows in submissions, read while a collect may be writing (0 before the schema exists)."""
    path = course_dir / "gradebook.sqlite"
    if not path.exists():
        return 0
    db = sqlite3.connect(path, timeout=120)
    try:
        return db.execute("SELECT count(*) FROM submissions").fetchone()[0]
    except sqlite3.OperationalError:   # no table yet
        return 0
    finally:
        db.close()


# -- the gradebook ----------------------------------------------------------------------------
GRADEBOOK_WRITER = '''
import os, signal
from pathlib import Path
from cnngrade.course.gradebook import Gradebook

path, mode, prefix, n = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
book = Gradebook(path)
book.db.execute("PRAGMA wal_autocheckpoint=0")   # committed rows stay in the -wal file
book.db.execute("PRAGMA cache_size=2")           # and the open transaction spills into it


def add(student):
    book.add_submission(assignment="mini", student=student, sha256=student * 4,
                        filename="mini.ipynb", origin="test", submitted_at="2026-03-01",
                        late=False)
    sub = book.submissions("mini", student)[0]
    book.record(sub.id, "suite", "env", {"score": 3, "max_score": 4, "pad": "x" * 300},
                "graded", 1.0)


for i in range(n):                               # one committed transaction each
    add(f"{prefix}done{i:03d}")
if mode == "die":                                # one transaction, killed before its COMMIT
    with book.transaction():
        for i in range(5 * n):
            add(f"{prefix}half{i:03d}")
        os.kill(os.getpid(), signal.SIGKILL)
else:
    for i in range(5 * n):
        add(f"{prefix}half{i:03d}")
'''


def test_gradebook_killed_inside_a_transaction(tmp_path):
    path = tmp_path / "gradebook.sqlite"
    code, err = finish(child(GRADEBOOK_WRITER, path, "die", "", 40))
    assert code == KILLED, err
    wal = path.with_name(path.name + "-wal")
    assert wal.stat().st_size > 0   # the kill left a WAL holding committed and open frames
    book = Gradebook(path)
    try:
        assert book.integrity_problems() == []
        students = {s.student for s in book.submissions("mini")}
        assert students == {f"done{i:03d}" for i in range(40)}   # all committed, none half
        assert [g.score for g in book.grades("mini")] == [3.0] * 40
    finally:
        book.close()
    code, err = finish(child(GRADEBOOK_WRITER, path, "rerun", "", 40))   # the rerun adds them
    assert code == 0, err
    book = Gradebook(path)
    try:
        assert book.integrity_problems() == []
        assert len(book.submissions("mini")) == len(book.grades("mini")) == 240
    finally:
        book.close()


def test_gradebook_shared_by_several_processes(tmp_path):
    """Four writers open a new gradebook at once while this process reads it: every write
    waits its turn, none is lost, and every read sees a committed state."""
    path = tmp_path / "gradebook.sqlite"
    procs = [child(GRADEBOOK_WRITER, path, "rerun", f"p{k}", 5) for k in range(4)]
    while any(p.poll() is None for p in procs):
        if path.exists():
            book = Gradebook(path)
            try:
                rows = book.grades("mini")
                assert all(r.score == 3 for r in rows)
            finally:
                book.close()
        time.sleep(0.02)
    assert [finish(p)[0] for p in procs] == [0, 0, 0, 0]
    book = Gradebook(path)
    try:
        assert book.integrity_problems() == []
        assert len(book.grades("mini")) == 4 * 30
    finally:
        book.close()


def test_nested_transactions(tmp_path):
    book = Gradebook(tmp_path / "gradebook.sqlite")
    try:
        with pytest.raises(RuntimeError), book.transaction():   # all of it, or none of it
            for student in ("ada", "bob"):
                book.add_submission(assignment="mini", student=student, sha256=student,
                                    filename="mini.ipynb", origin="test", submitted_at="t",
                                    late=False)
            raise RuntimeError
        assert book.submissions("mini") == [] and not book.db.in_transaction
        with pytest.raises(sqlite3.ProgrammingError), book.snapshot(), book.transaction():
            pass
        assert not book.db.in_transaction
    finally:
        book.close()


# -- the store's temporaries ----------------------------------------------------------------
def test_stale_temporaries_are_removed_only_when_their_writer_is_gone(tmp_path):
    target = tmp_path / "out.csv"
    locked, fresh, dead = (tmp_path / f".out.csv.{n}{TMP_SUFFIX}" for n in ("a", "b", "c"))
    for path in (locked, fresh, dead):
        path.write_text("partial")
    age([locked, dead])
    import fcntl
    with open(locked) as holder:   # a live writer's temporary: its lock is held
        fcntl.flock(holder, fcntl.LOCK_EX)
        atomic_write(target, b"new\n")
        assert strays(tmp_path) == [locked, fresh]
    assert target.read_bytes() == b"new\n"
    assert remove_stale_temporaries(target) == [locked]
    assert strays(tmp_path) == [fresh]   # too young to tell: left, and never read


STORE_KILLER = '''
import os, signal
from pathlib import Path
from cnngrade.intake.collect import collect
from cnngrade.course.config import load_course

real_replace, renames = os.replace, []


def replace(src, dst):   # the third store write is killed once written, before its rename
    if "/store/" in str(dst):
        renames.append(dst)
        if len(renames) == 3:
            os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)


os.replace = replace
collect(load_course(Path(sys.argv[1])), "mini", Path(sys.argv[2]))
'''


def test_collect_killed_before_a_rename(mini_course, tmp_path):
    inbox = tmp_path / "inbox"
    base = nbformat.writes(template_of(mini_course, "mini"))
    sources = {f"s{i}": f"{base}{' ' * i}".encode() for i in range(5)}
    for student, data in sources.items():
        submit(inbox, student, data)
    d = mini_course.course_dir
    code, err = finish(child(STORE_KILLER, d, inbox))
    assert code == KILLED, err
    assert check_course(d, sources) == 2
    left = strays(d / "store")
    assert len(left) == 1 and left[0].read_bytes() == sources["s2"]
    store = Store(d / "store")
    assert not store.path(left[0].name.split(".")[1]).exists()
    assert len(collect(mini_course, "mini", inbox).added) == 3   # the rerun completes the work
    assert check_course(d, sources) == 5
    assert strays(d / "store") == left   # too young to tell its writer is dead: left alone
    age(left)
    assert collect(mini_course, "mini", inbox).added == []
    assert strays(d / "store") == []     # the next put of its path removed it


def test_collect_killed_at_random_moments(mini_course, tmp_path):
    rng = random.Random(20260301)
    n = 200
    inbox = tmp_path / "inbox"
    base = nbformat.writes(template_of(mini_course, "mini"))
    sources = {f"st{i:03d}": f"{base}{' ' * i}".encode() for i in range(n)}
    for student, data in sources.items():
        submit(inbox, student, data)
    d = mini_course.course_dir
    args = CNNGRADE + ["collect", "mini", inbox, "--course-dir", d]
    counts = [0]
    for round_ in range(5):
        proc = start(args)
        if round_ == 0:   # anywhere from start-up on
            time.sleep(rng.uniform(0.05, 0.6))
        else:             # once it has collected more, plus a little
            target = counts[-1] + rng.randint(1, (n - counts[-1]) // 3)
            deadline = time.monotonic() + 60
            while (proc.poll() is None and collected(d) < target
                   and time.monotonic() < deadline):
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.03))
        code = kill(proc)
        assert code in (KILLED, 0)
        assert round_ == 0 or code == KILLED
        counts.append(check_course(d, sources))
    assert counts == sorted(counts) and counts[-1] < n, counts
    age(strays(d / "store"))
    code, err = finish(start(args))
    assert code == 0, err
    assert check_course(d, sources) == n   # every student once, each original intact
    assert strays(d / "store") == []


# -- export --------------------------------------------------------------------------------
def _fill(course, first: int, count: int) -> None:
    """`count` more graded students, in one transaction."""
    book = open_gradebook(course.course_dir)
    try:
        with book.transaction():
            for i in range(first, first + count):
                student = f"st{i:05d}"
                book.add_submission(assignment="mini", student=student, sha256=f"{i:064x}",
                                    filename="mini.ipynb", origin="test",
                                    submitted_at="2026-03-01T10:00:00+00:00", late=i % 7 == 0)
                sub = book.submissions("mini", student)[0]
                book.record(sub.id, "suite", "env", {"score": i % 5, "max_score": 4},
                            "graded", 1.0)
    finally:
        book.close()


EXPORT_KILLER = '''
import os, signal
from cnngrade.cli.main import main

moment = sys.argv[1]
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
if moment == "write":      # half of the file written
    real_fdopen = os.fdopen

    class Half:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            self.handle.flush()
            die()

        def __getattr__(self, name):
            return getattr(self.handle, name)

    os.fdopen = lambda *a, **k: Half(real_fdopen(*a, **k))
elif moment == "fsync":    # all written and synced, not yet renamed
    os.fsync = lambda fd: die()
else:                      # renamed, the folder not yet synced
    real_replace = os.replace
    os.replace = lambda src, dst: (real_replace(src, dst), die())
sys.argv = ["cnngrade", *sys.argv[2:]]
main()
'''


@pytest.fixture
def exported(mini_course, tmp_path):
    """A gradebook of 3000 students, `out.csv` exported when it held 1500; (old, new, args)."""
    _fill(mini_course, 0, 1500)
    out = tmp_path / "out.csv"
    args = ["export", "mini", "-o", out, "--course-dir", mini_course.course_dir]
    code, err = finish(start(CNNGRADE + args))
    assert code == 0, err
    old = out.read_bytes()
    _fill(mini_course, 1500, 1500)
    new = export(mini_course, "mini").encode()
    assert old.count(b"\n") == 1501 and new.count(b"\n") == 3001
    return old, new, args


@pytest.mark.parametrize("moment", ["write", "fsync", "replace"])
def test_export_killed_at_each_step_of_its_write(exported, tmp_path, moment):
    old, new, args = exported
    out = tmp_path / "out.csv"
    code, err = finish(child(EXPORT_KILLER, moment, *args))
    assert code == KILLED, err
    assert out.read_bytes() == (new if moment == "replace" else old)
    assert len(strays(tmp_path)) == (0 if moment == "replace" else 1)
    age(strays(tmp_path))
    code, err = finish(start(CNNGRADE + args))   # the rerun writes it, and removes the stray
    assert code == 0, err
    assert out.read_bytes() == new and strays(tmp_path) == []


def test_export_killed_at_random_moments(exported, tmp_path):
    old, new, args = exported
    out = tmp_path / "out.csv"
    rng = random.Random(7)
    began = time.monotonic()
    code, err = finish(start(CNNGRADE + args))
    assert code == 0, err
    took = time.monotonic() - began
    seen = []   # which file each kill left, for the failure message
    for _ in range(8):
        if out.read_bytes() != old:
            atomic_write(out, old)
        proc = start(CNNGRADE + args)
        time.sleep(rng.uniform(0.3, 1.1) * took)
        kill(proc)
        content = out.read_bytes()
        assert content in (old, new), seen   # never truncated, never a mixture
        seen.append("new" if content == new else "old")
    age(strays(tmp_path))
    code, err = finish(start(CNNGRADE + args))
    assert code == 0, err
    assert out.read_bytes() == new and strays(tmp_path) == []


# -- grade's results ----------------------------------------------------------------------
GRADE_KILLER = '''
import os, signal
from pathlib import Path
import cnngrade.grading.grade as grade
from cnngrade.course.config import load_course

real = grade.write_outcome


def write_outcome(*args, **kwargs):   # results.json written, its gradebook row not yet
    real(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)


grade.write_outcome = write_outcome
grade.grade(load_course(Path(sys.argv[1])), "mini", workers=1)
'''


@pytest.mark.slow
def test_grade_killed_between_results_file_and_gradebook_row(mini_course, tmp_path):
    """test_runners kills `grade` at a polled moment, in practice after an outcome's gradebook
    row; this kills it between the outcome's results.json and its row: the file is complete,
    and the rerun grades that student again rather than trust a file the gradebook lacks."""
    from cnngrade.grading.grade import grade
    students = ["s0", "s1"]
    for student in students:
        submit(tmp_path / "inbox", student, filled(mini_course, "mini"))
    collect(mini_course, "mini", tmp_path / "inbox")
    d = mini_course.course_dir
    results = d / "results" / "mini"

    def written() -> dict[str, dict]:   # every results.json there is complete JSON
        return {p.parent.name: json.loads(p.read_text()) for p in results.glob("*/results.json")}

    def recorded() -> set[str]:
        book = open_gradebook(d)
        try:
            assert book.integrity_problems() == []
            return {g.submission.student for g in book.grades("mini")}
        finally:
            book.close()

    code, err = finish(child(GRADE_KILLER, d))
    assert code == KILLED, err
    first = written()
    assert len(first) == 1 and next(iter(first.values()))["score"] == 4
    assert recorded() == set()
    summary = grade(mini_course, "mini", workers=2)   # the rerun grades what is missing
    assert summary.cached == [] and {o.student for o in summary.graded} == set(students)
    assert recorded() == set(students)
    assert {s: r["score"] for s, r in written().items()} == {"s0": 4, "s1": 4}
    assert strays(results) == []
