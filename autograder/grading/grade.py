"""Grading a class: `grade` turns the gradebook's latest submissions into jobs, skips what the
cache already holds (submission hash, suite hash, environment: cnngrade.grading.cache_keys),
hands the jobs to a runner (cnngrade.grading.runners), and writes each outcome (`results.json`,
the executed notebook, the kernel's recorded answers) and its gradebook row as it comes back.
`grade_submission` is what a worker runs for one job: cnngrade.grading.evaluate, then the
results in Gradescope's shape (cnngrade.grading.results). Only the main process writes."""

from __future__ import annotations

import fcntl
import json
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..course.config import Assignment, Course
from ..course.config import gpu_slots as config_slots
from ..course.config import keras_backend as config_backend
from ..course.data import DataLayout
from ..course.errors import CnnGradeError, SubmissionError
from ..course.gradebook import open_gradebook
from ..course.store import Store, atomic_write
from ..sandbox.gpu_share import GpuShare, gpu_memory_total, slots_that_fit
from ..sandbox.walls import sandbox_kind
from .cache_keys import env_hash, suite_hash
from .evaluate import evaluate, evaluate_replay, replay_matches
from .keras_backend import check_backend
from .results import build_results, ungradable
from .runners import RUNNERS, detect_gpus, run_local, run_ray
from .suite_runner import TestResult
from .worker_plan import plan_workers

REPLAY_FILE = "replay.zip"   # beside results.json: the kernel's answers (cnngrade.grading.replay)


@dataclass(frozen=True)
class GradeJob:
    submission_id: int
    student: str
    filename: str
    sha256: str
    data: bytes
    assignment: Assignment
    seed: int | None = None
    data_layout: DataLayout | None = None
    gpu: str | None = None      # the GPU this job is pinned to (CUDA_VISIBLE_DEVICES)
    replay: bytes | None = None  # the kernel's recorded answers, to regrade without executing
    threads: int | None = None  # CPU threads for the kernel (cnngrade.grading.worker_plan)
    # set when this is the run again alone of a submission a wall-clock limit stopped while
    # others ran beside it: what stopped it the first time (cnngrade.grading.runners)
    rerun_of: tuple[str, ...] | None = None
    # more jobs follow on this worker: start the next kernel now (cnngrade.grading.runners)
    warm: bool = False


@dataclass
class GradeOutcome:
    submission_id: int
    student: str
    status: str                 # "graded" | "ungradable" | "grader-error"
    results: dict[str, Any]
    seconds: float
    executed: str | None = None  # the executed notebook (nbformat JSON), for feedback
    record: bytes | None = None  # the kernel's answers to the suite (cnngrade.grading.replay)


@dataclass
class GradeSummary:
    slug: str
    graded: list[GradeOutcome] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    plan: str = ""              # how the run was laid out, one line (grading.worker_plan)

    @property
    def rerun_alone(self) -> list[str]:
        """Students graded again alone after a wall-clock stop beside others."""
        return [o.student for o in self.graded
                if (o.results.get("extra_data") or {}).get("rerun_alone")]


def grade_submission(job: GradeJob) -> GradeOutcome:
    """Grade one submission. Never raises: anything unexpected is a 'grader-error' outcome."""
    start = time.monotonic()
    asg = job.assignment
    extra: dict[str, Any] = {"student": job.student, "assignment": asg.slug,
                             "submission_sha256": job.sha256, "filename": job.filename,
                             "sandbox": sandbox_kind()}
    if job.gpu is not None:   # this worker grades one job at a time: pin it to its GPU
        os.environ["CUDA_VISIBLE_DEVICES"] = job.gpu
        extra["gpu"] = job.gpu
    if asg.gpu:
        extra["gpu_slots"] = asg.gpu_slots
    if asg.keras_backend != "tensorflow":
        extra["keras_backend"] = asg.keras_backend
    try:
        try:
            ev = evaluate_replay(job.replay, asg, job.data_layout) if job.replay else None
            if ev is None:
                ev = evaluate(job.data, f"{job.student}/{job.filename}", asg, asg.suite_dir,
                              job.seed, job.data_layout, job.threads,
                              gpu_share=gpu_share_of(job), warm=job.warm and not asg.gpu)
        except SubmissionError as exc:
            return GradeOutcome(job.submission_id, job.student, "ungradable",
                                ungradable(str(exc), asg.points, extra), time.monotonic() - start)
        extra.update(seed=ev.seed, problems=ev.problems, cell_errors=ev.cell_errors,
                     notebook_seconds=ev.notebook_seconds, replayed=ev.replayed)
        extra["notebook_cpu_seconds"] = ev.cpu_seconds
        if not ev.replayed:
            extra.update(clock=ev.clock, slowest_call_cpu_seconds=ev.call_cpu_seconds,
                         slowest_cells=[{"cell": n, "cpu_seconds": c, "wall_seconds": w}
                                        for n, c, w in ev.slowest_cells])
            if job.threads:
                extra["kernel_threads"] = job.threads
        if ev.wall_stops:
            extra["wall_stops"] = ev.wall_stops
        if job.rerun_of is not None:
            extra["rerun_alone"] = True
            extra["first_run_stops"] = list(job.rerun_of)
        total = sum(t.points for t in ev.tests)
        errors = list(ev.errors)
        if abs(total - asg.points) > 1e-9 and not errors:
            errors.append(f"the hidden suite is worth {total:g} points but assignment.toml "
                          f"says {asg.points:g}")
        status = "graded"
        if errors:
            status = "grader-error"
            extra["grader_errors"] = errors
        results = build_results(tests=ev.tests, max_score=asg.points,
                                output=_summary_line(ev.tests, ev.problems, errors),
                                seconds=time.monotonic() - start, extra=extra)
        return GradeOutcome(job.submission_id, job.student, status, results,
                            time.monotonic() - start, ev.executed, ev.record)
    except Exception as exc:  # a bug of ours must not stop the class
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        extra["grader_errors"] = [detail, traceback.format_exc()[-2000:]]
        return GradeOutcome(job.submission_id, job.student, "grader-error",
                            ungradable(f"Grader error: {detail}", asg.points, extra),
                            time.monotonic() - start)


