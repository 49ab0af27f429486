"""Per-student HTML feedback: `DIR/feedback/<student>/<slug>.html`, one self-contained page (no
script, no external resource) with the score, each check's result and message, the layer tables
the checks recorded (the student's beside the course's, differing rows marked), learning curves
drawn from the recorded training history, the notebook problems, optional adjustments (late
penalties, overrides), and the student's executed notebook with its outputs.

The notebook is untrusted. Before nbconvert sees it, it is rebuilt from scratch: only plain,
HTML, Markdown and image outputs are kept (no JavaScript, widgets or LaTeX), images must be
base64, metadata (output file names, widget state, cell tags) is dropped and hidden-test regions
are cut out with their cells' outputs. nbconvert runs with `sanitize_html=True` and our own
`clean_html` (an allow-list: formatting tags, no `id`/`style`/event attributes, links only to
http(s)/mailto, images only as data: URIs), so a `<script>` anywhere in a cell becomes text.
Markdown images are not read from disk (`embed_images` would let a notebook pull in files near
the grader). The page also carries a Content-Security-Policy that allows no script and no
network load at all, should anything slip through. Every string we put in the page ourselves is
escaped by Jinja2's autoescape. Only this student's results and notebook are read.
"""

from __future__ import annotations

import base64
import io
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bleach
import jinja2
import nbformat
from markupsafe import Markup

from ..course.config import Course
from ..course.errors import CnnGradeError
from ..course.gradebook import GradeRow, open_gradebook
from ..course.policy import FinalGrade
from ..course.store import atomic_write
from ..grading.overrides import final_grades
from .export import manual_note, student_notes

KEEP_MIME = ("text/plain", "text/html", "text/markdown", "image/png", "image/jpeg",
             "image/svg+xml")   # an SVG is shown as an <img> (data: URI), where it cannot run
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*\Z")
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=\s]*\Z")
_TAGS = frozenset("a abbr b blockquote br caption code dd del details div dl dt em h1 h2 h3 h4 h5 "
                  "h6 hr i img kbd li ol p pre q s samp small span strong sub summary sup table "
                  "tbody td tfoot th thead tr u ul".split())
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
       "form-action 'none'")


# ------------------------------------------------------------------ the untrusted notebook
def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    if name in ("class", "title") or (tag == "img" and name == "alt"):
        return True
    if tag == "a" and name == "href":
        return value.startswith(("http://", "https://", "mailto:", "#"))
    if tag == "img" and name == "src":
        return bool(_DATA_IMAGE.match(value))
    return tag in ("td", "th") and name in ("colspan", "rowspan") and value.isdigit()


def clean_html(html: Any) -> str:
    """Untrusted HTML made inert: allowed tags kept, any other tag (script, iframe, svg, style,
    form, ...) shown as text, attributes outside the allow-list dropped."""
    html = html.decode(errors="replace") if isinstance(html, bytes) else str(html)
    return bleach.clean(html, tags=_TAGS, attributes=_allowed_attribute,
                        protocols=["http", "https", "mailto", "data"], strip=False,
                        strip_comments=True)


def answer_html(source: str, cell_type: str) -> str:
    """One answer a person grades, as HTML for the TA's page: markdown rendered (nbconvert's
    mistune renderer), code highlighted (pygments, class names only), then made inert by
    `clean_html` like everything a student wrote."""
    if cell_type == "code":
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
        html = highlight(source, PythonLexer(), HtmlFormatter())
    else:
        from nbconvert.filters.markdown_mistune import markdown2html_mistune
        html = markdown2html_mistune(source)
    return clean_html(html)


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""


def _clean_output(out: Any) -> Any | None:
    kind = out.get("output_type")
    if kind == "stream":
        name = "stderr" if out.get("name") == "stderr" else "stdout"
        return nbformat.v4.new_output("stream", name=name, text=_text(out.get("text")))
    if kind == "error":
        trace = [t for t in out.get("traceback", []) if isinstance(t, str)]
        return nbformat.v4.new_output("error", ename=_text(out.get("ename")),
                                      evalue=_text(out.get("evalue")), traceback=trace)
    if kind not in ("display_data", "execute_result"):
        return None
    data = {}
    for mime in KEEP_MIME:
        value = _text(out.get("data", {}).get(mime))
        if value and (mime in ("text/plain", "text/html", "text/markdown", "image/svg+xml")
                      or _BASE64.match(value)):
            data[mime] = value
    if not data:
        return None
    if kind == "display_data":
        return nbformat.v4.new_output("display_data", data=data)
    count = out.get("execution_count")
    return nbformat.v4.new_output("execute_result", data=data,
                                  execution_count=count if isinstance(count, int) else None)


