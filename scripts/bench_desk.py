"""`make bench`, the TA desk (`cnngrade serve`): the time to render two of its pages for a class
of N students (default 300) of conv-by-hand: the assignment view `GET /a/conv-by-hand` and the
grade-by-question page `GET /a/conv-by-hand/grade`. Target: under 300 ms each on this machine.

The class is built without running a notebook: the perfect sample, one per student with its
written answer (explain-kernels, graded by hand) made distinct and about 1 in 10 left as released,
is released and collected the real way; made-up results of the suite's 23 checks (30 points) are
recorded straight into the gradebook; a third of the answers are graded by hand. The pages are
requested in-process (Starlette's TestClient, with the desk's token): one request first (the
first of the process, which reads the class's answers from the store), then `--runs` more, of
which the median, min and max are printed (figures, not asserted).

    .venv/bin/python scripts/bench_desk.py [--students 300] [--runs 7]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLUG = "conv-by-hand"
CELL = "explain-kernels"
TARGET_MS = 300.0
TOKEN = "bench-desk-token"
CHECKS = [   # the suite's checks and points (autograder/suites/conv-by-hand): 30 in all
    ("test_pad_zero", 1), ("test_pad_edge", 1), ("test_conv2d_valid", 2),
    ("test_conv2d_stride", 2), ("test_conv2d_padding", 2), ("test_conv2d_edge_cases", 1),
    ("test_conv2d_multichannel", 2), ("test_conv_layer", 2), ("test_relu", 1),
    ("test_max_pool", 2), ("test_avg_pool", 2), ("test_sobel", 1),
    ("test_gradient_magnitude", 1), ("test_gradient_direction", 1), ("test_renormalize", 1),
    ("test_renormalize_constant", 1), ("test_gabor_kernel", 1), ("test_gabor_bank", 1),
    ("test_q1_output_shape", 1), ("test_q2_same_padding", 1), ("test_q3_learned_kernels", 1),
    ("test_numpy_only", 1), ("test_inputs_left_unchanged", 1),
]
MAX_SCORE = float(sum(points for _, points in CHECKS))


def student_id(i: int) -> str:
    return f"s{i:03d}"


def left_as_released(i: int) -> bool:
    return i % 10 == 9


def write_inbox(course, inbox: Path, n: int) -> int:
    """One notebook per student: the perfect sample with its own written answer (or the
    released text for about 1 in 10). Returns how many answers were left as released."""
    import nbformat

    from cnngrade.grading import manual

    asg = course.assignment(SLUG)
    released = manual.released_cells(course, SLUG)[CELL].template_source
    sample = nbformat.read(ROOT / "solutions" / "samples" / SLUG / "perfect" / asg.notebook,
                           as_version=4)
    [cell] = [c for c in sample.cells
              if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == CELL]
    answer = cell.source
    for i in range(n):
        cell.source = released if left_as_released(i) else \
            f"{answer}\n\n(Student {i}: in my own words, answer number {i}.)"
        (inbox / student_id(i)).mkdir(parents=True)
        nbformat.write(sample, inbox / student_id(i) / asg.notebook)
    return sum(left_as_released(i) for i in range(n))


def results_for(i: int) -> tuple[dict, str]:
    from cnngrade.grading.results import build_results, ungradable
    from cnngrade.grading.suite_runner import TestResult

    if i % 97 == 13:
        return ungradable("Grader error: RuntimeError: the kernel vanished", MAX_SCORE,
                          {"student": student_id(i)}), "grader-error"
    tests = []
    for k, (name, points) in enumerate(CHECKS):
        bad = (i + k) % (7 + k % 5) == 0
        message = ("NotImplementedError: not implemented yet" if bad and i % 2 else
                   f"wrong values at index ({i % 5}, {k % 3})" if bad else "")
        tests.append(TestResult(name, name[5:].replace("_", " "), float(points),
                                0.0 if bad else float(points), "failed" if bad else "passed",
                                message))
    extra = {"student": student_id(i), "problems": [], "cell_errors": 0, "seed": 1234,
             "notebook_seconds": 2.0 + (i % 50) / 10}
    return build_results(tests=tests, max_score=MAX_SCORE, output="checks ran.", seconds=3.0,
                         extra=extra), "graded"


def record_results(course) -> int:
    from cnngrade.course.gradebook import open_gradebook

    book = open_gradebook(course.course_dir)
    try:
        with book.transaction():
            latest = book.latest(SLUG)
            for sub in latest:
                i = int(sub.student[1:])
                res, status = results_for(i)
                book.record(sub.id, "suite", "env", res, status, 3.0 + i / 1000)
    finally:
        book.close()
    return len(latest)


def grade_by_hand(course, count: int) -> int:
    from cnngrade.grading import manual

    done = 0
    while done < count:
        answer = manual.next_ungraded(course, SLUG, CELL)
        if answer is None:
            break
        items = ["trained", "task"] if done % 3 else ["trained"]
        manual.grade_answer(course, SLUG, answer.student, answer.cell.grade_id, items, "ok",
                            "bench", answer.version)
        done += 1
    return done


def time_page(client, path: str, runs: int) -> tuple[float, list[float]]:
    def once() -> float:
        start = time.perf_counter()
        response = client.get(path)
        ms = 1000 * (time.perf_counter() - start)
        if response.status_code != 200:
            raise SystemExit(f"GET {path} answered {response.status_code}: "
                             f"{response.text[:300]}")
        return ms

    first = once()
    return first, [once() for _ in range(runs)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    begin = time.perf_counter()

    from starlette.testclient import TestClient

    from cnngrade.course.config import load_course
    from cnngrade.grading import manual
    from cnngrade.intake.collect import collect
    from cnngrade.intake.release import release
    from cnngrade.views.desk.app import make_app

    work = Path(tempfile.mkdtemp(prefix="cnngrade-bench-desk-"))
    try:
        (work / "course").mkdir()
        course = load_course(work / "course")
        release(course, SLUG, update_template=False)
        inbox = work / "inbox"
        unchanged = write_inbox(course, inbox, args.students)
        collect(course, SLUG, inbox)
        graded = record_results(course)
        by_hand = grade_by_hand(course, args.students // 3)
        setup_s = time.perf_counter() - begin

        manual._SOURCES.clear()   # the first request reads the answers, as a fresh desk does
        client = TestClient(make_app(course, TOKEN, "bench"), base_url="http://127.0.0.1:8765")
        client.cookies.set("cnngrade_desk", TOKEN)
        pages = [(f"GET /a/{SLUG}", f"/a/{SLUG}"),
                 (f"GET /a/{SLUG}/grade", f"/a/{SLUG}/grade")]
        timings = [(label, *time_page(client, path, args.runs)) for label, path in pages]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nDesk pages: {args.students} students of {SLUG}, {graded} submissions with "
          f"results ({len(CHECKS)} checks, {MAX_SCORE:g} points), {args.students} manual "
          f"answers to {CELL} ({unchanged} left as released, {by_hand} graded by hand); "
          f"set-up {setup_s:.1f} s\n")
    print(f"  {'page':28} {'median ms':>10} {'min':>8} {'max':>8} {'N':>3} "
          f"{'< 300 ms':>9} {'first ms':>9}")
    for label, first, runs in timings:
        median = statistics.median(runs)
        print(f"  {label:28} {median:10.1f} {min(runs):8.1f} {max(runs):8.1f} {len(runs):3d} "
              f"{'yes' if median < TARGET_MS else 'NO':>9} {first:9.1f}")
    print(f"\nTarget: under {TARGET_MS:g} ms each (the median of N requests after one first "
          "request;\n'first ms' is that first request of the process, which reads the answers "
          f"from the store). Whole script: {time.perf_counter() - begin:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
