"""One notebook graded: the untrusted bytes parsed and rebuilt around the released template,
executed cell by cell in a sandboxed kernel (cnngrade.sandbox.student_kernel), then the hidden
suite run in this trusted process against that kernel through the `student` proxy
(cnngrade.grading.suite_runner); or, for a regrade, the suite run against the kernel's
recorded answers (cnngrade.grading.replay). Returns an Evaluation; never writes anything."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from ..course.config import Assignment
from ..course.data import DataLayout, data_layout
from ..intake.notebook import grade_id, load_template, parse_notebook, restore_cells
from ..sandbox.gpu_share import GpuShare
from ..sandbox.proxy import StudentProxy
from ..sandbox.student_kernel import KernelGone, StudentKernel
from .cache_keys import env_hash, exec_hash
from .evaluation import Evaluation, slowest
from .keras_backend import use_backend
from .kernel_hooks import FIT_RECORDER
from .replay import Recorder, Replayer
from .suite_runner import run_suite

_TEMPLATES: dict[str, Any] = {}


def released_template(assignment: Assignment) -> Any:
    """The released notebook of `assignment`, rendered from its solution once per process (and
    again when the solution changes)."""
    key = f"{assignment.slug}:{assignment.solution.stat().st_mtime_ns}"
    if key not in _TEMPLATES:
        _TEMPLATES[key] = load_template(assignment.solution, assignment.slug)
    return _TEMPLATES[key]


def prepare(data: bytes, name: str, assignment: Assignment,
            template: NotebookNode | None = None) -> Any:
    """The steps before execution: the untrusted bytes parsed and the notebook rebuilt around
    the released template (`template`, else rendered from the assignment's solution); returns
    a cnngrade.intake.notebook.Restored (notebook and problems). Raises SubmissionError (one
    sentence) when the file is not a gradable notebook."""
    return restore_cells(parse_notebook(data, name),
                         template if template is not None else released_template(assignment))


def answer_sources(notebook: NotebookNode, template: NotebookNode) -> dict[str, str]:
    """{grade_id: source} of the notebook's answer cells that differ from the released
    template's, for the suites' `answers` fixture (an untouched template answers nothing)."""
    def answers(nb: NotebookNode) -> dict[str, str]:
        return {grade_id(c): c.source for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("solution") and grade_id(c)}
    released = answers(template)
    return {gid: source for gid, source in answers(notebook).items()
            if source.strip() != released.get(gid, "").strip()}


def evaluate(data: bytes, name: str, assignment: Assignment, suite_dir: Path,
             seed: int | None = None, layout: DataLayout | None = None,
             threads: int | None = None, template: NotebookNode | None = None,
             gpu_share: GpuShare | None = None, warm: bool = False) -> Evaluation:
    """Parse, restore, execute in the sandbox, and run `suite_dir` against the kernel.
    `template` is the released notebook where the solution is not at hand (a student's machine:
    cnngrade.intake.release_manifest). `gpu_share`: the kernel's share of its GPU. `warm`: more
    submissions follow in this process, so the next one's kernel is started now (it boots while
    this one is graded; see StudentKernel.start_ahead). The kernel and
    this process's checks use the assignment's Keras backend. Raises SubmissionError when the
    file is not a gradable notebook."""
    use_backend(assignment.keras_backend)
    if assignment.kind == "nbgrader":   # the notebook's own grade cells are the tests
        from .nbgrader_compat import evaluate_nbgrader
        return evaluate_nbgrader(data, name, assignment, layout, threads, gpu_share, warm)
    template = template if template is not None else released_template(assignment)
    restored = prepare(data, name, assignment, template)
    files = {rel: (assignment.template_dir / rel).read_bytes() for rel in assignment.public_files}
    layout = layout or data_layout({})
    binds = tuple(layout.sandbox_binds(assignment.data))
    with StudentKernel.ready(restored.notebook, assignment.limits, gpu=assignment.gpu,
                             files=files, data=binds, threads=threads,
                             preamble=FIT_RECORDER, keras_backend=assignment.keras_backend,
                             gpu_share=gpu_share) as kernel:
        if warm:
            kernel.start_ahead()
        try:
            report = kernel.run_notebook()
        except KernelGone:
            message = "; ".join(kernel.report.problems) or "the Python kernel could not start"
            return Evaluation([], restored.problems, [message], clock=kernel.report.clock)
        recorder = Recorder(StudentProxy(kernel, assignment.limits.call_timeout))
        answers = answer_sources(restored.notebook, template)
        run = run_suite(suite_dir, recorder, seed,
                        context={"course_data": layout, "assignment": assignment,
                                 "answers": answers})
        # the outputs came from the student's kernel: an unpaired surrogate (a \ud800 escape
        # in its messages) cannot be written as UTF-8, so it becomes '?'
        executed = nbformat.writes(kernel.nb).encode("utf-8", "replace").decode("utf-8")
    problems = restored.problems + report.problems
    record = None if run.errors else recorder.export(
        {"sha256": hashlib.sha256(data).hexdigest(), "exec": exec_hash(assignment),
         "env": env_hash(), "seed": run.seed, "problems": problems,
         "answers": answers,
         "cell_errors": report.errors, "notebook_seconds": round(report.seconds, 2),
         "notebook_cpu_seconds": round(report.cpu_seconds, 2)})
    return Evaluation(run.tests, problems, list(run.errors), run.seed, report.errors,
                      round(report.seconds, 2), executed, record,
                      wall_stops=list(report.wall_stops),
                      cpu_seconds=round(report.cpu_seconds, 2),
                      slowest_cells=slowest(report.cells), clock=report.clock,
                      call_cpu_seconds=round(kernel.report.call_cpu_seconds, 2))


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
    use_backend(assignment.keras_backend)
    replayer = Replayer(record)
    meta = replayer.meta
    if not isinstance(meta.get("answers"), dict):   # recorded before answers were kept
        return None
    run = run_suite(assignment.suite_dir, replayer, int(meta["seed"]),
                    context={"course_data": layout or data_layout({}), "assignment": assignment,
                             "answers": meta["answers"]})
    if replayer.missed or run.errors:
        return None
    return Evaluation(run.tests, list(meta["problems"]), [], run.seed, int(meta["cell_errors"]),
                      float(meta["notebook_seconds"]), None, None, replayed=True,
                      cpu_seconds=float(meta.get("notebook_cpu_seconds", 0.0)))
