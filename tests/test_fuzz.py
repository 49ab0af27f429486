"""Fuzzing (issue 6): thousands of mutated notebooks through parsing, restoring, collect and
grade. Whatever the bytes, the grader never crashes: a bad file gets one sentence (which file,
what is wrong, what to do) and no traceback, and every other file is graded.

The mutations are plain functions of a `random.Random`: Hypothesis drives them (through
`st.randoms`, so failures shrink) in the property tests, a seeded Random in the end-to-end one.
"""

from __future__ import annotations

import codecs
import copy
import itertools
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nbformat
import pytest
from conftest import filled, submit
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jupyter_client.session import json_packer

from cnngrade.course.errors import SubmissionError
from cnngrade.course.gradebook import open_gradebook
from cnngrade.course.store import Store, sha256
from cnngrade.grading.evaluate import prepare
from cnngrade.grading.grade import grade
from cnngrade.grading.nbgrader_compat import read_source
from cnngrade.grading.nbgrader_compat import restore as nbgrader_restore
from cnngrade.intake.collect import collect
from cnngrade.intake.notebook import parse_notebook

NAME = "ada/mini.ipynb"
FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=False,
                suppress_health_check=list(HealthCheck))


# -- the notebooks mutated: a correct mini submission, in format 4 and in format 3 --------------

def _base(course: Any) -> dict:
    nb = filled(course, "mini")
    nb.cells.insert(4, nbformat.v4.new_code_cell("helper = [1, 2]\nhelper"))
    nb.cells[4].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="a\nb\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": "[1, 2]"},
                               execution_count=1)]
    nb.cells[0].attachments = {"a.png": {"image/png": "iVBORw0KGgo="}}
    return json.loads(nbformat.writes(nb))


_BASES: dict[str, dict[str, dict]] = {}


def bases(course: Any) -> dict[str, dict]:
    key = str(course.course_dir)
    if key not in _BASES:
        v4 = _base(course)
        v3 = json.loads(nbformat.writes(nbformat.convert(nbformat.reads(json.dumps(v4), 4), 3)))
        _BASES[key] = {"v4": v4, "v3": v3}
    return _BASES[key]


# -- raw JSON text, for what json.dumps cannot write (NaN, 5000-digit numbers, \ud800, depth) ----

@dataclass(frozen=True)
class Raw:
    text: str


def to_bytes(doc: Any, ascii_only: bool) -> bytes:
    raws: list[str] = []

    def default(obj: object) -> str:
        if isinstance(obj, Raw):
            raws.append(obj.text)
            return f"@@RAW{len(raws) - 1}@@"
        raise TypeError(type(obj).__name__)

    text = json.dumps(doc, default=default, indent=1, ensure_ascii=ascii_only)
    text = re.sub(r'"@@RAW(\d+)@@"', lambda m: raws[int(m[1])], text)
    # ensure_ascii=False leaves unpaired surrogates as such: written as the bytes of UTF-8
    # would write them (invalid UTF-8), as a broken editor would
    return text.encode("utf-8", "surrogatepass")


def nested(r: random.Random) -> Raw:
    depth = r.choice([50, 99, 100, 101, 150, 500, 990, 5_000, 10_000, 100_000])
    if r.random() < 0.5:
        return Raw("[" * depth + "]" * depth)
    return Raw('{"a": ' * depth + "1" + "}" * depth)


WEIRD_CHARS = ["\ud800", "\udfff", "\ud83d", "\udc80", "\x00", "\u202e", "\ufeff", "\U0001f600",
               "\U0010ffff", "e\u0301", "\r", "\x1b[31m", "\u2028", "\\", '"', "\n"]


