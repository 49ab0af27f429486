"""`make bench`, load: each training assignment's notebooks timed alone and with every worker
busy, in one run on this machine, and the CPU time they use (what the limits count).

For each slug: the reference solution (the perfect sample) and the honest styles of
scripts/honest_styles.py, graded (a) alone, one at a time with every core (`--workers 1`), and
(b) with the defaults, every worker busy: the batch holds `--copies` of each notebook so that no
worker is idle. The course content is a copy whose limits are raised `--headroom` times, so that
no limit stops what is being measured. It prints per notebook the wall-clock and CPU seconds of
the notebook and of its slowest cell, and the score, next to the assignment's limits.

    .venv/bin/python scripts/bench_load.py [--slug keras-convnet ...] [--styles] [--copies 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
TRAINING = ("keras-convnet", "augmentation", "transfer-learning", "architectures")


def content_copy(work: Path, slug: str, headroom: float) -> Path:
    """A course directory whose content is the repository's, `slug`'s limits raised."""
    content = work / "content"
    for folder, source in (("assignments", ROOT / "assignments" / slug),
                           ("solutions", ROOT / "solutions"),
                           ("suites", ROOT / "autograder" / "suites" / slug)):
        target = content / folder / (slug if folder != "solutions" else "")
        shutil.copytree(source, target, dirs_exist_ok=True)
    toml = content / "assignments" / slug / "assignment.toml"

    def raise_limit(match: re.Match) -> str:
        return f"{match[1]} = {float(match[2]) * headroom:g}"
    toml.write_text(re.sub(r"^(cell_timeout|notebook_timeout|call_timeout)\s*=\s*([\d.]+)",
                           raise_limit, toml.read_text(), flags=re.MULTILINE))
    course = work / "course"
    course.mkdir()
    (course / "cnngrade.toml").write_text("[content]\n" + "".join(
        f'{k} = "{content / k}"\n' for k in ("assignments", "solutions", "suites")))
    return course


def notebooks(slug: str, styles: bool) -> dict[str, bytes]:
    """style name -> notebook bytes: the reference (perfect sample) and the honest styles."""
    out = {"reference": (ROOT / "solutions" / "samples" / slug / "perfect" / f"{slug}.ipynb")
           .read_bytes()}
    if styles:
        import nbformat
        from honest_styles import STYLES, answers, filled, solution_sources
        solution = ROOT / "solutions" / f"{slug}.ipynb"
        for style in STYLES.get(slug, {}):
            nb = filled(solution, slug, answers(slug, style, solution_sources(solution)))
            out[style] = nbformat.writes(nb).encode()
    return out


def run(slug: str, styles: bool, copies: int, headroom: float,
        modes: tuple[str, ...] = ("alone", "busy")) -> None:
    from cnngrade.course.config import load_course
    from cnngrade.grading.grade import grade
    from cnngrade.grading.worker_plan import plan_workers
    from cnngrade.intake.collect import collect
    from cnngrade.intake.release import release

    nbs = notebooks(slug, styles)
    real = load_course(Path(tempfile.mkdtemp())).assignment(slug).limits
    print(f"\n{slug}: limits cell {real.cell_timeout:g} s, notebook {real.notebook_timeout:g} s "
          f"of CPU time (wall-clock backstops x{real.wall_factor:g})", flush=True)
    for mode in modes:
        work = Path(tempfile.mkdtemp(prefix=f"cnngrade-load-{slug}-"))
        course = load_course(content_copy(work, slug, headroom))
        release(course, slug, update_template=False)
        inbox = work / "inbox"
        n = 1 if mode == "alone" else copies
        for style, data in nbs.items():
            for i in range(n):
                target = inbox / f"{style}-{i}" / f"{slug}.ipynb"
                target.parent.mkdir(parents=True)
                target.write_bytes(data)
        collect(course, slug, inbox)
        asg = course.assignment(slug)
        jobs = len(nbs) * n
        workers = 1 if mode == "alone" else None
        plan = plan_workers(asg.limits, jobs, workers)
        print(f"  {mode}: {plan.describe(jobs)}", flush=True)
        grade(course, slug, workers=workers)
        for student in sorted(p.name for p in (course.course_dir / "results" / slug).iterdir()):
            res = json.loads((course.course_dir / "results" / slug / student / "results.json")
                             .read_text())
            extra = res["extra_data"]
            cells = extra.get("slowest_cells") or [{}]
            print(f"    {student:28} {res['score']:g}/{res['max_score']:g}  notebook "
                  f"{extra.get('notebook_seconds', 0):6.1f} s wall "
                  f"{extra.get('notebook_cpu_seconds', 0):6.1f} s CPU;  slowest cell "
                  f"{cells[0].get('cell', '-')}: {cells[0].get('wall_seconds', 0):6.1f} s wall "
                  f"{cells[0].get('cpu_seconds', 0):6.1f} s CPU;  slowest call "
                  f"{extra.get('slowest_call_cpu_seconds', 0):5.1f} s CPU", flush=True)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slug", action="append", choices=TRAINING)
    parser.add_argument("--styles", action="store_true",
                        help="also the honest styles of scripts/honest_styles.py")
    parser.add_argument("--copies", type=int, default=2,
                        help="copies of each notebook in the busy batch")
    parser.add_argument("--headroom", type=float, default=4.0,
                        help="the copy's time limits are this many times the assignment's")
    parser.add_argument("--mode", choices=("alone", "busy"), action="append",
                        help="only this mode (default: both)")
    args = parser.parse_args()
    for slug in args.slug or TRAINING:
        run(slug, args.styles, args.copies, args.headroom, tuple(args.mode or ("alone", "busy")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
