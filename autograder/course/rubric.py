"""Rubrics for the answers a person grades (nbgrader's manually graded cells: `grade: true,
solution: true`, markdown or code, and task cells, `task: true`), read from `assignment.toml`:

    [manual.explain-kernels]          # the cell's grade_id; its points come from the notebook
    start = "zero"                    # "zero": items add credit; "full": items take it away
    items = [
      { id = "learned", text = "kernels are learned by gradient descent", points = 1,
        comment = "Right: training picks the kernels." },
      { id = "task", text = "they adapt to the task and data", points = 1 },
      { id = "wrong-flip", text = "says a CNN flips its kernels", points = -0.5 },
    ]

A cell without a rubric is graded with free points and a comment. Points for one answer are
the start (0 or the cell's points) plus the items applied plus an adjustment, kept within 0 and
the cell's points. An item's points may be changed while grading (cnngrade.course.gradebook
records each change): the change applies to every answer it was applied to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError


@dataclass(frozen=True)
class RubricItem:
    id: str
    text: str
    points: float
    comment: str = ""


@dataclass(frozen=True)
class Rubric:
    cell: str                       # the answer cell's grade_id
    points: float                   # the cell's points (from the notebook's nbgrader metadata)
    start: str = "zero"             # "zero" | "full"
    items: tuple[RubricItem, ...] = field(default=())

    @property
    def free(self) -> bool:
        """No items: the grader gives points directly."""
        return not self.items

    def item(self, item_id: str) -> RubricItem | None:
        return next((i for i in self.items if i.id == item_id), None)

    def with_points(self, edited: dict[str, float]) -> Rubric:
        """This rubric with the items' points changed where `edited` ({item id: points}) says."""
        return Rubric(self.cell, self.points, self.start, tuple(
            RubricItem(i.id, i.text, edited.get(i.id, i.points), i.comment) for i in self.items))

    def score(self, applied: tuple[str, ...] | list[str], adjustment: float = 0.0) -> float:
        """The points of one answer: start + the applied items' points + adjustment, within
        [0, points]. An unknown item id counts nothing (the rubric lost it; see `unknown`)."""
        total = (self.points if self.start == "full" else 0.0) + adjustment
        total += sum(i.points for i in self.items if i.id in set(applied))
        return min(max(total, 0.0), self.points)

    def unknown(self, applied: tuple[str, ...] | list[str]) -> list[str]:
        return [a for a in applied if self.item(a) is None]


def _fail(where: Path, cell: str, problem: str) -> ConfigError:
    return ConfigError(f"{where}: [manual.{cell}] {problem}; fix the rubric in that file.")


def parse_rubrics(table: object, where: Path, cell_points: dict[str, float]) -> dict[str, Rubric]:
    """The `[manual.<grade_id>]` tables of an assignment.toml, for the manual cells
    `cell_points` ({grade_id: points}); a manual cell without a table gets a free rubric. Raises
    ConfigError (one sentence) on a table for no manual cell, a bad item or a bad start."""
    table = table if isinstance(table, dict) else {}
    rubrics: dict[str, Rubric] = {}
    for cell, spec in table.items():
        if cell not in cell_points:
            known = ", ".join(sorted(cell_points)) or "none"
            raise _fail(where, cell, f"names no manually graded cell of the notebook (they "
                                     f"are: {known})")
        if not isinstance(spec, dict):
            raise _fail(where, cell, "should be a table with `items`")
        start = spec.get("start", "zero")
        if start not in ("zero", "full"):
            raise _fail(where, cell, f'has start = {start!r}; use "zero" or "full"')
        items, seen = [], set()
        for n, raw in enumerate(spec.get("items", []), 1):
            if not isinstance(raw, dict):
                raise _fail(where, cell, f"item {n} should be a table {{ id, text, points }}")
            item_id, text, points = raw.get("id", str(n)), raw.get("text"), raw.get("points")
            if not isinstance(text, str) or not text.strip():
                raise _fail(where, cell, f"item {n} has no text")
            if isinstance(points, bool) or not isinstance(points, (int, float)) or \
                    not math.isfinite(points):
                raise _fail(where, cell, f"item {n} ({text!r}) has points = {points!r}; give "
                                         "a number (negative to take points away)")
            if str(item_id) in seen:
                raise _fail(where, cell, f"has two items with id {item_id!r}")
            seen.add(str(item_id))
            items.append(RubricItem(str(item_id), text.strip(), float(points),
                                    str(raw.get("comment", ""))))
        rubrics[cell] = Rubric(cell, float(cell_points[cell]), start, tuple(items))
    for cell, points in cell_points.items():
        rubrics.setdefault(cell, Rubric(cell, float(points)))
    return rubrics