def odd_value(r: random.Random) -> Any:
    """A JSON value of some type, often not the one expected where it lands."""
    makers: list[Callable[[], Any]] = [
        lambda: None, lambda: 0, lambda: -1, lambda: 1.5, lambda: True, lambda: False,
        lambda: "", lambda: "text", lambda: "add", lambda: [], lambda: {},
        lambda: [1, "a", None], lambda: {"k": [1, {"x": None}]}, lambda: 10 ** 30,
        lambda: Raw("NaN"), lambda: Raw("Infinity"), lambda: Raw("-Infinity"),
        lambda: Raw("1e999"), lambda: Raw("9" * r.choice([4300, 4301, 5000])),
        lambda: Raw("-0"), lambda: Raw('"\\ud800"'), lambda: Raw('"a\\udfffb"'),
        lambda: "\x00", lambda: "x" * 10_000, lambda: r.choice(WEIRD_CHARS),
        lambda: ["line\n", 3], lambda: nested(r),
    ]
    return r.choice(makers)()


# -- structural mutations of the JSON document (each gets its own copy) ------------------------

def _containers(doc: Any) -> list[Any]:
    found, stack = [], [doc]
    while stack:
        value = stack.pop()
        if isinstance(value, (dict, list)):
            found.append(value)
            stack.extend(value.values() if isinstance(value, dict) else value)
    return found


def _cells(doc: Any) -> list:
    """The cells list (format 4) or the first worksheet's (format 3); [] when there is none."""
    if isinstance(doc, dict):
        if isinstance(doc.get("cells"), list):
            return doc["cells"]
        sheets = doc.get("worksheets")
        if isinstance(sheets, list) and sheets and isinstance(sheets[0], dict) \
                and isinstance(sheets[0].get("cells"), list):
            return sheets[0]["cells"]
    return []


def _cell(doc: Any, r: random.Random) -> dict | None:
    cells = [c for c in _cells(doc) if isinstance(c, dict)]
    return r.choice(cells) if cells else None


def _slot(doc: Any, r: random.Random) -> tuple[Any, Any] | None:
    """(container, key) of a random value, half the time inside a cell."""
    root = _cell(doc, r) if r.random() < 0.5 else None
    candidates = [c for c in _containers(root if root is not None else doc) if c]
    if not candidates:
        return None
    container = r.choice(candidates)
    key = r.choice(list(container)) if isinstance(container, dict) else \
        r.randrange(len(container))
    return container, key


def delete_key(doc: Any, r: random.Random) -> Any:
    dicts = [c for c in _containers(doc) if isinstance(c, dict) and c]
    if dicts:
        d = r.choice(dicts)
        del d[r.choice(list(d))]
    return doc


def retype(doc: Any, r: random.Random) -> Any:
    slot = _slot(doc, r)
    if slot is None:
        return odd_value(r)
    container, key = slot
    container[key] = odd_value(r)
    return doc


def duplicate_cell(doc: Any, r: random.Random) -> Any:
    cells = _cells(doc)
    if cells:
        for _ in range(r.choice([1, 1, 2, 5])):
            cells.insert(r.randrange(len(cells) + 1), copy.deepcopy(r.choice(cells)))
    return doc


def _nbgrader(cell: dict | None) -> dict | None:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    return nbg if isinstance(nbg, dict) else None


def grade_ids(doc: Any, r: random.Random) -> Any:
    graded = [n for c in _cells(doc) if (n := _nbgrader(c)) is not None]
    if not graded:
        return doc
    ids = [n.get("grade_id") for n in graded]
    for nbg in r.sample(graded, r.randint(1, len(graded))):
        nbg["grade_id"] = r.choice([
            r.choice(ids), r.choice(ids), "", " ", None, 7, 1.5, True, ["add"], {"id": "add"},
            "add\x00", "ADD", "add ", "a" * 100_000, Raw('"\\udc00"'), odd_value(r)])
    return doc


