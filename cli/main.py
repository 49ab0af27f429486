"""`cnngrade`: thin click commands over the engine's public functions (`cnngrade`, the folder
`autograder/`), rendered with rich."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from cnngrade import CnnGradeError

from . import render

console = Console()
errors = Console(stderr=True)

course_option = click.option(
    "--course-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("course"),
    show_default=True, help="The course workspace: store, gradebook, results, cnngrade.toml.")


def _course(course_dir: Path):
    from cnngrade import load_course
    return load_course(course_dir)


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[last]}"), console=console,
                    transient=True)


@click.group()
@click.version_option(package_name="cnngrade")
def cnngrade() -> None:
    """Release, collect, grade and report CNN course notebooks."""


@cnngrade.command("release")
@click.argument("slug")
@click.option("--zip", "as_zip", is_flag=True,
              help="Also write DIR/release/SLUG.zip, the folder as one archive for the LMS.")
@course_option
def release_cmd(slug: str, as_zip: bool, course_dir: Path) -> None:
    """Turn solutions/SLUG.ipynb into the student notebook and write DIR/release/SLUG/: the
    notebook, the public files and .cnngrade/assignment.json, what `cnngrade check` needs on a
    student's machine."""
    from cnngrade import release
    result = release(_course(course_dir), slug, zip=as_zip)
    render.release(console, result)


@cnngrade.group("data")
def data_group() -> None:
    """Provision the datasets the assignments load, offline."""


@data_group.command("prepare")
@click.option("--only", "only", multiple=True, metavar="DATASET",
              help="Prepare only this dataset (fashion-mnist, two-class, transfer); repeatable.")
@click.option("--hidden/--public-only", "hidden", default=None,
              help="Also write the hidden test splits the grader measures accuracy on (a "
                   "grading machine). Default: only where cnngrade.toml's [data] hidden names "
                   "their folder; never on a student's machine.")
@course_option
def data_prepare_cmd(only: tuple[str, ...], hidden: bool | None, course_dir: Path) -> None:
    """Put Fashion-MNIST in Keras's cache, write the two-class folder dataset and pretrain the
    transfer-learning course base; with --hidden, also the test splits only the grader reads.
    Running it again changes nothing."""
    from cnngrade import DATASETS, prepare_data
    layout = _course(course_dir).data
    with _progress() as progress:
        task = progress.add_task("data", total=None, last="")

        def on_progress(what: str, done: int, total: int) -> None:
            progress.update(task, description=what, completed=done, total=total)

        report = prepare_data(layout, on_progress, only or DATASETS, hidden)
    render.data_report(console, report)


@cnngrade.command("collect")
@click.argument("slug")
@click.argument("source", type=click.Path(path_type=Path))
@course_option
def collect_cmd(slug: str, source: Path, course_dir: Path) -> None:
    """Store SOURCE's submissions: a folder <student>/<nb>.ipynb, an LMS zip or an nbgrader
    exchange inbound/ folder."""
    from cnngrade import collect
    render.collect(console, collect(_course(course_dir), slug, source))


def _with_progress(run, *args, steps: bool = False, **kwargs):
    """Call `run` (grade or demo) with a rich progress bar fed by its callbacks."""
    with _progress() as progress:
        task = progress.add_task("grading", total=None, last="")

        def on_start(total: int) -> None:
            progress.update(task, total=total)

        def on_done(outcome) -> None:
            res = outcome.results
            progress.update(task, advance=1,
                            last=f"{outcome.student}: {res['score']:g}/{res['max_score']:g}")

        def on_step(message: str) -> None:
            progress.console.print(f"[bold cyan]→[/] {message}")

        def on_plan(line: str) -> None:
            from rich.markup import escape
            progress.console.print(escape(line), highlight=False)

        if steps:
            kwargs["on_step"] = on_step
        return run(*args, on_start=on_start, on_done=on_done, on_plan=on_plan, **kwargs)


@cnngrade.command("grade")
@click.argument("slug")
@click.option("--student", help="Grade only this student's latest submission.")
@click.option("--workers", type=click.IntRange(min=1), help="Submissions graded at once "
              "(default: chosen from the cores, the memory and the assignment's limits).")
