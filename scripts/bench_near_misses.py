"""Which mistakes the accuracy thresholds alone catch, and which need their own check: each
training assignment's reference solution graded beside near misses of one mistake each (no
rescaling, augmented validation data, a learning rate of 1e-2, dropout after the dense layer, a
base left trainable, a ResNet without its shortcut),
with the grader's hidden-split accuracies, the score and the checks that failed.

    python scripts/bench_near_misses.py [--slug keras-convnet] [--workers N]

Prints one table per assignment (figures, not asserted). Run by `make bench`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import nbformat  # noqa: E402
from honest_styles import filled, solution_sources  # noqa: E402


def _swap(sources: dict[str, str], gid: str, old: str, new: str) -> dict[str, str]:
    assert old in sources[gid], f"{gid}: {old!r} not in the solution"
    return {gid: sources[gid].replace(old, new)}


NEAR_MISSES: dict[str, dict[str, Callable[[dict[str, str]], dict[str, str]]]] = {
    "keras-convnet": {
        "no rescaling": lambda s: {
            **_swap(s, "train", '.astype("float32") / 255', '.astype("float32")'),
            **_swap(s, "binary-train", "return ds.map(lambda x, y: (x / 255.0, y))",
                    "return ds")},
        "learning rate 1e-2": lambda s: _swap(s, "binary-train", "learning_rate=1e-4",
                                              "learning_rate=1e-2"),
    },
    "augmentation": {
        "no rescaling": lambda s: _swap(
            {"datagen": s["datagen"].replace("    rescale=1.0 / 255,\n", "")}, "datagen",
            "test_datagen = ImageDataGenerator(rescale=1.0 / 255)",
            "test_datagen = ImageDataGenerator()"),
        "augmented validation data": lambda s: _swap(
            s, "datagen", "validation_generator = test_datagen.",
            "validation_generator = train_datagen."),
        "dropout after the dense layer": lambda s: _swap(
            s, "model", '    layers.Dropout(0.5),\n    layers.Dense(512, activation="relu"),\n',
            '    layers.Dense(512, activation="relu"),\n    layers.Dropout(0.5),\n'),
        "learning rate 1e-2": lambda s: _swap(s, "model", "learning_rate=1e-4",
                                              "learning_rate=1e-2"),
    },
    "transfer-learning": {
        "base not frozen in feature extraction": lambda s: _swap(
            s, "builders", "    base.trainable = False\n    return compile_for(add_head(",
            "    return compile_for(add_head("),
        "fine-tuning everything at 1e-3": lambda s: _swap(
            s, "builders", "return compile_for(model, 1e-5)", "return compile_for(model, 1e-3)"),
    },
    "architectures": {
        "one epoch instead of EPOCHS": lambda s: _swap(s, "train", "epochs=EPOCHS", "epochs=1"),
        "ResNet without its shortcut": lambda s: _swap(
            s, "resnet", "y = layers.Add()([x, y])", "y = layers.Activation(\"linear\")(y)"),
    },
}


def run(slug: str, workers: int | None) -> None:
    from cnngrade.course.config import load_course
    from cnngrade.grading.grade import grade
    from cnngrade.intake.collect import collect
    from cnngrade.intake.release import release

    work = Path(tempfile.mkdtemp(prefix=f"cnngrade-near-{slug}-"))
    try:
        course = load_course(work / "course")
        release(course, slug, update_template=False)
        solution = course.assignment(slug).solution
        sources = solution_sources(solution)
        notebooks = {"reference": filled(solution, slug, {})}
        for name, change in NEAR_MISSES[slug].items():
            notebooks[name] = filled(solution, slug, change(sources))
        inbox = work / "inbox"
        students = {}
        for i, (name, nb) in enumerate(notebooks.items()):
            student = f"s{i}"
            students[student] = name
            (inbox / student).mkdir(parents=True)
            nbformat.write(nb, inbox / student / f"{slug}.ipynb")
        collect(course, slug, inbox)
        grade(course, slug, workers=workers)
        print(f"\n{slug}: the reference and its near misses, graded (hidden-split accuracy as "
              "the grader measures it)", flush=True)
        rows = []
        for student, name in students.items():
            res = json.loads((course.course_dir / "results" / slug / student / "results.json")
                             .read_text())
            accuracies = []
            for test in res["tests"]:
                for table in test.get("extra_data", {}).get("tables", []):
                    if table["title"].endswith("accuracy"):
                        for row in table["rows"]:
                            accuracies.append(f"{table['title'].removesuffix(' accuracy')} "
                                              f"{row[1]:.3f} (needs {row[2]:g})")
            failed = [f"{t['name']} (-{t['max_score'] - t['score']:g})" for t in res["tests"]
                      if t["status"] != "passed"]
            rows.append((name, f"{res['score']:g}/{res['max_score']:g}",
                         "; ".join(accuracies) or "-", ", ".join(failed) or "none"))
        width = max(len(r[0]) for r in rows)
        for name, score, accuracy, failed in rows:
            print(f"  {name:{width}}  {score:>7}  {accuracy}\n  {'':{width}}           "
                  f"failed: {failed}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slug", action="append", choices=sorted(NEAR_MISSES))
    parser.add_argument("--workers", type=int)
    args = parser.parse_args()
    for slug in args.slug or sorted(NEAR_MISSES):
        run(slug, args.workers)


if __name__ == "__main__":
    main()
