"""Shared fixtures: a tiny course ("mini") whose notebook runs in a second, so the engine's
end-to-end and attack tests stay fast, and helpers to build student notebooks."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from cnngrade.course.config import load_course

REPO = Path(__file__).resolve().parent.parent


def nbgrader_cell(kind: str, source: str, grade_id: str, *, solution: bool = False,
                  locked: bool = False) -> nbformat.NotebookNode:
    maker = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = maker(textwrap.dedent(source).strip("\n"))
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "locked": locked,
                                 "schema_version": 3, "solution": solution, "task": False}
    return cell


MINI_SOLUTION = [
    ("markdown", "# Mini\nWrite `add`, `square` and set `answer`.", "intro", False, True),
    ("code", "import numpy as np", "setup", False, True),
    ("code", '''
        def add(a, b):
            """Element-wise sum."""
            ### BEGIN SOLUTION
            return np.asarray(a) + np.asarray(b)
            ### END SOLUTION
     ''', "add", True, False),
    ("code", '''
        def square(x):
            """Element-wise square."""
            ### BEGIN SOLUTION
            return np.asarray(x) ** 2
            ### END SOLUTION
     ''', "square", True, False),
    ("code", '''
        ### BEGIN SOLUTION
        answer = 42
        ### END SOLUTION
     ''', "answer", True, False),
]

MINI_SUITE = '''
import numpy as np
import pytest


@pytest.mark.points(2)
def test_add(student, rng):
    """add sums two arrays element by element"""
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    got = student.add(a, b)
    assert isinstance(got, np.ndarray), f"expected an array, got {type(got).__name__}"
    assert got.shape == a.shape, f"shape {got.shape}, expected {a.shape}"
    assert np.allclose(got, a + b), "wrong values"


@pytest.mark.points(1)
def test_square(student, rng):
    """square squares each element"""
    x = rng.normal(size=(5,))
    got = student.square(x)
    assert isinstance(got, np.ndarray) and got.shape == x.shape, "wrong shape"
    assert np.allclose(got, x ** 2), "wrong values"


@pytest.mark.points(1)
def test_answer(student):
    """the answer is 42"""
    assert student.value("answer") == 42
'''

MINI_TOML = '''
title = "Mini"
points = 4
gpu = false
notebook = "mini.ipynb"
public_files = ["public_tests/test_public.py"]

[limits]
cell_timeout = 10
notebook_timeout = 60
call_timeout = 10
memory = "1GiB"
processes = 32
file_size = "16MiB"
'''

MINI_PUBLIC = '''
import numpy as np
import pytest


@pytest.mark.points(0)
def test_add_small(student):
    """add([1, 2], [3, 4]) is [4, 6]"""
    assert np.allclose(student.add(np.array([1, 2]), np.array([3, 4])), [4, 6])
'''


def strip_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines()
                     if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line)


@pytest.fixture
def mini_course(tmp_path: Path):
    """A course whose content is the mini assignment; returns the loaded Course."""
    return make_mini_course(tmp_path)


def make_mini_course(tmp_path: Path):
    """`mini_course` in any folder (for module-scoped fixtures)."""
    content = tmp_path / "content"
    (content / "assignments" / "mini" / "public_tests").mkdir(parents=True)
    (content / "solutions").mkdir()
    (content / "suites" / "mini").mkdir(parents=True)
    (content / "assignments" / "mini" / "assignment.toml").write_text(MINI_TOML)
    (content / "assignments" / "mini" / "public_tests" / "test_public.py").write_text(MINI_PUBLIC)
    (content / "suites" / "mini" / "test_mini.py").write_text(MINI_SUITE)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbgrader_cell(k, s, g, solution=sol, locked=lock)
                for k, s, g, sol, lock in MINI_SOLUTION]
    nbformat.write(nb, content / "solutions" / "mini.ipynb")
    course_dir = tmp_path / "course"
    course_dir.mkdir()
    (course_dir / "cnngrade.toml").write_text(
        f'[content]\nassignments = "{content / "assignments"}"\n'
        f'solutions = "{content / "solutions"}"\nsuites = "{content / "suites"}"\n')
    return load_course(course_dir)


def add_assignment(course, slug: str, toml: str, cells: list, suite: str,
                   public: str | None = None):
    """A second assignment `slug` beside the mini course's (assignment.toml, the solution's
    cells as in MINI_SOLUTION, the hidden suite and optional public tests); returns the course
    loaded again."""
    content = course.assignment("mini").template_dir.parent.parent
    folder = content / "assignments" / slug
    folder.mkdir(parents=True)
    (folder / "assignment.toml").write_text(toml)
    if public is not None:
        (folder / "public_tests").mkdir()
        (folder / "public_tests" / "test_public.py").write_text(public)
    (content / "suites" / slug).mkdir()
    (content / "suites" / slug / f"test_{slug.replace('-', '_')}.py").write_text(suite)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbgrader_cell(k, src, g, solution=sol, locked=lock)
                for k, src, g, sol, lock in cells]
    nbformat.write(nb, content / "solutions" / f"{slug}.ipynb")
    return load_course(course.course_dir)


def template_of(course, slug: str) -> nbformat.NotebookNode:
    from cnngrade.intake.notebook import load_template
    asg = course.assignment(slug)
    return load_template(asg.solution, slug)


def filled(course, slug: str, answers: dict[str, str] | None = None,
           solved: bool = True) -> nbformat.NotebookNode:
    """A student's notebook: the template with answer cells replaced by `answers`, and the
    remaining answer cells filled with the solution (solved=True) or left as released."""
    from cnngrade.intake.notebook import grade_id
    asg = course.assignment(slug)
    solution = nbformat.read(asg.solution, as_version=4)
    sol = {grade_id(c): strip_markers(c.source) for c in solution.cells}
    nb = template_of(course, slug)
    for cell in nb.cells:
        gid = grade_id(cell)
        if cell.metadata.get("nbgrader", {}).get("solution"):
            if answers and gid in answers:
                cell.source = textwrap.dedent(answers[gid]).strip("\n")
            elif solved:
                cell.source = sol[gid]
    return nb


def submit(folder: Path, student: str, nb_or_bytes, name: str = "mini.ipynb") -> Path:
    path = folder / student / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb_or_bytes, (bytes, bytearray)):
        path.write_bytes(nb_or_bytes)
    else:
        path.write_text(nbformat.writes(nb_or_bytes))
    return path


@pytest.fixture(scope="session")
def repo_course(tmp_path_factory):
    """The repository's own course content, with a fresh course directory."""
    return load_course(tmp_path_factory.mktemp("repo-course"))


