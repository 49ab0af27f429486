"""How many submissions to grade at once, and how many CPU threads each kernel gets, chosen from
the machine (cores, memory) and the assignment's needs (its memory limit, its threads), so that
the grader never oversubscribes the cores it uses.

- An assignment with `threads = N` gets N threads per kernel; by default `cores // N` workers.
- An assignment with `threads = 0` ("a share of the cores") gets `max(1, cores // workers)`
  threads per kernel; by default one worker per core, which is the fastest use of the cores
  (one training kernel per core wastes less on synchronisation than one kernel on two).
- By default never more workers than the memory holds kernels at their memory limit, nor more
  than there are submissions; a GPU assignment at most `gpu_slots` per GPU (GPU packing:
  cnngrade.sandbox.gpu_share caps each kernel's share of the GPU's memory).
- A submission graded again alone (see cnngrade.grading.runners) gets every core the runner uses.

The compute limits count each kernel's own CPU time (cnngrade.sandbox.cputime), so the threads a
kernel gets change how long it takes on the clock, never whether it passes its limits.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sandbox import cputime
from ..sandbox.machine import machine_cores, machine_memory

# the share of the machine's memory the kernels' limits may add up to (the grader needs some)
MEMORY_SHARE = 0.9


@dataclass(frozen=True)
class WorkerPlan:
    workers: int                 # submissions graded at once
    threads: int                 # CPU threads per kernel
    alone_threads: int           # CPU threads of a kernel graded again alone
    cores: int
    memory: int | None
    kernel_memory: int           # the assignment's memory limit per kernel
    chosen: bool                 # True: the workers were chosen here; False: asked for
    clock: str                   # "cpu": limits count CPU time; "wall": the wall clock
    gpus: int = 0
    gpu_slots: int = 1           # submissions per GPU at once

    def describe(self, jobs: int) -> str:
        """One line: what was chosen, and why."""
        mem = f", {self.memory / 1024**3:.0f} GiB memory" if self.memory else ""
        why = (f"chosen from {self.cores} core(s){mem}, {_gib(self.kernel_memory)} per kernel"
               + (f", {self.gpus} GPU(s) x {self.gpu_slots} slot(s)" if self.gpus else "")
               if self.chosen else f"as asked, on {self.cores} core(s)")
        over = ("; more kernel threads than cores: kernels share cores, which slows them "
                "but does not change their grade" if self.workers * self.threads > self.cores
                else "")
        clock = ("limits count each kernel's CPU time" if self.clock == "cpu"
                 else "limits count wall-clock time (no /proc here)")
        return (f"Grading {jobs} submission(s), {self.workers} at a time, "
                f"{self.threads} thread(s) per kernel ({why}){over}; {clock}.")


def _gib(size: int) -> str:
    return f"{size / 1024**3:g} GiB" if size >= 1024**3 else f"{size / 1024**2:g} MiB"


def plan_workers(limits, jobs: int, workers: int | None = None, *, gpus: int = 0,
                 cores: int | None = None, memory: int | None = -1,
                 gpu_slots: int = 1) -> WorkerPlan:
    """The plan for grading `jobs` submissions of an assignment with `limits`
    (cnngrade.course.config.Limits); `workers` as asked (None: chosen here). `cores` and `memory`
    default to this machine's (tests pass their own)."""
    cores = cores or machine_cores()
    memory = machine_memory() if memory == -1 else memory
    declared = int(limits.threads)
    chosen = workers is None
    if chosen:
        by_cpu = max(1, cores // declared) if declared > 0 else cores
        by_memory = (max(1, int(memory * MEMORY_SHARE // max(1, limits.memory)))
                     if memory else by_cpu)
        workers = min(by_cpu, by_memory)
        if gpus:
            workers = min(workers, gpus * gpu_slots)
    workers = max(1, min(int(workers), max(1, jobs)))
    threads = declared if declared > 0 else max(1, cores // workers)
    alone = declared if declared > 0 else cores
    return WorkerPlan(workers, threads, alone, cores, memory, int(limits.memory), chosen,
                      "cpu" if cputime.available() else "wall", gpus, gpu_slots)
