"""The TA desk (`cnngrade serve`) through Starlette's test client: every view and every write,
the token, CSRF and same-origin checks, path traversal, hostile answers made inert, another
course never served, anonymous grading, a conflict between two TAs; and the real server
started and stopped with Ctrl-C."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import make_mini_course
from test_manual import SLUG, hand_in, make_essay

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from cnngrade.course.config import load_course  # noqa: E402
from cnngrade.course.errors import CnnGradeError  # noqa: E402
from cnngrade.course.gradebook import open_gradebook  # noqa: E402
from cnngrade.grading.grade import grade  # noqa: E402
from cnngrade.views.desk.app import make_app, pseudonym  # noqa: E402
from cnngrade.views.desk.security import COOKIE, csrf_token  # noqa: E402
from cnngrade.views.desk.serve import serve  # noqa: E402

TOKEN = "t0ken-for-the-tests"
HOSTILE = ('<script>alert("pwned")</script> Learned by gradient descent. '
           '<img src=x onerror="alert(1)"> <a href="javascript:alert(2)">link</a>')
BASE = "http://127.0.0.1:8765"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The essay course graded once: alice wrote an answer, bob left it as released, mallory
    wrote a hostile one."""
    tmp = tmp_path_factory.mktemp("desk")
    course = make_essay(make_mini_course(tmp))
    hand_in(course, tmp, {"alice": "Learned, and they adapt to the task.", "bob": None,
                          "mallory": HOSTILE})
    grade(course, SLUG, workers=1)
    return course


@pytest.fixture
def course(graded, tmp_path):
    """A copy of the graded course (its own gradebook) for a test that writes."""
    shutil.copytree(graded.course_dir, tmp_path / "course")
    return load_course(tmp_path / "course")


def client(course, token: str = TOKEN, cookie: bool = True) -> TestClient:
    c = TestClient(make_app(course, token, "ta-default"), base_url=BASE)
    if cookie:
        c.cookies.set(COOKIE, token)
    return c


def form_of(html: str, form_id: str | None = None) -> dict[str, str]:
    if form_id:
        html = html[html.index(f'id="{form_id}"'):]
    return dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', html))


def test_every_view_renders(graded):
    c = client(graded)
    home = c.get("/")
    assert home.status_code == 200 and SLUG in home.text and "mini" in home.text
    page = c.get(f"/a/{SLUG}")
    assert page.status_code == 200
    for part in ("Score histogram", "Checks (the most failed first)", "test_add",
                 "Answers graded by hand", "kernels are learned by gradient descent",
                 "alice", "bob", "mallory", "Slowest"):
        assert part in page.text, part
    found = c.get(f"/a/{SLUG}?q=ali&sort=-score")
    table = found.text[found.text.index('id="student-table"'):]
    assert "alice" in table and "bob" not in table
    assert "No student matches" in c.get(f"/a/{SLUG}?q=zzz").text
    check = c.get(f"/a/{SLUG}/check/test_add")
    assert check.status_code == 200 and "Who failed it (0)" in check.text
    student = c.get(f"/a/{SLUG}/s/alice")
    for part in ("automatic", "graded by hand", "test_add", "Submissions",
                 "Learned, and they adapt to the task.", 'sandbox="allow-same-origin"'):
        assert part in student.text, part
    frame = c.get(f"/a/{SLUG}/s/alice/feedback")
    assert frame.status_code == 200 and "<h2" in frame.text
    assert "frame-ancestors 'self'" in frame.headers["content-security-policy"]
    assert "script-src" not in frame.headers["content-security-policy"]   # no script at all
    grading = c.get(f"/a/{SLUG}/grade")
    assert grading.status_code == 200 and 'id="grade-form"' in grading.text
    assert "<kbd>1</kbd>" in grading.text and "data-key=\"1\"" in grading.text
    assert c.get("/static/desk.js").status_code == 200


def test_grading_by_question_writes_the_audit_trail_with_the_tas_name(course):
    c = client(course)
    c.post("/whoami", data={"csrf": csrf_token(TOKEN), "grader": "Ada TA", "back": "/"})
    page = c.get(f"/a/{SLUG}/grade?cell=why")
    first = form_of(page.text, "grade-form")
    assert first["cell"] == "why" and first["who"] in ("alice", "mallory")
    done = c.post(f"/a/{SLUG}/grade", data={**first, "item": ["learned", "adapt"],
                                             "comment": "both points", "points": "0"},
                  follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].endswith("/grade?cell=why")
    nxt = form_of(c.get(done.headers["location"]).text, "grade-form")
    assert nxt["who"] != first["who"]   # the next ungraded answer
    book = open_gradebook(course.course_dir)
    try:
        [row] = book.manual_grades(SLUG, first["who"])
    finally:
        book.close()
    assert (row.who, row.items, row.comment) == ("Ada TA", ("learned", "adapt"), "both points")
    assert f"{first['who']}" in c.get(f"/a/{SLUG}").text
    student = c.get(f"/a/{SLUG}/s/{first['who']}").text
    assert "why: 3 / 3" in student and "both points" in student