def runner_options(assignment: Assignment, keras_backend: str | None,
                   gpu_slots: int | None) -> Assignment:
    """The assignment with the runner's options in place of its own settings."""
    changes: dict[str, Any] = {}
    if keras_backend is not None:
        changes["keras_backend"] = config_backend(keras_backend, "--keras-backend")
    if gpu_slots is not None:
        changes["gpu_slots"] = config_slots(gpu_slots, "--gpu-slots")
    return replace(assignment, **changes) if changes else assignment


def packed_slots(assignment: Assignment, gpus: list[str]) -> int:
    """Submissions per GPU at once: the assignment's gpu_slots, fewer where that many of its
    gpu_memory would not fit in the first GPU's memory."""
    if not assignment.gpu or not gpus:
        return 1
    return slots_that_fit(assignment.gpu_slots, assignment.gpu_memory,
                          gpu_memory_total(gpus[0]))


def gpu_share_of(job: GradeJob) -> GpuShare | None:
    """The kernel's share of the GPU its job runs on (the local runner's pin, else the one Ray
    or the environment gave this process)."""
    asg = job.assignment
    if not asg.gpu:
        return None
    device = job.gpu if job.gpu is not None else (
        os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip() or None)
    return GpuShare(device, asg.gpu_slots, asg.gpu_memory,
                    gpu_memory_total(device) if device else None)


def worker_died(job: GradeJob, exc: BaseException) -> GradeOutcome:
    """The outcome of a job whose worker process died (a crash of ours, never the student's
    fault): a grader error the next `grade` retries."""
    extra = {"student": job.student, "assignment": job.assignment.slug,
             "grader_errors": [f"{type(exc).__name__}: {exc}"[:2000]]}
    return GradeOutcome(job.submission_id, job.student, "grader-error",
                        ungradable(f"Grader error: the grading process failed "
                                   f"({type(exc).__name__}); run grade again.",
                                   job.assignment.points, extra), 0.0)


def _summary_line(tests: list[TestResult], problems: list[str], errors: list[str]) -> str:
    passed = sum(1 for t in tests if t.status == "passed")
    parts = [f"{passed} of {len(tests)} checks passed."]
    parts += [f"Note: {p}" for p in problems]
    parts += [f"Grader error: {e}" for e in errors]
    return "\n".join(parts)


class GradeLock:
    """One `grade` per course at a time; a second one is told why it will not run."""

    def __init__(self, course_dir: Path):
        course_dir.mkdir(parents=True, exist_ok=True)
        self.path = course_dir / ".grade.lock"
        self.handle = open(self.path, "a+")

    def __enter__(self) -> GradeLock:
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "another process"
            self.handle.close()
            raise CnnGradeError(f"Another `cnngrade grade` ({holder}) is grading "
                                f"{self.path.parent}; wait for it to finish, then run "
                                "grade again.") from None
        self.handle.truncate(0)
        self.handle.write(f"pid {os.getpid()}")
        self.handle.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


