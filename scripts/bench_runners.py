"""`make bench`, runners: wall-clock ratios measured in one run on this machine.

  (b) harness overhead: `cnngrade grade` (sandbox on, hidden suite run) against bare nbclient
      execution of the same notebooks, with the same number of workers;
  (c) regrade from cache against the first grade;
  (d) the Ray runner (a local Ray instance, its start included) against the local runner.

The batch: N copies of an assignment's perfect sample, each its own student (default: 20 of
conv-by-hand). (a), throughput against `nbgrader autograde`, is scripts/bench_nbgrader.py.

    .venv/bin/python scripts/bench_runners.py [--slug conv-by-hand] [--n 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def bare_execute(path: str) -> float:
    """Execute one notebook with nbclient, no sandbox and no tests; returns seconds."""
    from nbclient import NotebookClient
    start = time.perf_counter()
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    return time.perf_counter() - start


def timed(what: str, run) -> float:
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    print(f"  {what:52} {seconds:8.1f} s", flush=True)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slug", default="conv-by-hand")
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()

    from autograder.collect import collect
    from autograder.config import load_course
    from autograder.grade import grade
    from autograder.release import release

    work = Path(tempfile.mkdtemp(prefix="cnngrade-bench-"))
    course = load_course(work / "course")
    release(course, args.slug, update_template=False)
    asg = course.assignment(args.slug)
    sample = course.solutions_dir / "samples" / args.slug / "perfect" / asg.notebook
    inbox = work / "inbox"
    for i in range(args.n):
        (inbox / f"student{i:03d}").mkdir(parents=True)
        shutil.copyfile(sample, inbox / f"student{i:03d}" / asg.notebook)
    collect(course, args.slug, inbox)
    w = args.workers
    print(f"\nRunners: {args.n} submissions of {args.slug}, {w} workers, "
          f"{os.cpu_count()} cores\n", flush=True)

    bare = timed(f"bare nbclient, {w} workers", lambda: list(ProcessPoolExecutor(w).map(
        bare_execute, [str(p) for p in sorted(inbox.glob(f"*/{asg.notebook}"))])))
    first = timed(f"cnngrade grade, first run, {w} workers",
                  lambda: grade(course, args.slug, workers=w))
    cached = timed("cnngrade grade, again (all cached)", lambda: grade(course, args.slug))
    local = timed(f"cnngrade grade --force, local runner, {w} workers",
                  lambda: grade(course, args.slug, workers=w, force=True))
    ray = None
    if not args.no_ray:
        ray = timed("cnngrade grade --force --runner ray (local Ray)",
                    lambda: grade(course, args.slug, force=True, runner="ray"))
    print()
    print(f"(b) harness overhead: grade / bare nbclient = {first / bare:.2f} "
          f"({100 * (first / bare - 1):+.0f}%; target at most +10%)")
    print(f"(c) first grade / regrade from cache = {first / cached:.0f}x "
          f"(target at least 10x)")
    if ray is not None:
        print(f"(d) Ray runner / local runner = {ray / local:.2f} "
              f"({100 * (ray / local - 1):+.0f}%; target within 20%)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
