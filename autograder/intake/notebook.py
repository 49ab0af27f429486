"""Notebook format: reading untrusted submissions, rendering the student template from the
solution with nbgrader's own preprocessors, and restoring locked cells before execution."""

from __future__ import annotations

import codecs
import copy
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbgrader import utils as nbutils
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    LockCells,
)

from ..course.errors import ConfigError, SubmissionError

CELL_TYPES = {"code", "markdown", "raw"}
V3_CELL_TYPES = CELL_TYPES | {"heading"}
MAX_DEPTH = 100         # JSON nesting a notebook may use (real ones stay far below)
MAX_CELLS = 10_000      # far more than any assignment notebook has
SURROGATES = re.compile(r"[\ud800-\udfff]")
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")   # JSON text's only way to write one
CELL_ID = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")
CELL_METADATA: dict[str, Callable[[object], bool]] = {
    "tags": lambda v: isinstance(v, list) and all(isinstance(t, str) for t in v),
    "execution": lambda v: isinstance(v, dict),
    "jupyter": lambda v: isinstance(v, dict),
    "collapsed": lambda v: isinstance(v, bool),
    "scrolled": lambda v: isinstance(v, bool) or v == "auto",
    "editable": lambda v: isinstance(v, bool),
    "deletable": lambda v: isinstance(v, bool),
    "name": lambda v: isinstance(v, str),
}
NOTEBOOK_METADATA: dict[str, Callable[[object], bool]] = {
    key: lambda v: isinstance(v, dict) for key in ("kernelspec", "language_info", "widgets")}


def parse_notebook(data: bytes, name: str) -> NotebookNode:
    """Read untrusted bytes as an nbformat-4 notebook or raise one clear sentence.

    Whatever the bytes, the result is either a notebook whose cells are well formed (text
    sources, object metadata, outputs that nbformat can read, nothing nested absurdly deep, no
    text that cannot be written back as UTF-8) or a SubmissionError of one line that names the
    file, says what is wrong and what to do."""
    name = _printable(name)
    text = _decode(data, name)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SubmissionError(f"{name} is not valid notebook JSON (line {exc.lineno}, column "
                              f"{exc.colno}: {exc.msg}); re-save it in Jupyter and submit "
                              "it again.") from None
    except RecursionError:
        raise SubmissionError(f"{name} is not a Jupyter notebook (its JSON is nested too "
                              "deeply to read); submit the .ipynb file saved by "
                              "Jupyter.") from None
    except ValueError:   # a number of more than 4300 digits
        raise SubmissionError(f"{name} is not valid notebook JSON (it holds a number too long "
                              "to read); re-save it in Jupyter and submit it again.") from None
    problem = _tree_problem(raw, text)
    if problem:
        raise SubmissionError(f"{name} is not a usable notebook ({problem}); re-save it in "
                              "Jupyter and submit it again.")
    if not isinstance(raw, dict) or not any(
            isinstance(raw.get(key), list) for key in ("cells", "worksheets")):
        raise SubmissionError(f"{name} is JSON but not a Jupyter notebook (it has no list of "
                              "cells); submit the .ipynb file saved by Jupyter.")
    version = raw.get("nbformat")
    if "nbformat" not in raw:
        raise SubmissionError(f"{name} does not say which notebook format it is in (it has no "
                              "'nbformat' field); save it with Jupyter (format 4) and submit "
                              "again.")
    if type(version) is not int or version not in (3, 4):
        raise SubmissionError(f"{name} has notebook format version {_shown(version)}, which "
                              "cnngrade does not read; save it with Jupyter (format 4) and "
                              "submit again.")
    minor = raw.get("nbformat_minor", 0)
    if type(minor) is not int or minor < 0:
        raise SubmissionError(f"{name} has an invalid notebook format minor version "
                              f"{_shown(minor)}; save it with Jupyter (format 4) and submit "
                              "again.")
    if not isinstance(raw.get("metadata", {}), dict):
        raise SubmissionError(f"{name} has notebook metadata that is not a JSON object; "
                              "re-save it in Jupyter and submit it again.")
    if version == 3:
        return _from_v3(raw, minor, name)
    if not isinstance(raw.get("cells"), list):
        raise SubmissionError(f"{name} is a format-4 notebook without a list of cells; re-save "
                              "it in Jupyter and submit it again.")
    _check_cells(raw["cells"], name)
    try:
        return _to_v4(raw, 4, minor)
    except Exception as exc:  # nbformat raises many types for malformed input
        raise SubmissionError(f"{name} could not be read as a notebook ({_first_line(exc)}); "
                              "re-save it in Jupyter and submit again.") from None