def results_of(course, slug: str, student: str) -> dict:
    import json
    return json.loads((course.course_dir / "results" / slug / student / "results.json")
                      .read_text())


def solution_sources(course, slug: str) -> dict[str, str]:
    """grade_id -> the solution's source of that cell, without the solution markers."""
    from cnngrade.intake.notebook import grade_id
    solution = nbformat.read(course.assignment(slug).solution, as_version=4)
    return {grade_id(c): strip_markers(c.source) for c in solution.cells}


def grade_samples(tmp_path_factory, slug: str, others: dict[str, nbformat.NotebookNode],
                  samples: tuple[str, ...] = ("perfect", "template"), workers: int = 2,
                  **options):
    """A fresh course with the data prepared: release `slug`, collect the bundled `samples`
    and the `others` notebooks, grade them all with `workers` (and grade's `options`, e.g.
    keras_backend); returns the course."""
    import shutil

    from cnngrade.course.data import prepare
    from cnngrade.grading.grade import grade
    from cnngrade.intake.collect import collect
    from cnngrade.intake.release import release
    course = load_course(tmp_path_factory.mktemp("course"))
    prepare(course.data, hidden=True)
    release(course, slug, update_template=False)
    inbox = tmp_path_factory.mktemp("inbox")
    for student in samples:
        shutil.copytree(course.solutions_dir / "samples" / slug / student, inbox / student)
    for student, nb in others.items():
        submit(inbox, student, nb, slug + ".ipynb")
    assert len(collect(course, slug, inbox).added) == len(samples) + len(others)
    grade(course, slug, workers=workers, **options)
    return course


def assert_full_marks(result: dict, points: float) -> None:
    assert not result["extra_data"].get("grader_errors")
    assert [t["name"] for t in result["tests"] if t["status"] != "passed"] == []
    assert result["score"] == result["max_score"] == points


