"""The TA desk in a real browser: Playwright driving Debian's chromium (`executable_path`;
Playwright's own browser download is not available here) against `cnngrade serve`: open the
token URL, grade one written answer with a rubric key, override one check, and read the new
score on the assignment view and in the gradebook; a screenshot of each page is saved
(`CNNGRADE_SCREENSHOTS=DIR` keeps them, e.g. for the README). Skipped, saying why, where
chromium or Playwright is missing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_desk import graded  # noqa: F401  (the graded essay course, shared fixture)
from test_manual import SLUG

from cnngrade.course.config import load_course
from cnngrade.course.gradebook import open_gradebook
from cnngrade.grading.overrides import final_grades

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def desk(graded, tmp_path):  # noqa: F811
    """`cnngrade serve` on a copy of the graded course: (its URL with the token, the course)."""
    shutil.copytree(graded.course_dir, tmp_path / "course")
    course = load_course(tmp_path / "course")
    proc = subprocess.Popen([sys.executable, "-m", "cnngrade.cli.main", "serve", "--grader",
                             "browser-ta", "--course-dir", str(course.course_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    url = None
    while url is None:   # hang guard: the test's own timeout
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        url = line.strip() if "?token=" in line else None
    yield url, course
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.slow
def test_grade_and_override_in_a_real_browser(desk, tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/setup-system.sh installs it): the "
                    "desk's browser test needs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed "
                                   "(pip install -e '.[dev]')")
    url, course = desk
    shots = Path(os.environ.get("CNNGRADE_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    base = url.split("?")[0].rstrip("/")
    with sync_api.sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM, headless=True,
                                       args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(600_000)   # a hang guard, not a speed target
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text)
                    if msg.type == "error" else None)
            page.goto(url)
            assert "cnngrade desk" in page.content() and SLUG in page.content()
            page.screenshot(path=str(shots / "desk-course.png"), full_page=True)

            # grade one answer: key 1 ticks the first rubric item, then a comment
            page.goto(f"{base}/a/{SLUG}/grade?cell=why")
            student = page.locator("input[name=who]").input_value()
            page.locator("#answer").click()   # focus off any field: keys go to the rubric
            page.keyboard.press("1")
            assert page.locator('input[data-key="1"]').is_checked()
            page.fill("textarea[name=comment]", "Right: learned by gradient descent.")
            page.screenshot(path=str(shots / "desk-grade.png"), full_page=True)
            with page.expect_navigation():
                page.click("#save")
            assert page.locator("input[name=who]").count() == 0 or \
                page.locator("input[name=who]").input_value() != student

            # override one check of that student
            page.goto(f"{base}/a/{SLUG}/s/{student}")
            row = page.locator("form.override").first
            row.locator("input[name=points]").fill("1")
            row.locator("input[name=reason]").fill("reviewed in the browser")
            with page.expect_navigation():
                row.locator("button[type=submit]").first.click()
            # the feedback page, as the student sees it, in its sandboxed frame
            page.frame_locator("iframe.feedback").locator("h2").first.wait_for()
            assert page.locator("#final").count() == 1, page.content()[:3000]
            shown = page.locator("#final").inner_text()
            page.screenshot(path=str(shots / "desk-student.png"), full_page=True)

            page.goto(f"{base}/a/{SLUG}")
            table = page.locator("#student-table").inner_text()
            page.screenshot(path=str(shots / "desk-assignment.png"), full_page=True)
            assert not errors, errors   # no script error, nothing refused by the CSP
        finally:
            browser.close()
    [grade] = final_grades(course, SLUG, student)
    assert shown.replace(" ", "") == f"{grade.final_score:g}/{grade.max_score:g}"
    assert f"{grade.final_score:g}/{grade.max_score:g}" in table.replace(" ", "")
    book = open_gradebook(course.course_dir)
    try:
        [manual_row] = [g for g in book.manual_grades(SLUG, student) if g.cell == "why"]
        [override] = book.overrides(SLUG, student)
    finally:
        book.close()
    assert (manual_row.who, manual_row.items[0]) == ("browser-ta", "learned")
    assert (override.who, override.reason) == ("browser-ta", "reviewed in the browser")
    for name in ("desk-course", "desk-grade", "desk-student", "desk-assignment"):
        assert (shots / f"{name}.png").stat().st_size > 5000, name