def _to_v4(raw: dict, version: int, minor: int) -> NotebookNode:
    """What nbformat.reads(text, as_version=4) does, from the JSON already parsed: the reader's
    clean-up, the conversion to format 4, the keys a cell must have where they are missing and
    the repair of cell ids and of mistyped metadata. As with nbformat.reads, a notebook that
    nbformat's schema calls invalid is still read (what matters was checked above); the schema's
    full validation is left out, with the log it would write."""
    raw.setdefault("metadata", {})
    nb = nbformat.versions[version].to_notebook_json(raw, minor=minor)
    nb = nbformat.convert(nb, 4)
    if nb.get("nbformat") != 4:
        raise ValueError(f"it stayed format {_shown(nb.get('nbformat'))}")
    _drop_mistyped(nb.metadata, NOTEBOOK_METADATA)
    for cell in nb.cells:   # the keys every cell has (Jupyter fills them in as well)
        cell.setdefault("metadata", NotebookNode())
        cell.setdefault("source", "")
        if cell.cell_type == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
        _drop_mistyped(cell.metadata, CELL_METADATA)
    _repair_ids(nb)
    return nb


def _drop_mistyped(meta: dict, types: dict[str, Callable[[object], bool]]) -> None:
    """Metadata that Jupyter's tools read (nbclient: a cell's tags and execution times, the
    kernelspec), removed where it is not of the type they expect, as Jupyter would reject it."""
    for key, ok in types.items():
        if key in meta and not ok(meta[key]):
            del meta[key]


def _repair_ids(nb: NotebookNode) -> None:
    """Cell ids as nbformat's validation repairs them (a missing or duplicate id is replaced),
    and an id that is not one of nbformat's (not a short string of letters, digits, - and _)
    as well: nothing downstream meets an id it cannot use."""
    needed = nb.get("nbformat_minor", 0) >= 5
    seen: set[str] = set()
    for cell in nb.cells:
        value = cell.get("id")
        if value is None and not needed and "id" not in cell:
            continue
        if not isinstance(value, str) or not CELL_ID.match(value) or value in seen:
            cell["id"] = value = _new_id(seen)
        seen.add(value)


def _new_id(seen: set[str]) -> str:
    while (value := uuid.uuid4().hex[:8]) in seen:
        pass
    return value


def _decode(data: bytes, name: str) -> str:
    """UTF-8 (as Jupyter writes it), with or without a byte-order mark; UTF-16 or UTF-32 text
    with a byte-order mark (some editors' "Unicode") is read as well."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                       (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                break
            if text.lstrip().startswith("{"):
                return text
            break
    raise SubmissionError(f"{name} is not a text file, so it is not a Jupyter notebook; "
                          "submit the .ipynb file saved by Jupyter.")


def _tree_problem(raw: object, text: str) -> str | None:
    """Nesting deeper than MAX_DEPTH, or text with unpaired surrogates (\\ud800 escapes, which
    can be neither written back as UTF-8 nor sent to the kernel). Level by level, without
    recursion; strings are looked at only where the text has such an escape at all."""
    level = [raw] if type(raw) is dict or type(raw) is list else []
    depth = 1
    while level:
        if depth > MAX_DEPTH:
            return f"its JSON is nested more than {MAX_DEPTH} levels deep"
        level = [item for value in level
                 for item in (value.values() if type(value) is dict else value)
                 if type(item) is dict or type(item) is list]
        depth += 1
    if SURROGATE_ESCAPE.search(text) and _has_surrogate(raw):
        return "it holds text that is not valid Unicode (an unpaired \\ud800-\\udfff escape)"
    return None


def _has_surrogate(raw: object) -> bool:
    stack = [raw]
    while stack:
        value = stack.pop()
        if type(value) is str:
            if SURROGATES.search(value):
                return True
        elif type(value) is dict:
            stack.extend(value)
            stack.extend(value.values())
        elif type(value) is list:
            stack.extend(value)
    return False


def _check_cells(cells: list, name: str, v3: bool = False) -> None:
    if len(cells) > MAX_CELLS:
        raise SubmissionError(f"{name} has {len(cells)} cells, more than the {MAX_CELLS} a "
                              "notebook may have; delete the cells you do not need, save and "
                              "submit again.")
    for index, cell in enumerate(cells):
        problem = _cell_problem(cell, v3)
        if problem:
            raise SubmissionError(f"{name}: cell {index + 1} {problem}; open the notebook in "
                                  "Jupyter, fix or delete that cell, save and submit again.")
        _drop_debris(cell, v3)


def _from_v3(raw: dict, minor: int, name: str) -> NotebookNode:
    """A format-3 notebook (IPython 1-2), converted by nbformat to format 4."""
    sheets = raw.get("worksheets")
    if not isinstance(sheets, list) or not all(
            isinstance(ws, dict) and isinstance(ws.get("cells"), list) for ws in sheets):
        raise SubmissionError(f"{name} is a format-3 notebook without a list of worksheets "
                              "and cells; open it in Jupyter, save it (format 4) and submit "
                              "again.")
    _check_cells([cell for ws in sheets for cell in ws["cells"]], name, v3=True)
    try:
        nb = _to_v4(raw, 3, minor)
    except Exception as exc:
        raise SubmissionError(f"{name} is a format-3 notebook that could not be converted to "
                              f"format 4 ({_first_line(exc)}); open it in Jupyter, save it "
                              "(format 4) and submit again.") from None
    _check_cells(nb.cells, name)
    return nb


def _cell_problem(cell: object, v3: bool = False) -> str | None:
    """What keeps a cell from being read (the cell as submitted, in format 3 or 4); what is not
    graded but could upset a reader (outputs, attachments) is cleaned instead: _drop_debris."""
    if not isinstance(cell, dict):
        return "is not a JSON object"
    kind = cell.get("cell_type")
    if not isinstance(kind, str) or kind not in (V3_CELL_TYPES if v3 else CELL_TYPES):
        return f"has an unknown cell type {_shown(kind)}"
    if not _is_text(cell.get("input" if v3 and kind == "code" else "source", "")):
        return "has a source that is not text"
    meta = cell.get("metadata", {})
    if not isinstance(meta, dict) or not isinstance(meta.get("nbgrader", {}), dict):
        return "has malformed metadata"
    level = cell.get("level", 1)
    if v3 and kind == "heading" and (type(level) is not int or not 1 <= level <= 6):
        return "has a heading level that is not a number from 1 to 6"
    return None


def _drop_debris(cell: dict, v3: bool = False) -> None:
    """Outputs and attachments are never graded (a notebook is graded by running it): the ones
    nbformat could not read or write back are dropped rather than refusing the notebook. A
    format-3 notebook's outputs are all dropped (their conversion is fragile)."""
    if cell.get("cell_type") == "code":
        outputs = cell.get("outputs")
        cell["outputs"] = [] if v3 or not isinstance(outputs, list) else \
            [out for out in outputs if _output_ok(out)]
    if "attachments" in cell:   # (images pasted into markdown; a code cell has none)
        attachments = cell["attachments"]
        if isinstance(attachments, dict) and cell.get("cell_type") != "code":
            cell["attachments"] = {key: bundle for key, bundle in attachments.items()
                                   if isinstance(bundle, dict)}
        else:
            del cell["attachments"]