def write_outcome(course: Course, slug: str, outcome: GradeOutcome, filename: str) -> Path:
    folder = course.course_dir / "results" / slug / outcome.student
    atomic_write(folder / "results.json", (json.dumps(outcome.results, indent=2) + "\n").encode())
    if outcome.executed is not None:
        # "replace": a kernel can send unpaired surrogates, which must not stop the class
        atomic_write(folder / filename, outcome.executed.encode("utf-8", "replace"))
        if outcome.record is not None:
            atomic_write(folder / REPLAY_FILE, outcome.record)
        else:   # a new execution whose answers were not kept: an older record is stale
            (folder / REPLAY_FILE).unlink(missing_ok=True)
    elif outcome.status != "graded" and not outcome.results.get("tests"):
        # nothing ran (a file that is not a notebook): an older submission's executed
        # notebook would be shown as this one's
        (folder / filename).unlink(missing_ok=True)
    return folder / "results.json"


def grade(course: Course, slug: str, student: str | None = None, workers: int | None = None,
          force: bool = False, seed: int | None = None,
          on_start: Callable[[int], None] | None = None,
          on_done: Callable[[GradeOutcome], None] | None = None,
          runner: str = "local", address: str | None = None,
          on_plan: Callable[[str], None] | None = None, keras_backend: str | None = None,
          gpu_slots: int | None = None) -> GradeSummary:
    """Grade the latest submission of every student (or one) of `slug`, on the `runner`
    ("local": `workers` processes here, None: as many as the machine and the assignment allow
    (cnngrade.grading.worker_plan); "ray": the Ray cluster at `address`). `on_plan` is told in one
    line how many at a time and with how many threads each. `keras_backend` and `gpu_slots`
    override the assignment's (runner options)."""
    if runner not in RUNNERS:
        raise CnnGradeError(f"Unknown runner '{runner}'; use one of {', '.join(RUNNERS)}.")
    assignment = runner_options(course.assignment(slug), keras_backend, gpu_slots)
    if assignment.kind == "cnngrade" and not assignment.suite_dir.is_dir():
        raise CnnGradeError(f"The hidden suite {assignment.suite_dir} is missing; every "
                            "assignment needs autograder/suites/<slug>/.")
    summary = GradeSummary(slug)
    with GradeLock(course.course_dir):
        book = open_gradebook(course.course_dir)
        store = Store(course.course_dir / "store")
        try:
            subs = book.latest(slug, student)
            if student is not None and not subs:
                raise CnnGradeError(f"No submission of '{student}' for '{slug}' has been "
                                    "collected; run `cnngrade collect` first.")
            s_hash, e_hash = suite_hash(assignment), env_hash()
            jobs = []
            for sub in subs:
                if not force and book.cached(sub.id, s_hash, e_hash):
                    summary.cached.append(sub.student)
                    continue
                record = None if force or seed is not None else _record_for(
                    course, slug, sub, assignment, e_hash)
                jobs.append(GradeJob(sub.id, sub.student, sub.filename, sub.sha256,
                                     store.get(sub.sha256), assignment, seed, course.data,
                                     replay=record))
            missing = (course.data.missing_hidden(assignment.data)
                       if assignment.kind == "cnngrade" and jobs else [])
            if missing:
                raise CnnGradeError(f"Grading '{slug}' needs the hidden test split "
                                    f"{missing[0]}, which this machine lacks; run `cnngrade "
                                    "data prepare --hidden` here (the grading machine), then "
                                    "grade again.")
            if on_start:
                on_start(len(jobs))
            if runner == "ray":
                gpu = (f", {assignment.gpu_slots} per GPU" if assignment.gpu else "")
                summary.plan = (f"Grading {len(jobs)} submission(s) on Ray, each asking for as "
                                f"many CPUs as its kernel gets threads{gpu}.")
                outcomes = run_ray(jobs, grade_submission, address, crashed=worker_died)
            else:
                if jobs:
                    check_backend(assignment.keras_backend)
                gpus = detect_gpus() if assignment.gpu else []
                slots = packed_slots(assignment, gpus)
                plan = plan_workers(assignment.limits, len(jobs), workers, gpus=len(gpus),
                                    gpu_slots=slots)
                summary.plan = plan.describe(len(jobs))
                outcomes = run_local(jobs, plan.workers, grade_submission, gpus,
                                     threads=plan.threads, alone_threads=plan.alone_threads,
                                     crashed=worker_died, gpu_slots=slots)
            if on_plan and jobs:
                on_plan(summary.plan)
            for outcome in outcomes:
                write_outcome(course, slug, outcome, assignment.notebook)
                book.record(outcome.submission_id, s_hash, e_hash, outcome.results,
                            outcome.status, outcome.seconds)
                summary.graded.append(outcome)
                if on_done:
                    on_done(outcome)
        finally:
            book.close()
    return summary


def _record_for(course: Course, slug: str, sub: Any, assignment: Assignment,
                env: str) -> bytes | None:
    """The student's recorded kernel answers, if they belong to this very submission."""
    path = course.course_dir / "results" / slug / sub.student / REPLAY_FILE
    try:
        record = path.read_bytes()
    except OSError:
        return None
    return record if replay_matches(record, sub.sha256, assignment, env) else None
