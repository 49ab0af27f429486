"""Offline data: `cnngrade data prepare` puts what the assignments load where Keras looks for it,
and keeps the split that accuracy is judged on where only the trusted checker can read it.

- Fashion-MNIST: Debian's `dataset-fashion-mnist` files are copied into Keras's cache
  (`$KERAS_HOME/datasets/fashion-mnist/`, `~/.keras` by default), so
  `keras.datasets.fashion_mnist.load_data()` works offline; Keras's own download is tried only
  where the Debian package is missing. On a grading machine (`hidden`), the test split is cut
  in two: the sandbox is given a copy whose test files hold only the first half of the images
  (`FASHION_PUBLIC_SHARE`; `datasets/fashion-mnist-sandbox/`, so `load_data()` still works
  there), and the other half goes to the hidden folder, where the grader judges accuracy on
  images no graded run can have trained on. MNIST (`mnist.npz`, whose download Keras checks by
  hash, so it cannot be cut) is not given to the sandbox: graded notebooks use Fashion-MNIST.
- The two-class colour dataset, in the cats-vs-dogs layout (one folder per class): `train/` and
  `validation/` go to `$KERAS_HOME/datasets/two-class/` (students read them), `test/` goes to the
  hidden data folder (`~/.cnngrade/hidden` unless `cnngrade.toml` says otherwise), mode 0700,
  never bound into a sandbox. It is the instructor's own folder when `[data] two_class` names one,
  otherwise a real two-class subset of Fashion-MNIST written as 150x150 RGB JPEGs.
- The transfer-learning task (`cnngrade.course.base_network`): a base network pretrained here on
  Fashion-MNIST classes 0-4 (`base.keras`) and a small labelled target set of classes 5-9
  (`target_train.npz`) in `$KERAS_HOME/datasets/transfer/`; the target test split in the hidden
  folder. VGG16's ImageNet weights are used where Keras's cache holds them
  (`$KERAS_HOME/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`); they are never
  downloaded here.

In `cnngrade.toml`:

    [data]
    two_class = "/path/to/cats_and_dogs_small"   # train/ validation/ test/, a folder per class
    hidden = "/srv/cnngrade/hidden"              # where hidden splits live
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .base_network import TEST_FILE as TRANSFER_TEST_FILE
from .dataset_readers import FASHION_PUBLIC_SHARE, IMAGE_SIZE, held_back_start, read_fashion
from .errors import CnnGradeError

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")
FASHION_CLASSES = ("t_shirt", "trouser", "pullover", "dress", "coat",
                   "sandal", "shirt", "sneaker", "bag", "ankle_boot")
FASHION = "fashion-mnist"
TWO_CLASS = "two-class"
TRANSFER = "transfer"
DATASETS = (FASHION, TWO_CLASS, TRANSFER)
VGG16_NOTOP = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
# T-shirt/top vs shirt: the hardest pair of Fashion-MNIST, so that the course's mistakes show
# in the accuracy (sandal vs sneaker, before, reached 0.95 with or without rescaling)
TWO_CLASS_PAIR = (0, 6)
# split -> (images per class, Fashion-MNIST file, first index within the class); the test
# split is drawn from the held-back half of the test file (at least 479 per class there)
TWO_CLASS_SPLITS = {"train": (1000, "train", 0), "validation": (500, "train", 1000),
                    "test": (450, "t10k", 0)}
PUBLIC_SPLITS = ("train", "validation")
HIDDEN_SPLITS = ("test",)
MANIFEST = ".cnngrade-data.json"
FORMAT_VERSION = 1

Progress = Callable[[str, int, int], None]   # (what, done, total)


def keras_home() -> Path:
    """Where Keras keeps its cache on this machine (the same rule as Keras itself)."""
    if "KERAS_HOME" in os.environ:
        return Path(os.environ["KERAS_HOME"]).expanduser()
    home = Path("~").expanduser()
    return (home if os.access(home, os.W_OK) else Path("/tmp")) / ".keras"


@dataclass(frozen=True)
class DataLayout:
    """Where each dataset lives on the grading machine."""

    keras_home: Path
    hidden: Path
    two_class_source: Path | None = None
    # the course names where hidden splits live ([data] hidden or CNNGRADE_HIDDEN_DATA): a
    # grading machine, where `data prepare` writes them without being asked
    grading: bool = False

    @property
    def datasets(self) -> Path:
        return self.keras_home / "datasets"

    @property
    def fashion(self) -> Path:
        return self.datasets / FASHION

    @property
    def sandbox_fashion(self) -> Path:
        """Fashion-MNIST as the sandbox gets it: the test files cut to the public share."""
        return self.datasets / "fashion-mnist-sandbox"

    @property
    def held_back_fashion(self) -> Path:
        """The rest of Fashion-MNIST's test split (`t10k-*` files), for the grader only."""
        return self.hidden / FASHION

    @property
    def mnist(self) -> Path:
        return self.datasets / "mnist.npz"

    @property
    def vgg16_weights(self) -> Path:
        return self.keras_home / "models" / VGG16_NOTOP

    def public(self, name: str) -> Path:
        return self.datasets / name

    def hidden_split(self, name: str, split: str = "test") -> Path:
        """A split only the trusted checker reads (e.g. the two-class `test/`)."""
        path = self.hidden / name / split
        if not path.is_dir():
            raise CnnGradeError(f"The hidden split {path} is missing; run `cnngrade data "
                                "prepare` on the grading machine.")
        return path

    def missing_hidden(self, names: tuple[str, ...]) -> list[Path]:
        """The hidden splits the datasets `names` need for grading that this machine lacks."""
        need = {TWO_CLASS: self.hidden / TWO_CLASS / "test",
                TRANSFER: self.hidden / TRANSFER / TRANSFER_TEST_FILE,
                FASHION: self.held_back_fashion / "t10k-labels-idx1-ubyte.gz"}
        return [need[n] for n in names if n in need and not need[n].exists()]

    def sandbox_binds(self, names: tuple[str, ...]) -> list[tuple[Path, str]]:
        """(path here, path below the kernel's ~/.keras) for each public dataset an assignment
        reads; read-only inside the sandbox. Never a hidden split."""
        binds: list[tuple[Path, str]] = []
        for name in names:
            if name == FASHION:   # the copy without the held-back test images, where made
                cut = self.sandbox_fashion
                binds.append((cut if cut.is_dir() else self.fashion, "datasets/fashion-mnist"))
            elif name == TWO_CLASS:
                binds += [(self.public(TWO_CLASS) / s, f"datasets/{TWO_CLASS}/{s}")
                          for s in PUBLIC_SPLITS]
            elif name == TRANSFER:
                binds.append((self.public(TRANSFER), f"datasets/{TRANSFER}"))
                if self.vgg16_weights.is_file():
                    binds.append((self.vgg16_weights, f"models/{VGG16_NOTOP}"))
            else:
                raise CnnGradeError(f"Unknown dataset '{name}' in assignment.toml `data`; "
                                    f"use one of {', '.join(map(repr, DATASETS))}.")
        return [(src, rel) for src, rel in binds if src.exists()]


