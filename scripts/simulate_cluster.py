"""Scale in simulation: a 300-student class of an assignment replayed through Ray's scheduler on a
simulated multi-node cluster, with tasks that sleep for the measured grading times.

The cluster is `ray.cluster_utils.Cluster` on this machine: a head node with no CPUs (it
schedules, as on a real cluster) and `--nodes` nodes of `--cpus-per-node` CPUs each. The CPUs
are Ray resources, not cores: the tasks only sleep, so a simulated cluster may have more CPUs than
this machine has cores. The shape is the Ray runner's (cnngrade.grading.runners.run_ray): one
task per student, submitted in the order collected (here: shuffled), each asking for as many CPUs
as its kernel gets threads (an assignment's `threads`, or for `threads = 0` its share of the
cluster, which is 1 for a class of 300 on fewer than 600 CPUs); `--shape actor` uses a pool of
reusable actors instead, one per slot, fed in the same order. Nothing of cnngrade's grading code
is imported: only the measured costs below and each assignment's `threads` and `memory`
(assignments/<slug>/assignment.toml).

Each student's cost is drawn uniformly from the assignment's measured range (seconds of wall
clock per submission with every worker of the node busy, 1 thread per kernel; README.md,
"Measured", and docs/SCALING.md) and slept `--time-scale` times as long (by default a scale that
makes each assignment's ideal last `--sim-seconds`). It prints, scaled back to real seconds:
the makespan, the ideal (the larger of the CPU-seconds spread over every CPU and the longest
single task), their ratio, and what a real cluster of that size would take.

    .venv/bin/python scripts/simulate_cluster.py [--assignment SLUG|all] [--students 300]
        [--nodes 4] [--cpus-per-node 2] [--time-scale 0.001] [--shape task|actor]
"""

from __future__ import annotations

import argparse
import heapq
import math
import os
import random
import shutil
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024**2
GIB = 1024**3
MEMORY_SHARE = 0.9        # cnngrade's worker plan: the kernels' limits fill at most 90% of a node


@dataclass(frozen=True)
class Cost:
    """Measured seconds per submission on the 2-core, 24 GiB reference machine (no GPU)."""
    busy: tuple[float, float]   # wall clock, every worker busy, 1 thread per kernel: simulated
    cpu: tuple[float, float]    # the kernel's CPU seconds in that run (what the limits count)
    alone: tuple[float, float]  # (wall, CPU) graded alone with 2 threads
    source: str


# The notebook's run time is what bench_load.py measures; the job around it (kernel start, the
# hidden suite, the results) adds about JOB_EXTRA seconds: keras-convnet's 4-submission batch took
# 252.9 s on 2 workers (scripts/bench_runners.py), 126 s per job, against notebooks of 111-128 s.
JOB_EXTRA = 7.0
COSTS: dict[str, Cost] = {
    "keras-convnet": Cost((111 + JOB_EXTRA, 128 + JOB_EXTRA), (91, 92), (72, 97),
                          "scripts/bench_load.py, reference notebook, + job"),
    "augmentation": Cost((264 + JOB_EXTRA, 287 + JOB_EXTRA), (166, 168), (205, 173),
                         "scripts/bench_load.py, reference notebook, + job"),
    "transfer-learning": Cost((43 + JOB_EXTRA, 43 + JOB_EXTRA), (21, 21), (45, 21),
                              "scripts/bench_load.py, reference notebook, + job"),
    "architectures": Cost((84 + JOB_EXTRA, 95 + JOB_EXTRA), (49, 50), (65, 50),
                          "scripts/bench_load.py, reference notebook, + job"),
    # 20 submissions in 30.0 s on 2 workers (scripts/bench_runners.py): whole jobs, 1.3 s notebooks
    "conv-by-hand": Cost((3.0, 3.0), (1.3, 1.3), (3.0, 1.3),
                         "scripts/bench_runners.py, 20 jobs / 2 workers"),
    # not measured in a batch: its 4-sample demo graded like conv-by-hand's (1.3-1.5 s notebooks)
    "output-size": Cost((3.0, 3.0), (1.4, 1.4), (3.0, 1.4),
                        "assumed as conv-by-hand (cnngrade demo: 1.3-1.5 s notebooks)"),
}


@dataclass(frozen=True)
class Limits:
    threads: int      # 0: a share of the cores
    memory: int       # bytes of address space per kernel


def assignment_limits(slug: str) -> Limits:
    """`threads` and `memory` from assignments/<slug>/assignment.toml (cnngrade's defaults where
    absent: 1 thread, 4 GiB)."""
    data = tomllib.loads((ROOT / "assignments" / slug / "assignment.toml").read_text())
    limits = data.get("limits", {})
    return Limits(int(limits.get("threads", 1)), parse_size(limits.get("memory", 4 * GIB)))


