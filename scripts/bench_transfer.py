"""`make bench`, transfer learning: does the course's lesson hold on its own data?

Runs the transfer-learning solution's cells (the five cases, exactly as the notebook trains
them on 20 images per class) and, beside them, the same network trained from scratch (the
course base's architecture with random weights and the same head, all trainable, 30 epochs at
1e-3: case 5 without the pretrained weights). Every model is measured on the hidden target test
split, for several seeds. Prints the table; exits 1 if a case does not beat scratch on average.

    .venv/bin/python scripts/bench_transfer.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CASES = {"case 1: feature extraction": "case1_classifier",
         "case 2: fine-tune the last block": "case2_model",
         "case 3: fine-tune everything": "case3_model",
         "case 4: features from an earlier layer": "case4_model",
         "case 5: pretrained init, train everything": "case5_model"}


def solution_cells() -> dict[str, str]:
    nb = nbformat.read(ROOT / "solutions" / "transfer-learning.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: "\n".join(
        line for line in c.source.splitlines() if "SOLUTION" not in line)
        for c in nb.cells if c.cell_type == "code"}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()

    import keras

    from cnngrade.course import base_network as cb
    from cnngrade.course.data import TRANSFER, data_layout
    layout = data_layout({})
    test_file = layout.hidden / TRANSFER / cb.TEST_FILE
    if not test_file.is_file():
        print(f"{test_file} is missing; run `cnngrade data prepare` first.")
        return 2
    with np.load(test_file, allow_pickle=False) as data:
        x_test, y_test = cb.scale(data["x"]), data["y"].astype(np.int64)
    cells = solution_cells()
    ns: dict = {"__name__": "__bench__"}
    scores: dict[str, list[float]] = {name: [] for name in ["from scratch", *CASES]}
    seconds: dict[str, float] = dict.fromkeys(scores, 0.0)
    os.chdir(tempfile.mkdtemp(prefix="cnngrade-bench-"))
    exec(cells["setup"], ns)   # noqa: S102 - the course's own solution
    for cell in ("rule", "head", "builders"):
        exec(cells[cell], ns)  # noqa: S102
    base_features = ns["load_base"]().predict(x_test, batch_size=500, verbose=0)

    def accuracy(model, x) -> float:
        return float(np.mean(model.predict(x, batch_size=500, verbose=0).argmax(1) == y_test))

    for seed in range(args.seeds):
        keras.utils.set_random_seed(seed)
        start = time.perf_counter()
        scratch_base = keras.models.clone_model(ns["load_base"]())   # random weights
        scratch = ns["compile_for"](ns["add_head"](scratch_base, ns["NUM_CLASSES"]), 1e-3)
        scratch.fit(ns["x_train"], ns["y_train"], epochs=30, batch_size=32, verbose=0)
        seconds["from scratch"] += time.perf_counter() - start
        scores["from scratch"].append(accuracy(scratch, x_test))
        for cell, names in (("case1", ["case 1: feature extraction"]),
                            ("case23", list(CASES)[1:3]), ("case45", list(CASES)[3:])):
            keras.utils.set_random_seed(seed)
            start = time.perf_counter()
            exec(cells[cell], ns)  # noqa: S102
            for name in names:
                seconds[name] += (time.perf_counter() - start) / len(names)
                model = ns[CASES[name]]
                scores[name].append(accuracy(model, base_features) if cell == "case1"
                                     else accuracy(model, x_test))
    scratch_mean = float(np.mean(scores["from scratch"]))
    print(f"\nTransfer learning vs training from scratch: {len(y_test):,} hidden test images "
          f"of Fashion-MNIST classes 5-9, {len(ns['y_train'])} training images "
          f"({cb.TARGET_PER_CLASS} per class); base pretrained on classes 0-4; "
          f"{args.seeds} seeds\n")
    print(f"{'':44} {'mean':>6} {'min':>6} {'max':>6} {'vs scratch':>11} {'wins':>5} "
          f"{'s/run':>6}")
    failed = []
    for name, values in scores.items():
        mean = float(np.mean(values))
        wins = "" if name == "from scratch" else \
            f"{sum(v > s for v, s in zip(values, scores['from scratch'], strict=True))}" \
            f"/{len(values)}"
        delta = "" if name == "from scratch" else f"{mean - scratch_mean:+.4f}"
        print(f"{name:44} {mean:6.4f} {min(values):6.4f} {max(values):6.4f} {delta:>11} "
              f"{wins:>5} {seconds[name] / args.seeds:6.1f}")
        if name != "from scratch" and mean <= scratch_mean:
            failed.append(name)
    if failed:
        print(f"\nThe lesson does NOT hold: {', '.join(failed)} do not beat training from "
              "scratch on average.")
        return 1
    print("\nEvery transfer case beats training from scratch on average.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