def test_two_tas_at_once_see_both_versions_instead_of_overwriting(course):
    ada, bea = client(course), client(course)
    ada.post("/whoami", data={"csrf": csrf_token(TOKEN), "grader": "ada", "back": "/"})
    bea.post("/whoami", data={"csrf": csrf_token(TOKEN), "grader": "bea", "back": "/"})
    seen_by_ada = form_of(ada.get(f"/a/{SLUG}/grade?cell=why").text, "grade-form")
    seen_by_bea = form_of(bea.get(f"/a/{SLUG}/grade?cell=why").text, "grade-form")
    assert seen_by_ada == seen_by_bea
    assert bea.post(f"/a/{SLUG}/grade", data={**seen_by_bea, "item": ["learned"],
                                               "comment": "from bea"}).status_code == 200
    late = ada.post(f"/a/{SLUG}/grade", data={**seen_by_ada, "item": ["flip"],
                                               "comment": "from ada"})
    assert late.status_code == 409
    assert "theirs (in force)" in late.text and "from bea" in late.text and "from ada" in late.text
    again = form_of(late.text, "grade-form")
    assert int(again["version"]) > int(seen_by_ada["version"])   # now carries bea's version
    book = open_gradebook(course.course_dir)
    try:
        rows = book.manual_grades(SLUG, seen_by_ada["who"])
    finally:
        book.close()
    assert [(r.who, r.comment) for r in rows] == [("bea", "from bea")]
    assert ada.post(f"/a/{SLUG}/grade", data={**again, "item": ["flip"], "comment": "from ada"},
                    follow_redirects=False).status_code == 303


def test_an_override_through_the_desk_changes_the_score_everywhere(course):
    c = client(course)
    before = re.search(r'id="final">([^<]*)<', c.get(f"/a/{SLUG}/s/bob").text).group(1)
    done = c.post(f"/a/{SLUG}/s/bob/override", data={
        "csrf": csrf_token(TOKEN), "test": "test_add", "points": "1", "reason": "by hand"})
    after = re.search(r'id="final">([^<]*)<', done.text).group(1)
    assert done.status_code == 200 and before != after and "by hand" in done.text
    from cnngrade.grading.overrides import final_grades
    [bob] = final_grades(course, SLUG, "bob")
    assert f"{bob.final_score:g} / {bob.max_score:g}" == after.strip()
    assert bob.overrides[0]["who"] == "ta-default"
    bad = c.post(f"/a/{SLUG}/s/bob/override", data={
        "csrf": csrf_token(TOKEN), "test": "test_add", "points": "9", "reason": "x"})
    assert bad.status_code == 400 and "outside 0 to 2" in bad.text


def test_without_the_token_nothing_is_served(graded):
    anonymous = client(graded, cookie=False)
    for path in ("/", f"/a/{SLUG}", f"/a/{SLUG}/s/alice", f"/a/{SLUG}/s/alice/feedback",
                 f"/a/{SLUG}/grade", "/static/desk.css", "/nope"):
        assert anonymous.get(path).status_code == 403, path
    assert anonymous.post(f"/a/{SLUG}/grade", data={}).status_code == 403
    assert anonymous.get("/?token=wrong").status_code == 403
    stranger = client(graded, cookie=False)
    stranger.cookies.set(COOKIE, "another-token")
    assert stranger.get("/").status_code == 403
    entry = anonymous.get(f"/a/{SLUG}?token={TOKEN}&q=al", follow_redirects=False)
    assert entry.status_code == 303 and entry.headers["location"] == f"/a/{SLUG}?q=al"
    cookie = entry.headers["set-cookie"]
    assert f"{COOKIE}={TOKEN}" in cookie and "HttpOnly" in cookie and \
        "samesite=strict" in cookie.lower()


