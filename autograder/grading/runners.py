"""Where submissions are graded: the local runner (a pool of worker processes on this machine,
the embedded default) or the Ray runner (an existing Ray cluster: a pool of actors for CPU work,
one task per submission for GPU work).
Both take jobs and the function that grades one (cnngrade.grading.grade passes GradeJobs and
`grade_submission`, and `crashed`, which turns a worker that died into an outcome) and yield the
outcomes as they finish; only the caller (the driver) writes results and the gradebook. A runner
knows nothing of grading beyond a job's `assignment`, `threads`, `gpu`, `rerun_of` and `warm`,
and an outcome's `results`. The sandbox always runs inside the worker: a runner schedules, it
does not isolate.

GPUs: when an assignment says `gpu = true`, the local runner grades at most `gpu_slots`
submissions per GPU at a time (GPU packing; 1 by default), each pinned with CUDA_VISIBLE_DEVICES
and capped to its share of the GPU's memory (cnngrade.sandbox.gpu_share); the Ray runner asks
for `num_gpus = 1 / gpu_slots` and Ray pins the task. Which GPUs the local runner uses:
CNNGRADE_GPUS ("0,1"; "" for none) if set, else CUDA_VISIBLE_DEVICES if set, else the GPUs
`nvidia-smi -L` lists.

Warm kernels: a worker that will grade another job after this one (the job's `warm`) starts
the next sandboxed kernel while this one runs, so the next submission does not wait for its
kernel to boot; each submission still gets a fresh kernel of its own. Worker processes are
reused from job to job (the local pool's processes, the Ray runner's actors for CPU work), so
the trusted side's imports are paid once per worker; the local pool's workers are forked from a
fork server that paid them once for all (`worker_context`).

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
    return _warm(replace(job, threads=threads, rerun_of=tuple(
        str(s) for s in first.results["extra_data"]["wall_stops"])), False)


def _warm(job: Any, more: bool) -> Any:
    """The job, told whether more jobs follow on its worker (then the worker starts the next
    sandboxed kernel while this job runs: warm kernels, never one kernel for two jobs)."""
    return replace(job, warm=more) if hasattr(job, "warm") else job


def gpu_slot_list(gpus: list[str], per_gpu: int, workers: int) -> list[str]:
    """The slots of `workers` workers on `gpus`, `per_gpu` at most on each, spread over the
    GPUs first (["0", "1", "0", "1"] for two GPUs, two slots each, four workers)."""
    return [gpu for _ in range(max(1, per_gpu)) for gpu in gpus][:workers]


def worker_context(grade: Callable[[Any], Any]) -> Any:
    """How the local runner starts its worker processes: forked from multiprocessing's fork
    server, a process started once per grading process that has imported `grade`'s module (the
    trusted side: nbformat, nbclient, nbgrader's preprocessors, about a second of CPU) and
    nothing else, so a run of N workers pays those imports once, not N times, and a second run
    in the same process not at all. Each worker is still a fresh process that has graded
    nothing: no thread, kernel, TensorFlow or GPU state is inherited. Spawn where the platform
    has no fork server."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    module = getattr(grade, "__module__", None)
    context.set_forkserver_preload(["__main__", *([module] if module else [])])
    return context


def adopt_environment(environ: dict[str, str], cwd: str) -> None:
    """A worker's first step: the grading process's environment and folder as they are now
    (the fork server kept those of its own start; a spawned worker would get these)."""
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)