def nbgrader_types(doc: Any, r: random.Random) -> Any:
    cell = _cell(doc, r)
    if cell is None:
        return doc
    meta = cell.setdefault("metadata", {}) if isinstance(cell.get("metadata", {}), dict) \
        else None
    if meta is None:
        return doc
    if r.random() < 0.3 or not isinstance(meta.get("nbgrader"), dict):
        meta["nbgrader"] = r.choice([[], "locked", None, 1, True, odd_value(r),
                                     {"grade_id": "add"}, {"grade_id": "setup"}])
    else:
        field = r.choice(["locked", "solution", "grade", "points", "checksum",
                          "schema_version", "task", "grade_id", "cell_type"])
        meta["nbgrader"][field] = odd_value(r)
    return doc


def source_shapes(doc: Any, r: random.Random) -> Any:
    cell = _cell(doc, r)
    if cell is None:
        return doc
    key = "input" if "input" in cell else "source"
    text = cell.get(key) if isinstance(cell.get(key), str) else "x = 1\ny = 2"
    cell[key] = r.choice([
        text.splitlines(keepends=True), list(text[:10_000]), "", [], text, 42, None,
        [text, 3], {"text": text}, [[text]], text[:1_000] * 1000, odd_value(r)])
    if r.random() < 0.2:
        cell.pop(key, None)
    return doc


def outputs_garbage(doc: Any, r: random.Random) -> Any:
    cell = _cell(doc, r)
    if cell is None:
        return doc
    out = r.choice([
        {"output_type": "stream", "name": "stdout", "text": odd_value(r)},
        {"output_type": "execute_result", "data": odd_value(r), "metadata": odd_value(r),
         "execution_count": odd_value(r)},
        {"output_type": "display_data", "data": {"text/plain": odd_value(r),
                                                  "image/png": odd_value(r)}},
        {"output_type": "error", "ename": odd_value(r), "evalue": odd_value(r),
         "traceback": odd_value(r)},
        {"output_type": odd_value(r)}, {}, odd_value(r)])
    choice = r.random()
    if choice < 0.5:
        cell["outputs"] = [out]
    elif choice < 0.7:
        cell["outputs"] = odd_value(r)
    elif choice < 0.85:
        cell["attachments"] = r.choice([odd_value(r), {"a.png": odd_value(r)}])
    else:
        cell[r.choice(["execution_count", "prompt_number", "id", "level"])] = odd_value(r)
    return doc


def format_version(doc: Any, r: random.Random) -> Any:
    if isinstance(doc, dict):
        if r.random() < 0.15:
            doc.pop("nbformat", None)
        else:
            doc["nbformat"] = r.choice([3, 4, 5, 2, 1, 0, -4, "4", 4.0, None, True, [4],
                                        Raw("4e0"), Raw("4.0"), 10 ** 20])
    return doc


def format_minor(doc: Any, r: random.Random) -> Any:
    if isinstance(doc, dict):
        if r.random() < 0.15:
            doc.pop("nbformat_minor", None)
        else:
            doc["nbformat_minor"] = r.choice([0, 1, 4, 5, 6, 99, 10 ** 20, -1, "5", None, 5.0,
                                              True, Raw("1e999"), [5]])
    return doc