def assert_zero(result: dict, n_tests: int) -> None:
    """0 points, every check says why, and no grader error."""
    assert result["score"] == 0 and not result["extra_data"].get("grader_errors")
    assert len(result["tests"]) == n_tests and all(t["output"] for t in result["tests"])


def assert_loses_exactly(result: dict, fails: set[str]) -> dict[str, str]:
    """Exactly the checks `fails` failed and the score is the maximum less their points;
    returns each check's message."""
    assert not result["extra_data"].get("grader_errors")
    assert {t["name"] for t in result["tests"] if t["status"] != "passed"} == fails
    lost = sum(t["max_score"] for t in result["tests"] if t["name"] in fails)
    assert result["score"] == result["max_score"] - lost
    return {t["name"]: t["output"] for t in result["tests"]}


def host_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback (`ip -4 addr`, else the address a
    UDP socket would send from; nothing is sent)."""
    found: list[str] = []
    if shutil.which("ip"):
        listing = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                                 capture_output=True, text=True).stdout
        found = [m[1] for m in re.finditer(r"\binet (\d+\.\d+\.\d+\.\d+)/", listing)]
    if not found:
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET,
                                                         socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            found = [probe.getsockname()[0]]
    return [a for a in found if not a.startswith("127.")]


def listener(host: str) -> socket.socket:
    """A TCP socket listening on `host` (a free port), not blocking: accept() raises
    BlockingIOError while nothing has connected."""
    server = socket.socket()
    server.bind((host, 0))
    server.listen(8)
    server.setblocking(False)
    return server


# -- the processes of sandboxed kernels ------------------------------------------------------------

# a sandbox's processes name their kernel's connection file: the relay, bwrap outside and inside
# (the pid namespace's init) and the kernel itself, whose forks keep its command line
KERNEL_FILE = re.compile(r"ipykernel_launcher -f (\S+)")


def _proc_table() -> dict[int, tuple[int, int, set[int], str]]:
    """pid -> (start time, parent pid, real/effective/saved/fs uids, command line) of every
    process this one can read in /proc."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            status = Path(entry.path, "status").read_text()
            cmd = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace").strip()
        except OSError:   # gone meanwhile, or not ours to read
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        uids = next((line.split()[1:] for line in status.splitlines()
                     if line.startswith("Uid:")), [])
        table[int(entry.name)] = (int(fields[19]), int(fields[1]), {int(u) for u in uids}, cmd)
    return table


def sandbox_processes() -> dict[tuple[int, int], tuple[str, str]]:
    """Every process of a sandboxed kernel on this machine, as root or not: (pid, start time)
    -> (the connection file of the kernel it belongs to, or "" where none is known; "uid pid
    command").

    A process belongs to a sandbox if it or one of its ancestors names a kernel's connection
    file (KERNEL_FILE): inside the sandbox's pid namespace an orphan is adopted by that
    namespace's init (bwrap), so a kernel's daemonized or exec'd children are found through
    their parents, whatever their uid -- as a normal user they have the grader's. As root, any
    process of a sandbox uid (walls.UID_BASE and up) is one too, with no ancestor needed."""
    from cnngrade.sandbox.walls import UID_BASE
    table = _proc_table()
    root = os.geteuid() == 0
    found = {}
    for pid, (start, _, uids, cmd) in table.items():
        conn, seen, at = "", set(), pid
        while at in table and at not in seen and at > 1:
            seen.add(at)
            if match := KERNEL_FILE.search(table[at][3]):
                conn = match[1]
                break
            at = table[at][1]
        sandbox_uid = root and any(UID_BASE <= u < UID_BASE + 4000 for u in uids)
        if conn or sandbox_uid:
            found[(pid, start)] = (conn, f"{min(uids, default=-1)} {pid} {cmd[:300]}")
    return found


def outlived(before: dict, ours: Path, wait: float = 120.0) -> set[str]:
    """The sandboxes' processes started since `before` (sandbox_processes()) that are still
    running after `wait` s; one of a kernel made outside `ours` (the folder this test's kernels
    are made in: another grading on this machine) is not this test's."""
    def left() -> set[str]:
        return {what for key, (conn, what) in sandbox_processes().items()
                if key not in before and not (conn and not Path(conn).is_relative_to(ours))}
    deadline = time.monotonic() + wait
    while (found := left()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return found
