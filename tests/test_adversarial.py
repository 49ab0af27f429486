"""The adversarial corpus (tests/adversarial/, described in its README): every hostile
submission is collected and graded end to end, in one class with honest students, and must get
exactly the score it earned honestly; afterwards nothing it tried may be visible on the host."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from conftest import (
    MINI_SOLUTION,
    REPO,
    add_assignment,
    filled,
    host_addresses,
    listener,
    outlived,
    sandbox_processes,
    submit,
)

import cnngrade as engine
from cnngrade.course.gradebook import open_gradebook
from cnngrade.course.store import Store
from cnngrade.grading.grade import grade
from cnngrade.intake.collect import collect
from cnngrade.intake.notebook import grade_id
from cnngrade.views.feedback import write_feedback
from cnngrade.views.report import class_report

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).parent / "adversarial"

MODEL_TOML = '''
title = "Mini model"
points = 3
gpu = true
notebook = "mini-model.ipynb"

[limits]
cell_timeout = 60
notebook_timeout = 240
call_timeout = 60
memory = "8GiB"
processes = 64
file_size = "64MiB"
'''

MODEL_SOLUTION = [
    ("markdown", "# Mini model\nBuild `model` and write `scale`.", "intro", False, True),
    ("code", "import numpy as np\nimport keras", "setup", False, True),
    ("code", '''
        ### BEGIN SOLUTION
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu"),
                                  keras.layers.Dense(2)])
        ### END SOLUTION
     ''', "model", True, False),
    ("code", '''
        def scale(x):
            """Pixel values 0..255 -> float32 in [0, 1]."""
            ### BEGIN SOLUTION
            return np.asarray(x, dtype="float32") / 255.0
            ### END SOLUTION
     ''', "scale", True, False),
]

MODEL_SUITE = '''
import numpy as np
import pytest


@pytest.mark.points(2)
def test_model(student):
    """model: 8 inputs, Dense(4, relu), Dense(2): 46 parameters"""
    model = student.keras_model("model")
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"], \\
        f"layers {[type(layer).__name__ for layer in model.layers]}, expected two Dense"
    assert model.count_params() == 46, f"{model.count_params()} parameters, expected 46"
    assert tuple(model.output_shape) == (None, 2)


@pytest.mark.points(1)
def test_scale(student, rng):
    """scale maps 0..255 to float32 in [0, 1]"""
    x = rng.integers(0, 256, size=(3, 5))
    got = student.scale(x)
    assert got.dtype == np.float32, f"dtype {got.dtype}, expected float32"
    assert np.allclose(got, x / 255.0), "wrong values"
'''

# what the hidden suite of `mini` says, which no student may ever be shown
SUITE_SECRETS = ["def test_add(student, rng)", "np.allclose(got, a + b)"]


@dataclass
class Attack:
    name: str
    assignment: str
    expect: float
    why: str
    cells: dict[str, str]


# the answer cells (grade_id) an attack may replace, per assignment: any other name would be
# ignored by `filled` and the attack would silently never run
ANSWER_CELLS = {
    "mini": [gid for _, _, gid, solution, _ in MINI_SOLUTION if solution],
    "mini-model": [gid for _, _, gid, solution, _ in MODEL_SOLUTION if solution],
}
HEADER = ("expect", "assignment", "why")


class CorpusError(ValueError):
    """A corpus file that would not test what it says (its message names the file and line)."""


def parse_attack(path: Path) -> Attack:
    """One corpus file; a CorpusError for anything that could make it test less than it says:
    a cell not among its assignment's answer cells, a cell named twice, a malformed marker, an
    unknown header or assignment, a missing `expect` or `why`."""
    header: dict[str, str] = {}
    cells: dict[str, list[str]] = {}
    current = None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        where = f"{path.name}, line {number}"
        if re.match(r"#\s*%%", line):
            if not (match := re.fullmatch(r"# %% (\S+)", line)):
                raise CorpusError(f"{where}: a cell marker is `# %% <grade_id>`, not {line!r}")
            current = match[1]
            if current in cells:
                raise CorpusError(f"{where}: cell {current!r} is named twice")
            cells[current] = []
        elif current is not None:
            cells[current].append(line)
        elif match := re.fullmatch(r"# (\w+): (.*)", line):
            if match[1] not in HEADER:
                raise CorpusError(f"{where}: unknown header {match[1]!r} (known: "
                                  f"{', '.join(HEADER)})")
            header[match[1]] = match[2]
        elif line.strip():
            raise CorpusError(f"{where}: before the first `# %%` cell only `# key: value` "
                              f"headers, not {line!r}")
    assignment = header.get("assignment", "mini")
    if assignment not in ANSWER_CELLS:
        raise CorpusError(f"{path.name}: unknown assignment {assignment!r} (known: "
                          f"{', '.join(ANSWER_CELLS)})")
    for key in ("expect", "why"):
        if not header.get(key, "").strip():
            raise CorpusError(f"{path.name}: no `# {key}:` header")
    if not cells:
        raise CorpusError(f"{path.name}: no `# %% <grade_id>` cell, so it attacks nothing")
    for name in cells:
        if name not in ANSWER_CELLS[assignment]:
            raise CorpusError(f"{path.name}: cell {name!r} is not an answer cell of "
                              f"{assignment!r} ({', '.join(ANSWER_CELLS[assignment])}); it "
                              "would never run")
    return Attack(path.stem, assignment, float(header["expect"]), header["why"],
                  {k: "\n".join(v) for k, v in cells.items()})


def load_corpus(folder: Path = CORPUS) -> list[Attack]:
    return [parse_attack(path) for path in sorted(folder.glob("*.py"))]


def test_the_corpus_is_complete():
    attacks = load_corpus()
    assert len(attacks) >= 30
    assert all(a.why and a.cells and a.assignment in ("mini", "mini-model") for a in attacks)


@pytest.mark.parametrize(("text", "complaint"), [
    ("# expect: 4\n# why: w\n# %% sqaure\nx = 1\n",
     "misnamed.py: cell 'sqaure' is not an answer cell of 'mini' (add, square, answer)"),
    ("# expect: 3\n# assignment: mini-model\n# why: w\n# %% add\nx = 1\n",
     "misnamed.py: cell 'add' is not an answer cell of 'mini-model' (model, scale)"),
    ("# expect: 4\n# why: w\n# %% setup\nx = 1\n",   # a locked cell: restored, never run
     "misnamed.py: cell 'setup' is not an answer cell of 'mini'"),
    ("# expect: 4\n# why: w\n# %% add \nx = 1\n", "misnamed.py, line 3: a cell marker is"),
    ("# expect: 4\n# why: w\n#%% add\nx = 1\n", "misnamed.py, line 3: a cell marker is"),
    ("# expect: 4\n# why: w\n# %% add\nx = 1\n# %% add\ny = 2\n",
     "misnamed.py, line 5: cell 'add' is named twice"),
    ("# expect: 4\n# assignemnt: mini-model\n# why: w\n# %% add\nx = 1\n",
     "misnamed.py, line 2: unknown header 'assignemnt'"),
    ("# expect: 4\n# assignment: maxi\n# why: w\n# %% add\nx = 1\n",
     "misnamed.py: unknown assignment 'maxi'"),
    ("# expect: 4\n# %% add\nx = 1\n", "misnamed.py: no `# why:` header"),
    ("# expect: 4\n# why: w\nx = 1\n", "misnamed.py, line 3: before the first"),
    ("# expect: 4\n# why: w\n", "misnamed.py: no `# %% <grade_id>` cell"),
])
def test_a_misnamed_attack_is_refused(tmp_path, text, complaint):
    """Nothing is graded: the loader alone refuses a file whose cells would never run."""
    (tmp_path / "fine.py").write_text("# expect: 4\n# why: w\n# %% square\nx = 1\n")
    assert [a.cells for a in load_corpus(tmp_path)] == [{"square": "x = 1"}]
    (tmp_path / "misnamed.py").write_text(text)
    with pytest.raises(CorpusError) as refused:
        load_corpus(tmp_path)
    assert complaint in str(refused.value)


def cnngrade(*args: str, course) -> str:
    """What `cnngrade ARGS` prints for the course (stdout and stderr), on a wide terminal."""
    proc = subprocess.run([str(Path(sys.executable).parent / "cnngrade"), *args,
                           "--course-dir", str(course.course_dir)], capture_output=True,
                          text=True, timeout=900, env={"PATH": "/usr/bin:/bin", "COLUMNS": "400",
                                                       "HOME": str(Path.home())})
    assert proc.returncode == 0, proc
    return proc.stdout + proc.stderr


def test_adversarial_corpus(mini_course, tmp_path, monkeypatch):
    course = add_assignment(mini_course, "mini-model", MODEL_TOML, MODEL_SOLUTION, MODEL_SUITE)
    token = uuid.uuid4().hex[:12]
    host_tmp = f"/tmp/cnngrade-corpus-{token}"
    hidden = course.data.hidden / f"corpus-{token}.npz"
    hidden.parent.mkdir(parents=True, exist_ok=True)
    hidden.write_bytes(b"HIDDEN-CANARY-" + token.encode())
    victim_canary = f"VICTIM-CANARY-{token}"
    env_secret = f"ENV-SECRET-{token}"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", env_secret)   # the grader's, never a kernel's

    # the victim collects first, so the attacks can aim at its stored original
    inbox = tmp_path / "inbox"
    victim = filled(course, "mini")
    victim.cells[2].source += f"\n# {victim_canary}"
    submit(inbox / "first", "victim", victim)
    collect(course, "mini", inbox / "first")
    book = open_gradebook(course.course_dir)
    victim_sha = book.latest("mini", "victim")[0].sha256
    book.close()
    paths = {
        "SUITE": str(course.assignment("mini").suite_dir / "test_mini.py"),
        "GRADEBOOK": str(course.course_dir / "gradebook.sqlite"),
        "STORE": str(course.course_dir / "store"),
        "COURSE": str(course.course_dir),
        "VICTIM": str(Store(course.course_dir / "store").path(victim_sha)),
        "VICTIM_RESULTS": str(course.course_dir / "results" / "mini" / "victim"),
        "HIDDEN": str(hidden),
        "REPO": str(REPO),
        "HOST_TMP": host_tmp,
        "PACKAGE": str(Path(engine.__file__).parent),
    }
    # real listeners of the grader's, on loopback and the machine's own address: reachable
    # from anywhere on this machine outside the sandbox's network namespace
    listeners = [listener(host) for host in ["127.0.0.1", *host_addresses()[:1]]]
    paths["LISTENERS"] = repr([server.getsockname() for server in listeners])
    paths["TARGETS"] = repr([paths[k] for k in ("SUITE", "GRADEBOOK", "VICTIM", "HIDDEN")]
                            + [str(REPO / "autograder" / "suites" / "conv-by-hand"
                                   / "test_conv_by_hand.py"), "/etc/shadow"])

    attacks = load_corpus()
    sent: dict[str, dict[str, str]] = {}   # attack -> grade_id -> the source it submitted
    for attack in attacks:
        answers = sent[attack.name] = {}
        for gid, source in attack.cells.items():
            for key, value in paths.items():
                source = source.replace("{" + key + "}", value)
            answers[gid] = source
        nb = filled(course, attack.assignment, answers)
        submit(inbox / attack.assignment, attack.name, nb, f"{attack.assignment}.ipynb")
    submit(inbox / "mini-model", "honest", filled(course, "mini-model"), "mini-model.ipynb")
    kernels = tmp_path / "kernels"   # where this test's kernels are made (tempfile.mkdtemp)
    kernels.mkdir()
    monkeypatch.setenv("TMPDIR", str(kernels))
    before = sandbox_processes()
    for slug in ("mini", "mini-model"):
        report = collect(course, slug, inbox / slug)
        assert not report.problems, report.problems
        grade(course, slug, workers=2)

    def results(slug: str, student: str) -> dict:
        return json.loads((course.course_dir / "results" / slug / student / "results.json")
                          .read_text())

    for server in listeners:   # no attack got through to them
        with pytest.raises(BlockingIOError):
            server.accept()
        server.close()

    # every attack's cells reached the kernel as written (a cell the template lost, or that
    # `filled` ignored, would make the attack a no-op that passes)
    not_run = {}
    for attack in attacks:
        executed = nbformat.read(course.course_dir / "results" / attack.assignment
                                 / attack.name / f"{attack.assignment}.ipynb", as_version=4)
        by_id = {grade_id(c): (n, c) for n, c in enumerate(executed.cells, 1)}
        told = results(attack.assignment, attack.name)["extra_data"]["problems"]
        for gid, source in sent[attack.name].items():
            number, cell = by_id.get(gid, (0, None))
            if cell is None or cell.source != textwrap.dedent(source).strip("\n"):
                not_run[attack.name] = f"cell {gid!r} is not in the graded notebook as sent"
            # executed: a count, or (a cell that killed its kernel before the count came
            # back) the student is told what the cell did
            elif cell.get("execution_count") is None and not any(
                    p.startswith(f"cell {number} ") for p in told):
                not_run[attack.name] = f"cell {gid!r} (cell {number}) was never executed"
    assert not not_run, not_run

    assert results("mini", "victim")["score"] == 4
    assert results("mini-model", "honest")["score"] == 3
    wrong = {}
    for attack in attacks:
        got = results(attack.assignment, attack.name)
        if got["extra_data"].get("grader_errors") or got["score"] != attack.expect:
            wrong[attack.name] = (got["score"], attack.expect, got["output"],
                                  [(t["name"], t["output"]) for t in got["tests"]])
    assert not wrong, json.dumps(wrong, indent=1)

    # the gradebook (which two attacks tried to rewrite) holds what the grader decided
    book = open_gradebook(course.course_dir)
    assert book.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    book.close()
    by_student = {r.submission.student: r.score for r in class_report(course, "mini").rows}
    for attack in attacks:
        if attack.assignment == "mini":
            assert by_student[attack.name] == attack.expect, attack.name
    # what a student is told
    def problems(name: str) -> str:
        return " ".join(results("mini", name)["extra_data"]["problems"])
    assert "killed the Python kernel" in problems("os-exit")
    assert "time limit per cell" in problems("infinite-loop")
    loop = {t["name"]: t["output"] for t in results("mini", "loop-in-call")["tests"]}
    assert "computed for more than 10 s (the time limit per call)" in loop["test_square"]
    # ... and when a model carries code
    lam = {t["name"]: t["output"] for t in results("mini-model", "lambda-layer")["tests"]}
    assert "could not be loaded by the grader" in lam["test_model"]
    assert "no Lambda or custom classes" in lam["test_model"]
    forged = {t["name"]: t["output"] for t in results("mini-model", "forged-config")["tests"]}
    assert "names code outside Keras (" in forged["test_model"]

    # nothing appeared on the host, no sandboxed process outlived the grading
    assert not list(Path("/tmp").glob(f"cnngrade-corpus-{token}*"))
    assert not (course.course_dir / "results.json").exists()
    assert not (course.course_dir / "pwned.txt").exists()
    assert not (REPO / "pwned.txt").exists()
    assert not list(Path(engine.__file__).parent.parent.glob("sitecustomize.py"))
    assert outlived(before, kernels) == set()

    # what the TA reads shows a student's markup as text
    shown = cnngrade("report", "mini", "--student", "markup-injection", course=course)
    assert "[green]passed[/green] <script>alert(1)</script>" in shown

    # no secret reached what students, TAs or exports see
    seen = [p.read_text(errors="replace") for p in (course.course_dir / "results").rglob("*")
            if p.is_file() and p.suffix in (".json", ".ipynb")]
    for slug in ("mini", "mini-model"):
        assert not write_feedback(course, slug).problems
    pages = {p: p.read_text() for p in (course.course_dir / "feedback").rglob("*.html")}
    assert len(pages) == len(attacks) + 2
    seen += [text for p, text in pages.items() if p.parent.name != "victim"]
    markup = pages[course.course_dir / "feedback" / "markup-injection" / "mini.html"]
    assert "<script" not in markup.lower() and "&lt;script&gt;" in markup
    seen += [cnngrade("report", slug, course=course) for slug in ("mini", "mini-model")]
    seen += [cnngrade("export", slug, course=course) for slug in ("mini", "mini-model")]
    seen += [cnngrade("report", attack.assignment, "--student", attack.name, course=course)
             for attack in attacks if attack.name.startswith("read-")]
    for text in seen:
        assert f"HIDDEN-CANARY-{token}" not in text and env_secret not in text
        for secret in SUITE_SECRETS:
            assert secret not in text, secret
    victim_dir = course.course_dir / "results" / "mini" / "victim"
    for path in (course.course_dir / "results").rglob("*"):
        if path.is_file() and victim_dir not in path.parents:
            assert victim_canary not in path.read_text(errors="replace"), path
    hidden.unlink()