HIDDEN_NOTE = "(This cell ran hidden tests: their code and output are not shown.)\n"


def _without_hidden_tests(source: str) -> tuple[str, bool]:
    """`source` without its nbgrader hidden-test regions (to the end of the cell when a region
    is not closed); True when one was there."""
    kept, hidden, found = [], False, False
    for line in source.splitlines():
        upper = line.upper()
        if "BEGIN HIDDEN TESTS" in upper:
            hidden = found = True
        elif "END HIDDEN TESTS" in upper and hidden:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept), found


def safe_notebook(nb: Any) -> nbformat.NotebookNode:
    """A new notebook holding only what the feedback page may show of `nb` (see the module
    docstring): markdown and code cells, kept outputs, no metadata, no hidden tests."""
    safe = nbformat.v4.new_notebook(metadata={"language_info": {
        "name": "python", "pygments_lexer": "ipython3"}})
    for i, cell in enumerate(nb.get("cells", [])):
        source, hidden = _without_hidden_tests(_text(cell.get("source")))
        if cell.get("cell_type") == "markdown":
            images = {name: {m: _text(d.get(m)) for m in ("image/png", "image/jpeg")
                             if _text(d.get(m)) and _BASE64.match(_text(d.get(m)))}
                      for name, d in (cell.get("attachments") or {}).items()
                      if isinstance(d, dict)}
            images = {name: d for name, d in images.items() if d}
            source = re.sub(r"attachment:([^\s)\"'>]*)", lambda m, known=images: m[0]
                            if m[1] in known else "#missing-attachment", source)  # or it raises
            new = nbformat.v4.new_markdown_cell(source, id=f"cell-{i}")
            if images:
                new["attachments"] = images
        elif cell.get("cell_type") == "code":
            count = cell.get("execution_count")
            outputs = ([nbformat.v4.new_output("stream", name="stdout", text=HIDDEN_NOTE)]
                       if hidden else [o for o in map(_clean_output, cell.get("outputs", []))
                                       if o is not None])
            new = nbformat.v4.new_code_cell(source, id=f"cell-{i}", outputs=outputs,
                                            execution_count=count if isinstance(count, int)
                                            else None)
        else:   # raw cells: nothing a student needs to see again
            continue
        safe.cells.append(new)
    return safe


def notebook_exporter() -> Any:
    """nbconvert's body-only template, sanitizing with clean_html, no files read from disk."""
    from nbconvert import HTMLExporter
    quiet = logging.getLogger("cnngrade.feedback.nbconvert")   # not "alt text is missing"
    quiet.setLevel(logging.ERROR)
    return HTMLExporter(template_name="basic", sanitize_html=True, embed_images=False,
                        exclude_anchor_links=True, filters={"clean_html": clean_html}, log=quiet)


def notebook_html(nb: Any, exporter: Any = None) -> str:
    """The executed notebook as an HTML fragment, safe to embed (raises when nbconvert fails)."""
    body, _ = (exporter or notebook_exporter()).from_notebook_node(safe_notebook(nb))
    return body


# ------------------------------------------------------------------------------ the page
def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _layer_table(table: dict) -> dict:
    """A recorded table for the page: columns split into the student's and the course's
    ("expected X" beside "X"), and each row marked where the two differ."""
    columns = [str(c) for c in table.get("columns", [])]
    rows = [list(r) + [None] * (len(columns) - len(r)) for r in table.get("rows", [])
            if isinstance(r, list)]
    pairs = []   # (student's column, expected column): "params" and "expected params", ...
    for i, name in enumerate(columns):
        want = name.removeprefix("expected ")
        match = [j for j, c in enumerate(columns) if not c.startswith("expected ")
                 and (c == want or c.endswith(" " + want))] if name != want else []
        if len(match) == 1:
            pairs.append((match[0], i))
    expected = {i for _, i in pairs}
    mine = [i for i in range(len(columns)) if i not in expected]
    out = []
    for row in rows:
        bad = {j for pair in pairs if _cell(row[pair[0]]) != _cell(row[pair[1]]) for j in pair}
        out.append({"differs": bool(bad), "cells": [(_cell(row[i]), i in bad) for i in
                                                    mine + [i for _, i in pairs]]})
    return {"title": str(table.get("title", "")), "rows": out, "mine": len(mine),
            "theirs": len(pairs),   # the course's columns are named like the student's
            "columns": [columns[i] for i in mine] + [columns[j] for j, _ in pairs]}