@click.option("--force", is_flag=True, help="Grade again even where a cached result exists.")
@click.option("--runner", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="local: worker processes here; ray: a Ray cluster.")
@click.option("--address", help="The Ray cluster (e.g. ray://head:10001 or auto); default: a "
              "local Ray instance started for this run.")
@click.option("--keras-backend", type=click.Choice(["tensorflow", "jax", "torch"]),
              help="KERAS_BACKEND of the kernels and the checks (default: the assignment's "
                   "keras_backend, else tensorflow).")
@click.option("--gpu-slots", type=click.IntRange(min=1), help="Submissions sharing one GPU at "
              "once, each capped to its share of the GPU's memory (default: the assignment's "
              "gpu_slots, else 1).")
@course_option
def grade_cmd(slug: str, student: str | None, workers: int | None, force: bool, runner: str,
              address: str | None, keras_backend: str | None, gpu_slots: int | None,
              course_dir: Path) -> None:
    """Execute each latest submission in the sandbox and run the hidden tests."""
    from cnngrade import grade
    summary = _with_progress(grade, _course(course_dir), slug, student=student,
                             workers=workers, force=force, runner=runner, address=address,
                             keras_backend=keras_backend, gpu_slots=gpu_slots)
    render.grade(console, summary)


@cnngrade.command("report")
@click.argument("slug")
@click.option("--student", metavar="ID", help="One student's full result: every test with "
              "its message, the notebook's problems, timing, submission time, late or not.")
@click.option("--failed", is_flag=True, help="Only the students who lost points or could not "
              "be graded, the lowest first, with each failed test's message.")
@click.option("--test", "test", metavar="NAME", help="Only this test: its pass rate and who "
              "failed it, with each message.")
@click.option("--plot", "plot", is_flag=False, flag_value="", default=None, metavar="[FILE]",
              help="Also write a PNG of the class (score histogram, pass rate per test) to "
                   "FILE (default DIR/reports/SLUG.png).")
@course_option
def report_cmd(slug: str, student: str | None, failed: bool, test: str | None,
               plot: str | None, course_dir: Path) -> None:
    """Class summary: score histogram, pass rate per test (most failed first), submissions
    that could not be graded, the slowest, the lowest scores; --failed, --test NAME and
    --student ID show more."""
    from cnngrade import class_report, write_plot
    if student is not None and (failed or test is not None):
        raise click.UsageError("--student shows one student's full result; use it without "
                               "--failed and --test.")
    course = _course(course_dir)
    rep = class_report(course, slug, student)
    render.report(console, rep, student, failed=failed, test=test)
    if plot is not None:
        whole = rep if student is None else class_report(course, slug)
        path = write_plot(course, whole, Path(plot) if plot else None)
        console.print(f"[green]Wrote[/] {path}", highlight=False)


@cnngrade.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Where to listen; other than loopback only with --allow-remote.")
@click.option("--port", type=int, default=0, show_default=True, help="0: a free port.")
@click.option("--grader", default=None, help="The name recorded with each write (default: "
              "$USER; each TA can set theirs in the page).")
@click.option("--allow-remote", is_flag=True, help="Let --host be an address other machines "
              "can reach (plain HTTP: anyone with the URL can grade).")
@course_option
def serve_cmd(host: str, port: int, grader: str | None, allow_remote: bool,
              course_dir: Path) -> None:
    """The TA desk: a local web app for the report, the checks, each student, grading the
    written answers by question and overrides. Prints the URL to open (its token is required);
    Ctrl-C stops it."""
    from cnngrade import serve_desk

    def ready(served) -> None:
        if served.remote:
            errors.print(f"[bold yellow]Warning:[/] the desk listens on {host}: any machine "
                         "that can reach it and has the URL can read and change grades "
                         "(plain HTTP).", highlight=False)
        console.print(f"The desk for {course_dir} is at\n  {served.url}\nOpen it in a "
                      "browser (the token in it is required). Ctrl-C stops it.",
                      highlight=False, markup=False, soft_wrap=True)
    serve_desk(_course(course_dir), host, port, grader, allow_remote, on_ready=ready)
    console.print("Stopped.", highlight=False, markup=False)


