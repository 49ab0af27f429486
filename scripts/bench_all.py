"""`make bench`: every benchmark in one run, then every ratio it printed in one summary.

Each step runs as its own process (a failing one does not stop the others); its output goes to
the terminal and to build/bench.log as it comes. At the end: each step's wall time and exit
status, then the lines that carry a ratio or a verdict ("(a) throughput ...", "makespan / ideal
...", the desk's and the transfer lesson's verdicts), each beside the figure measured before the
issue that set its target (README, Measured), so the two can be read side by side.

    .venv/bin/python scripts/bench_all.py [--only NAME[,NAME]] [--list]

Exit status: 0 when every step exited 0, 1 otherwise.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

STEPS: list[tuple[str, list[str]]] = [
    ("transfer", ["scripts/bench_transfer.py", "--seeds", "3"]),
    ("nbgrader", ["scripts/bench_nbgrader.py", "--n", "20"]),
    ("runners-conv-by-hand", ["scripts/bench_runners.py", "--slug", "conv-by-hand", "--n", "20"]),
    ("runners-keras-convnet", ["scripts/bench_runners.py", "--slug", "keras-convnet", "--n", "4"]),
    ("load", ["scripts/bench_load.py", "--styles"]),
    ("near-misses", ["scripts/bench_near_misses.py"]),
    ("desk", ["scripts/bench_desk.py"]),
    ("cluster", ["scripts/simulate_cluster.py", "--assignment", "all"]),
]

# the lines of a step's output that go into the summary
SUMMARY = re.compile(r"^\s*(\([a-z]\) |makespan / ideal|Target:|GET /|Every transfer case|"
                     r"The lesson does NOT hold)")

# (step, what a summary line starts with) -> the earlier figure (README, Measured)
EARLIER: dict[tuple[str, str], str] = {
    ("nbgrader", "(a)"): "2.39x (README, before issue 19)",
    ("nbgrader", "(b)"): "+8% when issue 19 set the target at +0%; +22% on 2026-12-04 "
                         "with the relay's first version",
    ("runners-conv-by-hand", "(d)"): "+204% when issue 19 was filed (one Ray worker process "
                                     "per task)",
    ("runners-keras-convnet", "(d)"): "-3% when issue 19 was filed",
    ("runners-keras-convnet", "(c)"): "11.8x replayed (README, before issue 19)",
}


def run_step(name: str, argv: list[str], log) -> tuple[int, float, list[str]]:
    """(exit status, seconds, summary lines) of one step, its output streamed."""
    header = f"\n=== {name}: {' '.join(argv)}\n"
    print(header, end="", flush=True)
    log.write(header)
    start = time.perf_counter()
    kept: list[str] = []
    with subprocess.Popen([PY, *argv], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace") as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            log.write(line)
            if SUMMARY.match(line):
                kept.append(line.strip())
    return proc.returncode, time.perf_counter() - start, kept


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="", help="comma-separated step names")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    if args.list:
        for name, argv in STEPS:
            print(f"{name:24} {' '.join(argv)}")
        return 0
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    unknown = only - {name for name, _ in STEPS}
    if unknown:
        print(f"bench_all: no step named {', '.join(sorted(unknown))}; "
              "`scripts/bench_all.py --list` names them.", file=sys.stderr)
        return 2
    steps = [(n, a) for n, a in STEPS if not only or n in only]
    (ROOT / "build").mkdir(exist_ok=True)
    results = []
    with open(ROOT / "build" / "bench.log", "w") as log:
        for name, argv in steps:
            results.append((name, *run_step(name, argv, log)))
        lines = ["", "=== summary of this run (full output: build/bench.log)"]
        for name, status, seconds, kept in results:
            verdict = "ok" if status == 0 else f"FAILED (exit {status})"
            lines.append(f"{name}: {verdict}, {seconds / 60:.1f} min")
            for line in kept:
                earlier = next((v for (step, start), v in EARLIER.items()
                                if step == name and line.startswith(start)), None)
                lines.append(f"  {line}")
                if earlier:
                    lines.append(f"      earlier: {earlier}")
        text = "\n".join(lines) + "\n"
        print(text, end="")
        log.write(text)
    return 0 if all(status == 0 for _, status, _, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
