"""Grading: each submission's notebook executed in its own sandboxed kernel, then the hidden
suite run in the trusted grader process against it. Results are cached by (submission hash,
suite hash, environment), so `grade` is idempotent and resumable; only the main process writes
the gradebook and the results files."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import time
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat

from autograder.checker import TestResult, run_suite
from autograder.config import Assignment, Course
from autograder.data import DataLayout, data_layout
from autograder.errors import CnnGradeError, SubmissionError
from autograder.gradebook import open_gradebook
from autograder.notebook import load_template, parse_notebook, restore_cells
from autograder.proxy import StudentProxy
from autograder.replay import Recorder, Replayer
from autograder.results import build_results, ungradable
from autograder.runners import RUNNERS, detect_gpus, run_local, run_ray
from autograder.sandbox import sandbox_kind
from autograder.session import KernelGone, StudentKernel
from autograder.store import Store, atomic_write
from autograder.worker_plan import plan_workers

REPLAY_FILE = "replay.zip"   # beside results.json: the kernel's answers (autograder.replay)


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
    threads: int | None = None  # CPU threads for the kernel (autograder.worker_plan)
    # set when this is the run again alone of a submission a wall-clock limit stopped while
    # others ran beside it: what stopped it the first time (autograder.runners)
    rerun_of: tuple[str, ...] | None = None


@dataclass
class GradeOutcome:
    submission_id: int
    student: str
    status: str                 # "graded" | "ungradable" | "grader-error"
    results: dict[str, Any]
    seconds: float
    executed: str | None = None  # the executed notebook (nbformat JSON), for feedback
    record: bytes | None = None  # the kernel's answers to the suite (autograder.replay)


@dataclass
class GradeSummary:
    slug: str
    graded: list[GradeOutcome] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    plan: str = ""              # how the run was laid out, one line (autograder.worker_plan)

    @property
    def rerun_alone(self) -> list[str]:
        """Students graded again alone after a wall-clock stop beside others."""
        return [o.student for o in self.graded
                if (o.results.get("extra_data") or {}).get("rerun_alone")]


def suite_hash(assignment: Assignment) -> str:
    """Everything a grade depends on besides the submission and the environment."""
    digest = hashlib.sha256()
    paths = [assignment.template_dir / "assignment.toml", assignment.solution]
    if assignment.suite_dir.is_dir():
        paths += sorted(p for p in assignment.suite_dir.rglob("*") if p.is_file()
                        and "__pycache__" not in p.parts)
    for rel in assignment.public_files:
        paths.append(assignment.template_dir / rel)
    paths.append(Path(__file__).with_name("modelcheck.py"))   # the suites' shared checks
    if assignment.kind == "nbgrader":   # nbgrader's rules, as cnngrade applies them
        paths.append(Path(__file__).with_name("nbgrader_compat.py"))
    for path in paths:   # names relative to their folder, so moving the course changes nothing
        digest.update(f"{path.parent.name}/{path.name}".encode())
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
    return digest.hexdigest()[:16]


def exec_hash(assignment: Assignment) -> str:
    """What the notebook's execution depends on besides the submission: the template, the
    public files, the limits and the data (not the suite, the points or the thresholds)."""
    digest = hashlib.sha256(repr((assignment.notebook, assignment.gpu, assignment.limits,
                                  assignment.data, assignment.public_files)).encode())
    for path in [assignment.solution, *(assignment.template_dir / r
                                        for r in assignment.public_files)]:
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
    return digest.hexdigest()[:16]


def env_hash() -> str:
    parts = [platform.python_version(), sandbox_kind()]
    for dist in ("cnngrade", "numpy", "scipy", "keras", "tensorflow", "tensorflow-cpu",
                 "ipykernel", "nbclient", "pytest"):
        try:
            parts.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


_TEMPLATES: dict[str, Any] = {}


def _template(assignment: Assignment) -> Any:
    key = f"{assignment.slug}:{assignment.solution.stat().st_mtime_ns}"
    if key not in _TEMPLATES:
        _TEMPLATES[key] = load_template(assignment.solution, assignment.slug)
    return _TEMPLATES[key]


@dataclass
class Evaluation:
    """What running one notebook against one suite found."""

    tests: list[TestResult]
    problems: list[str]          # the submission's problems, one sentence each
    errors: list[str]            # the grader's problems (not the student's fault)
    seed: int | None = None
    cell_errors: int = 0
    notebook_seconds: float = 0.0
    executed: str | None = None
    record: bytes | None = None   # the kernel's answers (autograder.replay), when small enough
    replayed: bool = False        # graded from a record, without executing the notebook
    wall_stops: list[str] = field(default_factory=list)   # what a wall-clock limit stopped
    cpu_seconds: float = 0.0      # CPU seconds of the notebook's cells (their first runs)
    slowest_cells: list[tuple[int, float, float]] = field(default_factory=list)
    clock: str = "cpu"            # what the time limits counted: "cpu" or "wall"
    call_cpu_seconds: float = 0.0   # the most CPU seconds one checker call used


def prepare(data: bytes, name: str, assignment: Assignment) -> Any:
    """The steps before execution: the untrusted bytes parsed and the notebook rebuilt around
    the released template; returns an autograder.notebook.Restored (notebook and problems).
    Raises SubmissionError (one sentence) when the file is not a gradable notebook."""
    return restore_cells(parse_notebook(data, name), _template(assignment))


def evaluate(data: bytes, name: str, assignment: Assignment, suite_dir: Path,
             seed: int | None = None, layout: DataLayout | None = None,
             threads: int | None = None) -> Evaluation:
    """Parse, restore, execute in the sandbox, and run `suite_dir` against the kernel.
    Raises SubmissionError when the file is not a gradable notebook."""
    if assignment.kind == "nbgrader":   # the notebook's own grade cells are the tests
        from autograder.nbgrader_compat import evaluate_nbgrader
        return evaluate_nbgrader(data, name, assignment, layout, threads)
    restored = prepare(data, name, assignment)
    files = {rel: (assignment.template_dir / rel).read_bytes() for rel in assignment.public_files}
    layout = layout or data_layout({})
    binds = tuple(layout.sandbox_binds(assignment.data))
    with StudentKernel(restored.notebook, assignment.limits, gpu=assignment.gpu,
                       files=files, data=binds, threads=threads) as kernel:
        try:
            report = kernel.run_notebook()
        except KernelGone:
            message = "; ".join(kernel.report.problems) or "the Python kernel could not start"
            return Evaluation([], restored.problems, [message], clock=kernel.report.clock)
        recorder = Recorder(StudentProxy(kernel, assignment.limits.call_timeout))
        run = run_suite(suite_dir, recorder, seed,
                        context={"course_data": layout, "assignment": assignment})
        # the outputs came from the student's kernel: an unpaired surrogate (a \ud800 escape
        # in its messages) cannot be written as UTF-8, so it becomes '?'
        executed = nbformat.writes(kernel.nb).encode("utf-8", "replace").decode("utf-8")
    problems = restored.problems + report.problems
    record = None if run.errors else recorder.export(
        {"sha256": hashlib.sha256(data).hexdigest(), "exec": exec_hash(assignment),
         "env": env_hash(), "seed": run.seed, "problems": problems,
         "cell_errors": report.errors, "notebook_seconds": round(report.seconds, 2),
         "notebook_cpu_seconds": round(report.cpu_seconds, 2)})
    return Evaluation(run.tests, problems, list(run.errors), run.seed, report.errors,
                      round(report.seconds, 2), executed, record,
                      wall_stops=list(report.wall_stops),
                      cpu_seconds=round(report.cpu_seconds, 2),
                      slowest_cells=slowest(report.cells), clock=report.clock,
                      call_cpu_seconds=round(kernel.report.call_cpu_seconds, 2))


def slowest(cells: list[tuple[int, float, float]], n: int = 5) -> list[tuple[int, float, float]]:
    """The `n` code cells that computed longest: (cell number, CPU s, wall s)."""
    return sorted(cells, key=lambda c: (-c[1], -c[2]))[:n]


def replay_matches(record: bytes, sha256: str, assignment: Assignment, env: str) -> bool:
    """The record was made from this submission, template and environment."""
    try:
        meta = Replayer(record).meta
    except (ValueError, KeyError, OSError, zipfile.BadZipFile):
        return False
    return (meta.get("sha256"), meta.get("exec"), meta.get("env")) == (
        sha256, exec_hash(assignment), env)


def evaluate_replay(record: bytes, assignment: Assignment,
                    layout: DataLayout | None = None) -> Evaluation | None:
    """The current suite against the recorded kernel answers, with the recorded seed; None when
    the suite asks something new (the submission must then be executed again)."""
    replayer = Replayer(record)
    meta = replayer.meta
    run = run_suite(assignment.suite_dir, replayer, int(meta["seed"]),
                    context={"course_data": layout or data_layout({}), "assignment": assignment})
    if replayer.missed or run.errors:
        return None
    return Evaluation(run.tests, list(meta["problems"]), [], run.seed, int(meta["cell_errors"]),
                      float(meta["notebook_seconds"]), None, None, replayed=True,
                      cpu_seconds=float(meta.get("notebook_cpu_seconds", 0.0)))


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
    try:
        try:
            ev = evaluate_replay(job.replay, asg, job.data_layout) if job.replay else None
            if ev is None:
                ev = evaluate(job.data, f"{job.student}/{job.filename}", asg, asg.suite_dir,
                              job.seed, job.data_layout, job.threads)
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
          on_plan: Callable[[str], None] | None = None) -> GradeSummary:
    """Grade the latest submission of every student (or one) of `slug`, on the `runner`
    ("local": `workers` processes here, None: as many as the machine and the assignment allow
    (autograder.worker_plan); "ray": the Ray cluster at `address`). `on_plan` is told in one
    line how many at a time and with how many threads each."""
    if runner not in RUNNERS:
        raise CnnGradeError(f"Unknown runner '{runner}'; use one of {', '.join(RUNNERS)}.")
    assignment = course.assignment(slug)
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
            if on_start:
                on_start(len(jobs))
            if runner == "ray":
                summary.plan = (f"Grading {len(jobs)} submission(s) as Ray tasks, each asking "
                                "for as many CPUs as its kernel gets threads.")
                outcomes = run_ray(jobs, grade_submission, address)
            else:
                gpus = detect_gpus() if assignment.gpu else []
                plan = plan_workers(assignment.limits, len(jobs), workers, gpus=len(gpus))
                summary.plan = plan.describe(len(jobs))
                outcomes = run_local(jobs, plan.workers, grade_submission, gpus,
                                     threads=plan.threads, alone_threads=plan.alone_threads)
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