def test_forms_need_the_csrf_token_and_the_desks_origin(course):
    c = client(course)
    good = form_of(c.get(f"/a/{SLUG}/grade?cell=why").text, "grade-form")
    for data, headers in (({**good, "csrf": "forged"}, {}),
                          ({k: v for k, v in good.items() if k != "csrf"}, {}),
                          (good, {"origin": "http://evil.example"}),
                          (good, {"origin": "null"})):
        refused = c.post(f"/a/{SLUG}/grade", data={**data, "item": ["learned"]},
                         headers=headers)
        assert refused.status_code == 403, (data, headers)
    override = c.post(f"/a/{SLUG}/s/bob/override", data={"test": "test_add", "points": "1",
                                                          "reason": "x"})
    assert override.status_code == 403
    book = open_gradebook(course.course_dir)
    try:
        assert book.manual_grades(SLUG) == [] and book.overrides(SLUG) == []
    finally:
        book.close()


@pytest.mark.parametrize("path", [
    "/static/..%2f..%2fcnngrade.toml", "/static/%2e%2e/%2e%2e/gradebook.sqlite",
    "/a/..%2f..%2fetc/s/alice", f"/a/{SLUG}/s/..%2f..%2fgradebook.sqlite",
    f"/a/{SLUG}/s/%2e%2e/feedback", "/a/%2e%2e/grade", f"/a/{SLUG}/check/..%2f..%2fx",
])
def test_path_traversal_is_not_found(graded, path):
    response = client(graded).get(path)
    assert response.status_code == 404, response.text[:200]
    assert "SQLite format" not in response.text and "[content]" not in response.text


def test_a_hostile_answer_is_inert_everywhere(graded):
    c = client(graded)
    pages = [c.get(f"/a/{SLUG}/grade?cell=why&who=mallory"), c.get(f"/a/{SLUG}/s/mallory"),
             c.get(f"/a/{SLUG}/s/mallory/feedback"), c.get(f"/a/{SLUG}")]
    for page in pages:
        assert page.status_code == 200
        assert '<script>alert("pwned")' not in page.text
        assert "onerror" not in page.text
        assert 'href="javascript:' not in page.text
        assert "content-security-policy" in page.headers
    assert "script-src 'self'" in pages[0].headers["content-security-policy"]
    assert "Learned by gradient descent." in pages[0].text   # the answer itself is shown


def test_another_course_is_never_served(graded, tmp_path):
    other = make_essay(make_mini_course(tmp_path / "other"))
    secret = other.assignment(SLUG).template_dir.parent.parent
    assert secret.is_dir()
    c = client(graded)
    # the same slug names this course's assignment; files of the other course are not reachable
    for path in (f"/static/{secret}/solutions/essay.ipynb", f"/a/{SLUG}/s/{tmp_path}",
                 "/a/other/grade"):
        assert c.get(path).status_code == 404
    theirs = TestClient(make_app(other, "the-other-desk"), base_url=BASE)
    theirs.cookies.set(COOKIE, TOKEN)   # this desk's cookie opens nothing of another desk
    assert theirs.get("/").status_code == 403
    assert str(other.course_dir) not in c.get("/").text


def test_anonymous_grading_hides_the_names(graded):
    c = client(graded)
    page = c.get(f"/a/{SLUG}/grade?cell=why&anon=1").text
    body = page[page.index("<main>"):]
    for name in ("alice", "mallory", "bob"):
        assert name not in body, name
    shown = form_of(page, "grade-form")["who"]
    assert shown in {pseudonym(TOKEN, s) for s in ("alice", "mallory")}
    assert f"student {shown}" in page


def test_serve_refuses_a_public_host_without_the_flag(graded):
    with pytest.raises(CnnGradeError, match="--allow-remote"):
        serve(graded, host="0.0.0.0")


@pytest.mark.slow
def test_cnngrade_serve_prints_the_url_and_stops_on_ctrl_c(graded):
    proc = subprocess.Popen([sys.executable, "-m", "cnngrade.cli.main", "serve", "--course-dir",
                             str(graded.course_dir)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        lines = []
        while not any("?token=" in line for line in lines):   # hang guard: the timeout below
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line)
        url = next(line.strip() for line in lines if "?token=" in line)
        assert url.startswith("http://127.0.0.1:")
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with browser.open(url, timeout=120) as page:   # the token, then its cookie
            assert page.status == 200 and b"cnngrade desk" in page.read()
        bare = url.split("?")[0]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bare, timeout=120)
        assert refused.value.code == 403
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "Stopped." in out and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_desk_ships_its_assets():
    from cnngrade.views.desk import app
    here = Path(app.__file__).parent
    assert (here / "static" / "desk.css").is_file()
    assert (here / "templates" / "grade.html").is_file()
