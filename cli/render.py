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

    names = []
    for row in rep.rows:
        for test in row.results.get("tests", []):
            if test["name"] not in names:
                names.append(test["name"])
    table = Table(title="Results per student and test")
    table.add_column("student", style="bold")
    table.add_column("score", justify="right")
    table.add_column("status")
    for name in names:
        table.add_column(name, justify="center", overflow="fold")
    for row in rep.rows:
        by_name = {t["name"]: t for t in row.results.get("tests", [])}
        cells = []
        for name in names:
            test = by_name.get(name)
            if test is None:
                cells.append("–")
            elif test["status"] == "passed":
                cells.append(f"[green]{test['score']:g}[/]")
            else:
                cells.append(f"[red]{test['score']:g}/{test['max_score']:g}[/]")
        status = row.status + (" (late)" if row.submission.late else "")
        table.add_row(row.submission.student, f"{row.score:g}/{row.max_score:g}", status, *cells)
    console.print(table)

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
            table.add_row(who, problem)
        console.print(table)
    failures = [f for f in rep.failures if f.test != "(whole notebook)"]
    if failures:
        table = Table(title="Failures")
        table.add_column("student", style="bold")
        table.add_column("test")
        table.add_column("points", justify="right")
        table.add_column("message", overflow="fold")
        for failure in failures:
            table.add_row(failure.student, failure.test, f"{failure.points:g}",
                          Text(_first_line(failure.message, 300) if student is None
                               else failure.message.strip()))
        console.print(table)


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