def data_layout(settings: dict, course_dir: Path | None = None) -> DataLayout:
    """The layout from a course's `cnngrade.toml` settings ([data] table)."""
    data = settings.get("data", {}) if isinstance(settings, dict) else {}
    base = course_dir or Path.cwd()

    def path(key: str) -> Path | None:
        value = data.get(key)
        return (base / str(value)).expanduser().resolve() if value else None

    hidden = path("hidden") or Path(os.environ.get("CNNGRADE_HIDDEN_DATA",
                                                   Path("~/.cnngrade/hidden").expanduser()))
    grading = path("hidden") is not None or "CNNGRADE_HIDDEN_DATA" in os.environ
    return DataLayout(keras_home=keras_home(), hidden=Path(hidden),
                      two_class_source=path("two_class"), grading=grading)


# ------------------------------------------------------------------------------- prepare
@dataclass
class PrepareReport:
    done: list[str] = field(default_factory=list)      # what was written this time
    kept: list[str] = field(default_factory=list)      # already in place, left alone
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.done)


def prepare(layout: DataLayout, progress: Progress | None = None,
            only: tuple[str, ...] = DATASETS, hidden: bool | None = None) -> PrepareReport:
    """Provision the datasets named in `only` (all by default; Fashion-MNIST always, as the
    others are made from it); running it again changes nothing. The hidden splits (the test
    splits only the grader reads) are written only when `hidden` (None: when the course names
    where they live, `layout.grading`): a student's machine never holds them."""
    unknown = sorted(set(only) - set(DATASETS))
    if unknown:
        raise CnnGradeError(f"Unknown dataset {unknown[0]!r}; choose among "
                            f"{', '.join(DATASETS)}.")
    hidden = layout.grading if hidden is None else hidden
    report = PrepareReport()
    _fashion(layout, report)
    if hidden:
        _fashion_held_back(layout, report)
    if layout.mnist.is_file():
        report.notes.append(f"MNIST: {layout.mnist} is cached; notebooks checked or run here use "
                            "it, graded ones Fashion-MNIST (MNIST is not given to the sandbox).")
    else:
        report.notes.append("MNIST: not cached; the convnet notebooks use Fashion-MNIST.")
    if TWO_CLASS in only:
        _two_class(layout, report, progress, hidden)
    if TRANSFER in only:
        _transfer(layout, report, progress, hidden)
    if not hidden and set(only) & {TWO_CLASS, TRANSFER}:
        report.notes.append("Hidden test splits: not written (public data only, as on a "
                            "student's machine); a grading machine runs `cnngrade data prepare "
                            "--hidden`.")
    return report


