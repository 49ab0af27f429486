"""Release: nbgrader's preprocessors make the template; leaks are refused; the committed
templates stay in sync with the solutions."""

from __future__ import annotations

import nbformat
import pytest

from cnngrade.course.config import load_course
from cnngrade.course.errors import LeakError
from cnngrade.intake.release import release, render_release

REPO_COURSE = load_course("/nonexistent-course-dir-for-content-only")


def test_release_writes_template_and_public_files(mini_course):
    result = release(mini_course, "mini")
    names = sorted(p.relative_to(result.release_dir).as_posix() for p in result.files)
    assert names == [".cnngrade/assignment.json", "mini.ipynb", "public_tests/test_public.py"]
    nb = nbformat.read(result.release_dir / "mini.ipynb", as_version=4)
    text = nbformat.writes(nb)
    assert "BEGIN SOLUTION" not in text and "return np.asarray(a) + np.asarray(b)" not in text
    assert "raise NotImplementedError()" in text
    assert nb.metadata["cnngrade"] == {"assignment": "mini", "release": result.release}
    locked = [c for c in nb.cells if c.metadata["nbgrader"]["locked"]]
    assert locked and all("checksum" in c.metadata["nbgrader"] for c in locked)
    assert (mini_course.assignment("mini").template).read_text() == \
        (result.release_dir / "mini.ipynb").read_text()


def test_solution_outside_its_region_is_refused(mini_course):
    asg = mini_course.assignment("mini")
    nb = nbformat.read(asg.solution, as_version=4)
    nb.cells[0].source += "\n\nHint:\n```\nreturn np.asarray(a) + np.asarray(b)\n```"
    nbformat.write(nb, asg.solution)
    with pytest.raises(LeakError, match="a line of the solution"):
        release(mini_course, "mini")
    assert not (mini_course.course_dir / "release").exists()


def test_hidden_test_in_a_public_file_is_refused(mini_course):
    asg = mini_course.assignment("mini")
    hidden = (asg.suite_dir / "test_mini.py").read_text()
    (asg.public_tests_dir / "test_public.py").write_text(hidden)
    with pytest.raises(LeakError, match="hidden tests"):
        release(mini_course, "mini")


@pytest.mark.parametrize("slug", REPO_COURSE.slugs())
def test_committed_template_is_in_sync_with_the_solution(slug):
    asg = REPO_COURSE.assignment(slug)
    rendered = render_release(asg)[asg.notebook].decode()
    assert asg.template.read_text() == rendered, (
        f"{asg.template} is out of date: run `cnngrade release {slug}` and commit it")


@pytest.mark.parametrize("slug", REPO_COURSE.slugs())
def test_nothing_under_assignments_holds_hidden_material(slug):
    asg = REPO_COURSE.assignment(slug)
    for path in asg.template_dir.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"):
                assert marker not in text, f"{path} contains {marker}"
    assert not any(asg.template_dir.rglob("conv_by_hand_oracles.py"))