@cnngrade.command("export")
@click.argument("slug")
@click.option("--format", "fmt", type=click.Choice(["csv", "canvas", "moodle", "gradescope"]),
              default="csv", show_default=True,
              help="csv: cnngrade's table; canvas / moodle: the LMS's grade import CSV; "
                   "gradescope: <folder>/<student>/results.json.")
@click.option("-o", "--output", default="-", show_default=True,
              help="File to write, - for stdout; for gradescope, a folder.")
@click.option("--allow-incomplete", is_flag=True, help="Export even while answers graded by "
              "hand are left to grade (they count 0; the csv says how many are left).")
@course_option
def export_cmd(slug: str, fmt: str, output: str, allow_incomplete: bool,
               course_dir: Path) -> None:
    """Export the final grades of SLUG (overrides and late penalties applied). CSV header:
    student,assignment,score,max_score,percent,...; see the README for canvas and moodle."""
    from cnngrade import export, write_export, write_gradescope
    course = _course(course_dir)
    try:
        if fmt == "gradescope":
            if output == "-":
                raise CnnGradeError("The gradescope export is one results.json per student; "
                                    "give a folder with -o (for example -o gradescope/).")
            written = write_gradescope(course, slug, Path(output), allow_incomplete)
            errors.print(f"Wrote {len(written)} results.json file(s) under {output}",
                         highlight=False, markup=False)
            return
        if output == "-":
            click.echo(export(course, slug, fmt, allow_incomplete), nl=False)
        else:
            write_export(course, slug, fmt, Path(output), allow_incomplete)
            errors.print(f"Wrote {output}", highlight=False, markup=False)
    except OSError as exc:
        raise CnnGradeError(f"Cannot write {exc.filename or output} ({exc.strerror or exc}); "
                            "choose a path you can write to.") from None


@cnngrade.command("override")
@click.argument("slug")
@click.argument("student")
@click.argument("test")
@click.option("--points", type=float, help="The test's new points (0 to its maximum).")
@click.option("--clear", is_flag=True, help="Return the test to its automatic points.")
@click.option("--reason", required=True, help="Why (kept in the gradebook's audit trail).")
@course_option
def override_cmd(slug: str, student: str, test: str, points: float | None, clear: bool,
                 reason: str, course_dir: Path) -> None:
    """Set TEST's points for STUDENT's latest graded submission of SLUG (or --clear it). Every
    change is kept in the audit trail; an override holds for that submission only."""
    from rich.markup import escape

    from cnngrade import clear_override, set_override
    if clear == (points is not None):
        raise CnnGradeError("Give either --points P (the test's new points) or --clear (back to "
                            "the automatic points), not both and not neither.")
    course = _course(course_dir)
    if clear:
        done = clear_override(course, slug, student, test, reason)
        what = f"cleared: {test} is back to its automatic {done.auto:g}"
    else:
        done = set_override(course, slug, student, test, points, reason)
        what = f"{test}: {done.previous:g} → {points:g}"
    grade = done.grade
    console.print(escape(f"Override {what} of {done.max_points:g} points for {grade.student} "
                         f"({slug}, submission {done.override.sha256[:12]}); final score "
                         f"{grade.final_score:g}/{grade.max_score:g}."), highlight=False)
    for line in grade.adjustments:
        console.print(escape(f"  {line['kind']}: {line['text']}"), highlight=False)


@cnngrade.command("manual")
@click.argument("slug")
@click.option("--cell", metavar="ID", help="Only this manually graded cell (its grade_id).")
@click.option("--student", metavar="ID", help="Only this student's answers.")
@click.option("--anonymous", is_flag=True, help="Hide the students' names while grading.")
@click.option("--list", "show_list", is_flag=True, help="Show the progress of each manual cell "
              "(graded, left, empty, who graded, how often each rubric item was applied).")
@click.option("--items", metavar="N,N", help="Grade the next answer without prompting: the "
              "rubric items by number (empty for none).")
@click.option("--points", type=float, default=None, help="Points for a cell without rubric "
              "items; an adjustment for one with items.")
