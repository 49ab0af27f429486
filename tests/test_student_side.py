"""The student side: a released folder that checks itself (its manifest), the release archive,
a wheel that is the engine and not the course, and `cnngrade check` from that wheel alone in a
fresh virtual environment, where no repository exists."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import REPO, solution_sources, strip_markers
from test_cli import cnngrade

from cnngrade.course.config import load_course
from cnngrade.course.errors import CnnGradeError
from cnngrade.intake.notebook import grade_id
from cnngrade.intake.release import find_leaks, release, render_release
from cnngrade.intake.release_manifest import MANIFEST, read_release, release_id
from cnngrade.sandbox import walls
from cnngrade.views.student_check import SANDBOX_NOTES, check_notebook

REPO_COURSE = load_course("/nonexistent-course-dir-for-content-only")


def answered(notebook: Path, answers: dict[str, str]) -> nbformat.NotebookNode:
    """The released notebook at `notebook` with its answer cells filled from `answers`."""
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id(cell) in answers:
            cell.source = strip_markers(answers[grade_id(cell)])
    return nb


def student_folder(course, slug: str, where: Path) -> Path:
    """What a student has after unpacking the release archive: `where/<slug>/`, away from the
    course and the repository."""
    result = release(course, slug, update_template=False, zip=True)
    with zipfile.ZipFile(result.archive) as archive:
        archive.extractall(where)
    return where / slug


# -- the manifest and the archive ------------------------------------------------------------
def test_release_writes_the_manifest_and_the_archive(mini_course):
    result = release(mini_course, "mini", zip=True)
    names = sorted(p.relative_to(result.release_dir).as_posix() for p in result.files)
    assert names == [".cnngrade/assignment.json", "mini.ipynb", "public_tests/test_public.py"]
    nb_text = (result.release_dir / "mini.ipynb").read_text()
    manifest = json.loads((result.release_dir / MANIFEST).read_text())
    # the template in the manifest is the released notebook, nothing more
    assert manifest["template"] == json.loads(nb_text)
    assert manifest["release"] == result.release == \
        json.loads(nb_text)["metadata"]["cnngrade"]["release"]
    assert {k: manifest[k] for k in ("slug", "notebook", "points", "data", "public_files")} == {
        "slug": "mini", "notebook": "mini.ipynb", "points": 4.0, "data": [],
        "public_files": ["public_tests/test_public.py"]}
    assert manifest["public_tests"] == [{"file": "public_tests/test_public.py",
                                         "name": "test_add_small", "points": 0.0}]
    assert manifest["limits"]["cell_timeout"] == mini_course.assignment("mini").limits.cell_timeout
    # the archive holds the same bytes under mini/, and is the same archive when made again
    with zipfile.ZipFile(result.archive) as archive:
        assert sorted(archive.namelist()) == [f"mini/{n}" for n in names]
        for name in names:
            assert archive.read(f"mini/{name}") == (result.release_dir / name).read_bytes()
    first = result.archive.read_bytes()
    assert release(mini_course, "mini", zip=True).archive.read_bytes() == first


def test_the_release_id_changes_with_what_is_handed_out(mini_course):
    asg = mini_course.assignment("mini")
    before = json.loads(render_release(asg)[MANIFEST.as_posix()])["release"]
    (asg.public_tests_dir / "test_public.py").write_text(
        (asg.public_tests_dir / "test_public.py").read_text() + "\n# a typo fixed\n")
    after = json.loads(render_release(asg)[MANIFEST.as_posix()])["release"]
    assert before != after and len(after) == 12


def test_the_leak_refusal_reads_the_manifest(mini_course):
    """A solution line or the hidden tests inside the manifest's strings (JSON-escaped there)
    are found as in a notebook: the refusal covers every released file."""
    asg = mini_course.assignment("mini")
    files = render_release(asg)
    manifest = json.loads(files[MANIFEST.as_posix()])
    manifest["title"] = "Mini\n    return np.asarray(a) + np.asarray(b)\n"
    leaks = find_leaks({MANIFEST.as_posix(): json.dumps(manifest)}, asg)
    assert len(leaks) == 1 and "a line of the solution" in leaks[0]
    hidden = (asg.suite_dir / "test_mini.py").read_text()
    manifest = json.loads(files[MANIFEST.as_posix()])
    manifest["public_tests"].append({"file": "x.py", "name": hidden, "points": 1})
    leaks = find_leaks({MANIFEST.as_posix(): json.dumps(manifest)}, asg)
    assert len(leaks) == 1 and "lines of the hidden tests" in leaks[0]
    # and release refuses it: a manifest built from a solution that leaks into a locked cell
    nb = nbformat.read(asg.solution, as_version=4)
    nb.cells[0].source += "\n\n    return np.asarray(a) + np.asarray(b)\n"
    nbformat.write(nb, asg.solution)
    from cnngrade.course.errors import LeakError
    with pytest.raises(LeakError):
        release(mini_course, "mini", zip=True)
    assert not (mini_course.course_dir / "release").exists()


@pytest.mark.parametrize("slug", REPO_COURSE.slugs())
def test_every_assignments_manifest_holds_nothing_hidden(slug):
    asg = REPO_COURSE.assignment(slug)
    files = render_release(asg)
    texts = {name: data.decode() for name, data in files.items()}
    assert find_leaks(texts, asg) == []
    manifest = json.loads(files[MANIFEST.as_posix()])
    assert manifest["template"] == json.loads(files[asg.notebook])
    assert sorted(manifest) == sorted(
        ["format", "cnngrade", "release", "slug", "title", "notebook", "points", "gpu", "data",
         "limits", "public_files", "public_tests", "template"])
    assert set(manifest["public_files"]) == set(files) - {asg.notebook, MANIFEST.as_posix()}
    assert manifest["release"] == release_id(nbformat.from_dict(manifest["template"]),
                                             {k: files[k] for k in manifest["public_files"]})


def test_a_manifest_that_cannot_be_used_is_one_sentence(mini_course, tmp_path):
    folder = Path(release(mini_course, "mini").release_dir)
    path = folder / MANIFEST
    good = json.loads(path.read_text())
    cases = {"garbage": "{not json", "not ours": json.dumps([1, 2]),
             "newer": json.dumps({**good, "format": 99, "cnngrade": "9.0.0"}),
             "damaged": json.dumps({k: v for k, v in good.items() if k != "template"})}
    said = {}
    for what, text in cases.items():
        path.write_text(text)
        with pytest.raises(CnnGradeError) as info:
            read_release(folder)
        said[what] = str(info.value)
        assert "\n" not in said[what] and str(path) in said[what], said[what]
    assert "download the assignment again" in said["garbage"]
    assert "newer than the cnngrade" in said["newer"] and "upgrade" in said["newer"]
    path.write_text(json.dumps({**good, "cnngrade": "0.0.1"}))
    assert "released with cnngrade 0.0.1" in read_release(folder).notes[0]


def test_a_notebook_of_another_assignment_is_one_sentence(mini_course, tmp_path):
    folder = student_folder(mini_course, "mini", tmp_path)
    nb = nbformat.read(folder / "mini.ipynb", as_version=4)
    nb.metadata["cnngrade"]["assignment"] = "conv-by-hand"
    nbformat.write(nb, folder / "mine.ipynb")
    with pytest.raises(CnnGradeError, match="is a notebook of 'conv-by-hand', but .* is the "
                                            "release of 'mini'"):
        check_notebook(folder / "mine.ipynb")
    lone = _copy(folder / "mini.ipynb", tmp_path / "elsewhere")
    with pytest.raises(CnnGradeError, match="no release manifest beside"):
        check_notebook(lone)
    with pytest.raises(CnnGradeError, match="is not a released assignment folder"):
        check_notebook(folder / "mini.ipynb", release=tmp_path)


def _copy(source: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(source, folder))


# -- check from the released folder ----------------------------------------------------------
@pytest.mark.slow
def test_check_needs_only_the_released_folder(mini_course, tmp_path):
    """The student's folder, unpacked from the archive: no course directory, no solution,
    no hidden suite; the check gives the same verdicts as from the course."""
    folder = student_folder(mini_course, "mini", tmp_path / "student")
    answers = solution_sources(mini_course, "mini")
    nbformat.write(answered(folder / "mini.ipynb", answers), folder / "mini.ipynb")
    result = check_notebook(folder / "mini.ipynb")
    assert result.release == folder.resolve()
    assert [(t.name, t.status) for t in result.tests] == [("test_add_small", "passed")]
    assert result.findings == [] and result.errors == []
    # the command line, run in the folder, with no course anywhere
    proc = cnngrade("check", "mini.ipynb", "--course-dir", tmp_path / "no-course",
                    cwd=folder)
    assert proc.returncode == 0, proc
    assert "1 of 1 public tests passed" in " ".join(proc.stdout.split())
    assert not (tmp_path / "no-course").exists()

    # an edited locked cell, in a notebook of an older release: both said, neither fatal
    nb = answered(folder / "mini.ipynb", answers)
    nb.metadata["cnngrade"]["release"] = "0123456789ab"
    locked = next(c for c in nb.cells if c.metadata["nbgrader"].get("locked")
                  and c.cell_type == "code")
    locked.source += "\nprint('mine')"
    nbformat.write(nb, folder / "mini.ipynb")
    result = check_notebook(folder / "mini.ipynb")
    whats = " ".join(f.what + " " + f.advice for f in result.findings)
    assert "another release of 'mini' (release 0123456789ab)" in whats
    assert "was edited" in whats and "in the archive your instructor handed out" in whats
    assert [(t.name, t.status) for t in result.tests] == [("test_add_small", "passed")]


@pytest.mark.slow
def test_check_without_bubblewrap_says_so_and_runs(mini_course, tmp_path, monkeypatch):
    """As on a laptop without bubblewrap or user namespaces (and, as on macOS, without
    util-linux's prlimit): one sentence about the weaker mode, and the same verdicts."""
    folder = student_folder(mini_course, "mini", tmp_path)
    nbformat.write(answered(folder / "mini.ipynb", solution_sources(mini_course, "mini")),
                   folder / "mini.ipynb")
    real_which = shutil.which
    monkeypatch.setattr(walls.shutil, "which",
                        lambda name, *a, **k: None if name == "prlimit" else real_which(name))
    monkeypatch.setenv("CNNGRADE_SANDBOX", "none")
    walls.sandbox_kind.cache_clear()
    try:
        result = check_notebook(folder / "mini.ipynb")
    finally:
        walls.sandbox_kind.cache_clear()
    assert result.notes == [SANDBOX_NOTES["none"]]
    assert [(t.name, t.status) for t in result.tests] == [("test_add_small", "passed")]
    assert result.findings == [] and result.errors == []


def test_limits_without_prlimit(tmp_path, monkeypatch):
    """Where prlimit is missing, this Python sets the same limits before it becomes the kernel."""
    from cnngrade.course.config import Limits
    real_which = shutil.which
    monkeypatch.setattr(walls.shutil, "which",
                        lambda name, *a, **k: None if name == "prlimit" else real_which(name))
    limits = Limits(file_size=12345678, processes=77)
    prefix = walls._rlimits(limits)
    assert prefix[0] == sys.executable and "prlimit" not in prefix
    code = ("import resource; print(resource.getrlimit(resource.RLIMIT_FSIZE)[0], "
            "resource.getrlimit(resource.RLIMIT_NPROC)[0])")
    out = subprocess.run(prefix + [sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["12345678", "77"]


# -- the wheel, and a fresh venv with nothing else ---------------------------------------------
@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the repository (so no stale build/ folder counts)."""
    source = tmp_path_factory.mktemp("source") / "cnngrade"
    anywhere = shutil.ignore_patterns("__pycache__", "*.egg-info")
    at_top = {".git", ".venv", "build", ".pytest_cache", ".ruff_cache", "course", "course-demo"}

    def ignore(folder: str, names: list[str]) -> set[str]:
        return set(anywhere(folder, names)) | (at_top & set(names) if Path(folder) == REPO
                                               else set())

    shutil.copytree(REPO, source, ignore=ignore)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(out), str(source)], check=True,
                   capture_output=True, text=True)
    wheels = list(out.glob("cnngrade-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_the_wheel_is_the_engine_not_the_course(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top = archive.read(next(n for n in names if n.endswith("top_level.txt"))).decode()
        entry = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert top.split() == ["cnngrade"]
    assert "cnngrade = cnngrade.cli.main:main" in entry
    packages = {n.split("/")[0] for n in names}
    assert packages == {"cnngrade", wheel.name.split("-py")[0] + ".dist-info"}, packages
    code = [n for n in names if not n.split("/")[0].endswith(".dist-info")]
    assets = [n for n in code if n.startswith("cnngrade/views/desk/")   # the desk's pages
              and n.endswith((".html", ".css", ".js"))]
    assert assets and all(n.endswith(".py") for n in code if n not in assets), \
        [n for n in code if not n.endswith(".py") and n not in assets]
    assert not [n for n in code if "suites" in n or "/test_" in n or "solution" in n
                or "oracle" in n or "sample" in n], code
    stages = sorted({n.split("/")[1] for n in code if n.count("/") == 2})
    assert stages == ["cli", "course", "grading", "intake", "sandbox", "views"]


@pytest.mark.slow
def test_a_fresh_venv_with_the_wheel_checks_a_released_notebook(wheel, mini_course, tmp_path):
    """The student's machine: a new virtual environment with the wheel installed (its
    dependencies from this environment's site-packages, through a .pth file: nothing of the
    repository on the path), a temporary folder with the unpacked release, and `cnngrade check`
    with a real kernel in the sandbox."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; "
                                "print(sysconfig.get_paths()['purelib'])"], check=True,
                               capture_output=True, text=True).stdout.strip())
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(home), "COLUMNS": "200",
           "LANG": "C.UTF-8"}
    where = subprocess.run([str(python), "-c", "import cnngrade, cnngrade.views.student_check "
                            "as c; print(cnngrade.__file__); print(c.__file__)"],
                           check=True, capture_output=True, text=True, env=env,
                           cwd=home).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in where), where
    folder = student_folder(mini_course, "mini", tmp_path / "downloads")
    nbformat.write(answered(folder / "mini.ipynb", solution_sources(mini_course, "mini")),
                   folder / "mini.ipynb")
    proc = subprocess.run([str(venv / "bin" / "cnngrade"), "check", "mini.ipynb"],
                          capture_output=True, text=True, env=env, cwd=folder, timeout=1800)
    out = " ".join(proc.stdout.split())
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "1 of 1 public tests passed" in out and "Traceback" not in proc.stderr
    # and a notebook with a mistake gets the finding, from the wheel alone
    nb = answered(folder / "mini.ipynb", {**solution_sources(mini_course, "mini"),
                                          "add": textwrap.dedent("""
                                              def add(a, b):
                                                  return a - b""")})
    nbformat.write(nb, folder / "mini.ipynb")
    proc = subprocess.run([str(venv / "bin" / "cnngrade"), "check", "mini.ipynb"],
                          capture_output=True, text=True, env=env, cwd=folder, timeout=1800)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "0 of 1 public tests passed" in " ".join(proc.stdout.split())
    assert not list(home.rglob("hidden")) and not (home / ".cnngrade").exists()
    assert os.listdir(folder) and not list(folder.rglob("test_mini*"))
