"""Runners on the mini assignment: GPU pinning in the local runner (GPUs faked with
CNNGRADE_GPUS: the pinning is the grader's, the devices need not exist), a grading run killed
with SIGKILL and started again, two `grade` commands at once, and the Ray runner on a local Ray
instance giving the local runner's scores."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import filled, submit, template_of

from cnngrade.course.gradebook import open_gradebook
from cnngrade.grading.grade import GradeLock, grade
from cnngrade.grading.runners import (
    RAY_STARTUP_ATTEMPTS,
    detect_gpus,
    run_local,
    with_ray_startup_retries,
)
from cnngrade.intake.collect import collect

pytestmark = pytest.mark.slow
CNNGRADE = [str(Path(sys.executable).with_name("cnngrade"))]

PIN_TEST = '''

@pytest.mark.points(0)
def test_pinned_gpu(student, feedback):
    """records the GPU the kernel was given"""
    seen = student.eval('__import__("os").environ.get("CUDA_VISIBLE_DEVICES", "unset")')
    began, ended = student.eval("(float(t0), float(t1))")
    feedback.table("gpu", ["CUDA_VISIBLE_DEVICES", "began", "ended"], [[seen, began, ended]])
'''


def _results(course, student: str) -> dict:
    path = course.course_dir / "results" / "mini" / student / "results.json"
    return json.loads(path.read_text())


def _class(course, tmp_path: Path, n: int, slow: bool = False) -> list[str]:
    """Collect `n` solved notebooks (each sleeping 2 s in a cell when `slow`)."""
    inbox = tmp_path / "inbox"
    students = [f"s{i:02d}" for i in range(n)]
    answer = "import time\nt0 = time.time()\n" + ("time.sleep(2)\n" if slow else "") + \
        "t1 = time.time()\nanswer = 42"
    for student in students:
        submit(inbox, student, filled(course, "mini", {"answer": answer}))
    collect(course, "mini", inbox)
    return students


def test_detect_gpus_honours_the_override(monkeypatch):
    monkeypatch.setenv("CNNGRADE_GPUS", "0, 2")
    assert detect_gpus() == ["0", "2"]
    monkeypatch.setenv("CNNGRADE_GPUS", "")
    assert detect_gpus() == []
    monkeypatch.delenv("CNNGRADE_GPUS")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert detect_gpus() == ["3"]


def test_gpu_assignment_is_pinned_one_submission_per_gpu(mini_course, tmp_path, monkeypatch):
    """gpu = true with two GPUs: never more than two at once (even with 4 workers), each kernel
    sees exactly the GPU its job was given, and both GPUs are used."""
    toml = mini_course.assignments_dir / "mini" / "assignment.toml"
    toml.write_text(toml.read_text().replace("gpu = false", "gpu = true"))
    suite = mini_course.suites_dir / "mini" / "test_mini.py"
    suite.write_text(suite.read_text() + PIN_TEST)
    monkeypatch.setenv("CNNGRADE_GPUS", "0,1")
    students = _class(mini_course, tmp_path, 4, slow=True)
    summary = grade(mini_course, "mini", workers=4)
    assert len(summary.graded) == 4
    runs = {}
    for student in students:
        result = _results(mini_course, student)
        assert result["score"] == 4
        table = next(t for test in result["tests"]
                     for t in test.get("extra_data", {}).get("tables", []))
        seen, began, ended = table["rows"][0]
        assert seen == result["extra_data"]["gpu"]   # the kernel saw its job's GPU
        runs[student] = (seen, began, ended)
    assert {gpu for gpu, _, _ in runs.values()} == {"0", "1"}
    for gpu in ("0", "1"):   # one submission per GPU at a time
        spans = sorted((b, e) for g, b, e in runs.values() if g == gpu)
        assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))


def test_cpu_assignment_ignores_gpus(mini_course, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNGRADE_GPUS", "0,1")
    students = _class(mini_course, tmp_path, 2)
    grade(mini_course, "mini", workers=2)
    for student in students:
        assert "gpu" not in _results(mini_course, student)["extra_data"]


@dataclass(frozen=True)
class _Probe:   # a job as the local runner sees one
    assignment: Any
    threads: int | None = None


def _worker_state(job: _Probe) -> SimpleNamespace:
    """What a local worker process sees, as an outcome: run there in place of
    grade_submission."""
    return SimpleNamespace(results={}, probe=os.environ.get("CNNGRADE_TEST_PROBE"),
                           cwd=os.getcwd(), pid=os.getpid())


def test_local_workers_are_new_processes_with_the_environment_of_their_run(tmp_path,
                                                                           monkeypatch):
    """The workers are forked from a fork server started at the first run (the grader's
    imports paid once): each run still gets processes of its own, and they see the grading
    process's environment and folder as they are at that run, as spawned workers would."""
    jobs = [_Probe(SimpleNamespace(gpu=False)) for _ in range(4)]
    monkeypatch.delenv("CNNGRADE_TEST_PROBE", raising=False)
    first = list(run_local(jobs, 2, _worker_state, gpus=[]))
    monkeypatch.setenv("CNNGRADE_TEST_PROBE", "second run")
    monkeypatch.chdir(tmp_path)
    second = list(run_local(jobs, 2, _worker_state, gpus=[]))
    assert [s.probe for s in first] == [None] * 4
    assert [s.probe for s in second] == ["second run"] * 4
    assert {s.cwd for s in second} == {str(tmp_path)}
    assert len({s.pid for s in second}) <= 2   # a pool of two, reused from job to job
    assert not {s.pid for s in first} & {s.pid for s in second}
    assert os.getpid() not in {s.pid for s in first + second}