@click.option("--comment", default=None, help="A comment for the student.")
@click.option("--edit-item", nargs=2, metavar="ITEM POINTS", default=None,
              help="Change a rubric item's points (of --cell); every answer it was applied to "
                   "follows, and the change is recorded.")
@click.option("--grader", default=None, help="Your name in the audit trail (default: $USER).")
@course_option
def manual_cmd(slug: str, cell: str | None, student: str | None, anonymous: bool,
               show_list: bool, items: str | None, points: float | None, comment: str | None,
               edit_item: tuple[str, str] | None, grader: str | None, course_dir: Path) -> None:
    """Grade the answers of SLUG that a person grades (written explanations, tasks): shows the
    next ungraded answer with its rubric numbered, and takes the items by number and a comment.
    Every grade is kept in the gradebook's audit trail."""
    from cnngrade import (
        edit_rubric_item,
        grade_answer,
        manual_progress,
        manual_rubrics,
        next_ungraded,
        whoami,
    )
    course = _course(course_dir)
    who = grader or whoami()
    if show_list:
        render.manual_progress(console, slug, manual_progress(course, slug),
                               manual_rubrics(course, slug))
        return
    if edit_item is not None:
        if cell is None:
            raise CnnGradeError("--edit-item needs --cell ID: the cell whose rubric it is.")
        try:
            new_points = float(edit_item[1])
        except ValueError:
            raise CnnGradeError(f"--edit-item {edit_item[0]} {edit_item[1]}: the points should "
                                "be a number.") from None
        edit = edit_rubric_item(course, slug, cell, edit_item[0], new_points, who)
        console.print(f"Rubric item {edit.item} of {cell}: {edit.old_points:g} → "
                      f"{edit.new_points:g} points, for every answer it was applied to.",
                      highlight=False, markup=False)
        return
    names: dict[str, str] = {}
    while True:
        answer = next_ungraded(course, slug, cell, student)
        if answer is None and cell is not None and student is not None:
            answer = _regrade(course, slug, cell, student)   # grade it again: a new row
        if answer is None:
            console.print(f"No answer of {slug} is left to grade"
                          f"{' in ' + cell if cell else ''}"
                          f"{' for ' + student if student else ''}.", highlight=False,
                          markup=False)
            return
        rubric = manual_rubrics(course, slug)[answer.cell.grade_id]
        shown = names.setdefault(answer.student, f"student {len(names) + 1}") if anonymous \
            else answer.student
        render.manual_answer(console, answer, rubric, shown)
        if items is None and not sys.stdin.isatty():
            raise CnnGradeError("No terminal to ask in: give --items (and --points, "
                                "--comment) to grade without prompting.")
        chosen = items if items is not None else click.prompt(
            "Items (numbers, comma-separated; empty: none; q: quit)", default="",
            show_default=False)
        if chosen.strip().lower() == "q":
            return
        picked = _picked(chosen, rubric)
        given = points
        if given is None and rubric.free and items is None:
            given = click.prompt(f"Points (0 to {rubric.points:g})", type=float)
        note = comment if comment is not None else (
            "" if items is not None else click.prompt("Comment", default="", show_default=False))
        done = grade_answer(course, slug, answer.student, answer.cell.grade_id, picked,
                            note, who, answer.version, adjustment=given or 0.0)
        console.print(f"{shown}, {done.cell.grade_id}: {done.points:g} of "
                      f"{done.cell.points:g} points.", highlight=False, markup=False)
        if items is not None:   # one answer per call without prompting
            return


def _regrade(course, slug: str, cell: str, student: str):
    """With --cell and --student, an answer already graded is shown to be graded again (the
    new grade is a new row of the audit trail; the old one stays in its history)."""
    from cnngrade import manual_answers
    found = manual_answers(course, slug, cell, student)
    if found:
        console.print(Text(f"Already graded ({found[0].points:g} points): a new grade replaces "
                           "it, and the old one stays in the audit trail.", style="dim"))
        return found[0]
    return None


