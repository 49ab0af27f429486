"""`make bench`, runners: wall-clock ratios measured in one run on this machine.

  (c) regrade from cache against the first grade, and regrade after a change to one hidden
      test (replayed from the kernels' recorded answers) against the first grade;
  (d) the Ray runner (on a local Ray instance started beforehand, as a cluster would be) against
      the local runner, the same number of tasks at once.

The batch: N copies of an assignment's perfect sample, each its own student (default: 20 of
conv-by-hand), graded from a copy of the course content so that a hidden test can be changed.
(a) and (b), against `nbgrader autograde` and bare nbclient, are scripts/bench_nbgrader.py.

    .venv/bin/python scripts/bench_runners.py [--slug conv-by-hand] [--n 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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

    from cnngrade.course.config import load_course
    from cnngrade.grading.grade import grade
    from cnngrade.intake.collect import collect
    from cnngrade.intake.release import release

    work = Path(tempfile.mkdtemp(prefix="cnngrade-bench-"))
    content = work / "content"
    for folder, source in (("assignments", ROOT / "assignments" / args.slug),
                           ("solutions", ROOT / "solutions"),
                           ("suites", ROOT / "autograder" / "suites" / args.slug)):
        target = content / folder / (args.slug if folder != "solutions" else "")
        shutil.copytree(source, target, dirs_exist_ok=True)
    (work / "course").mkdir()
    (work / "course" / "cnngrade.toml").write_text("[content]\n" + "".join(
        f'{k} = "{content / k}"\n' for k in ("assignments", "solutions", "suites")))
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

    first = timed(f"cnngrade grade, first run, {w} workers",
                  lambda: grade(course, args.slug, workers=w))
    cached = timed("cnngrade grade, again (all cached)", lambda: grade(course, args.slug))
    suite = next((content / "suites" / args.slug).glob("test_*.py"))
    text = suite.read_text()
    suite.write_text(text.replace('"""', '"""(changed) ', 1) if '"""' in text else text + "\n")
    replayed = timed("cnngrade grade after one hidden test changed (replay)",
                     lambda: grade(course, args.slug, workers=w))
    local = timed(f"cnngrade grade --force, local runner, {w} workers",
                  lambda: grade(course, args.slug, workers=w, force=True))
    ray_time = None
    if not args.no_ray:
        import ray
        ray.init(num_cpus=w, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, object_store_memory=256 * 1024**2)
        ray_time = timed(f"cnngrade grade --force --runner ray, {w} CPUs",
                         lambda: grade(course, args.slug, force=True, runner="ray"))
        ray.shutdown()
    print()
    print(f"(c) first grade / regrade from cache = {first / cached:.0f}x; first grade / "
          f"regrade after a test change = {first / replayed:.1f}x (target at least 10x)")
    if ray_time is not None:
        print(f"(d) Ray runner / local runner = {ray_time / local:.2f} "
              f"({100 * (ray_time / local - 1):+.0f}%; target within 20%)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