def enormous(doc: Any, r: random.Random) -> Any:
    size = r.choice([10_000, 100_000, 100_000, 1_000_000, 3_000_000])
    big = r.choice(["x", "é", "\n", "# ", "\U0001f600", "\x00"]) * (size // 2)
    cell = _cell(doc, r)
    if cell is not None and r.random() < 0.6:
        cell[r.choice(["source", "source", "cell_type", "id"])] = big
    else:
        slot = _slot(doc, r)
        if slot is not None:
            slot[0][slot[1]] = big
    return doc


def deep(doc: Any, r: random.Random) -> Any:
    slot = _slot(doc, r)
    if slot is None:
        return nested(r)
    slot[0][slot[1]] = nested(r)
    return doc


def weird_text(doc: Any, r: random.Random) -> Any:
    strings = [(c, k) for c in _containers(doc)
               for k in (c if isinstance(c, dict) else range(len(c)))
               if isinstance(c[k], str)]
    if not strings:
        return doc
    for container, key in r.sample(strings, min(len(strings), r.randint(1, 3))):
        text = container[key]
        at = r.randint(0, len(text))
        container[key] = text[:at] + r.choice(WEIRD_CHARS) + text[at:]
    if r.random() < 0.3:   # a weird key too
        dicts = [c for c in _containers(doc) if isinstance(c, dict)]
        r.choice(dicts)[r.choice(WEIRD_CHARS) + "key"] = r.choice(["v", 1, None])
    return doc


def many_cells(doc: Any, r: random.Random) -> Any:
    cells = _cells(doc)
    small = [c for c in cells if len(json.dumps(c, default=repr)) < 2_000]
    if small:   # (not the enormous ones: 10,000 copies of a MB would not fit in memory)
        n = r.choice([50, 500, 500, 3_000, 10_000])   # the last over the limit
        extra = [copy.deepcopy(r.choice(small)) for _ in range(3)]
        cells.extend(extra[i % 3] for i in range(n))   # the same objects: cheap to build
    return doc


def cell_types(doc: Any, r: random.Random) -> Any:
    cell = _cell(doc, r)
    if cell is not None:
        cell["cell_type"] = r.choice(["heading", "", "Code", "code ", None, 1, ["code"],
                                      "markdown", "raw", "code", odd_value(r)])
    return doc


def shuffle_or_drop(doc: Any, r: random.Random) -> Any:
    cells = _cells(doc)
    if r.random() < 0.5:
        r.shuffle(cells)
    else:
        del cells[r.randrange(len(cells) + 1):]
    return doc


def top_level(doc: Any, r: random.Random) -> Any:
    return r.choice([[], [doc], "notebook", 4, None, {"cells": doc}, {}, {"nbformat": 4},
                     {"nbformat": 4, "nbformat_minor": 5, "cells": []},
                     {"nbformat": 3, "worksheets": odd_value(r)},
                     {"nbformat": 3, "worksheets": [{"cells": [odd_value(r)]}]},
                     {**doc, "metadata": odd_value(r)} if isinstance(doc, dict) else doc,
                     {**doc, "cells": odd_value(r)} if isinstance(doc, dict) else doc])


DOC_MUTATIONS: dict[str, Callable[[Any, random.Random], Any]] = {f.__name__: f for f in (
    delete_key, retype, duplicate_cell, grade_ids, nbgrader_types, source_shapes,
    outputs_garbage, format_version, format_minor, enormous, deep, weird_text, many_cells,
    cell_types, shuffle_or_drop, top_level)}


# -- mutations of the bytes --------------------------------------------------------------------

def truncate(data: bytes, r: random.Random) -> bytes:
    return data[:r.randrange(len(data) + 1)]


def bom(data: bytes, r: random.Random) -> bytes:
    return codecs.BOM_UTF8 + data


def other_encoding(data: bytes, r: random.Random) -> bytes:
    text = data.decode("utf-8", "surrogatepass")
    codec = r.choice(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252"])
    return text.encode(codec, "replace")


def _noise(r: random.Random, n: int) -> bytes:
    """n random bytes from one draw of `r` (a Hypothesis random draws each byte otherwise)."""
    return random.Random(r.getrandbits(64)).randbytes(n)


def garbage(data: bytes, r: random.Random) -> bytes:
    return _noise(r, r.choice([0, 1, 7, 1_000, 100_000]))


def splice(data: bytes, r: random.Random) -> bytes:
    at = r.randrange(len(data) + 1)
    piece = r.choice([_noise(r, r.randint(1, 64)), b"\x00", b"\xff\xfe", b"\xed\xa0\x80",
                      b"\xc3", b'"', b"}", b"]", b",", b"\\"])
    if r.random() < 0.5:
        return data[:at] + piece + data[at:]
    return data[:at] + piece + data[at + len(piece):]


def flip_bits(data: bytes, r: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(r.randint(1, 8)):
        if out:
            out[r.randrange(len(out))] ^= 1 << r.randrange(8)
    return bytes(out)


def duplicate_keys(data: bytes, r: random.Random) -> bytes:
    text = data.decode("utf-8", "surrogatepass")
    value = to_bytes(odd_value(r), True).decode()
    keys = list(re.finditer(r'"(\w+)": ', text))
    if keys and r.random() < 0.7:   # an earlier duplicate: the original wins
        at = r.choice(keys)
        text = f'{text[:at.start()]}"{at[1]}": {value}, {text[at.start():]}'
    else:                           # a later one at the top level: the duplicate wins
        end = text.rstrip().rfind("}")
        if end > 0:
            key = r.choice(["cells", "nbformat", "metadata", "nbformat_minor", "worksheets"])
            text = f'{text[:end]}, "{key}": {value}{text[end:]}'
    return text.encode("utf-8", "surrogatepass")


def whitespace(data: bytes, r: random.Random) -> bytes:
    return r.choice([b"\n \t" + data + b"\n\n", data.replace(b"\n", b"\r\n"),
                     data.replace(b"\n", b"")])


BYTE_MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {f.__name__: f for f in (
    truncate, bom, other_encoding, garbage, splice, flip_bits, duplicate_keys, whitespace)}


# -- a recipe: which base, which mutations; applied with a Random ------------------------------

@dataclass(frozen=True)
class Recipe:
    base: str
    doc: tuple[str, ...]
    raw: tuple[str, ...]
    ascii_only: bool = True


def build(recipe: Recipe, course: Any, r: random.Random) -> bytes:
    doc = copy.deepcopy(bases(course)[recipe.base])
    # many_cells last: its copies share their objects, which a later mutation would multiply
    for name in sorted(recipe.doc, key=lambda name: name == "many_cells"):
        doc = DOC_MUTATIONS[name](doc, r)
    data = to_bytes(doc, recipe.ascii_only)
    for name in recipe.raw:
        data = BYTE_MUTATIONS[name](data, r)
    return data


HEAVY = {"many_cells", "enormous"}   # seconds, not milliseconds: drawn a third as often
_doc = st.sampled_from([name for name in sorted(DOC_MUTATIONS) for i in range(3)
                        if name not in HEAVY or i == 0])
_raw = st.sampled_from(sorted(BYTE_MUTATIONS))
_bases = st.sampled_from(["v4", "v4", "v4", "v3"])
_json_only = st.builds(Recipe, _bases, st.lists(_doc, min_size=1, max_size=3).map(tuple),
                       st.just(()), st.booleans())
_and_bytes = st.builds(Recipe, _bases, st.lists(_doc, max_size=2).map(tuple), st.tuples(_raw),
                       st.booleans())
recipes = st.one_of(_json_only, _and_bytes, _json_only)   # a third with the bytes mutated too


def _kind(message: str) -> str:
    """The gist of a refusal, for Hypothesis's statistics (--hypothesis-show-statistics)."""
    return re.sub(r"\(.*|'.*|\d+|;.*", "", message[len(NAME):]).strip(" :")


def assert_one_sentence(message: str, name: str = NAME) -> None:
    """Which file, what is wrong, what to do: one line, no traceback, of a readable length."""
    assert message.startswith(name), message
    assert "\n" not in message and "\r" not in message, message
    assert "Traceback" not in message and len(message) < 400, message
    assert message.endswith("."), message


# -- properties --------------------------------------------------------------------------------

def assert_well_formed(nb: nbformat.NotebookNode) -> None:
    """What parse_notebook promises of a notebook it returns: everything nbformat, nbclient,
    nbgrader's preprocessors and the kernel's messages will touch is of the right type."""
    assert nb.nbformat == 4 and isinstance(nb.metadata, dict)
    assert isinstance(nb.metadata.get("kernelspec", {}), dict)
    ids = [cell.get("id") for cell in nb.cells if "id" in cell]
    assert len(ids) == len(set(ids)) and all(isinstance(i, str) for i in ids)
    for cell in nb.cells:
        assert cell.cell_type in ("code", "markdown", "raw")
        assert isinstance(cell.source, str) and isinstance(cell.metadata, dict)
        assert isinstance(cell.metadata.get("nbgrader", {}), dict)
        tags = cell.metadata.get("tags", [])
        assert isinstance(tags, list) and all(isinstance(t, str) for t in tags)
        assert isinstance(cell.metadata.get("execution", {}), dict)
        if cell.cell_type == "code":
            assert all(isinstance(o, dict) for o in cell.outputs)
            json_packer({"code": cell.source, "cell_id": cell.get("id")})
    nbformat.writes(nb).encode("utf-8")


@settings(FUZZ, max_examples=2000)
@given(recipe=recipes, r=st.randoms(use_true_random=False))
def test_parse_and_restore_never_crash(mini_course, recipe, r):
    """parse + restore: a notebook that can be written back and executed, or one sentence."""
    data = build(recipe, mini_course, r)
    try:
        restored = prepare(data, NAME, mini_course.assignment("mini"))
    except SubmissionError as exc:
        assert_one_sentence(str(exc))
        event(f"refused: {_kind(str(exc))}")
        return
    event("restored" + (" with problems" if restored.problems else ""))
    nb = restored.notebook
    nbformat.validate(nb)                 # the template's cells and clean student cells
    assert_well_formed(nb)
    for problem in restored.problems:
        assert "\n" not in problem and "Traceback" not in problem, problem


@pytest.fixture
def nbgrader_source(mini_course):
    """nbgrader's view of the mini solution made an nbgrader assignment (an answer cell that
    is graded, a locked test cell), for the sanitising steps of such an assignment."""
    solution = nbformat.read(mini_course.assignment("mini").solution, as_version=4)
    solution.cells[3].metadata.nbgrader.update(grade=True, points=1)
    test = nbformat.v4.new_code_cell("assert answer == 42")
    test.metadata["nbgrader"] = {"grade": True, "grade_id": "t1", "locked": True, "points": 2,
                                 "schema_version": 3, "solution": False, "task": False}
    solution.cells.append(test)
    return read_source(solution, "mini", "mini")


@settings(FUZZ, max_examples=600)
@given(recipe=recipes, r=st.randoms(use_true_random=False))
def test_parsed_notebooks_and_nbgrader_restore_never_crash(mini_course, nbgrader_source,
                                                           recipe, r):
    """What parse_notebook returns is well formed, and an nbgrader assignment's steps before
    execution (nbgrader_compat.restore, which keeps more of the student's notebook than
    restore_cells) give a notebook that can be executed and written back, or one sentence."""
    data = build(recipe, mini_course, r)
    try:
        parsed = parse_notebook(data, NAME)
        assert_well_formed(parsed)
        nb, problems = nbgrader_restore(parsed, nbgrader_source, NAME)
    except SubmissionError as exc:
        assert_one_sentence(str(exc))
        return
    assert_well_formed(nb)
    for problem in problems:
        assert "\n" not in problem and "Traceback" not in problem, problem


_STUDENTS = itertools.count()


@settings(FUZZ, max_examples=300)
@given(recipe=recipes, r=st.randoms(use_true_random=False))
def test_collect_stores_every_file_and_flags_bad_ones(mini_course, tmp_path_factory, recipe, r):
    data = build(recipe, mini_course, r)
    student = f"s{next(_STUDENTS)}"
    inbox = tmp_path_factory.mktemp("inbox")
    submit(inbox, student, data)
    report = collect(mini_course, "mini", inbox)
    assert report.added == [(student, "mini.ipynb")]
    book = open_gradebook(mini_course.course_dir)
    try:
        [sub] = book.latest("mini", student)
    finally:
        book.close()
    assert sub.sha256 == sha256(data)
    assert Store(mini_course.course_dir / "store").get(sub.sha256) == data   # byte-identical
    try:
        nb = parse_notebook(data, f"{student}/mini.ipynb")
    except SubmissionError as exc:   # flagged with parse_notebook's sentence
        [flag] = report.problems
        assert flag.startswith(str(exc)) and "\n" not in flag
    else:                            # not flagged, unless there is nothing in it to grade
        assert len(report.problems) == (0 if nb.cells else 1), report.problems
        for flag in report.problems:
            assert_one_sentence(flag, f"{student}/mini.ipynb")


def test_names_that_would_break_a_line_are_escaped():
    with pytest.raises(SubmissionError) as info:
        parse_notebook(b"{", "ada/mini\n\x1b.ipynb")
    assert_one_sentence(str(info.value), "ada/mini\\n\\x1b.ipynb")


@pytest.mark.parametrize("data, fragment", [
    (b'{"a": ' * 5000 + b"1" + b"}" * 5000, "nested too deeply"),
    (b'{"cells": [], "nbformat": 4, "x": ' + b"[" * 200 + b"]" * 200 + b"}",
     "nested more than 100 levels"),
    (b'{"cells": [], "nbformat": 4, "n": ' + b"9" * 5000 + b"}", "a number too long"),
    (b'{"cells": [], "nbformat": 4, "s": "\\ud800"}', "not valid Unicode"),
    (b'{"cells": [], "nbformat": 4, "nbformat_minor": "5"}', "minor version '5'"),
    (b'{"cells": [], "nbformat": 4, "metadata": []}', "metadata that is not a JSON object"),
    (b'{"cells": [], "nbformat": "4"}', "format version '4'"),
    (b'{"cells": [], "nbformat": true}', "format version True"),
    (b'{"cells": []}', "has no 'nbformat' field"),
    (b'{"cells": [{"cell_type": "code", "source": "", "metadata": 5}], "nbformat": 4}',
     "cell 1 has malformed metadata"),
    (b'{"cells": [{"cell_type": "code", "source": 5}], "nbformat": 4}',
     "cell 1 has a source that is not text"),
    (b'{"cells": [{"cell_type": "' + b"x" * 10_000 + b'"}], "nbformat": 4}',
     "cell 1 has an unknown cell type 'xxx"),
    (b'{"nbformat": 3, "worksheets": [{"cells": [{"cell_type": "heading", "level": "1"}]}]}',
     "cell 1 has a heading level that is not a number from 1 to 6"),
    (b'{"nbformat": 3, "worksheets": [{"cells": [{"cell_type": "heading", "level": 10000000000'
     b'}]}]}', "cell 1 has a heading level that is not a number from 1 to 6"),
])
def test_what_the_fuzzer_found_gets_one_sentence(data, fragment):
    with pytest.raises(SubmissionError) as info:
        parse_notebook(data, NAME)
    assert_one_sentence(str(info.value))
    assert fragment in str(info.value)


def test_readable_encodings_format_3_and_junk_outputs_are_graded_not_refused(mini_course):
    """A byte-order mark, UTF-16 / UTF-32 with a BOM, an IPython 2 (format 3) notebook and
    outputs nbformat cannot read: the same cells as the correct submission, read as it."""
    want = [c.source for c in prepare(to_bytes(bases(mini_course)["v4"], True), NAME,
                                      mini_course.assignment("mini")).notebook.cells]
    v4 = to_bytes(bases(mini_course)["v4"], False)
    messy = copy.deepcopy(bases(mini_course)["v4"])   # outputs are not graded: junk dropped
    messy["cells"][4]["outputs"] += [{}, 5, {"output_type": "stream"}, {"output_type": "x"},
                                     {"output_type": "error", "traceback": [1]}]
    messy["cells"][0]["attachments"]["b.png"] = "junk"
    messy["cells"][2]["outputs"] = {"not": "a list"}
    for data in (codecs.BOM_UTF8 + v4, v4.decode().encode("utf-16"),
                 v4.decode().encode("utf-32"), to_bytes(bases(mini_course)["v3"], True),
                 to_bytes(messy, True)):
        restored = prepare(data, NAME, mini_course.assignment("mini"))
        assert [c.source for c in restored.notebook.cells] == want
        assert restored.problems == []


# -- end to end: real collect and grade, on a deterministic sample -----------------------------

E2E: list[tuple[Recipe, bool]] = [   # (recipe, still a correct submission)
    (Recipe("v4", ("duplicate_cell", "grade_ids"), ()), False),
    (Recipe("v4", ("source_shapes",), ()), False),
    (Recipe("v4", ("outputs_garbage",), ()), False),
    (Recipe("v4", ("nbgrader_types", "cell_types"), ()), False),
    (Recipe("v4", ("format_version",), ()), False),
    (Recipe("v4", ("deep",), ()), False),
    (Recipe("v4", ("weird_text",), (), False), False),
    (Recipe("v4", ("delete_key", "retype"), ()), False),
    (Recipe("v4", ("enormous",), ()), False),
    (Recipe("v4", (), ("truncate",)), False),
    (Recipe("v4", (), ("garbage",)), False),
    (Recipe("v4", (), ("duplicate_keys",)), False),
    (Recipe("v4", (), ("splice",)), False),
    (Recipe("v4", ("top_level",), ()), False),
    (Recipe("v3", (), ()), True),
    (Recipe("v4", (), ("bom",)), True),
]


SURROGATE_OUTPUT = """import json
get_ipython().kernel.session.pack = lambda msg: json.dumps(msg, default=str).encode()
print("\\ud800")
answer = 42"""


@pytest.mark.slow
def test_collect_and_grade_a_class_of_mutants(mini_course, tmp_path):
    inbox = tmp_path / "inbox"
    asg = mini_course.assignment("mini")
    expected: dict[str, str | None] = {}   # student -> the sentence, or None when gradable
    full_marks = {"good1", "good2"}
    for index, (recipe, correct) in enumerate(E2E):
        student = f"m{index:02d}"
        data = build(recipe, mini_course, random.Random(f"e2e-{index}"))
        submit(inbox, student, data)
        try:
            prepare(data, f"{student}/mini.ipynb", asg)
            expected[student] = None
        except SubmissionError as exc:
            expected[student] = str(exc)
        if correct:
            full_marks.add(student)
    for student in ("good1", "good2"):
        submit(inbox, student, filled(mini_course, "mini"))
        expected[student] = None
    # not the file but its outputs: the kernel's messages made to carry an unpaired surrogate,
    # which the executed notebook cannot hold as UTF-8
    submit(inbox, "surrogate", filled(mini_course, "mini", {"answer": SURROGATE_OUTPUT}))
    expected["surrogate"] = None
    # a sample that tests both ways: some files refused, some graded
    assert 4 <= sum(v is not None for v in expected.values()) <= len(expected) - 4
    report = collect(mini_course, "mini", inbox)
    assert len(report.added) == len(expected)
    summary = grade(mini_course, "mini", workers=2)
    outcomes = {o.student: o for o in summary.graded}
    assert set(outcomes) == set(expected)
    for student, outcome in outcomes.items():
        result = outcome.results
        assert outcome.status != "grader-error", (student, result["output"])
        assert not result["extra_data"].get("grader_errors"), student
        if expected[student] is None:
            assert outcome.status == "graded", (student, result["output"])
        else:
            assert outcome.status == "ungradable" and result["score"] == 0
            assert result["output"] == expected[student]
            assert_one_sentence(result["output"], f"{student}/mini.ipynb")
        if student in full_marks:
            assert result["score"] == result["max_score"] == 4, (student, result["output"])
    executed = mini_course.course_dir / "results" / "mini" / "surrogate" / "mini.ipynb"
    assert "?" in nbformat.read(executed, as_version=4).cells[4].outputs[0]["text"]