def _fashion(layout: DataLayout, report: PrepareReport) -> None:
    target = layout.fashion
    if all(_is_gzip(target / f) for f in FASHION_FILES):
        report.kept.append(f"Fashion-MNIST in {target}")
        return
    if all((DEBIAN_FASHION / f).is_file() for f in FASHION_FILES):
        target.mkdir(parents=True, exist_ok=True)
        for name in FASHION_FILES:
            tmp = target / f".{name}.part"
            shutil.copyfile(DEBIAN_FASHION / name, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target / name)
        report.done.append(f"Fashion-MNIST copied from {DEBIAN_FASHION} to {target}")
        return
    try:   # where there is internet, Keras's own download fills the same cache
        import keras
        keras.datasets.fashion_mnist.load_data()
    except Exception:
        raise CnnGradeError(
            f"Fashion-MNIST is missing: neither {DEBIAN_FASHION} (Debian package "
            "dataset-fashion-mnist) nor Keras's download worked; run `apt install "
            "dataset-fashion-mnist` (or connect once to the internet), then run "
            "`cnngrade data prepare` again.") from None
    report.done.append(f"Fashion-MNIST downloaded by Keras to {target}")


def _write_idx(folder: Path, kind: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Fashion-MNIST's idx format, gzipped (no time stamp: the same bytes every time)."""
    for name, header, data in (
            (f"{kind}-labels-idx1-ubyte.gz", struct.pack(">II", 2049, len(labels)), labels),
            (f"{kind}-images-idx3-ubyte.gz", struct.pack(">IIII", 2051, len(images), 28, 28),
             images)):
        with open(folder / name, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb",
                                                             mtime=0) as out:
            out.write(header + np.ascontiguousarray(data, dtype=np.uint8).tobytes())


def _fashion_held_back(layout: DataLayout, report: PrepareReport) -> None:
    """The sandbox's copy of Fashion-MNIST (its test files cut to their first
    FASHION_PUBLIC_SHARE) and the held-back rest in the hidden folder."""
    digest = hashlib.sha256(f"held back v{FORMAT_VERSION} {FASHION_PUBLIC_SHARE}".encode())
    for name in FASHION_FILES:
        digest.update(hashlib.sha256((layout.fashion / name).read_bytes()).digest())
    key = digest.hexdigest()
    public, hidden = layout.sandbox_fashion, layout.held_back_fashion
    if _in_place(key, public, hidden):
        report.kept.append(f"Fashion-MNIST's held-back test images in {hidden} (the sandbox's "
                           f"copy in {public})")
        return
    try:
        images, labels = read_fashion(layout.fashion, "t10k")
    except (OSError, EOFError, ValueError) as exc:   # a damaged or foreign file in the cache
        report.notes.append(f"Fashion-MNIST's test files in {layout.fashion} cannot be read "
                            f"({type(exc).__name__}), so no test images are held back: the "
                            "28x28 assignments cannot be graded here until they are replaced "
                            "(delete the folder and run `cnngrade data prepare --hidden`).")
        return
    cut = held_back_start(len(labels))
    with _staged(key, public, hidden) as stages:
        for name in FASHION_FILES:
            if name.startswith("train"):
                shutil.copyfile(layout.fashion / name, stages[public] / name)
        _write_idx(stages[public], "t10k", images[:cut], labels[:cut])
        _write_idx(stages[hidden], "t10k", images[cut:], labels[cut:])
    report.done.append(f"Fashion-MNIST's test split cut in two: {cut:,} test images for the "
                       f"sandbox ({public}), {len(labels) - cut:,} held back for the grader "
                       f"({hidden})")


def _is_gzip(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def _source_key(layout: DataLayout) -> str:
    """What the two-class dataset is made from; a different key means it is rebuilt."""
    digest = hashlib.sha256(f"v{FORMAT_VERSION}".encode())
    if layout.two_class_source is not None:
        digest.update(str(layout.two_class_source).encode())
        for path in sorted(layout.two_class_source.rglob("*")):
            if path.is_file():
                digest.update(f"{path.relative_to(layout.two_class_source)}:"
                              f"{path.stat().st_size}".encode())
    else:
        digest.update(repr((TWO_CLASS_PAIR, TWO_CLASS_SPLITS, IMAGE_SIZE,
                            FASHION_PUBLIC_SHARE)).encode())
        for name in FASHION_FILES:
            digest.update(hashlib.sha256((layout.fashion / name).read_bytes()).digest())
    return digest.hexdigest()


def _manifest_ok(folder: Path, key: str) -> bool:
    try:
        return json.loads((folder / MANIFEST).read_text())["key"] == key
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _two_class(layout: DataLayout, report: PrepareReport, progress: Progress | None,
               with_hidden: bool) -> None:
    source = layout.two_class_source
    if source is not None and not all((source / s).is_dir() for s in TWO_CLASS_SPLITS):
        raise CnnGradeError(f"The two-class folder {source} (cnngrade.toml [data] two_class) "
                            "needs train/, validation/ and test/ subfolders with one folder "
                            "per class; fix the path or the folder.")
    key = _source_key(layout)
    public = layout.public(TWO_CLASS)
    hidden = layout.hidden / TWO_CLASS if with_hidden else None
    if _in_place(key, public, hidden):
        where = f" (test split in {hidden})" if hidden is not None else ""
        report.kept.append(f"two-class dataset in {public}{where}")
        return
    if source is not None:
        _copy_folder_dataset(source, public, hidden, key, progress)
        what = f"copied from {source}"
    else:
        _write_fashion_subset(layout, public, hidden, key, progress)
        names = " / ".join(FASHION_CLASSES[c] for c in TWO_CLASS_PAIR)
        what = f"written from Fashion-MNIST ({names}, {IMAGE_SIZE}x{IMAGE_SIZE} RGB JPEG)"
    where = f", test/ in {hidden} (hidden)" if hidden is not None else ""
    report.done.append(f"two-class dataset {what}: train/ and validation/ in {public}{where}")


def _publish(staging: Path, final: Path, key: str, private: bool) -> None:
    """Swap a finished staging folder in place of `final`, with its manifest."""
    (staging / MANIFEST).write_text(json.dumps({"key": key}) + "\n")
    for path in [staging, *staging.rglob("*")]:
        os.chmod(path, (0o700 if private else 0o755) if path.is_dir() else
                 (0o600 if private else 0o644))
    final.parent.mkdir(parents=True, exist_ok=True)
    if private:
        os.chmod(final.parent, 0o700)
    old = final.with_name(final.name + ".old")
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)


def _in_place(key: str, public: Path, hidden: Path | None) -> bool:
    """Both folders (`hidden` where asked for) hold what `key` describes."""
    return _manifest_ok(public, key) and (hidden is None or _manifest_ok(hidden, key))


@contextlib.contextmanager
def _staged(key: str, public: Path | None, hidden: Path | None) -> Iterator[dict[Path, Path]]:
    """A fresh staging folder beside `public` and `hidden` (None: not written), on the same file
    system so that publishing is a rename. If the body raises, the staging folders are removed
    and nothing is half-written; else each replaces its final folder, with `key` in its
    manifest, the hidden one private."""
    stages = {}
    for final in (f for f in (public, hidden) if f is not None):
        final.parent.mkdir(parents=True, exist_ok=True)
        stages[final] = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        yield stages
    except BaseException:
        for stage in stages.values():
            shutil.rmtree(stage, ignore_errors=True)
        raise
    for final, stage in stages.items():
        _publish(stage, final, key, private=final == hidden)


def _write_fashion_subset(layout: DataLayout, public: Path, hidden: Path | None, key: str,
                          progress: Progress | None) -> None:
    from PIL import Image

    arrays = {kind: read_fashion(layout.fashion, kind) for kind in ("train", "t10k")}
    splits = {s: v for s, v in TWO_CLASS_SPLITS.items()
              if hidden is not None or s not in HIDDEN_SPLITS}
    total = sum(n * len(TWO_CLASS_PAIR) for n, _, _ in splits.values())
    done = 0
    with _staged(key, public, hidden) as stages:
        for split, (count, kind, first) in splits.items():
            images, labels = arrays[kind]
            stage = stages[hidden if split in HIDDEN_SPLITS else public]
            start = held_back_start(len(labels)) if split in HIDDEN_SPLITS else 0
            for label in TWO_CLASS_PAIR:
                name = FASHION_CLASSES[label]
                folder = stage / split / name
                folder.mkdir(parents=True)
                indices = start + np.flatnonzero(labels[start:] == label)[first:first + count]
                for number, index in enumerate(indices):
                    image = Image.fromarray(images[index], mode="L").convert("RGB")
                    image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
                    image.save(folder / f"{name}.{number}.jpg", quality=92)
                    done += 1
                    if progress and (done % 100 == 0 or done == total):
                        progress("two-class images", done, total)


def _copy_folder_dataset(source: Path, public: Path, hidden: Path | None, key: str,
                         progress: Progress | None) -> None:
    files = [p for s in TWO_CLASS_SPLITS for p in sorted((source / s).rglob("*"))
             if p.is_file() and not p.is_symlink()
             and (hidden is not None or s not in HIDDEN_SPLITS)]
    with _staged(key, public, hidden) as stages:
        for done, path in enumerate(files, 1):
            rel = path.relative_to(source)
            stage = stages[hidden if rel.parts[0] in HIDDEN_SPLITS else public]
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, stage / rel)
            if progress and (done % 100 == 0 or done == len(files)):
                progress("two-class images", done, len(files))


