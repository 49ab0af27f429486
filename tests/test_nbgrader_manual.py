"""nbgrader's manually graded cells in cnngrade: nbgrader's own test notebooks (the
`submitted-*.ipynb` fixtures shipped in nbgrader/tests/apps/files, whose source is
`submitted-unchanged.ipynb`, as in nbgrader's own autograde tests) autograded by nbgrader and
graded by hand in its gradebook exactly as formgrader writes a grade (`Grade.manual_score`), and
the same course imported, graded, then graded by hand with `cnngrade manual`: the same answers
wait for a person, the untouched ones get 0 by themselves, and every total is nbgrader's."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbgrader
import pytest
from click.testing import CliRunner
from conftest import submit
from test_nbgrader_compat import imported, run

from cnngrade.cli.main import cnngrade
from cnngrade.grading import manual
from cnngrade.grading.grade import grade
from cnngrade.grading.overrides import final_grades
from cnngrade.intake.collect import collect
from cnngrade.intake.release import release

FILES = Path(nbgrader.__file__).parent / "tests" / "apps" / "files"
FIXTURES = sorted(p.stem.removeprefix("submitted-") for p in FILES.glob("submitted-*.ipynb"))
SLUG = "ps1-p1"
# the points a TA gives each manual answer that needs one (the same in both tools)
BY_HAND = {"baz": 1.5, "quux": 2.0}


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    from nbgrader.api import Gradebook

    top = tmp_path_factory.mktemp("nbgrader-manual")
    run("quickstart", "course101", cwd=top)
    nbc = top / "course101"
    shutil.rmtree(nbc / "source" / "ps1")
    (nbc / "source" / "ps1").mkdir()
    shutil.copyfile(FILES / "submitted-unchanged.ipynb", nbc / "source" / "ps1" / "p1.ipynb")
    run("generate_assignment", "ps1", cwd=nbc)
    for name in FIXTURES:
        submit(nbc / "submitted" / name, "ps1", (FILES / f"submitted-{name}.ipynb").read_bytes(),
               "p1.ipynb")
    run("autograde", "ps1", cwd=nbc)

    course = imported(nbc, tmp_path_factory.mktemp("cnngrade-manual") / "course")
    release(course, SLUG)
    assert len(collect(course, SLUG, nbc / "submitted").added) == len(FIXTURES)
    grade(course, SLUG, workers=2)

    # nbgrader: which answers wait for a person after autograde, then formgrader's grades
    with Gradebook(f"sqlite:///{nbc / 'gradebook.db'}", course_id="course101") as gb:
        waiting = {(name, g.name) for name in FIXTURES
                   for g in gb.find_submission_notebook("p1", "ps1", name).grades
                   if g.needs_manual_grade}
        for name, cell in waiting:
            found = gb.find_grade(cell, "p1", "ps1", name)
            found.manual_score = BY_HAND[cell]
        gb.db.commit()
        theirs = {name: (gb.find_submission_notebook("p1", "ps1", name).score,
                         gb.find_submission_notebook("p1", "ps1", name).max_score)
                  for name in FIXTURES}
    return course, waiting, theirs, nbc


@pytest.mark.slow
def test_manual_cells_of_nbgraders_fixtures_graded_as_formgrader_grades_them(both):
    course, waiting, theirs, _ = both
    cells = manual.released_cells(course, SLUG)
    assert {gid: c.points for gid, c in cells.items()} == {"baz": 2.0, "quux": 3.0}
    answers = manual.answers(course, SLUG)
    assert len(FIXTURES) == 6 and len(answers) == 12   # the 12 manual answer cells
    # the answers nbgrader leaves to a person are the ones cnngrade leaves to a person; the
    # others are the released text, 0 points by themselves in both
    ours = {(a.student, a.cell.grade_id) for a in answers if a.state in manual.NEEDS_A_PERSON}
    assert ours == waiting and waiting
    assert {a.state for a in answers if (a.student, a.cell.grade_id) not in waiting} == \
        {"unchanged"}
    with pytest.raises(Exception, match="still to grade by hand|--allow-incomplete"):
        from cnngrade.views.export import export
        export(course, SLUG)

    # grade them by hand from the terminal, as a TA would (no rubric: free points)
    for student, cell in sorted(waiting):
        out = CliRunner().invoke(cnngrade, [
            "manual", SLUG, "--student", student, "--cell", cell, "--items", "",
            "--points", str(BY_HAND[cell]), "--comment", "graded as in formgrader",
            "--grader", "ta", "--course-dir", str(course.course_dir)], catch_exceptions=False)
        assert out.exit_code == 0, out.output
        assert f"{BY_HAND[cell]:g} of" in out.output
    finals = {g.student: (g.final_score, g.max_score) for g in final_grades(course, SLUG)}
    assert finals == theirs
    assert all(not g.manual.incomplete for g in final_grades(course, SLUG))


@pytest.mark.slow
def test_a_rubric_added_to_an_imported_assignment_survives_a_new_import(both):
    from cnngrade.grading.nbgrader_compat import import_nbgrader
    course, _, _, nbc = both
    toml = course.assignment(SLUG).template_dir / "assignment.toml"
    assert "cnngrade manual ps1-p1" in toml.read_text()
    toml.write_text(toml.read_text() + '\n# the written answer\n[manual.baz]\n'
                    '[[manual.baz.items]]\ntext = "names the answer"\npoints = 2\n')
    import_nbgrader(course, nbc)
    assert "[manual.baz]" in toml.read_text() and "# the written answer" in toml.read_text()
    assert manual.rubrics(course, SLUG)["baz"].items[0].text == "names the answer"
