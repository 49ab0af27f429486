"""`cnngrade data prepare`: idempotent, the instructor's own folder, clear messages, and the
hidden test split out of the sandbox's reach. A small synthetic Fashion-MNIST stands in for the
Debian package, so these tests touch neither ~/.keras nor the network."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import filled

from cnngrade.course import data as data_mod
from cnngrade.course.data import TRANSFER, DataLayout, prepare, pretrain_base
from cnngrade.course.dataset_readers import load_folder_split
from cnngrade.course.errors import CnnGradeError
from cnngrade.grading.evaluate import evaluate

FOLDERS = ("fashion-mnist", "two-class")   # the transfer task needs the real Fashion-MNIST


def _write_idx(folder: Path, kind: str, labels: np.ndarray, rng, black: int = 0) -> None:
    """Random images, the first `black` of them all zeros."""
    images = rng.integers(1, 256, size=(len(labels), 28, 28), dtype=np.uint8)
    images[:black] = 0
    with gzip.open(folder / f"{kind}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes())
    with gzip.open(folder / f"{kind}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, len(labels), 28, 28) + images.tobytes())


@pytest.fixture(scope="module")
def fake_debian(tmp_path_factory):
    """Fashion-MNIST-shaped files with just enough T-shirts (0) and shirts (6); the test file's
    first half (what the sandbox gets) is black, so that a held-back image is told by its
    pixels."""
    folder = tmp_path_factory.mktemp("debian-fashion")
    rng = np.random.default_rng(0)
    _write_idx(folder, "train", rng.permutation(np.repeat([0, 6, 1], [1500, 1500, 10])), rng)
    t10k = np.concatenate([rng.permutation(np.repeat([0, 6, 1], [300, 300, 360])),
                           rng.permutation(np.repeat([0, 6, 1], [460, 460, 40]))])
    _write_idx(folder, "t10k", t10k, rng, black=960)
    return folder


def _snapshot(*roots: Path) -> dict[str, tuple[int, str]]:
    return {str(p): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for root in roots for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def prepared(fake_debian, tmp_path_factory):
    layout = DataLayout(keras_home=tmp_path_factory.mktemp("keras"),
                        hidden=tmp_path_factory.mktemp("hidden") / "hidden")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(data_mod, "DEBIAN_FASHION", fake_debian)
        first = prepare(layout, only=FOLDERS, hidden=True)
    return layout, first


def test_prepare_writes_the_layout(prepared):
    layout, report = prepared
    assert any("Fashion-MNIST copied" in line for line in report.done)
    assert all((layout.fashion / name).is_file() for name in data_mod.FASHION_FILES)
    public = layout.public("two-class")
    assert sorted(p.name for p in public.iterdir() if p.is_dir()) == ["train", "validation"]
    counts = {split: len(list((public / split).rglob("*.jpg"))) for split in ("train",
                                                                             "validation")}
    assert counts == {"train": 2000, "validation": 1000}
    test = layout.hidden_split("two-class")
    assert len(list(test.rglob("*.jpg"))) == 900
    assert sorted(p.name for p in test.iterdir()) == ["shirt", "t_shirt"]
    assert (test.stat().st_mode & 0o077) == 0 and (layout.hidden.stat().st_mode & 0o077) == 0
    from PIL import Image
    with Image.open(next((public / "train" / "shirt").iterdir())) as image:
        assert image.size == (150, 150) and image.mode == "RGB"
    images, labels, classes = load_folder_split(test)
    assert images.shape == (900, 150, 150, 3) and classes == ["shirt", "t_shirt"]
    assert np.bincount(labels).tolist() == [450, 450]
    # drawn from the held-back half of the test file only: no image is from the black half
    assert images.reshape(900, -1).max(axis=1).min() > 0


def test_the_sandbox_gets_half_of_fashion_mnists_test_split(prepared):
    """On a grading machine the sandbox's copy of Fashion-MNIST holds the first half of the test
    images (load_data() works there); the grader judges on the other half, held back."""
    from cnngrade.course.dataset_readers import read_fashion
    layout, report = prepared
    assert any("test split cut in two: 960 test images for the sandbox" in d for d in report.done)
    full_x, full_y = read_fashion(layout.fashion, "t10k")
    cut_x, cut_y = read_fashion(layout.sandbox_fashion, "t10k")
    held_x, held_y = read_fashion(layout.held_back_fashion, "t10k")
    assert len(cut_y) == 960 and len(held_y) == 960
    assert np.array_equal(np.concatenate([cut_x, held_x]), full_x)
    assert np.array_equal(np.concatenate([cut_y, held_y]), full_y)
    for kind in ("train",):
        assert [np.array_equal(a, b) for a, b in zip(read_fashion(layout.sandbox_fashion, kind),
                                                      read_fashion(layout.fashion, kind),
                                                      strict=True)] == [True, True]
    assert (layout.held_back_fashion.stat().st_mode & 0o077) == 0
    assert layout.sandbox_binds(("fashion-mnist",)) == [
        (layout.sandbox_fashion, "datasets/fashion-mnist")]
    assert layout.missing_hidden(("fashion-mnist", "two-class")) == []
    from cnngrade.grading.modelcheck import grey_test_split
    x, labels, what = grey_test_split(layout)
    assert x.shape == (960, 28, 28, 1) and what == "held-back Fashion-MNIST test images"
    assert np.array_equal(labels, held_y)


def test_prepare_twice_changes_nothing(prepared, fake_debian):
    layout, _ = prepared
    before = _snapshot(layout.keras_home, layout.hidden)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(data_mod, "DEBIAN_FASHION", fake_debian)
        again = prepare(layout, only=FOLDERS, hidden=True)
    assert not again.changed and len(again.kept) == 3
    assert _snapshot(layout.keras_home, layout.hidden) == before


def test_a_students_machine_gets_no_hidden_split(fake_debian, tmp_path, monkeypatch):
    """Without --hidden (and without [data] hidden in cnngrade.toml), `data prepare` writes the
    public splits only: the hidden folder is never created; asked later, it is added."""
    monkeypatch.setattr(data_mod, "DEBIAN_FASHION", fake_debian)
    monkeypatch.delenv("CNNGRADE_HIDDEN_DATA", raising=False)
    layout = DataLayout(tmp_path / "keras", tmp_path / "hidden")
    assert not layout.grading
    report = prepare(layout, only=FOLDERS)
    assert not (tmp_path / "hidden").exists()
    public = layout.public("two-class")
    assert sorted(p.name for p in public.iterdir() if p.is_dir()) == ["train", "validation"]
    assert len(list(public.rglob("*.jpg"))) == 3000
    assert any("--hidden" in note for note in report.notes)
    assert layout.missing_hidden(("fashion-mnist", "two-class")) == [
        tmp_path / "hidden" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz",
        tmp_path / "hidden" / "two-class" / "test"]
    assert layout.sandbox_binds(("fashion-mnist",)) == [(layout.fashion, "datasets/fashion-mnist")]
    assert not prepare(layout, only=FOLDERS).changed
    prepare(layout, only=FOLDERS, hidden=True)
    assert layout.missing_hidden(("two-class",)) == []
    assert len(list(layout.hidden_split("two-class").rglob("*.jpg"))) == 900


def test_a_course_that_names_its_hidden_folder_is_a_grading_machine(tmp_path, monkeypatch):
    monkeypatch.delenv("CNNGRADE_HIDDEN_DATA", raising=False)
    assert not data_mod.data_layout({}, tmp_path).grading
    named = data_mod.data_layout({"data": {"hidden": "secret"}}, tmp_path)
    assert named.grading and named.hidden == (tmp_path / "secret").resolve()
    monkeypatch.setenv("CNNGRADE_HIDDEN_DATA", str(tmp_path / "elsewhere"))
    assert data_mod.data_layout({}, tmp_path).grading


def test_instructor_folder(tmp_path, prepared):
    from PIL import Image
    layout, _ = prepared
    source = tmp_path / "cats_and_dogs_small"
    for split, n in (("train", 3), ("validation", 2), ("test", 2)):
        for animal in ("cats", "dogs"):
            folder = source / split / animal
            folder.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (64, 48), (i * 40, 0, 0)).save(folder / f"{animal}.{i}.jpg")
    own = DataLayout(layout.keras_home.parent / "own-keras", tmp_path / "hidden", source)
    own.fashion.mkdir(parents=True)
    for name in data_mod.FASHION_FILES:
        (own.fashion / name).write_bytes((layout.fashion / name).read_bytes())
    report = prepare(own, only=FOLDERS, hidden=True)
    assert any(f"copied from {source}" in line for line in report.done)
    assert len(list(own.hidden_split("two-class").rglob("*.jpg"))) == 4
    assert not (own.public("two-class") / "test").exists()
    images, labels, classes = load_folder_split(own.hidden_split("two-class"))
    assert images.shape == (4, 150, 150, 3) and classes == ["cats", "dogs"]
    assert not prepare(own, only=FOLDERS, hidden=True).changed


def test_missing_sources_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(data_mod, "DEBIAN_FASHION", tmp_path / "nothing")
    import keras

    def offline():
        raise OSError("no network")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(CnnGradeError, match="apt install dataset-fashion-mnist"):
        prepare(DataLayout(tmp_path / "keras", tmp_path / "hidden"))
    bad = DataLayout(tmp_path / "keras", tmp_path / "hidden", tmp_path / "no-such-folder")
    with pytest.raises(CnnGradeError, match="needs train/, validation/ and test/"):
        data_mod._two_class(bad, data_mod.PrepareReport(), None, True)


SPY = '''
import hashlib
import os

def add(a, b):
    return a + b

def can_read(path):
    try:
        with open(path, "rb") as f:
            f.read(1)
        return True
    except OSError:
        return False

visible = sorted(os.listdir(os.path.expanduser("~/.keras/datasets/two-class")))
hashes = []
for root, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if os.path.join(root, d) not in ("/proc", "/sys", "/dev")]
    for name in files:
        if name.endswith(".jpg"):
            try:
                with open(os.path.join(root, name), "rb") as f:
                    hashes.append(hashlib.sha256(f.read()).hexdigest())
            except OSError:
                pass
'''

HIDDEN_SUITE = '''
import hashlib

def test_hidden_split_is_out_of_reach(student, course_data):
    hidden = course_data.hidden_split("two-class")
    secret = {hashlib.sha256(p.read_bytes()).hexdigest() for p in hidden.rglob("*.jpg")}
    public = course_data.public("two-class")
    shown = {hashlib.sha256(p.read_bytes()).hexdigest() for p in public.rglob("*.jpg")}
    seen = set(student.value("hashes"))
    assert student.value("visible") == ["train", "validation"]
    assert shown <= seen, "the walk should find the public images"
    assert not seen & secret, "the sandbox read hidden test images"
    assert student.call("can_read", str(next(hidden.rglob("*.jpg")))) is False


def test_eval_names_what_is_missing(student):
    assert student.eval("len(visible) + 1") == 3
    try:
        student.eval("next(iter(not_defined_here))")
    except AssertionError as exc:
        assert "`not_defined_here` is not defined in the notebook" in str(exc), str(exc)
    else:
        raise AssertionError("a missing name should fail the check")
'''


@pytest.mark.slow
def test_sandbox_cannot_read_the_hidden_split(mini_course, prepared):
    layout, _ = prepared
    asg_dir = mini_course.assignments_dir / "mini"
    toml = asg_dir / "assignment.toml"
    toml.write_text(toml.read_text().replace("[limits]", 'data = ["two-class"]\n\n[limits]', 1))
    suite = mini_course.suites_dir / "hidden-check"
    suite.mkdir()
    (suite / "test_hidden.py").write_text(HIDDEN_SUITE)
    asg = mini_course.assignment("mini")
    assert asg.data == ("two-class",)
    import nbformat
    nb = filled(mini_course, "mini", {"add": SPY})
    ev = evaluate(nbformat.writes(nb).encode(), "spy.ipynb", asg, suite, layout=layout)
    assert not ev.errors, ev.errors
    assert [(t.name, t.status, t.output) for t in ev.tests] == [
        ("test_hidden_split_is_out_of_reach", "passed", ""),
        ("test_eval_names_what_is_missing", "passed", "")]


def test_transfer_task_needs_every_target_class(prepared, fake_debian):
    """The fake Fashion-MNIST lacks classes 5, 7, 8 and 9: one sentence, nothing half-written."""
    layout, _ = prepared
    with pytest.raises(CnnGradeError) as info:
        prepare(layout, only=(TRANSFER,), hidden=True)
    message = str(info.value)
    assert "fewer than 20 training images of class(es) [5, 7, 8, 9]" in message
    assert "apt install dataset-fashion-mnist" in message and "\n" not in message
    assert not layout.public(TRANSFER).exists() and not (layout.hidden / TRANSFER).exists()
    assert not [p for p in layout.datasets.iterdir() if p.name.startswith(".transfer")]


def test_course_base_is_reproducible(tmp_path):
    """Pretraining twice from the same data gives the same weights; the base has the course's
    shape. (A short run: 512 source images, 1 epoch; `data prepare` trains on all 30,000.)"""
    import keras

    from cnngrade.course import base_network as cb
    from cnngrade.course.data import data_layout
    layout = data_layout({})
    prepare(layout, only=("fashion-mnist",))   # the real one, from the Debian package
    fashion = layout.fashion
    digests = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        digests.append(pretrain_base(fashion, tmp_path / run,
                                     extra=("--source-images", "512", "--epochs", "1")))
    assert digests[0] == digests[1]
    base = keras.saving.load_model(tmp_path / "a" / cb.BASE_FILE, safe_mode=True)
    assert base.count_params() == cb.BASE_PARAMS
    assert tuple(base.outputs[0].shape[1:]) == cb.BASE_OUTPUT
    assert cb.weights_digest(base) == digests[0]