def _picked(chosen: str, rubric) -> list[str]:
    picked = []
    for part in (p.strip() for p in chosen.replace(" ", ",").split(",")):
        if not part:
            continue
        if not part.isdigit() or not 1 <= int(part) <= len(rubric.items):
            raise CnnGradeError(f"{part!r} is not an item number of this rubric (1 to "
                                f"{len(rubric.items)}).")
        picked.append(rubric.items[int(part) - 1].id)
    return picked


@cnngrade.command("feedback")
@click.argument("slug")
@click.option("--student", help="Write only this student's page.")
@course_option
def feedback_cmd(slug: str, student: str | None, course_dir: Path) -> None:
    """Write DIR/feedback/<student>/SLUG.html for each graded student: score, checks, layer
    tables, learning curves and the executed notebook, one self-contained page."""
    from cnngrade import write_feedback
    with console.status("Writing feedback pages..."):
        report = write_feedback(_course(course_dir), slug, student)
    render.feedback(console, report)


@cnngrade.command("check")
@click.argument("notebook", type=click.Path(path_type=Path))
@click.option("--release", "release", type=click.Path(file_okay=False, path_type=Path),
              help="The released assignment folder (with .cnngrade/assignment.json); default: "
                   "the notebook's own folder.")
@course_option
def check_cmd(notebook: Path, release: Path | None, course_dir: Path) -> None:
    """Run the public tests of NOTEBOOK's assignment against it in the grader's sandbox, and
    say what else would keep it from being graded or cost it points (for students). Needs
    only cnngrade and the folder the instructor released; without one, the course's own
    assignments (the instructor's machine).

    Exit code 0 when the checks ran (whatever they found), 1 when the grader's set-up kept
    them from running, 2 when NOTEBOOK is not a usable notebook of the course."""
    from cnngrade import check_notebook, find_release
    course = None
    if find_release(notebook, release) is None:
        course = _course(course_dir)
    with console.status("Running your notebook in the sandbox..."):
        result = check_notebook(notebook, course, release)
    render.check(console, result)
    if result.errors:
        sys.exit(1)


@cnngrade.command("demo")
@click.option("--workers", type=click.IntRange(min=1))
@click.option("--assignment", "slug", default="conv-by-hand", show_default=True,
              help="Which assignment's bundled samples (solutions/samples/SLUG/) to grade; "
                   "keras-convnet and augmentation train networks (minutes).")
@course_option
def demo_cmd(workers: int | None, slug: str, course_dir: Path) -> None:
    """Release, collect the bundled samples, grade, report and write the feedback pages."""
    from cnngrade import demo
    result = _with_progress(demo, _course(course_dir), workers=workers, slug=slug, steps=True)
    render.release(console, result.release)
    render.collect(console, result.collect)
    render.grade(console, result.grade)
    render.report(console, result.report, None)
    render.feedback(console, result.feedback)


@cnngrade.command("import-nbgrader")
@click.argument("nbgrader_course_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--assignment", "only", multiple=True, metavar="NAME",
              help="Import only this nbgrader assignment (source/NAME/); repeatable.")
@course_option
def import_nbgrader_cmd(nbgrader_course_dir: Path, only: tuple[str, ...],
                        course_dir: Path) -> None:
    """Bring in an nbgrader course: each source/<assignment>/<nb>.ipynb becomes the assignment
    <assignment>-<nb>, graded by its own test cells with nbgrader's rules."""
    from cnngrade import import_nbgrader
    render.nbgrader_import(console, import_nbgrader(_course(course_dir), nbgrader_course_dir,
                                                    only))


def main() -> None:
    try:
        cnngrade.main(standalone_mode=False)
    except CnnGradeError as exc:
        errors.print(f"[bold red]Error:[/] {exc}", highlight=False)
        sys.exit(2)
    except click.exceptions.Abort:
        errors.print("Aborted.")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        errors.print("Interrupted; run the same command again to finish the rest.")
        sys.exit(130)
    except Exception as exc:  # a bug of ours: one line, the traceback only on request
        if os.environ.get("CNNGRADE_DEBUG"):
            traceback.print_exc()
        errors.print(f"[bold red]Internal error:[/] {type(exc).__name__}: {exc} "
                     "(set CNNGRADE_DEBUG=1 to see the traceback, and please report it)",
                     highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
