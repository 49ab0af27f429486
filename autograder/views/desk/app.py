"""The TA desk (`cnngrade serve`): a local web app over the same functions as the CLI: the course,
an assignment's report (cnngrade.views.report), one check, one student (final grade, checks,
layer tables, answers graded by hand, history, the feedback page as students see it), grading
by question (cnngrade.grading.manual) and overrides (cnngrade.grading.overrides). Every write
goes through those functions into the gradebook's audit trail, with the TA's name.

Pages are rendered on the server (Jinja2 templates shipped in the package; one small script,
desk.js, for the rubric's keys 1-9); student content is escaped, and the executed notebook is
the feedback page itself (cnngrade.views.feedback's sanitizer), shown in a sandboxed frame."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ...course.config import Course
from ...course.errors import CnnGradeError
from ...course.gradebook import open_gradebook
from ...course.policy import whoami
from ...grading import manual
from ...grading.overrides import clear_override, final_grades, set_override
from .. import report as reports
from ..feedback import CSP as FEEDBACK_CSP
from ..feedback import answer_html, feedback_page
from .security import COOKIE, TokenGate, check_post, csrf_token

HERE = Path(__file__).parent
GRADER_COOKIE = "cnngrade_grader"
SORTS = {"student": "student", "score": "score", "-score": "highest score", "time": "slowest"}


@dataclass
class Desk:
    course: Course
    token: str
    grader: str


def _desk(request: Request) -> Desk:
    return request.app.state.desk


def _grader(request: Request) -> str:
    name = " ".join(str(request.cookies.get(GRADER_COOKIE, "")).split())[:80]
    return name if name and name.isprintable() else _desk(request).grader


def _page(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    desk = _desk(request)
    return request.app.state.templates.TemplateResponse(
        request, name, {"csrf": csrf_token(desk.token), "grader": _grader(request),
                        "course_dir": str(desk.course.course_dir), **context},
        status_code=status_code)


def _slug(request: Request) -> str:
    slug = request.path_params["slug"]
    try:
        _desk(request).course.assignment(slug)
    except CnnGradeError:
        raise HTTPException(404, f"There is no assignment '{slug}' in this course.") from None
    return slug


def _student(request: Request) -> str:
    return unicodedata.normalize("NFC", request.path_params["student"])


def pseudonym(token: str, student: str) -> str:
    """An answer's stand-in for the student's id in anonymous mode (stable, not reversible)."""
    return hmac.new(token.encode(), student.encode(), hashlib.sha256).hexdigest()[:12]


# -- pages -----------------------------------------------------------------------------------
def course_rows(course: Course) -> list[dict[str, Any]]:
    """Each assignment with its counts: collected, graded, ungradable, answers left to grade
    by hand."""
    rows = []
    book = open_gradebook(course.course_dir)
    try:
        with book.snapshot():
            found = {slug: (book.latest(slug), book.grades(slug)) for slug in course.slugs()}
    finally:
        book.close()
    for slug, (latest, graded) in found.items():
        assignment = course.assignment(slug)
        left = sum(c.left for c in manual.progress(course, slug)) if latest and \
            manual.released_cells(course, slug) else 0
        rows.append({"slug": slug, "title": assignment.title, "collected": len(latest),
                     "graded": sum(r.status == "graded" for r in graded),
                     "ungradable": sum(r.status != "graded" for r in graded), "left": left})
    return rows


async def home(request: Request) -> Response:
    return _page(request, "course.html", rows=course_rows(_desk(request).course))


async def assignment_page(request: Request) -> Response:
    slug = _slug(request)
    rep = reports.class_report(_desk(request).course, slug)
    query = request.query_params.get("q", "").strip().lower()
    sort = request.query_params.get("sort", "score")
    sort = sort if sort in SORTS else "score"
    rows = [r for r in rep.rows if query in r.submission.student.lower()] if query else \
        list(rep.rows)
    key = {"student": lambda r: r.submission.student,
           "score": lambda r: (rep.score(r), r.submission.student),
           "-score": lambda r: (-rep.score(r), r.submission.student),
           "time": lambda r: (-reports.seconds(r), r.submission.student)}[sort]
    rows.sort(key=key)
    biggest = max((n for _, n in rep.distribution), default=0) or 1
    return _page(request, "assignment.html", rep=rep, rows=rows, query=query, sort=sort,
                 sorts=SORTS, biggest=biggest, first_line=reports.first_line,
                 failed_tests=reports.failed_tests, problems=reports.problems)


async def check_page(request: Request) -> Response:
    slug = _slug(request)
    rep = reports.class_report(_desk(request).course, slug)
    try:
        view = reports.check_view(rep, request.path_params["name"])
    except CnnGradeError as exc:
        raise HTTPException(404, str(exc)) from None
    return _page(request, "check.html", rep=rep, view=view, first_line=reports.first_line)


def _student_context(request: Request, slug: str, student: str) -> dict[str, Any]:
    course = _desk(request).course
    try:
        rep = reports.class_report(course, slug, student)
        row = reports.student_row(rep, student)
    except CnnGradeError as exc:
        raise HTTPException(404, str(exc)) from None
    [grade] = final_grades(course, slug, student) or [None]
    book = open_gradebook(course.course_dir)
    try:
        history = book.submissions(slug, student)
    finally:
        book.close()
    tables = [(t.get("name", "?"), data) for t in row.results.get("tests", [])
              for data in (t.get("extra_data") or {}).get("tables", [])]
    answers = [(a, answer_html(a.source, a.cell.cell_type))
               for a in rep.answers.get(student, [])]
    return {"rep": rep, "row": row, "grade": grade, "history": history, "tables": tables,
            "answers": answers, "slug": slug, "student": student,
            "overrides": rep.reviews.get(student, {}), "problems": reports.problems(row)}


async def student_page(request: Request) -> Response:
    slug, student = _slug(request), _student(request)
    return _page(request, "student.html", **_student_context(request, slug, student),
                 error=request.query_params.get("error"))


async def feedback_frame(request: Request) -> Response:
    """The student's feedback page exactly as written for them (sanitized there), shown in the
    student view's sandboxed frame with the feedback page's own CSP."""
    slug, student = _slug(request), _student(request)
    grades = final_grades(_desk(request).course, slug, student)
    if not grades:
        raise HTTPException(404, f"{student} has no graded submission of {slug}.")
    page = feedback_page(_desk(request).course, slug, grades[0])
    return HTMLResponse(page, headers={
        "Content-Security-Policy": FEEDBACK_CSP + "; frame-ancestors 'self'",
        "X-Frame-Options": "SAMEORIGIN"})


async def _form(request: Request) -> Any:
    form = await request.form()
    refused = check_post(request, form.get("csrf"), _desk(request).token)
    if refused:
        raise HTTPException(403, refused)
    return form


async def override(request: Request) -> Response:
    slug, student = _slug(request), _student(request)
    form = await _form(request)
    course, test = _desk(request).course, str(form.get("test", ""))
    reason = str(form.get("reason", ""))
    try:
        if form.get("clear"):
            clear_override(course, slug, student, test, reason, who=_grader(request))
        else:
            try:
                points = float(str(form.get("points", "")))
            except ValueError:
                raise CnnGradeError("Give the check's new points as a number.") from None
            set_override(course, slug, student, test, points, reason, who=_grader(request))
    except CnnGradeError as exc:
        context = _student_context(request, slug, student)
        return _page(request, "student.html", status_code=400, **context, error=str(exc))
    return RedirectResponse(request.url_for("student", slug=slug, student=student), 303)


def _answer_of(course: Course, slug: str, cell: str | None, who: str | None, token: str,
               anonymous: bool) -> manual.Answer | None:
    if who:
        for answer in manual.answers(course, slug, cell):
            shown = pseudonym(token, answer.student) if anonymous else answer.student
            if shown == who:
                return answer
        return None
    return manual.next_ungraded(course, slug, cell)


async def grade_page(request: Request) -> Response:
    slug = _slug(request)
    desk = _desk(request)
    cell = request.query_params.get("cell") or None
    anonymous = request.query_params.get("anon") == "1"
    cells = manual.released_cells(desk.course, slug)
    if cell is not None and cell not in cells:
        raise HTTPException(404, f"'{cell}' is not a manually graded cell of {slug}.")
    answer = _answer_of(desk.course, slug, cell, request.query_params.get("who"), desk.token,
                        anonymous)
    return _grade_view(request, slug, cell, anonymous, answer)


def _grade_view(request: Request, slug: str, cell: str | None, anonymous: bool,
                answer: manual.Answer | None, status_code: int = 200, **extra: Any) -> Response:
    desk = _desk(request)
    progress = manual.progress(desk.course, slug)
    rubric = manual.rubrics(desk.course, slug).get(answer.cell.grade_id) if answer else None
    who = None if answer is None else (pseudonym(desk.token, answer.student) if anonymous
                                       else answer.student)
    return _page(request, "grade.html", status_code=status_code, slug=slug, cell=cell,
                 anonymous=anonymous, answer=answer, rubric=rubric, who=who,
                 body=answer_html(answer.source, answer.cell.cell_type) if answer else "",
                 progress=progress, cells=manual.released_cells(desk.course, slug), **extra)


async def grade_post(request: Request) -> Response:
    slug = _slug(request)
    desk = _desk(request)
    form = await _form(request)
    cell = str(form.get("cell", ""))
    anonymous = form.get("anon") == "1"
    only = str(form.get("only_cell", "")) or None
    answer = _answer_of(desk.course, slug, cell, str(form.get("who", "")), desk.token,
                        anonymous)
    if answer is None:
        raise HTTPException(404, "That answer is not in the gradebook any more.")
    items = [str(i) for i in form.getlist("item")]
    comment = str(form.get("comment", "")).strip()
    try:
        version = int(str(form.get("version", "0")))
        adjustment = float(str(form.get("points") or 0))
        manual.grade_answer(desk.course, slug, answer.student, cell, items, comment,
                            _grader(request), version, adjustment=adjustment)
    except manual.GradeConflict as conflict:
        fresh = _answer_of(desk.course, slug, cell, str(form.get("who", "")), desk.token,
                           anonymous)
        return _grade_view(request, slug, only, anonymous, fresh, status_code=409,
                           conflict=conflict.theirs, mine={"items": items, "comment": comment,
                                                           "points": adjustment})
    except (CnnGradeError, ValueError) as exc:
        return _grade_view(request, slug, only, anonymous, answer, status_code=400,
                           error=str(exc) if isinstance(exc, CnnGradeError) else
                           "Give the points as a number.")
    query = "&".join(p for p in (f"cell={only}" if only else "", "anon=1" if anonymous else "")
                     if p)
    target = str(request.url_for("grade", slug=slug)) + (f"?{query}" if query else "")
    return RedirectResponse(target, 303)


async def whoami_post(request: Request) -> Response:
    form = await _form(request)
    name = " ".join(str(form.get("grader", "")).split())[:80]
    response = RedirectResponse(str(form.get("back") or "/") if str(
        form.get("back", "/")).startswith("/") else "/", 303)
    if name and name.isprintable():
        response.set_cookie(GRADER_COOKIE, name, httponly=True, samesite="strict", path="/")
    return response


async def not_found(request: Request, exc: Exception) -> Response:
    code = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", "") or "Not found."
    if code >= 500:
        detail = "The desk had a problem with this page."
    return _page(request, "error.html", status_code=code, message=detail) \
        if code != 403 else PlainTextResponse(detail, status_code=403)


async def server_error(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(f"The desk had a problem with this page ({type(exc).__name__}: "
                             f"{str(exc)[:200]}).", status_code=500)


def make_app(course: Course, token: str, grader: str | None = None) -> Any:
    """The desk for `course`, behind `token` (cnngrade.views.desk.security)."""
    routes = [
        Route("/", home, name="home"),
        Route("/whoami", whoami_post, methods=["POST"], name="whoami"),
        Route("/a/{slug}", assignment_page, name="assignment"),
        Route("/a/{slug}/check/{name}", check_page, name="check"),
        Route("/a/{slug}/grade", grade_page, name="grade"),
        Route("/a/{slug}/grade", grade_post, methods=["POST"], name="grade_post"),
        Route("/a/{slug}/s/{student}", student_page, name="student"),
        Route("/a/{slug}/s/{student}/feedback", feedback_frame, name="feedback"),
        Route("/a/{slug}/s/{student}/override", override, methods=["POST"], name="override"),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: not_found,
                                                       404: not_found, 500: server_error})
    app.state.desk = Desk(course, token, grader or whoami())
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    return TokenGate(app, token)


__all__ = ["COOKIE", "make_app", "pseudonym"]
