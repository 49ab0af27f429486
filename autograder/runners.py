"""Where submissions are graded: the local runner (a pool of worker processes on this machine,
the embedded default) or the Ray runner (one Ray task per submission on an existing cluster).
Both take GradeJobs and yield GradeOutcomes as they finish; only the caller (the driver) writes
results and the gradebook. The sandbox always runs inside the worker: a runner schedules, it does
not isolate.

GPUs: when an assignment says `gpu = true`, the local runner grades at most one submission per
GPU at a time, pinned with CUDA_VISIBLE_DEVICES; the Ray runner asks for `num_gpus=1` and Ray
pins the task. Which GPUs the local runner uses: CNNGRADE_GPUS ("0,1"; "" for none) if set, else
CUDA_VISIBLE_DEVICES if set, else the GPUs `nvidia-smi -L` lists.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import replace
from typing import Any

from autograder.errors import CnnGradeError

RUNNERS = ("local", "ray")


def detect_gpus() -> list[str]:
    """The GPU ids this machine offers the local runner (see the module's doc)."""
    for variable in ("CNNGRADE_GPUS", "CUDA_VISIBLE_DEVICES"):
        if variable in os.environ:
            return [g.strip() for g in os.environ[variable].split(",")
                    if g.strip() and g.strip() != "-1"]
    if not shutil.which("nvidia-smi"):
        return []
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                                 timeout=20, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, line in enumerate(
        x for x in listing.splitlines() if x.startswith("GPU "))]


def _failed(job: Any, exc: BaseException) -> Any:
    """The outcome of a job whose worker died (a crash of ours, never the student's fault)."""
    from autograder.grade import GradeOutcome
    from autograder.results import ungradable
    extra = {"student": job.student, "assignment": job.assignment.slug,
             "grader_errors": [f"{type(exc).__name__}: {exc}"[:2000]]}
    return GradeOutcome(job.submission_id, job.student, "grader-error",
                        ungradable(f"Grader error: the grading process failed "
                                   f"({type(exc).__name__}); run grade again.",
                                   job.assignment.points, extra), 0.0)


def run_local(jobs: list[Any], workers: int | None, grade: Callable[[Any], Any],
              gpus: list[str] | None = None) -> Iterator[Any]:
    """`workers` submissions at a time in fresh worker processes; GPU assignments one per GPU."""
    if not jobs:
        return
    workers = max(1, workers or os.cpu_count() or 1)
    gpus = detect_gpus() if gpus is None else gpus
    use_gpus = bool(gpus) and jobs[0].assignment.gpu
    slots: list[str | None] = list(gpus[:workers]) if use_gpus else [None] * workers
    slots = slots[:len(jobs)]
    context = multiprocessing.get_context("spawn")
    queue = list(jobs)
    with ProcessPoolExecutor(max_workers=len(slots), mp_context=context) as pool:
        pending: dict[Future, tuple[Any, str | None]] = {}

        def submit(slot: str | None) -> None:
            job = replace(queue.pop(0), gpu=slot) if use_gpus else queue.pop(0)
            pending[pool.submit(grade, job)] = (job, slot)

        for slot in slots:
            submit(slot)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job, slot = pending.pop(future)
                try:
                    outcome = future.result()
                except Exception as exc:   # the worker process itself died
                    outcome = _failed(job, exc)
                if queue:
                    submit(slot)
                yield outcome


def run_ray(jobs: list[Any], grade: Callable[[Any], Any], address: str | None = None,
            num_cpus: float = 1) -> Iterator[Any]:
    """One Ray task per submission on the cluster at `address` (None: a local Ray instance,
    started here and stopped afterwards). Each task runs in a fresh worker process
    (`max_calls=1`, so TensorFlow's GPU memory is freed) and asks for one GPU where the
    assignment needs one; the outcomes come back to this process, which alone writes them."""
    if not jobs:
        return
    try:
        import ray
    except ImportError:
        raise CnnGradeError("The Ray runner needs Ray on this machine and on the cluster: "
                            "pip install 'ray>=2.9' (or `pip install -e '.[ray]'`), then run "
                            "grade again.") from None
    started = not ray.is_initialized()
    if started:
        try:
            if address:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            else:
                ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False,
                         num_cpus=os.cpu_count() or 1, object_store_memory=256 * 1024**2)
        except Exception as exc:   # a wrong address, an unreachable cluster
            detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            where = address or "a new local instance"
            raise CnnGradeError(f"Could not connect to the Ray cluster at {where} "
                                f"({type(exc).__name__}: {detail}); check --address (e.g. "
                                "ray://head:10001 or auto) and that the cluster runs the same "
                                "Python and cnngrade.") from None
    try:
        task = ray.remote(max_calls=1)(grade)
        refs = {task.options(num_cpus=num_cpus,
                             num_gpus=1 if job.assignment.gpu else 0).remote(job): job
                for job in jobs}
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                job = refs.pop(ref)
                try:
                    yield ray.get(ref)
                except Exception as exc:   # the task's worker died
                    yield _failed(job, exc)
    finally:
        if started:
            ray.shutdown()