def run_local(jobs: list[Any], workers: int | None, grade: Callable[[Any], Any],
              gpus: list[str] | None = None, threads: int | None = None,
              alone_threads: int | None = None, crashed: Crashed | None = None,
              gpu_slots: int = 1) -> Iterator[Any]:
    """`workers` submissions at a time in fresh worker processes, each kernel with `threads`
    CPU threads (None: the assignment's own); GPU assignments at most `gpu_slots` per GPU (a
    finished job's slot, and so its GPU, goes to the next job). A submission stopped
    by a wall-clock limit while others ran beside it is graded again alone at the end, with
    `alone_threads`. A job whose worker process dies becomes `crashed(job, exc)` (None: the
    exception is raised)."""
    if not jobs:
        return
    workers = max(1, workers or os.cpu_count() or 1)
    gpus = detect_gpus() if gpus is None else gpus
    use_gpus = bool(gpus) and jobs[0].assignment.gpu
    slots: list[str | None] = (list(gpu_slot_list(gpus, gpu_slots, workers)) if use_gpus
                               else [None] * workers)
    slots = slots[:len(jobs)]
    context = worker_context(grade)
    queue = [replace(job, threads=threads) for job in jobs]
    held: list[tuple[Any, Any]] = []   # (job, its first outcome)
    with ProcessPoolExecutor(max_workers=len(slots), mp_context=context,
                             initializer=adopt_environment,
                             initargs=(dict(os.environ), os.getcwd())) as pool:
        pending: dict[Future, tuple[Any, str | None]] = {}
        company: set[Future] = set()   # jobs that had another job running beside them

        def submit(slot: str | None) -> None:
            job = queue.pop(0)
            job = replace(job, gpu=slot) if use_gpus else job
            # a job for this worker after this one (fewer left than workers: maybe not)
            job = _warm(job, len(queue) >= len(slots))
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


def ray_gpus(job: Any) -> float:
    """The GPUs a Ray task of `job` asks for: 1 / gpu_slots for a GPU assignment, else 0."""
    asg = job.assignment
    return round(1 / max(1, int(getattr(asg, "gpu_slots", 1))), 6) if asg.gpu else 0


class _Worker:
    """A Ray actor that grades job after job in one worker process: the trusted side's imports
    (Python's, the checker's, TensorFlow's or JAX's) are paid once per worker, while each
    student's code still runs in a fresh sandboxed kernel per submission (`grade` starts one)."""

    def __init__(self, grade: Callable[[Any], Any]):
        self.grade = grade

    def run(self, job: Any) -> Any:
        return self.grade(job)


RAY_STARTUP_ATTEMPTS = 3


def ray_startup_timed_out(exc: BaseException) -> bool:
    """Ray waits a fixed 30 seconds for a new node's raylet to register with its GCS; on a busy
    machine that can pass although nothing is wrong."""
    return "timed out during startup" in str(exc)


def with_ray_startup_retries(start: Callable[[], Any], undo: Callable[[], Any]) -> Any:
    """start(), tried again (after undo()) when Ray's fixed startup wait ran out: a grading
    started on a busy machine does not fail for it. Any other error is raised at once."""
    for attempt in range(1, RAY_STARTUP_ATTEMPTS + 1):
        try:
            return start()
        except Exception as exc:
            if attempt == RAY_STARTUP_ATTEMPTS or not ray_startup_timed_out(exc):
                raise
            undo()


