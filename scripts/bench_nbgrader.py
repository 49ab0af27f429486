"""`make bench`, against nbgrader, in one run on this machine:

  (a) throughput: N submissions of the `nbgrader quickstart` course's ps1 (problem1 and
      problem2, honest answers), graded by `nbgrader autograde ps1` and by `cnngrade grade`
      (sandbox on, the default workers) after `cnngrade import-nbgrader`;
  (b) harness overhead on the same notebooks: `cnngrade grade` against bare nbclient execution
      (no sandbox, no scoring) with the same number of workers.

    .venv/bin/python scripts/bench_nbgrader.py [--n 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
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
                   resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    return time.perf_counter() - start


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
    t_cnngrade = timed(f"cnngrade grade ps1-problem1 + ps1-problem2, {w} workers",
                       lambda: [grade(course, slug_for("ps1", n), workers=w)
                                for n in NOTEBOOKS])
    files = [str(inbox[n] / s / f"{n}.ipynb") for n in NOTEBOOKS for s in students]
    t_bare = timed(f"bare nbclient, the same notebooks, {w} workers",
                   lambda: list(ProcessPoolExecutor(w).map(bare_execute, files)))
    print()
    print(f"(a) throughput: cnngrade / nbgrader = {t_nbgrader / t_cnngrade:.2f}x "
          f"(target at least 2x)")
    print(f"(b) harness overhead: cnngrade grade / bare nbclient = {t_cnngrade / t_bare:.2f} "
          f"({100 * (t_cnngrade / t_bare - 1):+.0f}%; target at most +10%)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
