"""rich renderings of the data the `cnngrade` functions return."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text


def _first_line(text: str, width: int = 160) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def release(console: Console, result) -> None:
    console.print(f"[green]Released[/] {result.slug} (release {result.release}) → "
                  f"{result.release_dir}", highlight=False)
    for path in result.files:
        console.print(f"  {path}", highlight=False, markup=False)
    if result.archive is not None:
        console.print(f"Archive for the LMS: {result.archive} (students unpack it and run "
                      f"`cnngrade check` in the folder)", highlight=False, markup=False)


def collect(console: Console, report) -> None:
    console.print(f"[green]Collected[/] {len(report.added)} new submission(s), "
                  f"{len(report.unchanged)} already stored.")
    for student, name in report.added:
        console.print(f"  + {student}: {name}")
    for problem in report.problems:
        console.print(Text(f"  ! {problem}", style="yellow"))


def grade(console: Console, summary) -> None:
    if summary.cached:
        console.print(f"{len(summary.cached)} submission(s) unchanged since their last grading "
                      f"(cached): {', '.join(summary.cached)}. Use --force to grade them again.")
    if not summary.graded and not summary.cached:
        console.print("Nothing to grade: collect submissions first.")
        return
    for outcome in summary.graded:
        res = outcome.results
        style = {"graded": "green", "ungradable": "yellow"}.get(outcome.status, "red")
        console.print(Text.assemble((f"  {outcome.student}", "bold"),
                                    f": {res['score']:g}/{res['max_score']:g} ",
                                    (outcome.status, style), f" ({outcome.seconds:.1f} s)"))
        if outcome.status != "graded":
            console.print(Text(f"    {_first_line(res.get('output', ''))}", style=style))
        if (res.get("extra_data") or {}).get("rerun_alone"):
            console.print(Text("    graded again alone: a wall-clock limit stopped it while "
                               "other submissions ran beside it", style="cyan"))
    if summary.rerun_alone:
        console.print(f"{len(summary.rerun_alone)} submission(s) graded again alone after a "
                      f"wall-clock stop beside others: {', '.join(summary.rerun_alone)}.")


# -- cnngrade report -----------------------------------------------------------------------
# The class summary stays short for a class of hundreds: each list shows its first few and
# says how to see the rest (--failed, --test NAME, --student ID).

SHOW_TESTS = 10      # tests in the per-test table of the summary (the most failed)
SHOW_ROWS = 5        # students in each list of the summary
BAR = 40             # the histogram's longest bar, in characters
_STATUS_STYLE = {"graded": "green", "ungradable": "yellow"}


def report(console: Console, rep, student: str | None = None, *, failed: bool = False,
           test: str | None = None) -> None:
    """`cnngrade report`: the class summary; with `student` that student's full result, with
    `test` who failed that test, with `failed` every student who lost points."""
    from cnngrade.views.report import check_view, student_row
    row = student_row(rep, student) if student is not None else None   # errors first
    view = check_view(rep, test) if test is not None and row is None else None
    console.rule(Text(f"{rep.title} ({rep.slug})"))
    if row is not None:
        _one_student(console, rep, row)
    elif not rep.rows:
        console.print("No graded submissions yet: run `cnngrade grade` first.")
        _not_graded(console, rep)
    elif view is not None:
        _one_test(console, rep, view)
    elif failed:
        _failed(console, rep)
    else:
        _class_summary(console, rep)
        _histogram(console, rep)
        _per_test(console, rep)
        _manual(console, rep)
        _ungradable(console, rep)
        _slowest(console, rep)
        _per_student(console, rep)
        _problems(console, rep)
        _hints(console, rep)


def _table(console: Console, title: str, **kwargs) -> Table:
    """A compact table under its own heading line (a title would wrap to the table's width)."""
    console.print()
    console.print(Text(title, style="bold underline"))
    return Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, **kwargs)


def _width(names, cap: int = 40) -> int:
    """The width that shows each of `names` whole (at most `cap`)."""
    return min(cap, max((len(str(n)) for n in names), default=4))


