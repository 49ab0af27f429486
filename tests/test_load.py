"""Grades that do not depend on how busy the machine is: the worker plan (no oversubscription
by default), compute limits that count the kernel's own CPU time with wall-clock backstops,
and the run again alone of a submission a wall-clock limit stopped beside others."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
from conftest import add_assignment, filled, submit

from cnngrade.course.config import Limits
from cnngrade.grading.grade import GradeJob, GradeOutcome, grade
from cnngrade.grading.runners import run_local
from cnngrade.grading.worker_plan import plan_workers
from cnngrade.intake.collect import collect
from cnngrade.sandbox import cputime
from cnngrade.sandbox.student_kernel import StudentKernel
from cnngrade.sandbox.walls import SandboxPlan, kernel_environment
from cnngrade.views.report import class_report

GiB = 1024**3


# -- the worker plan ------------------------------------------------------------------------

def test_a_share_of_the_cores_never_oversubscribes():
    training = Limits(threads=0, memory=8 * GiB)
    plan = plan_workers(training, jobs=20, cores=2, memory=24 * GiB)
    assert (plan.workers, plan.threads) == (2, 1)          # the case of issue 13: 2 x 1, not 2 x 2
    assert plan.alone_threads == 2
    plan = plan_workers(training, jobs=20, cores=16, memory=24 * GiB)
    assert (plan.workers, plan.threads) == (2, 8)          # memory holds two 8 GiB kernels
    plan = plan_workers(training, jobs=20, cores=16, memory=256 * GiB)
    assert (plan.workers, plan.threads) == (16, 1)
    plan = plan_workers(training, jobs=1, cores=8, memory=64 * GiB)
    assert (plan.workers, plan.threads) == (1, 8)          # one submission: every core
    for cores in (1, 2, 3, 4, 7, 16, 64):
        for jobs in (1, 2, 5, 100):
            plan = plan_workers(training, jobs=jobs, cores=cores, memory=512 * GiB)
            assert plan.workers * plan.threads <= cores, (cores, jobs)


def test_declared_threads_and_asked_workers():
    two = Limits(threads=2, memory=GiB)
    plan = plan_workers(two, jobs=20, cores=8, memory=64 * GiB)
    assert (plan.workers, plan.threads) == (4, 2)
    plan = plan_workers(Limits(threads=1, memory=2 * GiB), jobs=20, cores=2, memory=None)
    assert (plan.workers, plan.threads) == (2, 1)          # memory unknown: the cores decide
    asked = plan_workers(Limits(threads=0), jobs=20, workers=4, cores=2, memory=64 * GiB)
    assert (asked.workers, asked.threads, asked.chosen) == (4, 1, False)
    line = asked.describe(20)
    assert "4 at a time" in line and "kernels share cores" in line and "\n" not in line
    chosen = plan_workers(Limits(threads=0, memory=8 * GiB), jobs=3, cores=2, memory=24 * GiB)
    assert chosen.describe(3) == (
        "Grading 3 submission(s), 2 at a time, 1 thread(s) per kernel (chosen from 2 core(s), "
        "24 GiB memory, 8 GiB per kernel); limits count each kernel's CPU time.")


def test_the_kernel_gets_its_share_of_threads(tmp_path, monkeypatch):
    monkeypatch.delenv("CNNGRADE_KERNEL_THREADS", raising=False)
    plan = SandboxPlan(scratch=tmp_path / "h", sockets=tmp_path / "s",
                       limits=Limits(threads=0), threads=1)
    env = kernel_environment(plan)
    assert env["OMP_NUM_THREADS"] == env["TF_NUM_INTRAOP_THREADS"] == "1"
    assert env["TF_NUM_INTEROP_THREADS"] == "1"
    declared = SandboxPlan(scratch=tmp_path / "h", sockets=tmp_path / "s",
                           limits=Limits(threads=3))
    assert kernel_environment(declared)["OMP_NUM_THREADS"] == "3"


# -- what stops a cell -----------------------------------------------------------------------

def _run(cells: list[str], limits: Limits) -> tuple[list[str], list[str]]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code) for code in cells]
    with StudentKernel(nb, limits) as kernel:
        report = kernel.run_notebook()
        last = kernel.run_code("print(alive)", 10)
    assert last[0]["text"] == "yes\n"   # the cells before and after still ran
    return report.problems, report.wall_stops


@pytest.mark.slow
def test_computing_cells_are_stopped_by_their_cpu_time():
    """An infinite loop, and a loop in a forked child the cell waits for: the CPU time of the
    kernel's whole process tree is counted. The wall-clock backstop (100 x 2 s) is far away,
    so a busy machine cannot make these wall-clock stops."""
    assert cputime.available()
    limits = Limits(cell_timeout=2, notebook_timeout=120, memory=GiB, processes=32,
                    file_size=GiB // 64, wall_factor=100)
    problems, wall = _run([
        "alive = 'yes'",
        "while True:\n    pass",
        "import os\npid = os.fork()\nif pid == 0:\n    while True:\n        pass\n"
        "os.waitpid(pid, 0)",
    ], limits)
    assert problems == [f"cell {n} was stopped after 2 s of computing (time limit per cell); "
                        "it was skipped." for n in (2, 3)]
    assert wall == []


@pytest.mark.slow
def test_cells_that_wait_are_stopped_by_the_wall_clock_backstop():
    """Sleeping, a deadlock and a forked child that sleeps use no CPU time: the wall-clock
    backstop (8 x 1 s) stops each, with its own sentence."""
    limits = Limits(cell_timeout=1, notebook_timeout=300, memory=GiB, processes=32,
                    file_size=GiB // 64, wall_factor=8)
    problems, wall = _run([
        "alive = 'yes'",
        "import time\ntime.sleep(10**6)",
        "import threading\nlock = threading.Lock()\nlock.acquire()\nlock.acquire()",
        "import os, time\npid = os.fork()\nif pid == 0:\n    time.sleep(10**6)\n"
        "os.waitpid(pid, 0)",
        "import select\nselect.select([], [], [])",
    ], limits)
    sentences = [f"cell {n} was stopped after 8 s without finishing (wall-clock limit per "
                 "cell: it slept, waited or was starved of CPU); it was skipped." for n in
                 (2, 3, 4, 5)]
    assert problems == sentences
    assert wall == sentences


@pytest.mark.slow
def test_without_proc_the_limits_count_the_wall_clock(monkeypatch):
    """Where CPU time cannot be read, each limit is a wall-clock limit of its own length."""
    monkeypatch.setattr(cputime, "available", lambda: False)
    limits = Limits(cell_timeout=2, notebook_timeout=120, memory=GiB, processes=32,
                    file_size=GiB // 64)
    problems, wall = _run(["alive = 'yes'", "import time\ntime.sleep(10**6)"], limits)
    assert problems == ["cell 2 was stopped after 2 s (time limit per cell); it was skipped."]
    assert wall == problems   # a wall-clock stop: graded again alone if others ran beside it


# -- a CPU hog beside the grader ---------------------------------------------------------------

BUSY_TOML = '''
title = "Busy"
points = 2
gpu = false
notebook = "busy.ipynb"

[limits]
# 1 s of CPU time per cell: the work cell sleeps 2 s, so a wall-clock count would stop it;
# the backstop is 30 x 1 s
cell_timeout = 1
notebook_timeout = 20
call_timeout = 5
wall_factor = 30
memory = "1GiB"
processes = 32
file_size = "16MiB"
threads = 0
'''

BUSY_SOLUTION = [
    ("markdown", "# Busy\nCompute `total`.", "intro", False, True),
    ("code", "import time\nimport numpy as np", "setup", False, True),
    ("code", '''
        ### BEGIN SOLUTION
        time.sleep(2)   # waiting for a download, say: no CPU time
        total = int(np.arange(10**6).sum())
        ### END SOLUTION
     ''', "work", True, False),
]

BUSY_SUITE = '''
import pytest


@pytest.mark.points(2)
def test_total(student):
    """total is the sum of 0..999999"""
    assert student.value("total") == 499999500000
'''

HOG = "import time\nend = time.time() + 600\nwhile time.time() < end:\n    pass\n"


@pytest.mark.slow
def test_full_marks_beside_a_cpu_hog(mini_course, tmp_path):
    """Four busy processes beside two workers on this machine's cores: the submissions still
    earn full marks, because the limits count their own CPU time and not the clock."""
    course = add_assignment(mini_course, "busy", BUSY_TOML, BUSY_SOLUTION, BUSY_SUITE)
    inbox = tmp_path / "inbox"
    for student in ("ada", "bob", "cyd"):
        submit(inbox, student, filled(course, "busy"), "busy.ipynb")
    collect(course, "busy", inbox)
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(4)]
    try:
        lines: list[str] = []
        summary = grade(course, "busy", on_plan=lines.append)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert len(lines) == 1 and "at a time" in lines[0] and "CPU time" in lines[0]
    assert len(summary.graded) == 3 and summary.rerun_alone == []
    for outcome in summary.graded:
        res = outcome.results
        assert res["score"] == 2, res["output"]
        extra = res["extra_data"]
        assert extra["clock"] == "cpu" and not extra.get("wall_stops")
        slowest = {c["cell"]: c for c in extra["slowest_cells"]}
        # the work cell took longer than its limit on the clock, and less in CPU time
        assert slowest[3]["wall_seconds"] > 1 > slowest[3]["cpu_seconds"]


# -- graded again alone ------------------------------------------------------------------------

SLEEPY_TOML = BUSY_TOML.replace('title = "Busy"', 'title = "Sleepy"').replace(
    "busy.ipynb", "sleepy.ipynb").replace("wall_factor = 30", "wall_factor = 8")


@pytest.mark.slow
def test_a_wall_clock_stop_beside_others_is_graded_again_alone(mini_course, tmp_path):
    """A notebook that sleeps past the wall-clock backstop, graded beside an honest one: its
    first outcome is held back and it is graded again alone at the end; results.json, the
    report's student view and its summary say so. Graded alone, it is not run twice."""
    course = add_assignment(mini_course, "sleepy", SLEEPY_TOML, BUSY_SOLUTION, BUSY_SUITE)
    inbox = tmp_path / "inbox"
    submit(inbox, "honest", filled(course, "sleepy", {"work": "total = int(np.arange(10**6)"
                                                               ".sum())"}), "sleepy.ipynb")
    submit(inbox, "sleeper", filled(course, "sleepy", {"work": "time.sleep(10**6)"}),
           "sleepy.ipynb")
    collect(course, "sleepy", inbox)
    summary = grade(course, "sleepy", workers=2)
    assert summary.rerun_alone == ["sleeper"]
    assert [o.student for o in summary.graded][-1] == "sleeper"   # after everything else
    path = course.course_dir / "results" / "sleepy"
    sleeper = json.loads((path / "sleeper" / "results.json").read_text())
    honest = json.loads((path / "honest" / "results.json").read_text())
    assert honest["score"] == 2 and "rerun_alone" not in honest["extra_data"]
    stop = ("cell 3 was stopped after 8 s without finishing (wall-clock limit per cell: it "
            "slept, waited or was starved of CPU); it was skipped.")
    extra = sleeper["extra_data"]
    assert sleeper["score"] == 0
    assert extra["rerun_alone"] is True and extra["first_run_stops"] == [stop]
    assert extra["wall_stops"] == [stop] and extra["kernel_threads"] >= 1
    rep = class_report(course, "sleepy")
    assert rep.rerun_alone() == 1
    out = _cnngrade("report", "sleepy", course=course)
    assert "1 graded again alone after a wall-clock stop" in out
    out = _cnngrade("report", "sleepy", "--student", "sleeper", course=course)
    assert "graded again" in out and "alone, after a wall-clock limit stopped its first" in out
    # alone from the start: one run, counted at once
    again = grade(course, "sleepy", student="sleeper", force=True)
    extra = again.graded[0].results["extra_data"]
    assert "rerun_alone" not in extra and extra["wall_stops"] == [stop]