def _recorded(course) -> int:
    """Grades in the gradebook of `course` (0 while it cannot be read yet)."""
    try:
        book = open_gradebook(course.course_dir)
        try:
            return len(book.grades("mini"))
        finally:
            book.close()
    except sqlite3.Error:   # not created yet, or busy being written
        return 0


def test_sigkill_then_resume_loses_nothing(mini_course, tmp_path):
    """Kill `cnngrade grade` (its whole process group) once the first result is recorded; the
    gradebook opens, every original is intact, and a second run grades only what is missing."""
    students = _class(mini_course, tmp_path, 6, slow=True)
    store = mini_course.course_dir / "store"
    originals = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}
    env = dict(os.environ, COLUMNS="200")
    proc = subprocess.Popen(CNNGRADE + ["grade", "mini", "--workers", "1", "--course-dir",
                                        str(mini_course.course_dir)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 600   # a hang guard: the first result comes in seconds
    # a results file is written before its gradebook row: wait for the row itself
    while time.monotonic() < deadline and not _recorded(mini_course):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    book = open_gradebook(mini_course.course_dir)   # recorded, not only written out
    done_before = {g.submission.student for g in book.grades("mini")}
    book.close()
    assert 1 <= len(done_before) < len(students)
    assert {p: p.read_bytes() for p in store.rglob("*") if p.is_file()} == originals
    summary = grade(mini_course, "mini", workers=2)
    assert set(summary.cached) >= done_before
    assert {o.student for o in summary.graded} | set(summary.cached) == set(students)
    assert {o.student for o in summary.graded}.isdisjoint(summary.cached)
    assert all(_results(mini_course, s)["score"] == 4 for s in students)


def test_a_second_grade_says_why_it_will_not_run(mini_course):
    from cnngrade.course.errors import CnnGradeError
    with GradeLock(mini_course.course_dir):
        with pytest.raises(CnnGradeError) as info:
            grade(mini_course, "mini")
    assert "Another `cnngrade grade`" in str(info.value)
    assert "wait for it to finish" in str(info.value)


def test_ray_runner_gives_the_local_scores(mini_course, tmp_path):
    """The Ray runner (a local Ray instance, started and stopped by grade) on honest, empty
    and partial notebooks: the same scores as the local runner, written by the driver."""
    pytest.importorskip("ray")
    inbox = tmp_path / "inbox"
    notebooks = {"honest": filled(mini_course, "mini"),
                 "empty": template_of(mini_course, "mini"),
                 "partial": filled(mini_course, "mini", {"square": "def square(x): return x"})}
    for student, nb in notebooks.items():
        submit(inbox, student, nb)
    collect(mini_course, "mini", inbox)
    summary = grade(mini_course, "mini", runner="ray")
    assert {o.student for o in summary.graded} == set(notebooks)
    ray_scores = {s: _results(mini_course, s)["score"] for s in notebooks}
    grade(mini_course, "mini", workers=2, force=True)
    local_scores = {s: _results(mini_course, s)["score"] for s in notebooks}
    assert ray_scores == local_scores == {"honest": 4, "empty": 0, "partial": 3}


def test_ray_startup_is_tried_again_only_when_its_fixed_wait_ran_out():
    """Ray gives a new node a fixed 30 s to register; on a busy machine (CI measured it) that
    passes, and a local instance is started again; any other error is raised at once."""
    calls, undone = [], []

    def flaky():
        calls.append(1)
        if len(calls) < RAY_STARTUP_ATTEMPTS:
            raise Exception("The current node timed out during startup. This could happen ...")
        return "up"

    assert with_ray_startup_retries(flaky, lambda: undone.append(1)) == "up"
    assert len(calls) == RAY_STARTUP_ATTEMPTS and len(undone) == RAY_STARTUP_ATTEMPTS - 1

    def always():
        calls.append(1)
        raise Exception("The current node timed out during startup.")

    calls.clear()
    with pytest.raises(Exception, match="timed out during startup"):
        with_ray_startup_retries(always, lambda: None)
    assert len(calls) == RAY_STARTUP_ATTEMPTS

    def wrong():
        calls.append(1)
        raise ConnectionError("no cluster at ray://nowhere:10001")

    calls.clear()
    with pytest.raises(ConnectionError):
        with_ray_startup_retries(wrong, lambda: None)
    assert len(calls) == 1
