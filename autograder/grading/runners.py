"""Where submissions are graded: the local runner (a pool of worker processes on this machine,
the embedded default) or the Ray runner (one Ray task per submission on an existing cluster).
Both take jobs and the function that grades one (cnngrade.grading.grade passes GradeJobs and
`grade_submission`, and `crashed`, which turns a worker that died into an outcome) and yield the
outcomes as they finish; only the caller (the driver) writes results and the gradebook. A runner
knows nothing of grading beyond a job's `assignment`, `threads`, `gpu` and `rerun_of`, and an
outcome's `results`. The sandbox always runs inside the worker: a runner schedules, it does not
isolate.

GPUs: when an assignment says `gpu = true`, the local runner grades at most one submission per
GPU at a time, pinned with CUDA_VISIBLE_DEVICES; the Ray runner asks for `num_gpus=1` and Ray
pins the task. Which GPUs the local runner uses: CNNGRADE_GPUS ("0,1"; "" for none) if set, else
CUDA_VISIBLE_DEVICES if set, else the GPUs `nvidia-smi -L` lists.

Threads: each job carries the CPU threads its kernel may use (cnngrade.grading.worker_plan);
the Ray runner asks for as many CPUs per task, so Ray never puts more kernel threads on a node
than it has cores.

Graded again alone: a submission that a wall-clock limit stopped while other submissions ran
beside it (its outcome's `extra_data.wall_stops`) may have been starved of CPU by them, so that
stop does not count yet: both runners hold its outcome back and, once every other submission is
done, grade it again with nothing beside it (and every core); that second outcome is the one
yielded, marked `rerun_alone` with the first run's stops.
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

from ..course.errors import CnnGradeError

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


Crashed = Callable[[Any, BaseException], Any]   # (job, what killed its worker) -> outcome


def _outcome(crashed: Crashed | None, job: Any, exc: Exception) -> Any:
    """The outcome of a job whose worker died (a crash of ours, never the student's fault)."""
    if crashed is None:
        raise exc
    return crashed(job, exc)


def stopped_by_wall(outcome: Any) -> bool:
    """A wall-clock limit stopped something of this outcome's run (see the module's doc)."""
    return bool((outcome.results.get("extra_data") or {}).get("wall_stops"))


def _again_alone(job: Any, first: Any, threads: int | None) -> Any:
    return replace(job, threads=threads, rerun_of=tuple(
        str(s) for s in first.results["extra_data"]["wall_stops"]))


def run_local(jobs: list[Any], workers: int | None, grade: Callable[[Any], Any],
              gpus: list[str] | None = None, threads: int | None = None,
              alone_threads: int | None = None, crashed: Crashed | None = None
              ) -> Iterator[Any]:
    """`workers` submissions at a time in fresh worker processes, each kernel with `threads`
    CPU threads (None: the assignment's own); GPU assignments one per GPU. A submission stopped
    by a wall-clock limit while others ran beside it is graded again alone at the end, with
    `alone_threads`. A job whose worker process dies becomes `crashed(job, exc)` (None: the
    exception is raised)."""
    if not jobs:
        return
    workers = max(1, workers or os.cpu_count() or 1)
    gpus = detect_gpus() if gpus is None else gpus
    use_gpus = bool(gpus) and jobs[0].assignment.gpu
    slots: list[str | None] = list(gpus[:workers]) if use_gpus else [None] * workers
    slots = slots[:len(jobs)]
    context = multiprocessing.get_context("spawn")
    queue = [replace(job, threads=threads) for job in jobs]
    held: list[tuple[Any, Any]] = []   # (job, its first outcome)
    with ProcessPoolExecutor(max_workers=len(slots), mp_context=context) as pool:
        pending: dict[Future, tuple[Any, str | None]] = {}
        company: set[Future] = set()   # jobs that had another job running beside them

        def submit(slot: str | None, job: Any | None = None) -> None:
            job = job if job is not None else queue.pop(0)
            job = replace(job, gpu=slot) if use_gpus else job
            future = pool.submit(grade, job)
            if pending:
                company.update(pending, [future])
            pending[future] = (job, slot)

        def finished(future: Future, job: Any) -> Any:
            try:
                return future.result()
            except Exception as exc:   # the worker process itself died
                return _outcome(crashed, job, exc)

        for slot in slots:
            submit(slot)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job, slot = pending.pop(future)
                outcome = finished(future, job)
                if future in company and stopped_by_wall(outcome):
                    held.append((job, outcome))
                else:
                    yield outcome
                company.discard(future)
                if queue:
                    submit(slot)
        for job, first in held:   # one at a time, nothing beside it (job keeps its GPU)
            future = pool.submit(grade, _again_alone(job, first, alone_threads))
            wait([future])
            yield finished(future, job)


def ray_threads(declared: int, jobs: int, nodes: list[dict]) -> tuple[int, int]:
    """(CPUs per task, CPUs of a task run again alone) on a Ray cluster whose alive nodes are
    `nodes` (ray.nodes()): the assignment's `threads` where it names them, else each task's
    share of the cluster's CPUs, never more than the largest node has."""
    cpus = [int(n.get("Resources", {}).get("CPU", 0)) for n in nodes if n.get("Alive", True)]
    largest = max([c for c in cpus if c > 0], default=1)
    if declared > 0:
        return min(declared, largest), min(declared, largest)
    return max(1, min(largest, sum(cpus) // max(1, jobs))), largest


def run_ray(jobs: list[Any], grade: Callable[[Any], Any], address: str | None = None,
            threads: int | None = None, crashed: Crashed | None = None) -> Iterator[Any]:
    """One Ray task per submission on the cluster at `address` (None: a local Ray instance,
    started here and stopped afterwards). Each task runs in a fresh worker process
    (`max_calls=1`, so TensorFlow's GPU memory is freed), asks for as many CPUs as its kernel
    gets threads (`threads`, else see ray_threads) and for one GPU where the assignment needs
    one; the outcomes come back to this process, which alone writes them. A task stopped by a
    wall-clock limit while other tasks ran is run again alone at the end."""
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
        share, alone = ray_threads(int(jobs[0].assignment.limits.threads), len(jobs),
                                   ray.nodes())
        share = threads or share
        task = ray.remote(max_calls=1)(grade)

        def start(job: Any, cpus: int) -> Any:
            return task.options(num_cpus=cpus, num_gpus=1 if job.assignment.gpu else 0
                                ).remote(replace(job, threads=cpus))

        def finished(ref: Any, job: Any) -> Any:
            try:
                return ray.get(ref)
            except Exception as exc:   # the task's worker died
                return _outcome(crashed, job, exc)

        refs = {start(job, share): job for job in jobs}
        company = len(refs) > 1
        held = []
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                job = refs.pop(ref)
                outcome = finished(ref, job)
                if company and stopped_by_wall(outcome):
                    held.append((job, outcome))
                else:
                    yield outcome
        for job, first in held:   # one at a time, nothing of this run beside it
            again = _again_alone(job, first, alone)
            ref = task.options(num_cpus=alone, num_gpus=1 if job.assignment.gpu else 0
                               ).remote(again)
            yield finished(ref, job)
    finally:
        if started:
            ray.shutdown()