def parse_size(value: object) -> int:
    if isinstance(value, int):
        return value
    text = str(value).strip()
    for unit, factor in (("GiB", GIB), ("MiB", MIB), ("KiB", 1024)):
        if text.endswith(unit):
            return int(float(text[:-len(unit)]) * factor)
    return int(text)


def task_cpus(threads: int, students: int, nodes: int, cpus_per_node: int) -> int:
    """CPUs per task as the Ray runner asks (runners.ray_threads): `threads` where the assignment
    names them (at most a node's), else each task's share of the cluster, at least 1."""
    if threads > 0:
        return min(threads, cpus_per_node)
    return max(1, min(cpus_per_node, nodes * cpus_per_node // max(1, students)))


def draw_costs(cost: Cost, students: int, seed: int) -> list[float]:
    """One cost per student, uniform over the measured range, in a shuffled (collected) order."""
    rng = random.Random(seed)
    low, high = cost.busy
    return [rng.uniform(low, high) for _ in range(students)]


@dataclass
class Replay:
    """One class replayed on the simulated cluster, in real (unscaled) seconds."""
    costs: list[float]
    cpus: int                       # per task
    total_cpus: int
    scale: float                    # simulated seconds per real second
    makespan: float                 # first submission to last result, scaled back
    submitted: float = 0.0          # time.time() on the driver: the first submission
    collected: float = 0.0          # and the last result taken
    # per task, on its worker's clock: (node, worker process, start, end)
    spans: list[tuple[str, int, float, float]] = field(default_factory=list)

    @property
    def area_bound(self) -> float:
        return sum(c * self.cpus for c in self.costs) / self.total_cpus

    @property
    def ideal(self) -> float:
        return max(self.area_bound, max(self.costs, default=0.0))

    @property
    def ratio(self) -> float:
        return self.makespan / self.ideal if self.ideal else float("nan")

    @property
    def greedy(self) -> float:
        """The makespan of list scheduling in the same order without any latency: each task
        to the first slot that frees up (what Ray does, less its own delays)."""
        return list_schedule(self.costs, max(1, self.total_cpus // self.cpus))

    @property
    def edges(self) -> tuple[float, float]:
        """Real seconds from the first submission to the first task's start, and from the last
        task's end to its result on the driver: Ray's fixed delays."""
        if not self.spans:
            return 0.0, 0.0
        first = min(s for _, _, s, _ in self.spans)
        last = max(e for _, _, _, e in self.spans)
        return max(0.0, first - self.submitted), max(0.0, self.collected - last)

    def per_node(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node, _, _, _ in self.spans:
            counts[node] = counts.get(node, 0) + 1
        return counts

    def gaps(self) -> list[float]:
        """Real seconds between one task's end and the next task's start in the same worker
        process: Ray's own delay, which the time scale magnifies 1 / scale times."""
        by_worker: dict[tuple[str, int], list[tuple[float, float]]] = {}
        for node, pid, start, end in self.spans:
            by_worker.setdefault((node, pid), []).append((start, end))
        out = []
        for spans in by_worker.values():
            spans.sort()
            out += [b[0] - a[1] for a, b in zip(spans, spans[1:], strict=False)]
        return out

    def peak_running(self) -> dict[str, int]:
        """The most tasks running at once on each node (from the tasks' own clocks)."""
        peaks: dict[str, int] = {}
        for node in self.per_node():
            events = sorted([(s, 1) for n, _, s, _ in self.spans if n == node]
                            + [(e, -1) for n, _, _, e in self.spans if n == node],
                            key=lambda x: (x[0], x[1]))   # an end before a start at one instant
            running = peak = 0
            for _, step in events:
                running += step
                peak = max(peak, running)
            peaks[node] = peak
        return peaks


@contextmanager
def simulated_cluster(nodes: int, cpus_per_node: int,
                      object_store_mib: int = 80) -> Iterator[list[str]]:
    """A head node without CPUs and `nodes` nodes of `cpus_per_node` CPUs on this machine, the
    driver connected; yields the grading nodes' ids. Everything is stopped afterwards."""
    import ray
    from ray.cluster_utils import Cluster

    if __name__ != "__main__":   # imported (the test): Ray's workers cannot import scripts/
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    # A private Ray folder: Cluster writes its address to <RAY_TMPDIR>/ray/ray_current_cluster,
    # where any other `ray.init()` on this machine (a test, a grade) would find and join it.
    private = tempfile.mkdtemp(prefix="raysim-", dir="/tmp")   # short: Ray's socket paths
    before = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = private
    store = object_store_mib * MIB
    try:
        with _cluster(Cluster, nodes, cpus_per_node, store) as ids:
            yield ids
    finally:
        if before is None:
            os.environ.pop("RAY_TMPDIR", None)
        else:
            os.environ["RAY_TMPDIR"] = before
        shutil.rmtree(private, ignore_errors=True)


@contextmanager
def _cluster(Cluster, nodes: int, cpus_per_node: int, store: int) -> Iterator[list[str]]:
    import ray

    from cnngrade.grading.runners import with_ray_startup_retries

    def start():
        cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 0, "object_store_memory": store, "include_dashboard": False})
        try:
            for _ in range(nodes):
                cluster.add_node(num_cpus=cpus_per_node, object_store_memory=store)
            cluster.wait_for_nodes()
        except BaseException:   # a node that did not come up in Ray's fixed wait
            cluster.shutdown()
            raise
        return cluster

    cluster = with_ray_startup_retries(start, ray.shutdown)
    try:
        ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
        try:
            ids = [n["NodeID"] for n in ray.nodes()
                   if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
            _warm_up(nodes * cpus_per_node)
            yield ids
        finally:
            ray.shutdown()
    finally:
        cluster.shutdown()


def list_schedule(costs: list[float], slots: int) -> float:
    """Greedy list scheduling of `costs`, in order, on `slots` identical slots: its makespan."""
    free = [0.0] * max(1, slots)
    for cost in costs:
        heapq.heapreplace(free, free[0] + cost)
    return max(free)


def _sleeper(seconds: float) -> tuple[str, int, float, float]:
    import ray
    start = time.time()
    time.sleep(seconds)
    return ray.get_runtime_context().get_node_id(), os.getpid(), start, time.time()


class _Slot:
    """A reusable grading process (the reworked runner's actor pool), sleeping for each job."""

    def run(self, seconds: float) -> tuple[str, int, float, float]:
        return _sleeper(seconds)


_REMOTE: dict[str, object] = {}


def _task():
    """The one remote function every replay submits (exported to the workers once)."""
    import ray
    if "task" not in _REMOTE:
        _REMOTE["task"] = ray.remote(_sleeper)
    return _REMOTE["task"]


def _warm_up(slots: int) -> None:
    """Start a worker process on every CPU of every node, with the function loaded, before
    anything is timed, as a cluster that has graded before has them (the simulated tasks are
    short: a process start would otherwise weigh hundreds of times its real share)."""
    import ray
    task = _task()
    ray.get([task.options(num_cpus=1, scheduling_strategy="SPREAD").remote(0.3)
             for _ in range(slots)])
    ray.get([task.options(num_cpus=1).remote(0.1) for _ in range(2 * slots)])


def replay(costs: list[float], cpus: int, total_cpus: int, scale: float,
           shape: str = "task") -> Replay:
    """Grade (sleep) one class on the connected cluster: every student's task submitted at once,
    `cpus` CPUs each; the makespan is measured on this driver's clock and scaled back."""
    import ray

    if shape == "actor":
        from ray.util import ActorPool
        slot = ray.remote(num_cpus=cpus)(_Slot)
        actors = [slot.remote() for _ in range(max(1, total_cpus // cpus))]
        ray.get([a.run.remote(0.0) for a in actors])   # every actor started before the clock
        submitted, started = time.time(), time.monotonic()
        spans = list(ActorPool(actors).map_unordered(lambda a, c: a.run.remote(c * scale),
                                                     costs))
        elapsed, collected = time.monotonic() - started, time.time()
        for a in actors:
            ray.kill(a)
    else:
        task = _task()
        submitted, started = time.time(), time.monotonic()
        refs = [task.options(num_cpus=cpus).remote(c * scale) for c in costs]
        spans = []
        while refs:   # results taken as they finish, as the runner does
            done, refs = ray.wait(refs, num_returns=1)
            spans.extend(ray.get(done))
        elapsed, collected = time.monotonic() - started, time.time()
    return Replay(list(costs), cpus, total_cpus, scale, elapsed / scale, submitted, collected,
                  spans)


def auto_scale(costs: list[float], cpus: int, total_cpus: int, sim_seconds: float) -> float:
    """The time scale that makes this class's ideal last `sim_seconds` of real time."""
    ideal = max(sum(c * cpus for c in costs) / total_cpus, max(costs))
    return sim_seconds / ideal


def hms(seconds: float) -> str:
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def report(slug: str, r: Replay, nodes: int, cpus_per_node: int, limits: Limits) -> str:
    cost = COSTS[slug]
    low, high = cost.busy
    spread = f"{low:g}-{high:g} s" if high > low else f"{low:g} s"
    rounds = max(1, math.floor(3600 / max(r.costs)))
    slots_per_node = cpus_per_node // r.cpus
    slots_needed = math.ceil(len(r.costs) / rounds)
    node_memory = slots_per_node * limits.memory / MEMORY_SHARE
    used = r.per_node()
    peaks = r.peak_running()
    gaps = sorted(r.gaps()) or [0.0]
    lines = [
        f"{slug}: {len(r.costs)} students, {spread} each ({cost.source}), {r.cpus} CPU(s) "
        f"per task, {nodes} nodes x {cpus_per_node} CPUs, time scale 1/{1 / r.scale:.0f}",
        f"  makespan {r.makespan:8.0f} s ({hms(r.makespan)})   ideal {r.ideal:8.0f} s "
        f"(CPU-seconds / CPUs {r.area_bound:.0f} s, longest task {max(r.costs):.0f} s)   "
        f"ratio {r.ratio:.3f}",
        f"  list scheduling in the same order without any delay {r.greedy:.0f} s "
        f"(ratio {r.greedy / r.ideal:.3f})",
        f"  Ray's own delays, in real time (magnified x{1 / r.scale:.0f} in the makespan): "
        f"between a slot's tasks median {gaps[len(gaps) // 2] * 1000:.0f} ms, mean "
        f"{sum(gaps) / len(gaps) * 1000:.0f} ms, max {gaps[-1] * 1000:.0f} ms; "
        f"to the first start {r.edges[0] * 1000:.0f} ms, after the "
        f"last end {r.edges[1] * 1000:.0f} ms",
        f"  tasks per node {sorted(used.values())}, at most {max(peaks.values(), default=0)} "
        f"running at once on a node ({cpus_per_node // r.cpus} slots)",
        f"  a real cluster of {nodes} nodes x {cpus_per_node} cores (1 kernel per "
        f"{r.cpus} core(s), {limits.memory / GIB:g} GiB limit each: {node_memory / GIB:.0f} GiB "
        f"per node) would take at most about {hms(r.makespan)} (about {hms(r.greedy)} with Ray's "
        f"delays at their real size); within one hour: "
        f"{slots_needed} slot(s) in all, {math.ceil(slots_needed / max(1, slots_per_node))} "
        f"such node(s)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="all", choices=["all", *COSTS],
                        help="an assignment's slug, or all (default)")
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--nodes", type=int, default=4, help="grading nodes (default 4)")
    parser.add_argument("--cpus-per-node", type=int, default=2,
                        help="simulated CPUs per node (default 2)")
    parser.add_argument("--time-scale", type=float, default=None,
                        help="simulated seconds per real second (default: each assignment's "
                             "ideal lasts --sim-seconds)")
    parser.add_argument("--sim-seconds", type=float, default=15.0,
                        help="with the default time scale, how long each ideal lasts here")
    parser.add_argument("--shape", choices=("task", "actor"), default="task",
                        help="one task per student (default) or a pool of reusable actors")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--object-store-mib", type=int, default=80,
                        help="object store per simulated node (default 80 MiB)")
    args = parser.parse_args(argv)
    if args.nodes < 1 or args.cpus_per_node < 1 or args.students < 1:
        parser.error("--nodes, --cpus-per-node and --students must be at least 1")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    slugs = list(COSTS) if args.assignment == "all" else [args.assignment]
    total = args.nodes * args.cpus_per_node
    print(f"Simulated cluster: a head without CPUs and {args.nodes} node(s) x "
          f"{args.cpus_per_node} CPU(s), {args.shape}s; {args.students} students per assignment, "
          f"costs drawn with seed {args.seed}.", flush=True)
    ratios = {}
    with simulated_cluster(args.nodes, args.cpus_per_node, args.object_store_mib):
        for i, slug in enumerate(slugs):
            limits = assignment_limits(slug)
            cpus = task_cpus(limits.threads, args.students, args.nodes, args.cpus_per_node)
            costs = draw_costs(COSTS[slug], args.students, args.seed + i)
            scale = args.time_scale or auto_scale(costs, cpus, total, args.sim_seconds)
            r = replay(costs, cpus, total, scale, args.shape)
            ratios[slug] = r.ratio
            print(report(slug, r, args.nodes, args.cpus_per_node, limits), flush=True)
    print("makespan / ideal: " + ", ".join(f"{s} {v:.3f}" for s, v in ratios.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
