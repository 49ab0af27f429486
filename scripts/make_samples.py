"""Regenerate the bundled sample submissions that `cnngrade demo` grades:

    solutions/samples/<slug>/<student>/<slug>.ipynb

perfect   the template with every answer cell filled from the solution
partial   the same, but the answer cells named in PARTIAL (see PARTIAL.md) left as released
template  the released template, untouched
broken    a file that is not a notebook (a truncated download)

Run `.venv/bin/python scripts/make_samples.py [slug]` after changing a solution, and commit.
"""

from __future__ import annotations

import sys

import nbformat

from cnngrade.course.config import load_course
from cnngrade.intake.notebook import grade_id, load_template

PARTIAL = {"conv-by-hand": {"conv_layer", "avg_pool", "sobel", "gradient_direction",
                            "renormalize", "gabor_kernel", "gabor_bank", "q2", "q3"},
           "output-size": {"dense_params", "network_params", "bottleneck_multiplications",
                           "q2", "q3"},
           "keras-convnet": {"binary-train", "activation"},
           "augmentation": {"augmentation-layers", "questions"},
           "architectures": {"train", "plot"},
           "transfer-learning": {"rule", "case45"}}


def answer(source: str) -> str:
    return "\n".join(line for line in source.splitlines()
                     if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line)


def main(slug: str = "conv-by-hand") -> None:
    course = load_course("/nonexistent")
    asg = course.assignment(slug)
    solution = nbformat.read(asg.solution, as_version=4)
    answers = {grade_id(c): answer(c.source) for c in solution.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    out = course.solutions_dir / "samples" / slug
    for student, skip in (("perfect", set()), ("partial", PARTIAL.get(slug, set())),
                          ("template", set(answers))):
        nb = load_template(asg.solution, slug)
        for cell in nb.cells:
            gid = grade_id(cell)
            if gid in answers and gid not in skip:
                cell.source = answers[gid]
        (out / student).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out / student / asg.notebook)
    text = nbformat.writes(load_template(asg.solution, slug))
    (out / "broken").mkdir(parents=True, exist_ok=True)
    (out / "broken" / asg.notebook).write_text(text[: len(text) // 3])
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