def _cnngrade(*args: str, course) -> str:
    proc = subprocess.run([str(Path(sys.executable).parent / "cnngrade"), *args,
                           "--course-dir", str(course.course_dir)], capture_output=True,
                          text=True, timeout=900, env={"PATH": "/usr/bin:/bin",
                                                       "COLUMNS": "400",
                                                       "HOME": str(Path.home())})
    assert proc.returncode == 0, proc
    return " ".join((proc.stdout + proc.stderr).split())


# the runner alone, with a stand-in for grade_submission (module level: worker processes
# import it): a job is stopped by the wall clock unless it is the run again alone

def stand_in(job: GradeJob) -> GradeOutcome:
    began = time.time()
    time.sleep(0.5)
    extra = {"threads": job.threads, "began": began, "ended": time.time(),
             "rerun": job.rerun_of}
    if job.student.startswith("slow") and job.rerun_of is None:
        extra["wall_stops"] = ["cell 2 was stopped after 40 s without finishing."]
    return GradeOutcome(job.submission_id, job.student, "graded",
                        {"score": 1, "max_score": 1, "tests": [], "extra_data": extra}, 0.5)


def test_the_runner_holds_back_a_wall_clock_stop_and_runs_it_again_alone(mini_course):
    asg = mini_course.assignment("mini")
    jobs = [GradeJob(i, name, "mini.ipynb", "0" * 64, b"{}", asg)
            for i, name in enumerate(["a", "slow1", "b", "c", "slow2"])]
    outcomes = list(run_local(jobs, 2, stand_in, gpus=[], threads=1, alone_threads=2))
    assert sorted(o.student for o in outcomes) == ["a", "b", "c", "slow1", "slow2"]
    order = [o.student for o in outcomes]
    assert order[-2:] == ["slow1", "slow2"]
    again = [o.results["extra_data"] for o in outcomes[-2:]]
    assert all(e["threads"] == 2 and e["rerun"] == ("cell 2 was stopped after 40 s without "
                                                    "finishing.",) for e in again)
    assert not any("wall_stops" in e for e in again)
    others = [o.results["extra_data"] for o in outcomes[:-2]]
    assert all(e["threads"] == 1 for e in others)
    spans = sorted((e["began"], e["ended"]) for e in others + again)
    for rerun in again:   # nothing else ran beside a run again alone
        assert all(e <= rerun["began"] or b >= rerun["ended"]
                   for b, e in spans if (b, e) != (rerun["began"], rerun["ended"]))
    # one job alone is never held back: its stop counts at once
    alone = list(run_local([replace(jobs[1])], 2, stand_in, gpus=[], threads=1))
    assert alone[0].results["extra_data"]["wall_stops"] and not alone[0].results[
        "extra_data"]["rerun"]


def test_ray_tasks_ask_for_the_threads_their_kernel_gets():
    from cnngrade.grading.runners import ray_threads
    nodes = [{"Alive": True, "Resources": {"CPU": 8.0}},
             {"Alive": True, "Resources": {"CPU": 4.0}},
             {"Alive": False, "Resources": {"CPU": 64.0}}]
    assert ray_threads(0, jobs=100, nodes=nodes) == (1, 8)   # many jobs: one CPU each
    assert ray_threads(0, jobs=3, nodes=nodes) == (4, 8)     # a share, at most a node's
    assert ray_threads(0, jobs=1, nodes=nodes) == (8, 8)
    assert ray_threads(2, jobs=100, nodes=nodes) == (2, 2)   # declared threads win
    assert ray_threads(16, jobs=1, nodes=nodes) == (8, 8)    # never more than a node has
