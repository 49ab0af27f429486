"""What running one notebook against one suite found: the type that both ways of grading a
notebook return (cnngrade.grading.evaluate for cnngrade's suites,
cnngrade.grading.nbgrader_compat for nbgrader's grade cells)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .suite_runner import TestResult


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
    record: bytes | None = None   # the kernel's answers (grading.replay), when small enough
    replayed: bool = False        # graded from a record, without executing the notebook
    wall_stops: list[str] = field(default_factory=list)   # what a wall-clock limit stopped
    cpu_seconds: float = 0.0      # CPU seconds of the notebook's cells (their first runs)
    slowest_cells: list[tuple[int, float, float]] = field(default_factory=list)
    clock: str = "cpu"            # what the time limits counted: "cpu" or "wall"
    call_cpu_seconds: float = 0.0   # the most CPU seconds one checker call used


def slowest(cells: list[tuple[int, float, float]], n: int = 5) -> list[tuple[int, float, float]]:
    """The `n` code cells that computed longest: (cell number, CPU s, wall s)."""
    return sorted(cells, key=lambda c: (-c[1], -c[2]))[:n]