def run_ray(jobs: list[Any], grade: Callable[[Any], Any], address: str | None = None,
            threads: int | None = None, crashed: Crashed | None = None) -> Iterator[Any]:
    """The jobs on the Ray cluster at `address` (None: a local Ray instance, started here and
    stopped afterwards). CPU work: a pool of actors (cnngrade's worker processes, reused from job
    to job; as many as the cluster's CPUs hold), each asking for as many CPUs as its kernels get
    threads (`threads`, else see ray_threads). GPU work: one task per submission in a fresh worker
    process (`max_calls=1`, so the GPU memory is freed), asking for 1 / gpu_slots of a GPU. The
    outcomes come back to this process, which alone writes them. A job stopped by a wall-clock
    limit while other jobs ran is run again alone at the end."""
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
                with_ray_startup_retries(lambda: ray.init(
                    include_dashboard=False, log_to_driver=False, configure_logging=False,
                    num_cpus=os.cpu_count() or 1, object_store_memory=256 * 1024**2),
                    ray.shutdown)
        except Exception as exc:   # a wrong address, an unreachable cluster
            detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            where = address or "a new local instance"
            raise CnnGradeError(f"Could not connect to the Ray cluster at {where} "
                                f"({type(exc).__name__}: {detail}); check --address (e.g. "
                                "ray://head:10001 or auto) and that the cluster runs the same "
                                "Python and cnngrade.") from None
    try:
        nodes = ray.nodes()
        share, alone = ray_threads(int(jobs[0].assignment.limits.threads), len(jobs), nodes)
        share = threads or share
        if jobs[0].assignment.gpu:
            yield from _ray_tasks(ray, jobs, grade, share, alone, crashed)
        else:
            cpus = sum(int(n.get("Resources", {}).get("CPU", 0)) for n in nodes
                       if n.get("Alive", True))
            yield from _ray_actors(ray, jobs, grade, share, alone, crashed,
                                   max(1, min(len(jobs), cpus // max(1, share))))
    finally:
        if started:
            ray.shutdown()


def _ray_finished(ray: Any, ref: Any, job: Any, crashed: Crashed | None) -> Any:
    return _ray_result(ray, ref, job, crashed)[0]


def _ray_result(ray: Any, ref: Any, job: Any, crashed: Crashed | None) -> tuple[Any, bool]:
    """(the job's outcome, whether the actor that ran it died)."""
    try:
        return ray.get(ref), False
    except Exception as exc:   # the task's or actor's worker died
        return _outcome(crashed, job, exc), isinstance(exc, ray.exceptions.RayActorError)


def _ray_tasks(ray: Any, jobs: list[Any], grade: Callable[[Any], Any], share: int, alone: int,
               crashed: Crashed | None) -> Iterator[Any]:
    """GPU jobs: one task each, in a fresh worker process, 1 / gpu_slots of a GPU."""
    task = ray.remote(max_calls=1)(grade)

    def start(job: Any, cpus: int) -> Any:
        return task.options(num_cpus=cpus, num_gpus=ray_gpus(job)).remote(
            replace(job, threads=cpus))

    refs = {start(job, share): job for job in jobs}
    company = len(refs) > 1
    held = []
    while refs:
        done, _ = ray.wait(list(refs), num_returns=1)
        for ref in done:
            job = refs.pop(ref)
            outcome = _ray_finished(ray, ref, job, crashed)
            if company and stopped_by_wall(outcome):
                held.append((job, outcome))
            else:
                yield outcome
    for job, first in held:   # one at a time, nothing of this run beside it
        again = _again_alone(job, first, alone)
        ref = task.options(num_cpus=alone, num_gpus=ray_gpus(job)).remote(again)
        yield _ray_finished(ray, ref, job, crashed)


def _ray_actors(ray: Any, jobs: list[Any], grade: Callable[[Any], Any], share: int, alone: int,
                crashed: Crashed | None, size: int) -> Iterator[Any]:
    """CPU jobs on a pool of `size` actors; a finished actor takes the next job, a dead one is
    replaced (its job becomes `crashed`)."""
    actor_class = ray.remote(_Worker)

    def new_actor(cpus: int) -> Any:
        return actor_class.options(num_cpus=cpus).remote(grade)

    queue = [replace(job, threads=share) for job in jobs]
    running: dict[Any, tuple[Any, Any]] = {}   # ref -> (job, actor)

    def next_job() -> Any:
        job = queue.pop(0)
        return _warm(job, len(queue) >= size)   # the actor will get another one

    for actor in [new_actor(share) for _ in range(size)]:
        job = next_job()
        running[actor.run.remote(job)] = (job, actor)
    company = len(running) > 1
    held = []
    while running:
        done, _ = ray.wait(list(running), num_returns=1)
        for ref in done:
            job, actor = running.pop(ref)
            outcome, died = _ray_result(ray, ref, job, crashed)
            if died:
                actor = new_actor(share)
            if company and stopped_by_wall(outcome):
                held.append((job, outcome))
            else:
                yield outcome
            if queue:
                job = next_job()
                running[actor.run.remote(job)] = (job, actor)
            else:
                ray.kill(actor)
    if held:   # one at a time on one actor with every core of a node, nothing beside it
        actor = new_actor(alone)
        for job, first in held:
            outcome, died = _ray_result(ray, actor.run.remote(_again_alone(job, first, alone)),
                                        job, crashed)
            yield outcome
            if died:
                actor = new_actor(alone)
        ray.kill(actor)