def _curves(series: dict[str, list[Any]]) -> str | None:
    """Learning curves (loss on the left, the other metrics on the right) as a PNG data URI."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
    series = {str(k).replace("$", r"\$")[:40]: [v if isinstance(v, (int, float)) else None
                                               for v in vals]
              for k, vals in list(series.items())[:8] if isinstance(vals, list) and vals}
    if not series:
        return None
    losses = [k for k in series if "loss" in k.lower()]
    panels = [p for p in (losses, [k for k in series if k not in losses]) if p]
    bases = list(dict.fromkeys(k.removeprefix("val_") for k in series))
    fig = Figure(figsize=(4.6 * len(panels), 3.2), dpi=90)
    for n, keys in enumerate(panels, 1):
        axis = fig.add_subplot(1, len(panels), n)
        for key in keys:
            values = [float("nan") if v is None else float(v) for v in series[key]]
            axis.plot(range(1, len(values) + 1), values, "o--" if key.startswith("val_")
                      else "o-", color=f"C{bases.index(key.removeprefix('val_')) % 10}",
                      label=key)
        axis.set_xlabel("epoch")
        epochs = max(len(series[k]) for k in keys)
        if epochs <= 12:
            axis.set_xticks(range(1, epochs + 1))
        else:
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _history_series(table: dict) -> dict[str, list[Any]] | None:
    """The curves of a recorded training history (modelcheck.record_history: first column
    "epoch"), or None for any other table."""
    columns = table.get("columns") or []
    if not columns or columns[0] != "epoch":
        return None
    rows = [r for r in table.get("rows", []) if isinstance(r, list)]
    return {str(c): [r[i] if i < len(r) else None for r in rows]
            for i, c in enumerate(columns) if i}


def _test_views(results: dict) -> tuple[list[dict], list[dict], list[dict]]:
    """The checks, their recorded tables and their learning curves, ready for the page."""
    tests, tables, curves = [], [], []
    for test in results.get("tests", []):
        name = str(test.get("name", "?"))
        tests.append({"name": name, "description": str(test.get("description", "")),
                      "passed": test.get("status") == "passed",
                      "points": f"{test.get('score', 0):g} / {test.get('max_score', 0):g}",
                      "message": str(test.get("output", "")).strip()})
        extra = test.get("extra_data") or {}
        sources = [(f"{name}: training history", extra["history"])] \
            if isinstance(extra.get("history"), dict) else []
        for table in extra.get("tables", []):
            series = _history_series(table)
            if series is None:
                tables.append({"test": name, **_layer_table(table)})
            else:
                sources.append((str(table.get("title", name)), series))
        for title, series in sources:
            try:
                image = _curves(series)
            except Exception:   # a history matplotlib cannot draw: no plot, nothing else lost
                image = None
            if image:
                curves.append({"title": title, "image": image})
    return tests, tables, curves


def feedback_html(results: dict[str, Any], notebook: Any | None,
                  adjustments: list[dict[str, Any]] | None = None, *, title: str = "",
                  details: dict[str, str] | None = None, notebook_note: str | None = None,
                  final_score: float | None = None, exporter: Any = None,
                  final_max: float | None = None) -> str:
    """The feedback page for one student's `results` (Gradescope's results.json shape) and
    executed `notebook` (a NotebookNode, or None with `notebook_note` saying why). Each dict of
    `adjustments` (e.g. {"kind": "late", "points": -2, "text": "2 days late"}) is a row of the
    Adjustments section, their keys its columns; `final_score`, the score after them, is then
    the page's headline, the grader's score beside it."""
    tests, tables, curves = _test_views(results)
    body = None
    if notebook is not None:
        try:
            body = Markup(notebook_html(notebook, exporter))   # sanitized there
        except Exception as exc:   # e.g. a markdown cell pointing at a missing attachment
            notebook_note = (f"Your notebook could not be rendered here "
                             f"({type(exc).__name__}: {str(exc)[:200]}).")
    rows = [a for a in (adjustments or []) if isinstance(a, dict)]
    columns = list(dict.fromkeys(str(k) for a in rows for k in a))
    extra = results.get("extra_data") or {}
    output = str(results.get("output", "")).strip()
    return _PAGE.render(
        title=title or str(extra.get("assignment", "")), details=details or {},
        student=(details or {}).get("Student") or str(extra.get("student", "")),
        score=f"{results.get('score', 0):g}", max_score=f"{results.get('max_score', 0):g}",
        final=None if final_score is None else f"{final_score:g}",
        final_max=f"{results.get('max_score', 0) if final_max is None else final_max:g}",
        tests=tests, tables=tables, curves=curves, problems=[str(p) for p in
                                                             extra.get("problems", [])],
        # why nothing could be graded; a grader's own error is for the TA, not the page
        failure=(None if tests else "The grader had a problem with this submission; your "
                 "teaching assistant will look into it." if output.startswith("Grader error")
                 else output),
        adjustments=[[_signed(k, a.get(k)) for k in columns] for a in rows], columns=columns,
        notebook=body, notebook_note=notebook_note or "Your executed notebook is not available.",
        csp=CSP, pygments=_pygments_css())


def _signed(key: str, value: Any) -> str:
    if key == "points" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:+g}"
    return "" if value is None else str(value)


def _pygments_css() -> Markup:
    from pygments.formatters import HtmlFormatter
    return Markup(HtmlFormatter(style="default").get_style_defs(".highlight"))


# ---------------------------------------------------------------------- the course's pages
@dataclass
class FeedbackReport:
    slug: str
    folder: Path
    written: list[tuple[str, Path]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)   # one sentence each, naming the student


def _executed(course: Course, slug: str, notebook: str,
              row: GradeRow) -> tuple[Any, str | None, str | None]:
    """The student's executed notebook beside their results.json, or None with the sentence
    for their page and the one for the TA."""
    if not row.results.get("tests"):   # never ran (or a stale file from an older submission)
        return None, "Your notebook could not be run: there is no executed notebook.", None
    folder = course.course_dir / "results" / slug / row.submission.student
    path = next((p for p in (folder / notebook, folder / row.submission.filename)
                 if p.is_file()), None)
    if path is None:
        return None, "Your executed notebook is not available.", \
            f"the executed notebook is missing from {folder}; grade again with --force"
    try:
        return nbformat.reads(path.read_text(encoding="utf-8"), as_version=4), None, None
    except Exception as exc:   # damaged on disk: this page says so, the others go on
        return None, "Your executed notebook could not be rendered.", \
            f"{path} could not be read ({type(exc).__name__}); grade again with --force"


def student_adjustments(grade: FinalGrade) -> list[dict[str, Any]]:
    """The rows of a student's Adjustments section: each instructor review in force (with its
    reason, not who made it), each answer graded by hand (its points and comment, not who
    graded it) and the late penalty, as `export.student_notes` words them."""
    notes = student_notes(grade)
    rows = [{"kind": "review", "points": round(float(o["new"]) - float(o["old"]), 4),
             "text": text} for o, text in zip(grade.overrides, notes, strict=False)]
    for answer in (grade.manual.cells if grade.manual else []):
        done = answer["state"] in ("graded", "carried", "unchanged")
        rows.append({"kind": "written answer", "points": answer["points"] if done else 0.0,
                     "text": manual_note(answer)})
    if grade.late.days_late:
        rows.append({"kind": "late", "points": -grade.late.points, "text": notes[-1]})
    return rows


def _page(course: Course, slug: str, row: GradeRow, adjustments: list[dict[str, Any]] | None,
          final_score: float | None, exporter: Any = None,
          final_max: float | None = None) -> tuple[str, str | None]:
    """One student's feedback page, and the sentence for the TA where their executed notebook
    is missing or damaged."""
    assignment = course.assignment(slug)
    sub = row.submission
    nb, note, problem = _executed(course, slug, assignment.notebook, row)
    details = {"Student": sub.student, "Assignment": f"{assignment.title} ({slug})",
               "Submitted": sub.submitted_at + (" (late)" if sub.late else ""),
               "Graded": row.graded_at}
    return feedback_html(row.results, nb, adjustments, title=assignment.title, details=details,
                         notebook_note=note, final_score=final_score, final_max=final_max,
                         exporter=exporter), problem


def feedback_page(course: Course, slug: str, grade: FinalGrade) -> str:
    """The feedback page of one student's final grade, as `write_feedback` writes it (for the
    web desk, which shows it without writing a file)."""
    final = grade.final_score if _adjusted(grade) else None
    return _page(course, slug, grade.row, student_adjustments(grade), final, None,
                 grade.max_score)[0]


def _adjusted(grade: FinalGrade) -> bool:
    """The final grade is not the grader's score: adjusted, or out of more points (the
    answers graded by hand)."""
    return abs(grade.final_score - grade.auto_score) > 1e-9 or \
        abs(grade.max_score - float(grade.row.max_score)) > 1e-9


def write_feedback(course: Course, slug: str, student: str | None = None,
                   adjustments: dict[str, list[dict[str, Any]]] | None = None,
                   final_scores: dict[str, float] | None = None) -> FeedbackReport:
    """Write DIR/feedback/<student>/<slug>.html for every graded student of `slug` (or one);
    `adjustments` maps a student to the rows of their page's Adjustments section and
    `final_scores` to their score after them (see feedback_html)."""
    course.assignment(slug)   # a clear message for an unknown slug
    student = unicodedata.normalize("NFC", student) if student is not None else None
    maxima: dict[str, float] = {}
    if adjustments is None and final_scores is None:   # the course's overrides and late policy
        grades = final_grades(course, slug, student)
        adjustments = {g.student: student_adjustments(g) for g in grades}
        final_scores = {g.student: g.final_score for g in grades if _adjusted(g)}
        maxima = {g.student: g.max_score for g in grades}
    book = open_gradebook(course.course_dir)
    try:
        with book.snapshot():
            rows = book.grades(slug, student)
            collected = book.latest(slug, student)
    finally:
        book.close()
    if not rows:
        who = f" of '{student}'" if student else ""
        if not collected:
            raise CnnGradeError(f"No submission{who} for '{slug}' has been collected; check "
                                "the slug and student id, or run `cnngrade collect` first.")
        option = f" --student {student}" if student else ""
        raise CnnGradeError(f"No submission{who} for '{slug}' has been graded yet; run "
                            f"`cnngrade grade {slug}{option}` first.")
    report = FeedbackReport(slug, course.course_dir / "feedback")
    exporter = notebook_exporter()
    for row in rows:
        sub = row.submission
        try:
            page, problem = _page(course, slug, row, (adjustments or {}).get(sub.student),
                                  (final_scores or {}).get(sub.student), exporter,
                                  maxima.get(sub.student))
            if problem:
                report.problems.append(f"{sub.student}: {problem} (their page says so).")
        except Exception as exc:   # one student's page must not stop the class's
            report.problems.append(f"{sub.student}: no feedback page could be made "
                                   f"({type(exc).__name__}: {str(exc)[:200]}).")
            continue
        path = report.folder / sub.student / f"{slug}.html"
        atomic_write(path, page.encode())
        report.written.append((sub.student, path))
    return report


_PAGE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string("""\
<!DOCTYPE html>
<html lang="en">
<head>
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}{% if student %}: {{ student }}{% endif %}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; color: #1d1d1f; max-width: 1100px;
       margin: 0 auto; padding: 1.5em; }
