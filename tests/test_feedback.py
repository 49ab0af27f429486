"""Per-student HTML feedback (cnngrade.views.feedback): the page's content, its safety against
what an untrusted notebook puts in its outputs, the isolation of one student's page from the others
and from the hidden suite, and a real page as headless Chromium shows it."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from conftest import MINI_SUITE, filled, submit

from cnngrade.course.config import load_course
from cnngrade.course.errors import CnnGradeError
from cnngrade.course.gradebook import open_gradebook
from cnngrade.grading import modelcheck as mc
from cnngrade.grading import suite_runner as checker
from cnngrade.grading.grade import grade
from cnngrade.grading.results import build_results
from cnngrade.grading.suite_runner import Feedback
from cnngrade.intake.collect import collect
from cnngrade.views.feedback import feedback_html, write_feedback

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CNNGRADE = str(Path(sys.executable).parent / "cnngrade")
# What a script in the notebook would do: add <div id="pwned"> and retitle the page. The id is
# built at run time, so the string `id="pwned"` can only be in the DOM if the script ran.
SCRIPT = ("<script>var d=document.createElement('div');d.id='pw'+'ned';"
          "document.body.appendChild(d);document.title='pw'+'ned'</script>")
ATTACK_CELL = f'''
from IPython.display import HTML, SVG, Javascript, Markdown, display
P = {SCRIPT!r}
print(P)
display(HTML(P + "<img src=x onerror=\\"document.title='pw'+'ned'\\"><iframe src='https://x.test'>"
             "</iframe><a href='javascript:alert(1)'>a link</a><b style='color:red'>bold</b>"))
display(Javascript("document.title = 'pw' + 'ned'"))
display(Markdown(P + "[m](javascript:alert(1))"))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><script>alert(1)'
            '</script><rect width="9" height="9"/></svg>'))
'''
MARKDOWN_CELL = f"## My notes\n{SCRIPT}\n<img src=x onerror=alert(1)> ![secret](results.json)"


def student_notebook(course, student: str, answers: dict | None = None):
    """The solution (or `answers`) plus cells an attacker adds: scripts in every kind of output,
    a markdown cell with raw HTML, a canary naming the student, and an error last."""
    nb = filled(course, "mini", answers)
    nb.cells += [nbformat.v4.new_markdown_cell(MARKDOWN_CELL),
                 nbformat.v4.new_code_cell(ATTACK_CELL),
                 nbformat.v4.new_code_cell(f"print('CANARY-{student.upper()}')"),
                 nbformat.v4.new_code_cell(f"raise ValueError({SCRIPT!r})")]
    return nb


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, and its text (what a browser would
    build)."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.chunks: list[str] = []
        self.feed(html)
        self.text = "".join(self.chunks)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data):
        self.chunks.append(data)


def assert_inert(html: str) -> None:
    """No script, frame, plugin or event handler, no javascript: URL, no resource that is not
    a data: URI, and the Content-Security-Policy that forbids them anyway."""
    tags = Tags(html).tags
    names = [t for t, _ in tags]
    assert not set(names) & {"script", "iframe", "object", "embed", "frame", "link", "base",
                             "form", "svg", "math", "video", "audio", "source"}
    assert names.count("style") == 1   # the page's own
    for tag, attrs in tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        # only nbconvert's colours of ANSI escapes (numbers it parsed) are inline styles
        assert re.fullmatch(r"((background-)?color: rgb\(\d+,\d+,\d+\);? ?)*",
                            attrs.get("style", "")), (tag, attrs)
        for key in ("src", "href"):
            value = attrs.get(key, "").strip().lower()
            assert not value.startswith("javascript:"), (tag, attrs)
            if key == "src" and key in attrs:
                assert value.startswith("data:image/"), (tag, attrs)
    csp = [a for t, a in tags if t == "meta" and a.get("http-equiv")]
    assert len(csp) == 1 and "default-src 'none'" in csp[0]["content"]
    assert not re.search(r"https?://", "".join(a.get("src", "") for _, a in tags))
    assert not re.search(r"url\(|@import|cdnjs|unpkg|mathjax|require\.js", html, re.I)


def test_page_escapes_untrusted_text_and_sanitizes_the_notebook():
    """Every string of the results is escaped; the notebook keeps its text and images but loses
    scripts, JavaScript outputs, widget state, metadata URLs, local files and hidden tests."""
    png = io.BytesIO()
    from PIL import Image
    Image.new("RGB", (20, 10), (200, 40, 40)).save(png, "PNG")
    nb = nbformat.v4.new_notebook(metadata={"widgets": {"state": SCRIPT}})
    nb.cells = [nbformat.v4.new_markdown_cell(MARKDOWN_CELL + " ![l](/etc/hostname) "
                                              "![gone](attachment:gone.png) MARKDOWN-SHOWN"),
                nbformat.v4.new_code_cell("plot()", outputs=[
                    nbformat.v4.new_output("display_data", data={
                        "image/png": base64.b64encode(png.getvalue()).decode(),
                        "text/plain": "<Figure>"},
                        metadata={"filenames": {"image/png": "https://x.test/a.png"}}),
                    nbformat.v4.new_output("display_data", data={
                        "image/png": 'x" onerror="alert(1)', "text/plain": "BAD-PNG"}),
                    nbformat.v4.new_output("display_data", data={
                        "application/javascript": "alert(1)", "text/plain": "JS-FALLBACK"}),
                    nbformat.v4.new_output("stream", name="stdout", text=SCRIPT)]),
                nbformat.v4.new_code_cell("x = 1\n### BEGIN HIDDEN TESTS\nassert SECRET_CHECK\n"
                                          "### END HIDDEN TESTS\ny = 2", outputs=[
                    nbformat.v4.new_output("error", ename="AssertionError", evalue="",
                                           traceback=["assert SECRET_CHECK"])])]
    feedback = Feedback()
    mc.record_history(feedback, "convnet", {"loss": [0.9, 0.5, 0.4], "val_loss": [1, 0.7, 0.6],
                                            "accuracy": [0.6, 0.8, 0.9], "junk": ["x"]})
    feedback.table("convnet", ["layer", "type", "output shape", "params", "expected type",
                               "expected shape", "expected params"],
                   [["conv2d", "Conv2D", "(26, 26, 32)", 320, "Conv2D", "(26, 26, 32)", 320],
                    ["d<b>x</b>", "Dense", "(10,)", 650, "MaxPooling2D", "(13, 13, 32)", 0]])
    results = {"score": 2, "max_score": 4, "output": "", "extra_data": {
        "problems": [f"cell {SCRIPT} was edited"], "grader_errors": ["Traceback SUITE-SOURCE"]},
        "tests": [{"name": "test_layers", "description": f"layers {SCRIPT}", "score": 0,
                   "max_score": 2, "status": "failed", "output": f"expected 3, got {SCRIPT}",
                   "extra_data": feedback.as_extra()},
                  {"name": "test_ok", "description": "fine", "score": 2, "max_score": 2,
                   "status": "passed", "output": ""}]}
    html = feedback_html(results, nb, [{"kind": "late penalty", "points": -1.5,
                                        "text": f"two days {SCRIPT}"}], title="Mini",
                         details={"Student": "ada"}, final_score=0.5)
    assert_inert(html)
    assert html.count("&lt;script&gt;") >= 6   # shown as text: results, problems, notebook
    text = Tags(html).text
    for shown in ("0.5 / 4 points", "automatic score 2 / 4", "test_layers", "0 / 2", "failed",
                  "passed", "expected 3, got",
                  "late penalty", "-1.5", "Adjustments", "Notebook problems", "JS-FALLBACK",
                  "x = 1", "y = 2", "hidden tests", f"layers {SCRIPT}", "BAD-PNG",
                  "MARKDOWN-SHOWN"):
        assert shown in text, shown
    assert "data:image/png;base64,iVBOR" in html
    for absent in ("SECRET_CHECK", "SUITE-SOURCE", "x.test", "alert(1)</", "BAD-PNG\" on",
                   "widget", "<b>x</b>"):
        assert absent not in html, absent
    assert "onerror" not in "".join(str(a) for _, a in Tags(html).tags)
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").is_file() \
        else "no-host-file"
    assert base64.b64encode(hostname.encode()).decode()[:8] not in html
    # the layer table: the student's columns beside the course's, the differing row marked
    differing = [a for t, a in Tags(html).tags if t == "tr" and "differs" in a.get("class", "")]
    assert len(differing) == 1 and html.count('class="theirs bad"') == 3
    assert "the course's model" in text and "d<b>x</b>" in text
    assert html.count("learning curves: convnet training history") == 1
    # no adjustments, no section; a submission never graded says why
    bare = feedback_html({"score": 0, "max_score": 4, "output": "mini.ipynb is not valid JSON",
                          "tests": [], "extra_data": {}}, None, notebook_note="Not run.")
    assert "Adjustments" not in bare and "mini.ipynb is not valid JSON" in bare
    assert "Not run." in bare
    assert_inert(bare)


def test_record_history_never_fails_and_caps():
    feedback = Feedback()
    for junk in (None, [], {"loss": "x"}, {"loss": [True]}, {"loss": [10 ** 400]},
                 {"loss": [float("nan")]}, {3: [1.0]}):
        mc.record_history(feedback, "m", junk)
    assert feedback.tables == []
    mc.record_history(feedback, "m", {"loss": list(range(500)), "val_loss": [1.0, 2.0]})
    (table,) = feedback.tables
    assert table["columns"] == ["epoch", "loss", "val_loss"]
    assert len(table["rows"]) == mc.HISTORY_EPOCHS and table["rows"][1] == [2, 1.0, 2.0]
    assert table["rows"][2] == [3, 2.0, None]


def test_user_mistakes_are_one_sentence(mini_course, tmp_path):
    with pytest.raises(CnnGradeError, match="No submission for 'mini' has been collected"):
        write_feedback(mini_course, "mini")
    submit(tmp_path / "inbox", "ada", filled(mini_course, "mini"))
    collect(mini_course, "mini", tmp_path / "inbox")
    with pytest.raises(CnnGradeError, match=r"has been graded yet; run `cnngrade grade mini "
                                            r"--student ada` first"):
        write_feedback(mini_course, "mini", "ada")
    with pytest.raises(CnnGradeError, match="No submission of 'ghost'"):
        write_feedback(mini_course, "mini", "ghost")
    proc = subprocess.run([CNNGRADE, "feedback", "mini", "--course-dir",
                           str(mini_course.course_dir)], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr + proc.stdout
    assert "graded yet" in " ".join(proc.stderr.split())


@pytest.mark.slow
def test_pages_for_a_graded_class(mini_course, tmp_path):
    """Grade four students, write every page: each shows its own results and notebook only,
    nothing of the hidden suite, and one damaged notebook or ungradable file stops no one."""
    inbox = tmp_path / "inbox"
    submit(inbox, "alpha-1", student_notebook(mini_course, "alpha-1"))
    submit(inbox, "bravo-2", student_notebook(mini_course, "bravo-2", {
        "square": "def square(x):\n    raise NotImplementedError()"}))
    submit(inbox, "charlie-3", b'{"cells": [')
    submit(inbox, "delta-4", filled(mini_course, "mini"))
    collect(mini_course, "mini", inbox)
    grade(mini_course, "mini", workers=4)
    results = mini_course.course_dir / "results" / "mini"
    (results / "delta-4" / "mini.ipynb").write_text("{ damaged")

    report = write_feedback(mini_course, "mini")
    pages = {student: path.read_text() for student, path in report.written}
    assert sorted(pages) == ["alpha-1", "bravo-2", "charlie-3", "delta-4"]
    assert report.folder == mini_course.course_dir / "feedback"
    assert (report.folder / "alpha-1" / "mini.html").is_file()
    assert [p for p in report.problems if p.startswith("delta-4:")] == report.problems != []

    alpha, bravo = pages["alpha-1"], pages["bravo-2"]
    assert "4 / 4 points" in alpha and "3 / 4 points" in bravo
    assert "not implemented yet" in bravo and "CANARY-BRAVO-2" in bravo
    assert "CANARY-ALPHA-1" in alpha and "&lt;script&gt;" in alpha
    assert "add sums two arrays element by element" in alpha   # the check's description
    assert "could not be rendered" in pages["delta-4"] and "4 / 4 points" in pages["delta-4"]
    assert "not valid notebook JSON" in pages["charlie-3"]
    suite_lines = [line.strip() for line in MINI_SUITE.splitlines()
                   if len(line.strip()) > 20 and not line.strip().startswith('"""')]
    for student, page in pages.items():
        assert_inert(page)
        others = [s for s in pages if s != student]
        for other in others:
            assert other not in page and f"CANARY-{other.upper()}" not in page
        for line in suite_lines:
            assert line not in page and line.replace('"', "&#34;") not in page, line

    proc = subprocess.run([CNNGRADE, "feedback", "mini", "--student", "bravo-2",
                           "--course-dir", str(mini_course.course_dir)], capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "Wrote 1 feedback page(s)" in proc.stdout and "bravo-2" in proc.stdout


def chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           f"--user-data-dir={tmp / 'chromium-profile'}", *args],
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_page_in_a_browser(mini_course, tmp_path):
    """A real page, as headless Chromium shows it: not blank, and none of the notebook's
    scripts ran (with the page's Content-Security-Policy, and without it: the sanitizer alone)."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium): the browser checks "
                    "of the feedback page need it")
    submit(tmp_path / "inbox", "alpha-1", student_notebook(mini_course, "alpha-1"))
    collect(mini_course, "mini", tmp_path / "inbox")
    grade(mini_course, "mini")
    (_, page), = write_feedback(mini_course, "mini").written

    shot = tmp_path / "out.png"
    proc = chromium(f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri(),
                    tmp=tmp_path)
    assert shot.is_file(), proc.stderr[-2000:]
    from PIL import Image
    with Image.open(shot) as image:
        pixels = image.convert("RGB")
        colours = pixels.getcolors(maxcolors=1 << 20) or []
        inked = sum(n for n, rgb in colours if sum(rgb) < 600)
        assert len(colours) > 50, len(colours)
        assert inked > 0.01 * pixels.width * pixels.height, inked

    bare = tmp_path / "no-csp.html"   # the same page without its CSP: the sanitizer alone
    bare.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "",
                           page.read_text()))
    for target in (page, bare):
        dom = chromium("--dump-dom", target.as_uri(), tmp=tmp_path).stdout
        assert "CANARY-ALPHA-1" in dom and "4 / 4 points" in dom
        assert 'id="pwned"' not in dom and "<title>pwned" not in dom, target
        assert "<title>Mini: alpha-1</title>" in dom


def test_reviews_and_late_penalty_reach_the_page(mini_course, tmp_path):
    """A TA's override (its reason, not the TA's name) and the late penalty of cnngrade.toml
    appear on the student's page, with the final score as the headline."""
    from cnngrade.course.policy import set_override
    book = open_gradebook(mini_course.course_dir)
    with book.transaction():
        book.add_submission(assignment="mini", student="ada", sha256="a" * 64,
                            filename="mini.ipynb", origin="inbox",
                            submitted_at="2024-03-02T12:00:00+00:00", late=False)
        sub = book.latest("mini", "ada")[0]
        tests = [checker.TestResult("test_add", "add sums", 2, 0.0, "failed", "wrong values"),
                 checker.TestResult("test_square", "square", 1, 1.0, "passed", ""),
                 checker.TestResult("test_answer", "answer", 1, 1.0, "passed", "")]
        book.record(sub.id, "suite", "env", build_results(tests=tests, max_score=4.0, output="",
                                                          seconds=1.0, extra={}), "graded", 1.0)
    book.close()
    (mini_course.course_dir / "cnngrade.toml").write_text(
        (mini_course.course_dir / "cnngrade.toml").read_text()
        + '\n[late.mini]\ndeadline = "2024-03-01T23:59:00+00:00"\npenalty = "per-day"\n'
          'percent_per_day = 25\n')
    course = load_course(mini_course.course_dir)
    set_override(course, "mini", "ada", "test_add", 2, "the shapes were right", who="ta-bob")
    write_feedback(course, "mini")
    page = (course.course_dir / "feedback" / "ada" / "mini.html").read_text()
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "the shapes were right" in text and "ta-bob" not in text
    assert "1 day after the deadline" in text
    assert "3 / 4" in text or "3/4" in text   # 4 after the review, less 25% of 4