def _output_ok(output: object) -> bool:
    """An output nbformat reads and writes back (format 4)."""
    if not isinstance(output, dict) or output.get("output_type") not in (
            "stream", "display_data", "execute_result", "error"):
        return False
    if output["output_type"] == "stream" and "text" not in output:
        return False
    return (isinstance(output.get("data", {}), dict)
            and isinstance(output.get("metadata", {}), dict)
            and all(_is_text(output.get(key, "")) for key in ("text", "traceback")))


def _is_text(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, list)
                                      and all(isinstance(s, str) for s in value))


def _shown(value: object) -> str:
    """A value from an untrusted file, short enough for a one-line message."""
    if isinstance(value, dict):
        return "(a JSON object)"
    if isinstance(value, list):
        return "(a JSON list)"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _first_line(exc: BaseException) -> str:
    """An exception's message (which may quote the file) made short and printable."""
    lines = str(exc).strip().splitlines()
    text = _printable(" ".join(lines[0].split())) if lines else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _printable(name: str) -> str:
    """The file's name, with characters that would break a one-line message escaped."""
    if name.isprintable():
        return name
    return "".join(c if c.isprintable() else c.encode("unicode_escape",
                                                       "backslashreplace").decode("ascii")
                   for c in name)


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
                             ClearMarkScheme(),
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
    _repair_ids(nb)   # a new cell's random id may be one the template already uses
    return Restored(nb, problems)


def _student_cell(cell: NotebookNode) -> NotebookNode:
    """A clean copy of a student's cell: its type and source, no outputs or foreign metadata.
    (What nbformat.v4.new_*_cell make, without their schema validation of each cell: slow
    for a notebook of thousands of cells, and the parts are known to be valid.)"""
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(source)
    kind = cell.get("cell_type")
    kind = kind if kind in ("code", "markdown") else "raw"
    new = NotebookNode(id=uuid.uuid4().hex[:8], cell_type=kind, metadata=NotebookNode(),
                       source=source)
    if kind == "code":
        new.update(execution_count=None, outputs=[])
    return new


def _checksum(cell: NotebookNode) -> str | None:
    try:
        probe = copy.deepcopy(cell)
        probe.setdefault("metadata", {}).setdefault("nbgrader", {})
        return nbutils.compute_checksum(probe)
    except Exception:
        return None