def _room(console: Console, used: int, columns: int) -> int:
    """The width left for a table's last column, after `used` characters in the others and
    the gaps between `columns` columns."""
    return max(20, console.width - used - 2 * columns - 1)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _more(console: Console, shown: int, total: int, what: str, how: str) -> None:
    if total > shown:
        console.print(Text(f"  … and {total - shown} more{' ' + what if what else ''}: {how}",
                           style="dim"))


def _score(rep, row) -> str:
    """The final score; a * where answers are still to grade by hand (counted 0)."""
    left = "*" if rep.pending.get(row.submission.student) else ""
    return f"{rep.score(row):g}/{rep.max_score:g}{left}"


def _status(row) -> Text:
    late = " (late)" if row.submission.late else ""
    return Text(row.status + late, style=_STATUS_STYLE.get(row.status, "bold red"))


def _names(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _class_summary(console: Console, rep) -> None:
    table = _table(console, "Class summary", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    statuses = rep.statuses()
    graded = f"{rep.count} submission(s)"
    if set(statuses) - {"graded"}:
        graded += " (" + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) + ")"
    if rep.late():
        graded += f", {rep.late()} late"
    if rep.rerun_alone():
        graded += f", {rep.rerun_alone()} graded again alone after a wall-clock stop"
    table.add_row("graded", graded)
    if rep.ungraded:
        table.add_row("not graded yet", Text(f"{len(rep.ungraded)}: {_names(rep.ungraded)}"))
    table.add_row("mean", f"{rep.mean:.2f} / {rep.max_score:g}   median {rep.median:.2f}")
    full = rep.full_marks
    table.add_row("full marks", f"{full} ({100 * full / rep.count:.0f}%)")
    lost = (f"{len(rep.failed)}, the not gradable included (list: `cnngrade report "
            f"{rep.slug} --failed`)") if rep.failed else "none"
    table.add_row("lost points", lost)
    if rep.manual:
        left = sum(cell.left for cell in rep.manual)
        answers = sum(cell.answers for cell in rep.manual)
        table.add_row("graded by hand", Text(
            f"{answers - left} of {answers} answer(s)" + (
                f"; {left} left (counted 0 until graded, * by the score): `cnngrade manual "
                f"{rep.slug}`" if left else "")))
    console.print(table)


def _manual(console: Console, rep) -> None:
    if rep.manual:
        manual_progress(console, rep.slug, rep.manual, rep.rubrics)


def _histogram(console: Console, rep) -> None:
    table = _table(console, "Score histogram")
    table.add_column("score")
    table.add_column("students", justify="right")
    table.add_column("")
    top = max((count for _, count in rep.distribution), default=0) or 1
    for label, count in rep.distribution:
        bar = "█" * max(1 if count else 0, round(BAR * count / top))
        table.add_row(label, str(count), Text(bar, style="cyan"))
    console.print(table)


def _per_test(console: Console, rep) -> None:
    if not rep.tests:
        return
    table = _table(console, "Per test (the most failed first)")
    shown = rep.tests[:SHOW_TESTS]
    # names and numbers keep their width on a narrow terminal; the message gives way
    name_width = _width(s.name for s in shown)
    table.add_column("test", no_wrap=True, min_width=name_width)
    for column in ("points", "passed", "rate", "pts lost"):
        table.add_column(column, justify="right", no_wrap=True, min_width=len(column))
    table.add_column("most common failure", no_wrap=True)
    room = _room(console, name_width + 6 + 6 + 4 + 8, 6)
    for stat in shown:
        rate = 100 * stat.pass_rate
        style = "red" if rate < 50 else "yellow" if rate < 80 else "green"
        common = ""
        for message, count in stat.common_messages(1):
            common = f"{count}× {message}"
        table.add_row(Text(stat.name), f"{stat.points:g}", f"{stat.passed}/{stat.ran}",
                      Text(f"{rate:.0f}%", style=style), f"{stat.points_lost:g}",
                      Text(_clip(common, room)))
    console.print(table)
    rest = rep.tests[SHOW_TESTS:]
    if rest:
        low = min(100 * s.pass_rate for s in rest)
        _more(console, 0, len(rest), f"tests, each passed by at least {low:.0f}%",
              f"`cnngrade report {rep.slug} --test NAME` shows one")


def _ungradable(console: Console, rep) -> None:
    rows = [row for row in rep.failed if row.status != "graded"]
    if not rows:
        return
    table = _table(console, f"Could not be graded ({len(rows)})")
    table.add_column("student")
    table.add_column("status")
    table.add_column("why", overflow="fold")
    for row in rows[:SHOW_ROWS]:
        table.add_row(Text(row.submission.student, style="bold"), _status(row),
                      Text(_first_line(row.results.get("output", ""), 300)))
    console.print(table)
    _more(console, SHOW_ROWS, len(rows), "", f"`cnngrade report {rep.slug} --failed`")


def _slowest(console: Console, rep) -> None:
    from cnngrade.views.report import notebook_seconds
    table = _table(console, "Slowest submissions (notebook run time)")
    table.add_column("student")
    table.add_column("notebook", justify="right")
    table.add_column("grading", justify="right")
    table.add_column("score", justify="right")
    table.add_column("status")
    for row in rep.slowest:
        ran = notebook_seconds(row)
        table.add_row(Text(row.submission.student, style="bold"),
                      "–" if ran is None else f"{ran:.1f} s", f"{row.seconds:.1f} s",
                      _score(rep, row), _status(row))
    console.print(table)


def _per_student(console: Console, rep) -> None:
    """The lowest scores (of those who lost points) in the summary; all of them with --failed
    (`_failed`)."""
    from cnngrade.views.report import failed_tests
    rows = [row for row in rep.failed if row.status == "graded"]
    if not rows:
        return
    table = _table(console, f"Failures: {len(rows)} student(s) lost points (the lowest scores "
                   "first)")
    name_width = _width(r.submission.student for r in rows[:SHOW_ROWS])
    table.add_column("student", no_wrap=True, min_width=name_width)
    table.add_column("score", justify="right", no_wrap=True, min_width=5)
    table.add_column("status", no_wrap=True, min_width=13)
    table.add_column("failed checks", no_wrap=True)
    room = _room(console, name_width + 5 + 13, 4)
    for row in rows[:SHOW_ROWS]:
        names = [str(t.get("name", "?")) for t in failed_tests(row)]
        table.add_row(Text(row.submission.student, style="bold"), _score(rep, row),
                      _status(row), Text(_clip(", ".join(names) or "–", room)))
    console.print(table)
    _more(console, SHOW_ROWS, len(rows), "", f"`cnngrade report {rep.slug} --failed`")


def _problems(console: Console, rep) -> None:
    from cnngrade.views.report import problems
    notes = [(row.submission.student, p) for row in rep.rows if row.results.get("tests")
             for p in problems(row)]
    if not notes:
        return
    table = _table(console, f"Notebook problems ({len(notes)})")
    table.add_column("student")
    table.add_column("problem", overflow="ellipsis", no_wrap=True, max_width=150)
    for who, problem in notes[:SHOW_ROWS]:
        table.add_row(Text(who, style="bold"), Text(_first_line(problem, 300)))
    console.print(table)
    _more(console, SHOW_ROWS, len(notes), "", f"`cnngrade report {rep.slug} --student ID`")


def _not_graded(console: Console, rep) -> None:
    if rep.ungraded:
        console.print(Text(f"Collected, not graded yet ({len(rep.ungraded)}): "
                           f"{_names(rep.ungraded)}"))


def _hints(console: Console, rep) -> None:
    console.print(Text(f"More: `cnngrade report {rep.slug} --failed` (everyone who lost points, "
                       "with the messages), `--test NAME` (who failed one test), `--student ID` "
                       "(one student's full result), `--plot` (a PNG of this summary).",
                       style="dim"))


def _failed(console: Console, rep) -> None:
    """`--failed`: every student who lost points or could not be graded, the lowest first,
    with each failed check's message and the notebook's problems."""
    from cnngrade.views.report import failed_tests, problems
    if not rep.failed:
        console.print(f"All {rep.count} graded submission(s) have full marks.")
        _not_graded(console, rep)
        return
    table = _table(console, f"{len(rep.failed)} of {rep.count} student(s) lost points or could "
                   "not be graded (the lowest scores first)", show_lines=True)
    table.add_column("student")
    table.add_column("score", justify="right")
    table.add_column("status")
    table.add_column("what failed", overflow="fold")
    for row in rep.failed:
        lines = Text()
        for test in failed_tests(row):
            if lines:
                lines.append("\n")
            lines.append(str(test.get("name", "?")), style="bold")
            lines.append(f" (-{float(test.get('max_score', 0)) - float(test.get('score', 0)):g})"
                         f": {_first_line(test.get('output', ''), 200)}")
        if not row.results.get("tests"):
            lines.append(_first_line(row.results.get("output", ""), 300))
        for problem in problems(row) if row.results.get("tests") else []:
            lines.append("\n! " + _first_line(problem, 200), style="yellow")
        table.add_row(Text(row.submission.student, style="bold"), _score(rep, row),
                      _status(row), lines)
    console.print(table)
    _not_graded(console, rep)
    console.print(Text(f"One student in full: `cnngrade report {rep.slug} --student ID`.",
                       style="dim"))


def _one_test(console: Console, rep, view) -> None:
    """`--test NAME`: the test's pass rate, its messages grouped, and each student who failed
    it with the message."""
    for stat in view.stats:
        console.print(Text.assemble((stat.name, "bold"), f" ({stat.points:g} point(s)): ",
                                    stat.description, "\n", f"passed by {stat.passed} of "
                                    f"{stat.ran} ({100 * stat.pass_rate:.0f}%), failed by "
                                    f"{stat.failed}; {stat.points_lost:g} point(s) lost"))
    if view.not_run:
        console.print(Text(f"Not run in {len(view.not_run)} submission(s) that could not be "
                           f"graded: {_names([r.submission.student for r in view.not_run])}",
                           style="yellow"))
    if not view.failures:
        console.print("Nobody failed it.")
        return
    groups: dict[str, int] = {}
    for _row, test in view.failures:
        key = _first_line(test.get("output", ""), 150) or "(no message)"
        groups[key] = groups.get(key, 0) + 1
    if len(groups) > 1:
        table = _table(console, "Messages (first line), the most frequent first")
        table.add_column("students", justify="right")
        table.add_column("message", overflow="ellipsis", no_wrap=True, max_width=150)
        ranked = sorted(groups.items(), key=lambda item: (-item[1], item[0]))
        for message, count in ranked[:SHOW_TESTS]:
            table.add_row(str(count), Text(message))
        console.print(table)
        _more(console, SHOW_TESTS, len(ranked), "different messages", "listed below")
    table = _table(console, f"Who failed {view.name} ({len(view.failures)})")
    table.add_column("student")
    table.add_column("score", justify="right")
    if len(view.stats) > 1:
        table.add_column("case")
    table.add_column("message", overflow="fold")
    for row, test in view.failures:
        cells = [Text(row.submission.student, style="bold"), _score(rep, row)]
        if len(view.stats) > 1:
            cells.append(Text(str(test.get("name", "?"))))
        message = Text((test.get("output") or "").strip())
        review = rep.reviews.get(row.submission.student, {}).get(test.get("name"))
        if review is not None:   # a TA's override of this check
            message.append(f"\n(reviewed: {review['new']:g} point(s), {review['reason']})",
                           style="cyan")
        table.add_row(*cells, message)
    console.print(table)


def _one_student(console: Console, rep, row) -> None:
    """`--student ID`: everything about one result: when it was submitted and graded, late or
    not, how long it ran, every test with its description, points and message, the notebook's
    problems, the grader's errors and each test's extra tables."""
    from cnngrade.views.report import cpu_seconds, notebook_seconds, problems, rerun_alone
    res = row.results
    sub = row.submission
    extra = res.get("extra_data") or {}
    console.print(Text.assemble((sub.student, "bold"), f": {_score(rep, row)} ", _status(row)))
    info = _table(console, "Submission", show_header=False)
    info.add_column(style="bold")
    info.add_column(overflow="fold")
    info.add_row("file", Text(f"{sub.filename} (sha256 {sub.sha256[:12]})"))
    info.add_row("from", Text(sub.origin))
    info.add_row("submitted", Text(sub.submitted_at + ("  LATE" if sub.late else "  on time"),
                                   style="bold red" if sub.late else ""))
    info.add_row("graded", f"{row.graded_at} ({row.status})")
    ran = notebook_seconds(row)
    cpu = cpu_seconds(row)
    timing = ("" if ran is None else f"notebook {ran:.1f} s"
              + ("" if cpu is None else f" ({cpu:.1f} s of CPU time)") + ", ") \
        + f"grading {row.seconds:.1f} s"
    if extra.get("replayed"):
        timing += " (graded from the recorded answers, without running the notebook again)"
    info.add_row("time", timing)
    first = rerun_alone(row)
    if first is not None:
        info.add_row("graded again", Text(
            "alone, after a wall-clock limit stopped its first run while other submissions ran "
            "beside it; this result is the second run's. First run: "
            + (" ".join(first) or "stopped"), style="cyan"))
    if "cell_errors" in extra:
        info.add_row("cell errors", str(extra["cell_errors"]))
    if "seed" in extra:
        info.add_row("seed", str(extra["seed"]))
    if res.get("output"):
        info.add_row("summary", Text(str(res["output"]).strip()))
    console.print(info)
    table = Table(show_lines=True)
    table.add_column("test")
    table.add_column("points", justify="right")
    table.add_column("result")
    table.add_column("message", overflow="fold")
    for test in res.get("tests", []):
        ok = test.get("status") == "passed"
        table.add_row(Text.assemble(str(test.get("name", "?")), "\n",
                                    (str(test.get("description", "")), "dim")),
                      f"{float(test.get('score', 0)):g}/{float(test.get('max_score', 0)):g}",
                      Text("passed", style="green") if ok else Text("failed", style="red"),
                      Text(str(test.get("output", "")).strip()))
    if res.get("tests"):
        console.print(table)
    _answers(console, rep, sub.student)
    changes = rep.adjustments.get(sub.student, [])
    if changes:   # late penalty and instructor overrides (with their reasons)
        console.print(Text(f"Adjustments (automatic score {row.score:g})", style="bold"))
        for change in changes:
            console.print(Text(f"  {change.get('kind', '')}: {change.get('text', '')}"))
    notes = [p for p in problems(row) if p.strip() != str(res.get("output", "")).strip()]
    if notes:
        console.print(Text("Notebook problems", style="bold"))
        for problem in notes:
            console.print(Text(f"  ! {problem}", style="yellow"))
    for error in (extra.get("grader_errors") or [])[:1]:   # the detail, not the traceback
        console.print(Text(f"Grader error: {_first_line(str(error), 300)}", style="bold red"))
    for test in res.get("tests", []):   # layer tables, parameter counts, accuracy figures
        for data in (test.get("extra_data") or {}).get("tables", []):
            extra_table = Table(title=Text.assemble(str(data.get("title", "")), " ",
                                                    (f"({test.get('name', '?')})", "dim")))
            for column in data.get("columns", []):
                extra_table.add_column(str(column), overflow="fold")
            for values in data.get("rows", []):
                extra_table.add_row(*(f"{v:,}" if isinstance(v, int) and not isinstance(v, bool)
                                      else Text(str(v)) for v in values))   # e.g. a layer name
            console.print(extra_table)


_ANSWER_STATE = {"graded": "graded", "carried": "carried over from an earlier submission with "
                 "the same answer", "stale": "graded for an earlier, different answer: not "
                 "applied, to grade again", "unchanged": "the released template's text: 0 "
                 "points", "empty": "empty: to grade", "ungraded": "to grade"}


def _answers(console: Console, rep, student: str) -> None:
    """`--student ID`: each answer graded by hand, with its points, the rubric items applied
    (their text and points) and the comment."""
    from rich.console import Group
    from rich.panel import Panel
    for answer in rep.answers.get(student, []):
        cell = answer.cell
        rubric = rep.rubrics.get(cell.grade_id)
        points = "–" if answer.points is None else f"{answer.points:g}"
        lines = Text(f"{_ANSWER_STATE.get(answer.state, answer.state)}", style="dim")
        grade = answer.grade if answer.state in ("graded", "carried", "stale") else None
        if grade is not None:
            lines.append(f" (by {grade.who}, {grade.made_at})", style="dim")
            for item_id in grade.items:
                item = rubric.item(item_id) if rubric else None
                lines.append(f"\n  {item.points:+g}  {item.text}" if item else
                             f"\n  ?  {item_id} (no longer in the rubric: counts nothing)")
            if grade.adjustment and rubric is not None and not rubric.free:
                lines.append(f"\n  {grade.adjustment:+g}  adjustment")
            if grade.comment:
                lines.append(f"\n  comment: {grade.comment}")
        console.print(Panel(Group(_answer_body(answer), Text(), lines),
                            title=Text(f"{cell.grade_id}: {points}/{cell.points:g} (graded by "
                                       "hand)"), title_align="left"))


def check(console: Console, result) -> None:
    marks = {"ungradable": ("✗ will not be graded", "bold red"),
             "points": ("! will cost points", "bold yellow"),
             "note": ("· note", "cyan")}
    for note in getattr(result, "notes", []):   # about the check itself: the sandbox here
        console.print(Text(f"Note: {note}", style="cyan"))
    findings = getattr(result, "findings", [])
    if findings:
        serious = sum(1 for f in findings if f.level != "note")
        count = f"{len(findings)} thing{'s' * (len(findings) != 1)}"
        costly = f" ({serious} will cost points or stop it being graded)" if serious else ""
        console.print(Text(f"Before you submit: {count} the tests do not show{costly}:",
                           style="bold"))
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for finding in findings:   # may quote the student's text: never read as markup
            label, style = marks.get(finding.level, (finding.level, "bold"))
            body = Text(finding.what)
            if finding.advice:
                body.append(f"\n→ {finding.advice}")
            if finding.detail:
                body.append(f"\n{finding.detail}", style="dim")
            grid.add_row(Text(label, style=style), body)
        console.print(grid)
        console.print()
    table = Table(title=Text(f"Public tests for {result.slug} ({result.notebook})"))
    table.add_column("test")
    table.add_column("result")
    table.add_column("hint", overflow="fold")
    for test in result.tests:
        ok = test.status == "passed"
        table.add_row(test.description or test.name,
                      "[green]passed[/]" if ok else "[red]failed[/]",
                      "" if ok else Text(test.output.strip()))
    if result.tests:
        console.print(table)
    passed = sum(1 for t in result.tests if t.status == "passed")
    if result.tests or not getattr(result, "errors", []):
        console.print(f"{passed} of {len(result.tests)} public tests passed. The hidden tests "
                      "used for grading check more than these.")
    models = getattr(result, "models", [])
    if models:
        console.print(Text(f"✓ The grader can save and load your Keras model"
                           f"{'s' * (len(models) != 1)} {', '.join(models)}.", style="green"))
    for error in getattr(result, "errors", []):
        console.print(Text(f"The check could not run completely (a problem of the grader's "
                           f"set-up, not of your notebook): {error}", style="bold red"))
    if any(f.level == "ungradable" for f in findings):
        console.print(Text("✗ As it is, this notebook cannot be graded: see above.",
                           style="bold red"))
    elif any(f.level == "points" for f in findings):
        console.print(Text("! Fix the problems listed above before you submit: the tests do "
                           "not show them, but they will cost points.", style="bold yellow"))
    elif not getattr(result, "errors", []):
        console.print(Text("✓ Nothing besides the tests will cost points: the grader can run "
                           "and grade this notebook as it is.", style="green"))


def data_report(console: Console, report) -> None:
    for line in report.done:
        console.print(f"[green]✓[/] {line}")
    for line in report.kept:
        console.print(f"[dim]= {line} (already in place)[/]")
    for line in report.notes:
        console.print(f"  {line}")


def nbgrader_import(console: Console, report) -> None:
    for line in report.notes:
        console.print(Text(f"! {line}", style="yellow"))
    table = Table(title=f"nbgrader course {report.source_dir} → {report.assignments_dir}")
    table.add_column("assignment")
    table.add_column("from")
    table.add_column("autograded", justify="right")
    table.add_column("graded by hand", justify="right")
    table.add_column("files")
    table.add_column("")
    for item in report.imported:
        cells = len(item.manual_cells)
        manual = f"{item.manual_points:g} ({cells} cell{'s' * (cells != 1)})" if cells else "–"
        table.add_row(item.slug, f"{item.assignment}/{item.notebook}",
                      f"{item.points:g} ({len(item.tests)} test cells)", manual,
                      ", ".join(item.public_files) or "–", item.status)
    if report.imported:
        console.print(table)
        console.print("cnngrade scores the autograded test cells as `nbgrader autograde` does; "
                      "the cells graded by hand in nbgrader's formgrader are graded with "
                      "`cnngrade manual`. Next: "
                      f"`cnngrade release {report.imported[0].slug}`, `cnngrade collect`, "
                      "`cnngrade grade`, `cnngrade manual`.")
    for line in report.skipped:
        console.print(Text(f"  skipped: {line}", style="yellow"))


def feedback(console: Console, report) -> None:
    console.print(f"[green]Wrote[/] {len(report.written)} feedback page(s) for {report.slug} "
                  f"in {report.folder}")
    for student, path in report.written:
        console.print(Text(f"  {student}: {path}"))
    for problem in report.problems:
        console.print(Text(f"  ! {problem}", style="yellow"))


def _printable(text: str) -> str:
    """Student text for the terminal: no control characters (escape sequences) but newlines
    and tabs."""
    return "".join(c if c in "\n\t" or (c.isprintable() and c != "\x1b") else "?" for c in text)


def _answer_body(answer):
    """A student's answer for the terminal: code highlighted, markdown rendered (its soft line
    breaks joined), control characters replaced."""
    from rich.markdown import Markdown
    from rich.syntax import Syntax
    source = _printable(answer.source).strip() or "(empty)"
    if answer.cell.cell_type == "code":
        return Syntax(source, "python", word_wrap=True)
    return Markdown(source, hyperlinks=False)


def manual_answer(console: Console, answer, rubric, shown: str) -> None:
    from rich.panel import Panel
    cell = answer.cell
    body = _answer_body(answer)
    state = {"stale": " (graded before for an earlier, different answer: grade it again)",
             "empty": " (empty)"}.get(answer.state, "")
    console.print(Panel(body, title=Text(f"{shown}: {cell.grade_id}, {cell.points:g} points"
                                         f"{state}"), title_align="left"))
    if rubric.free:
        console.print(Text(f"No rubric items: give 0 to {rubric.points:g} points."))
    for n, item in enumerate(rubric.items, 1):
        console.print(Text(f"  {n}. {item.points:+g}  {item.text}"))
    start = "from 0" if rubric.start == "zero" else f"from {rubric.points:g}"
    console.print(Text(f"  (points {start}, kept within 0 and {rubric.points:g})"))


def manual_progress(console: Console, slug: str, rows, rubrics=None) -> None:
    """Per manual cell: answers, graded, left, empty and who graded how many; then how often
    each rubric item was applied, with its points and text."""
    table = _table(console, f"{slug}: answers graded by hand")
    table.add_column("cell", no_wrap=True, min_width=_width(r.cell.grade_id for r in rows))
    for column in ("points", "answers", "graded", "left", "empty"):
        table.add_column(column, justify="right")
    table.add_column("graders", overflow="fold")
    for row in rows:
        graders = ", ".join(f"{w} {n}" for w, n in row.graders.most_common()) or "—"
        table.add_row(row.cell.grade_id, f"{row.cell.points:g}", str(row.answers),
                      str(row.graded), str(row.left), str(row.empty), Text(graders))
    console.print(table)
    for row in rows:
        rubric = (rubrics or {}).get(row.cell.grade_id)
        known = [i.id for i in rubric.items] if rubric else []
        if not known and not row.items:
            continue
        console.print(Text(f"Rubric items applied in {row.cell.grade_id} (of {row.graded} "
                           "graded)", style="bold"))
        for item_id in known + [i for i in row.items if i not in known]:
            item = rubric.item(item_id) if rubric else None
            what = f"{item.points:+g}  {item.text}" if item else f"{item_id} (not in the rubric)"
            console.print(Text(f"  ×{row.items.get(item_id, 0):<3} {what}"))
