"""`make bench`, against nbgrader, in one run on this machine:

  (a) throughput: N submissions of the `nbgrader quickstart` course's ps1 (problem1 and
      problem2, honest answers), graded by `nbgrader autograde ps1` and by `cnngrade grade`
      (sandbox on, the default workers) after `cnngrade import-nbgrader`;
  (b) harness overhead on the same notebooks: `cnngrade grade` against bare nbclient execution
      (no sandbox, no scoring) with the same number of workers.

    .venv/bin/python scripts/bench_nbgrader.py [--n 20] [--workers 2] [--rounds 3]

(b) is timed in `--rounds` rounds, cnngrade and bare nbclient alternating which goes first, and
compared by their medians: on 2 cores one run of bare nbclient varies by +-20% (22.1, 18.9 and
15.7 s for the same run, 2026-12-04). Beside each wall time is the whole machine's busy CPU time
in that run (/proc/stat: every process, sandboxed kernels too), which varies far less and says
what the harness costs, and the time the hypervisor stole. Every cnngrade round must grade all
submissions with full marks, or the bench stops: a fast wrong grading proves nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
NOTEBOOKS = ("problem1", "problem2")


def bare_execute(path: str) -> float:
    """Execute one notebook with nbclient, no sandbox and no tests; returns seconds."""
    from nbclient import NotebookClient
    start = time.perf_counter()
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(Path(path).parent)}}).execute(
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)   # as cnngrade's: to a log
    return time.perf_counter() - start


def machine_cpu() -> tuple[float, float]:
    """(busy, stolen) CPU seconds of the whole machine so far, from /proc/stat (every process,
    the kernels in their sandboxes too; stolen: taken by the hypervisor for other machines);
    (0, 0) where there is no /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / tick, steal / tick


def timed_cpu(what: str, run) -> tuple[float, float]:
    """(wall seconds, the machine's busy CPU seconds) of run(), printed: CPU varies less than
    wall time, and stolen time says when other machines took this one's cores."""
    start, (busy, stolen) = time.perf_counter(), machine_cpu()
    run()
    seconds = time.perf_counter() - start
    after = machine_cpu()
    busy, stolen = after[0] - busy, after[1] - stolen
    print(f"  {what:62} {seconds:6.1f} s  (CPU {busy:5.1f} s, stolen {stolen:4.1f} s)",
          flush=True)
    return seconds, busy


def nbgrader(*args: str, cwd: Path) -> None:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin')}")
    proc = subprocess.run([str(BIN / "nbgrader"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"nbgrader {' '.join(args)} failed:\n{proc.stderr[-2000:]}")


def answered(released: Path, source: Path) -> nbformat.NotebookNode:
    """The released notebook with the source's answers in its answer cells."""
    from cnngrade.intake.notebook import grade_id
    src = {grade_id(c): "\n".join(line for line in c.source.splitlines()
                                  if "SOLUTION" not in line)
           for c in nbformat.read(source, as_version=4).cells}
    nb = nbformat.read(released, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = src[grade_id(cell)]
    return nb


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from bench_runners import timed  # scripts/ is on sys.path: this script's folder

    from cnngrade.course.config import load_course
    from cnngrade.grading.grade import grade
    from cnngrade.grading.nbgrader_compat import import_nbgrader, slug_for
    from cnngrade.intake.collect import collect

    work = Path(tempfile.mkdtemp(prefix="cnngrade-bench-nbgrader-"))
    nbgrader("quickstart", "course101", cwd=work)
    nbc = work / "course101"
    nbgrader("generate_assignment", "ps1", cwd=nbc)
    students = [f"student{i:03d}" for i in range(args.n)]
    inbox = {n: work / f"inbox-{n}" for n in NOTEBOOKS}
    for student in students:
        folder = nbc / "submitted" / student / "ps1"
        folder.mkdir(parents=True)
        for n in NOTEBOOKS:
            nb = answered(nbc / "release" / "ps1" / f"{n}.ipynb",
                          nbc / "source" / "ps1" / f"{n}.ipynb")
            nbformat.write(nb, folder / f"{n}.ipynb")
            (inbox[n] / student).mkdir(parents=True)
            nbformat.write(nb, inbox[n] / student / f"{n}.ipynb")
        shutil.copy(nbc / "source" / "ps1" / "jupyter.png", folder / "jupyter.png")
    course = load_course(work / "cnngrade-course")
    import_nbgrader(course, nbc, ("ps1",))
    course = load_course(work / "cnngrade-course")
    for n in NOTEBOOKS:
        collect(course, slug_for("ps1", n), inbox[n])
    w = args.workers
    print(f"\nAgainst nbgrader: {args.n} submissions of the quickstart course's ps1 "
          f"({2 * args.n} notebooks), {os.cpu_count()} cores\n", flush=True)
    t_nbgrader = timed("nbgrader autograde ps1", lambda: nbgrader("autograde", "ps1", cwd=nbc))
    files = [str(inbox[n] / s / f"{n}.ipynb") for n in NOTEBOOKS for s in students]

    def run_cnngrade(force: bool) -> None:
        for n in NOTEBOOKS:
            summary = grade(course, slug_for("ps1", n), workers=w, force=force)
            wrong = [f"{o.student}: {o.status}, {o.results.get('score')} of "
                     f"{o.results.get('max_score')}" for o in summary.graded
                     if o.status != "graded" or o.results.get("score") != o.results.get(
                         "max_score")]
            if len(summary.graded) != args.n or wrong:   # a fast wrong grading proves nothing
                raise SystemExit(f"cnngrade graded {len(summary.graded)} of {args.n} {n} "
                                 f"submissions, not all with full marks: {wrong[:3]}")

    def run_bare() -> None:
        with ProcessPoolExecutor(w) as pool:
            list(pool.map(bare_execute, files))

    t_cnngrade: list[tuple[float, float]] = []   # (wall, CPU) of each round
    t_bare: list[tuple[float, float]] = []
    for r in range(max(1, args.rounds)):
        label = f"round {r + 1}: "
        pair = [(t_cnngrade, f"{label}cnngrade grade ps1-problem1 + ps1-problem2, {w} workers",
                 lambda force=r > 0: run_cnngrade(force)),
                (t_bare, f"{label}bare nbclient, the same notebooks, {w} workers", run_bare)]
        for times, what, run in (pair if r % 2 == 0 else pair[::-1]):
            times.append(timed_cpu(what, run))
    cn, bare = (statistics.median(t for t, _ in ts) for ts in (t_cnngrade, t_bare))
    cn_cpu, bare_cpu = (statistics.median(c for _, c in ts) for ts in (t_cnngrade, t_bare))
    print()
    print(f"(a) throughput: cnngrade / nbgrader = {t_nbgrader / t_cnngrade[0][0]:.2f}x "
          f"(target at least 2x)")
    cpu = (f"; CPU {cn_cpu:.1f} s against {bare_cpu:.1f} s "
           f"({100 * (cn_cpu / bare_cpu - 1):+.0f}%, the whole machine's)" if bare_cpu else "")
    print(f"(b) harness overhead: cnngrade grade / bare nbclient = {cn / bare:.2f} "
          f"({100 * (cn / bare - 1):+.0f}%, medians of {len(t_bare)} rounds: {cn:.1f} s against "
          f"{bare:.1f} s; target at most +0%){cpu}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