h1 { margin: 0 0 .2em; } h2 { margin-top: 1.8em; border-bottom: 2px solid #e3e3e8; }
.score { font-size: 2.2em; font-weight: 700; margin: .2em 0; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: .1em 1em; color: #555; }
dl.meta dt { font-weight: 600; } dl.meta dd { margin: 0; }
table.fb { border-collapse: collapse; margin: .6em 0; width: 100%; }
table.fb th, table.fb td { border: 1px solid #d9d9de; padding: .3em .5em; text-align: left;
                           vertical-align: top; }
table.fb th { background: #f3f3f6; } td.num { text-align: right; white-space: nowrap; }
.pass { color: #176f2c; font-weight: 700; } .fail { color: #b3261e; font-weight: 700; }
pre.msg { white-space: pre-wrap; margin: 0; font-size: .92em; }
tr.differs td { background: #fff1d6; } td.bad { background: #ffd3cc !important;
                                                 font-weight: 600; }
th.theirs, td.theirs { border-left: 3px solid #8a8aa0; }
.problems li { color: #8a4b00; } .note { color: #555; font-style: italic; }
img.curves { max-width: 100%; border: 1px solid #e3e3e8; }
.notebook { border-top: 2px solid #e3e3e8; margin-top: 1em; }
.notebook .cell { margin: .8em 0; } .notebook h1, .notebook h2 { border: none; margin: .6em 0; }
.notebook .input, .notebook .output_area { display: flex; gap: .5em; }
.notebook .prompt { min-width: 8ex; font: .85em monospace; color: #303f9f; text-align: right; }
.notebook .output_area .prompt { color: #d84315; }
.notebook .inner_cell, .notebook .output_subarea { flex: 1; min-width: 0; overflow-x: auto; }
.notebook .input_area { background: #f7f7f7; border: 1px solid #cfcfcf; border-radius: 3px;
                        padding: .3em .5em; }
.notebook pre { margin: 0; font-size: .88em; }
.notebook .output_stderr { background: #fdeaea; }
.notebook .output_error pre { color: #7a1c14; }
.notebook img { max-width: 100%; }
.notebook .rendered_html table { border-collapse: collapse; }
.notebook .rendered_html td, .notebook .rendered_html th { border: 1px solid #ddd;
                                                           padding: .2em .4em; }
.ansi-red-fg { color: #c62828; } .ansi-green-fg { color: #2e7d32; }
.ansi-yellow-fg { color: #9a6700; } .ansi-blue-fg { color: #1565c0; }
.ansi-cyan-fg { color: #00838f; } .ansi-magenta-fg { color: #8e24aa; }
.ansi-bold { font-weight: 700; }
{{ pygments }}
</style>
</head>
<body>
<header>
<h1>{{ title }}</h1>
{% if final is not none %}<p class="score">{{ final }} / {{ final_max }} points</p>
<p>automatic score {{ score }} / {{ max_score }}, adjusted as listed below</p>
{% else %}<p class="score">{{ score }} / {{ max_score }} points</p>{% endif %}
<dl class="meta">{% for key, value in details.items() %}<dt>{{ key }}</dt><dd>{{ value }}</dd>
{% endfor %}</dl>
</header>
{% if adjustments %}
<section id="adjustments"><h2>Adjustments</h2>
<table class="fb"><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in adjustments %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>
{% endfor %}</table></section>
{% endif %}
{% if failure %}<section id="not-graded"><h2>Not graded</h2><pre class="msg">{{ failure }}</pre>
</section>{% endif %}
{% if problems %}
<section id="problems"><h2>Notebook problems</h2>
<ul class="problems">{% for p in problems %}<li>{{ p }}</li>{% endfor %}</ul></section>
{% endif %}
{% if tests %}
<section id="checks"><h2>Checks</h2>
<table class="fb"><tr><th>check</th><th>points</th><th>result</th><th>message</th></tr>
{% for t in tests %}<tr><td><strong>{{ t.name }}</strong><br>{{ t.description }}</td>
<td class="num">{{ t.points }}</td>
<td class="{{ 'pass' if t.passed else 'fail' }}">{{ 'passed' if t.passed else 'failed' }}</td>
<td><pre class="msg">{{ t.message }}</pre></td></tr>
{% endfor %}</table></section>
{% endif %}
{% if tables %}
<section id="tables"><h2>Details</h2>
{% for t in tables %}<h3>{{ t.title }} <small>({{ t.test }})</small></h3>
<table class="fb">
{% if t.theirs %}<tr><th colspan="{{ t.mine }}">your model</th>
<th class="theirs" colspan="{{ t.theirs }}">the course's model</th></tr>{% endif %}
<tr>{% for c in t.columns %}<th{% if t.theirs and loop.index > t.mine %} class="theirs"{% endif %}>
{{- c }}</th>{% endfor %}</tr>
{% for row in t.rows %}<tr{% if row.differs %} class="differs"{% endif %}>
{%- for value, bad in row.cells %}<td class="
{{- 'theirs ' if t.theirs and loop.index > t.mine }}{{ 'bad' if bad }}">{{ value }}</td>
{%- endfor %}</tr>
{% endfor %}</table>
{% endfor %}</section>
{% endif %}
{% if curves %}
<section id="curves"><h2>Learning curves</h2>
{% for c in curves %}<h3>{{ c.title }}</h3>
<img class="curves" src="{{ c.image }}" alt="learning curves: {{ c.title }}">
{% endfor %}</section>
{% endif %}
<section id="notebook"><h2>Your notebook</h2>
{% if notebook %}<div class="notebook">{{ notebook }}</div>
{% else %}<p class="note">{{ notebook_note }}</p>{% endif %}
</section>
</body>
</html>
""")
