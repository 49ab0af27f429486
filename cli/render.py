"""rich renderings of the data the `autograder` functions return."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text


def _first_line(text: str, width: int = 160) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def release(console: Console, result) -> None:
    console.print(f"[green]Released[/] {result.slug} → {result.release_dir}")
    for path in result.files:
        console.print(f"  {path}")


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


def report(console: Console, rep, student: str | None) -> None:
    console.rule(f"{rep.title} ({rep.slug})")
    if not rep.rows:
        console.print("No graded submissions yet: run `cnngrade grade` first.")
        return
    if student is None:
        summary = Table(title="Class summary", show_header=False)
        summary.add_row("graded", str(rep.count))
        summary.add_row("mean", f"{rep.mean:.2f} / {rep.max_score:g}")
        summary.add_row("median", f"{rep.median:.2f} / {rep.max_score:g}")
        if rep.ungraded:
            summary.add_row("not graded yet", ", ".join(rep.ungraded))
        console.print(summary)
        dist = Table(title="Distribution")
        dist.add_column("score")
        dist.add_column("students", justify="right")
        dist.add_column("")
        for label, count in rep.distribution:
            dist.add_row(label, str(count), "█" * count)
        console.print(dist)

    if student is None:
        _per_test(console, rep)
        _per_student(console, rep)
    else:
        for row in rep.rows:
            _one_student(console, row)
    ungradable = [row for row in rep.rows if not row.results.get("tests")]
    for row in ungradable:
        console.print(Text.assemble((f"{row.submission.student}: ", "bold red"),
                                    _first_line(row.results.get("output", ""), 300)))
    notes = [(row.submission.student, p) for row in rep.rows if row.results.get("tests")
             for p in row.results.get("extra_data", {}).get("problems", [])]
    if notes:
        table = Table(title="Notebook problems")
        table.add_column("student", style="bold")
        table.add_column("problem", overflow="fold")
        for who, problem in notes:
            table.add_row(who, Text(problem))   # may quote the student's text
        console.print(table)
    if rep.failures:
        table = Table(title="Failures")
        table.add_column("student", style="bold")
        table.add_column("test")
        table.add_column("points", justify="right")
        table.add_column("message", overflow="fold")
        for failure in rep.failures:
            table.add_row(failure.student, failure.test, f"{failure.points:g}",
                          Text(_first_line(failure.message, 300) if student is None
                               else failure.message.strip()))
        console.print(table)


def _per_test(console: Console, rep) -> None:
    stats: dict[str, list] = {}
    for row in rep.rows:
        for test in row.results.get("tests", []):
            entry = stats.setdefault(test["name"], [test["max_score"], 0, 0])
            entry[1] += test["status"] == "passed"
            entry[2] += 1
    if not stats:
        return
    table = Table(title="Per test")
    table.add_column("test")
    table.add_column("points", justify="right")
    table.add_column("passed", justify="right")
    table.add_column("rate", justify="right")
    for name, (points, passed, total) in stats.items():
        table.add_row(name, f"{points:g}", f"{passed}/{total}", f"{100 * passed / total:.0f}%")
    console.print(table)


def _per_student(console: Console, rep) -> None:
    table = Table(title="Per student")
    table.add_column("student", style="bold")
    table.add_column("score", justify="right")
    table.add_column("status")
    table.add_column("failed checks", overflow="fold")
    for row in rep.rows:
        tests = row.results.get("tests", [])
        failed = [t["name"] for t in tests if t["status"] != "passed"]
        status = row.status + (" (late)" if row.submission.late else "")
        style = {"graded": "green", "ungradable": "yellow"}.get(row.status, "red")
        detail = ", ".join(failed) if tests else "(not gradable: see below)"
        table.add_row(row.submission.student, f"{row.score:g}/{row.max_score:g}",
                      Text(status, style=style), detail or "–")
    console.print(table)


def _one_student(console: Console, row) -> None:
    res = row.results
    sub = row.submission
    console.print(Text.assemble((sub.student, "bold"), f": {row.score:g}/{row.max_score:g} ",
                                f"({row.status}{', late' if sub.late else ''}; submitted "
                                f"{sub.submitted_at}, graded {row.graded_at})"))
    table = Table(show_lines=True)
    table.add_column("test")
    table.add_column("points", justify="right")
    table.add_column("result")
    table.add_column("message", overflow="fold")
    for test in res.get("tests", []):
        ok = test["status"] == "passed"
        table.add_row(f"{test['name']}\n[dim]{test.get('description', '')}[/]",
                      f"{test['score']:g}/{test['max_score']:g}",
                      "[green]passed[/]" if ok else "[red]failed[/]",
                      Text(test.get("output", "").strip()))
    if res.get("tests"):
        console.print(table)
    for test in res.get("tests", []):   # layer tables, parameter counts, accuracy figures
        for data in test.get("extra_data", {}).get("tables", []):
            extra = Table(title=f"{data.get('title', '')} [dim]({test['name']})[/]")
            for column in data.get("columns", []):
                extra.add_column(str(column), overflow="fold")
            for values in data.get("rows", []):
                extra.add_row(*(f"{v:,}" if isinstance(v, int) and not isinstance(v, bool)
                                else Text(str(v)) for v in values))   # e.g. a layer's name
            console.print(extra)


def check(console: Console, result) -> None:
    table = Table(title=f"Public tests for {result.slug} ({result.notebook})")
    table.add_column("test")
    table.add_column("result")
    table.add_column("hint", overflow="fold")
    for test in result.tests:
        ok = test.status == "passed"
        table.add_row(test.description or test.name,
                      "[green]passed[/]" if ok else "[red]failed[/]",
                      "" if ok else Text(test.output.strip()))
    console.print(table)
    passed = sum(1 for t in result.tests if t.status == "passed")
    console.print(f"{passed} of {len(result.tests)} public tests passed. The hidden tests used "
                  "for grading check more than these.")
    for problem in result.problems:
        console.print(Text(f"! {problem}", style="yellow"))


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
    table.add_column("by hand in nbgrader", justify="right")
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
                      "the points graded by hand stay with nbgrader's formgrader. Next: "
                      f"`cnngrade release {report.imported[0].slug}`, `cnngrade collect`, "
                      "`cnngrade grade`.")
    for line in report.skipped:
        console.print(Text(f"  skipped: {line}", style="yellow"))
