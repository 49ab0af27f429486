"""Notebook format: reading untrusted submissions, rendering the student template from the
solution with nbgrader's own preprocessors, and restoring locked cells before execution."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbgrader import utils as nbutils
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    LockCells,
)

from autograder.errors import ConfigError, SubmissionError

CELL_TYPES = {"code", "markdown", "raw"}


def parse_notebook(data: bytes, name: str) -> NotebookNode:
    """Read untrusted bytes as an nbformat-4 notebook or raise one clear sentence."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SubmissionError(f"{name} is not a text file, so it is not a Jupyter notebook; "
                              "submit the .ipynb file saved by Jupyter.") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SubmissionError(f"{name} is not valid notebook JSON (line {exc.lineno}, column "
                              f"{exc.colno}: {exc.msg}); re-save it in Jupyter and submit "
                              "it again.") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        raise SubmissionError(f"{name} is JSON but not a Jupyter notebook (it has no list of "
                              "cells); submit the .ipynb file saved by Jupyter.")
    version = raw.get("nbformat")
    if not isinstance(version, int) or version not in (3, 4):
        raise SubmissionError(f"{name} has notebook format version {version!r}, which cnngrade "
                              "does not read; save it with Jupyter (format 4) and submit again.")
    for index, cell in enumerate(raw["cells"]):
        problem = _cell_problem(cell)
        if problem:
            raise SubmissionError(f"{name}: cell {index + 1} {problem}; open the notebook in "
                                  "Jupyter, fix or delete that cell, save and submit again.")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises many types for malformed input
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SubmissionError(f"{name} could not be read as a notebook ({first}); re-save it "
                              "in Jupyter and submit again.") from None
    return nb


def _cell_problem(cell: object) -> str | None:
    if not isinstance(cell, dict):
        return "is not a JSON object"
    if cell.get("cell_type") not in CELL_TYPES:
        return f"has an unknown cell type {cell.get('cell_type')!r}"
    source = cell.get("source", "")
    if not (isinstance(source, str) or (isinstance(source, list)
                                        and all(isinstance(s, str) for s in source))):
        return "has a source that is not text"
    meta = cell.get("metadata", {})
    if not isinstance(meta, dict) or not isinstance(meta.get("nbgrader", {}), dict):
        return "has malformed metadata"
    return None


def read_notebook_file(path: Path) -> NotebookNode:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SubmissionError(f"{path} cannot be read ({exc.strerror}); check the path.") from None
    return parse_notebook(data, str(path))


def grade_id(cell: NotebookNode) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    value = meta.get("grade_id") if isinstance(meta, dict) else None
    return value if isinstance(value, str) and value else None


def render_template(solution: NotebookNode, slug: str) -> NotebookNode:
    """The student notebook, made from the solution by nbgrader's own preprocessors."""
    nb = copy.deepcopy(solution)
    resources: dict = {}
    try:
        for preprocessor in (CheckCellMetadata(), ClearSolutions(), ClearHiddenTests(),
                             LockCells(), ClearOutput(), ComputeChecksums()):
            nb, resources = preprocessor.preprocess(nb, resources)
    except Exception as exc:
        raise ConfigError(f"The solution notebook for '{slug}' has invalid nbgrader markup "
                          f"({exc}); fix its cell metadata or solution regions.") from None
    nb.metadata["cnngrade"] = {"assignment": slug}
    nb.metadata.pop("widgets", None)
    return nb


def load_template(solution_path: Path, slug: str) -> NotebookNode:
    if not solution_path.is_file():
        raise ConfigError(f"The solution notebook {solution_path} is missing; every assignment "
                          "needs solutions/<slug>.ipynb.")
    return render_template(nbformat.read(solution_path, as_version=4), slug)


@dataclass
class Restored:
    notebook: NotebookNode
    problems: list[str] = field(default_factory=list)


def restore_cells(submission: NotebookNode, template: NotebookNode) -> Restored:
    """Rebuild the submission around the released template.

    Locked cells (instructions, set-up, read-only cells) are taken from the template, and an edit
    to one is reported; deleted answer cells are put back empty; a duplicated grade id keeps its
    first cell. Cells the student added are kept where they are.
    """
    released = {gid: cell for cell in template.cells if (gid := grade_id(cell))}
    order = [gid for gid in (grade_id(c) for c in template.cells) if gid]
    problems: list[str] = []
    cells: list[NotebookNode] = []
    seen: set[str] = set()
    for cell in submission.cells:
        gid = grade_id(cell)
        if gid is None or gid not in released:
            cells.append(_student_cell(cell))
            continue
        if gid in seen:
            problems.append(f"cell '{gid}' appears more than once; only the first copy was graded.")
            continue
        seen.add(gid)
        original = released[gid]
        if nbutils.is_locked(original):
            if _checksum(cell) != original.metadata.nbgrader.get("checksum"):
                problems.append(f"locked cell '{gid}' was edited; the original was restored.")
            cells.append(copy.deepcopy(original))
        else:
            mine = _student_cell(cell)
            mine.metadata["nbgrader"] = copy.deepcopy(original.metadata.nbgrader)
            if mine.cell_type != original.cell_type:
                problems.append(f"answer cell '{gid}' changed its type to {mine.cell_type}; "
                                "the empty template cell was used.")
                mine = copy.deepcopy(original)
            cells.append(mine)
    for position, gid in enumerate(order):
        if gid in seen:
            continue
        previous = next((g for g in reversed(order[:position]) if g in seen), None)
        index = 0 if previous is None else 1 + next(
            i for i, c in enumerate(cells) if grade_id(c) == previous)
        cells.insert(index, copy.deepcopy(released[gid]))
        seen.add(gid)
        kind = "locked" if nbutils.is_locked(released[gid]) else "answer"
        problems.append(f"{kind} cell '{gid}' was deleted; the template version was put back.")
    nb = copy.deepcopy(template)
    nb.cells = cells
    return Restored(nb, problems)


def _student_cell(cell: NotebookNode) -> NotebookNode:
    """A clean copy of a student's cell: its type and source, no outputs or foreign metadata."""
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(source)
    if cell.get("cell_type") == "code":
        return nbformat.v4.new_code_cell(source)
    if cell.get("cell_type") == "markdown":
        return nbformat.v4.new_markdown_cell(source)
    return nbformat.v4.new_raw_cell(source)


def _checksum(cell: NotebookNode) -> str | None:
    try:
        probe = copy.deepcopy(cell)
        probe.setdefault("metadata", {}).setdefault("nbgrader", {})
        return nbutils.compute_checksum(probe)
    except Exception:
        return None
