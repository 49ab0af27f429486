"""scripts/simulate_cluster.py: the scheduling core on a tiny simulated cluster (2 nodes x 1 CPU,
6 sleeping tasks of a few tenths of a second), and its arithmetic. No wall-clock threshold: only
bounds that hold however slow the machine is (a makespan is never below its ideal)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "simulate_cluster.py"


@pytest.fixture(scope="module")
def sim():
    spec = importlib.util.spec_from_file_location("simulate_cluster", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["simulate_cluster"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("simulate_cluster", None)


def test_list_schedule_and_cpus(sim):
    assert sim.list_schedule([3, 3, 3, 3], 2) == 6
    assert sim.list_schedule([5, 1, 1, 1], 2) == 5
    assert sim.list_schedule([], 3) == 0
    # threads = 0: each task's share of the cluster (1 for a big class), at most a node's
    assert sim.task_cpus(0, 300, 4, 2) == 1
    assert sim.task_cpus(0, 2, 4, 2) == 2
    assert sim.task_cpus(4, 300, 4, 2) == 2
    assert sim.parse_size("8GiB") == 8 * 1024**3
    for slug in sim.COSTS:   # every simulated assignment exists, with its limits
        limits = sim.assignment_limits(slug)
        assert limits.memory > 0 and limits.threads >= 0
        low, high = sim.COSTS[slug].busy
        assert 0 < low <= high


@pytest.mark.timeout(600)   # a hang guard (starting Ray's processes), not a speed test
def test_replay_on_a_tiny_cluster(sim):
    pytest.importorskip("ray")
    costs = [0.2, 0.4, 0.3, 0.2, 0.3, 0.4]
    with sim.simulated_cluster(nodes=2, cpus_per_node=1) as nodes:
        assert len(nodes) == 2
        runs = {shape: sim.replay(costs, cpus=1, total_cpus=2, scale=1.0, shape=shape)
                for shape in ("task", "actor")}
    for shape, r in runs.items():
        assert len(r.spans) == len(costs), shape
        assert set(r.per_node()) <= set(nodes)
        assert sum(r.per_node().values()) == len(costs)
        # Ray never runs more tasks on a node than it has CPUs
        assert all(peak <= 1 for peak in r.peak_running().values()), r.peak_running()
        assert r.ideal == pytest.approx(max(sum(costs) / 2, max(costs)))
        assert r.greedy >= r.ideal - 1e-9
        # each task slept its cost, at most two at once: never faster than the ideal
        assert r.makespan >= r.ideal - 1e-3, (shape, r.makespan, r.ideal)
        # every task slept at least its cost (spans come in the order they finished: compare
        # the sorted durations with the sorted costs)
        slept = sorted(end - start for _, _, start, end in r.spans)
        assert all(d >= c - 1e-3 for d, c in zip(slept, sorted(costs), strict=True))
        text = sim.report("conv-by-hand", r, 2, 1, sim.assignment_limits("conv-by-hand"))
        assert "makespan" in text and "ratio" in text and "ideal" in text