# ------------------------------------------------------------------ the transfer-learning task
def _transfer_key(layout: DataLayout) -> str:
    from . import base_network as cb
    digest = hashlib.sha256(f"transfer v{FORMAT_VERSION}".encode())
    digest.update(repr((cb.SOURCE_CLASSES, cb.TARGET_CLASSES, cb.TARGET_PER_CLASS, cb.EPOCHS,
                        cb.BATCH_SIZE, cb.SEED)).encode())
    digest.update(Path(cb.__file__).read_bytes())
    for name in FASHION_FILES:
        digest.update(hashlib.sha256((layout.fashion / name).read_bytes()).digest())
    return digest.hexdigest()


def _transfer(layout: DataLayout, report: PrepareReport, progress: Progress | None,
              with_hidden: bool) -> None:
    from . import base_network as cb
    if layout.vgg16_weights.is_file():
        report.notes.append(f"VGG16: ImageNet weights cached in {layout.vgg16_weights}; the "
                            "transfer-learning notebook's VGG16 cells load them.")
    else:
        report.notes.append("VGG16: no ImageNet weights cached; the transfer-learning notebook "
                            "builds VGG16 with weights=None for its structure and trains on "
                            "the course base.")
    key = _transfer_key(layout)
    public = layout.public(TRANSFER)
    hidden = layout.hidden / TRANSFER if with_hidden else None
    if _in_place(key, public, hidden):
        where = f" (test split in {hidden})" if hidden is not None else ""
        report.kept.append(f"transfer-learning base and target set in {public}{where}")
        return
    base_kept = _manifest_ok(public, key)   # only the hidden split is new: the base stays
    try:
        with _staged(key, None if base_kept else public, hidden) as stages:
            if not base_kept:
                x, y = cb.target_split(layout.fashion, "train")
                np.savez(stages[public] / cb.TRAIN_FILE, x=x, y=y,
                         classes=np.array(cb.TARGET_NAMES))
            if hidden is not None:
                x, y = cb.target_split(layout.fashion, "test")
                np.savez(stages[hidden] / cb.TEST_FILE, x=x, y=y,
                         classes=np.array(cb.TARGET_NAMES))
            if not base_kept:
                digest = pretrain_base(layout.fashion, stages[public], progress)
    except ValueError as exc:
        raise CnnGradeError(f"{exc}; the transfer-learning task needs the real "
                            "Fashion-MNIST (apt install dataset-fashion-mnist).") from None
    if base_kept:
        report.done.append(f"transfer-learning test split in {hidden} (hidden)")
        return
    where = f"; its test split in {hidden} (hidden)" if hidden is not None else ""
    report.done.append(f"course base pretrained on Fashion-MNIST classes 0-4 (weights "
                       f"{digest[:12]}) and the target set of classes 5-9 "
                       f"({cb.TARGET_PER_CLASS} images per class) in {public}{where}")


def pretrain_base(fashion: Path, out: Path, progress: Progress | None = None,
                  extra: tuple[str, ...] = ()) -> str:
    """Run `python -m cnngrade.course.base_network` (its own process) to write `out/base.keras`;
    returns the digest of the trained weights."""
    import subprocess
    import sys
    command = [sys.executable, "-m", f"{__package__}.base_network", str(fashion), str(out),
               *extra]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    lines: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())
            parts = line.split()
            if parts[:1] == ["cnngrade-progress"] and progress:
                progress("pretraining the course base", int(parts[1]), int(parts[2]))
    said = {line.split(" ", 1)[0]: line.split(" ", 1)[-1] for line in lines
            if line.startswith("cnngrade-")}
    if proc.returncode != 0 or "cnngrade-digest" not in said:
        why = said.get("cnngrade-error") or (lines[-1] if lines else "no output")
        raise CnnGradeError(f"Pretraining the course base failed ({why[:300]}); check that "
                            f"{fashion} holds Fashion-MNIST, then run `cnngrade data prepare` "
                            "again.")
    return said["cnngrade-digest"]
