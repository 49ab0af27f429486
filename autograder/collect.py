"""Collecting submissions: a plain folder `<student>/<notebook>.ipynb`, an LMS bulk download
(Canvas-style zip, `<name>[_LATE]_<id>_<subid>_<file>.ipynb`) or an nbgrader exchange
`inbound/` folder (`<student>+<assignment>+<timestamp>/`).

Originals are never modified: each is stored by content hash and recorded in the gradebook with
its timestamp; resubmissions are new rows, and the latest is the one graded. Zip members are read
in memory, never extracted, so their paths cannot write anywhere.
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from autograder.config import Course
from autograder.errors import CnnGradeError, SubmissionError
from autograder.gradebook import open_gradebook
from autograder.notebook import parse_notebook
from autograder.store import Store

MAX_FILE = 64 * 1024 * 1024          # one notebook
MAX_TOTAL = 4 * 1024 * 1024 * 1024   # one zip, uncompressed
MAX_RATIO = 200                      # uncompressed / compressed, beyond which a member is a bomb
CANVAS = re.compile(r"^(?P<name>[^_]+?)(?P<late>_LATE)?_(?P<id>\d+)_(?P<sub>\d+)_(?P<file>.+)$")
STUDENT_ID = re.compile(r"^[\w][\w.@+-]{0,99}$")
EXCHANGE_TS = "%Y-%m-%d %H:%M:%S.%f %Z"


@dataclass
class Incoming:
    student: str
    filename: str
    data: bytes
    submitted_at: str
    late: bool
    origin: str


@dataclass
class CollectReport:
    added: list[tuple[str, str]] = field(default_factory=list)     # (student, file)
    unchanged: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _iso(ts: datetime) -> str:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat(timespec="seconds")


def _valid_student(student: str, where: str, problems: list[str]) -> bool:
    if STUDENT_ID.match(student) and student not in {".", ".."}:
        return True
    problems.append(f"{where}: '{student}' is not a usable student id (letters, digits, "
                    "'.', '_', '@', '+', '-'); rename it and collect again.")
    return False


def discover(source: Path, slug: str, notebook: str,
             nbgrader_assignment: str | None = None) -> tuple[list[Incoming], list[str]]:
    """Everything submitted in `source`, and one sentence per file that could not be used.
    For an assignment imported from nbgrader, `nbgrader_assignment` names the folder its
    notebook lies in within nbgrader's `submitted/<student>/` and exchange folders."""
    if not source.exists():
        raise CnnGradeError(f"{source} does not exist; give a folder, an LMS zip or an nbgrader "
                            "exchange inbound/ folder.")
    if source.is_file():
        if not zipfile.is_zipfile(source):
            raise CnnGradeError(f"{source} is a file but not a zip archive; give an LMS bulk "
                                "download (.zip) or a folder of <student>/<notebook>.ipynb.")
        return _from_zip(source)
    if (source / "inbound").is_dir():
        source = source / "inbound"
    if any("+" in p.name for p in source.iterdir() if p.is_dir()):
        return _from_exchange(source, slug, notebook, nbgrader_assignment)
    if nbgrader_assignment and any((p / nbgrader_assignment).is_dir()
                                   for p in source.iterdir() if p.is_dir()):
        return _from_submitted(source, nbgrader_assignment, notebook)
    return _from_folder(source, notebook)


def _from_zip(path: Path) -> tuple[list[Incoming], list[str]]:
    found: list[Incoming] = []
    problems: list[str] = []
    total = 0
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CnnGradeError(f"{path} cannot be opened as a zip ({exc}); download it "
                            "again.") from None
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            where = f"{path.name}:{info.filename}"
            base = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
            if stat.S_ISLNK(info.external_attr >> 16):
                problems.append(f"{where} is a symbolic link, not a notebook; it was skipped.")
                continue
            if not base.endswith(".ipynb"):
                problems.append(f"{where} is not a .ipynb notebook; it was skipped.")
                continue
            match = CANVAS.match(base)
            if not match:
                problems.append(f"{where}: cannot tell whose file this is (expected the LMS "
                                "name <name>_<id>_<subid>_<file>.ipynb); it was skipped.")
                continue
            if info.file_size > MAX_FILE or (
                    info.compress_size and info.file_size / info.compress_size > MAX_RATIO
                    and info.file_size > 1024 * 1024):
                problems.append(f"{where} is too large or too compressed to be a notebook "
                                f"({info.file_size} bytes); it was skipped.")
                continue
            total += info.file_size
            if total > MAX_TOTAL:
                problems.append(f"{path.name} holds more than {MAX_TOTAL} bytes; the rest was "
                                "skipped.")
                break
            student = match["name"]
            if not _valid_student(student, where, problems):
                continue
            try:
                with archive.open(info) as member:
                    data = member.read(MAX_FILE + 1)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
                problems.append(f"{where} cannot be read from the zip ({exc}); it was skipped.")
                continue
            if len(data) > MAX_FILE:
                problems.append(f"{where} is larger than {MAX_FILE} bytes; it was skipped.")
                continue
            try:
                stamp = _iso(datetime(*info.date_time))
            except ValueError:
                stamp = _iso(datetime.now(UTC))
            found.append(Incoming(student, match["file"], data, stamp, bool(match["late"]),
                                  f"zip:{path.name}:{info.filename}"))
    return found, problems


def _notebooks(folder: Path, notebook: str, where: str, problems: list[str]) -> list[Path]:
    files = sorted(p for p in folder.iterdir()
                   if p.suffix == ".ipynb" and p.is_file() and not p.is_symlink())
    if len(files) > 1:
        exact = [p for p in files if p.name == notebook]
        chosen = exact[0] if exact else max(files, key=lambda p: p.stat().st_mtime)
        others = ", ".join(p.name for p in files if p != chosen)
        problems.append(f"{where}: more than one notebook; graded {chosen.name}, not {others}.")
        files = [chosen]
    return files


def _read(path: Path, problems: list[str]) -> bytes | None:
    try:
        if path.stat().st_size > MAX_FILE:
            problems.append(f"{path} is larger than {MAX_FILE} bytes; it was skipped.")
            return None
        return path.read_bytes()
    except OSError as exc:
        problems.append(f"{path} cannot be read ({exc.strerror}); it was skipped.")
        return None


def _from_folder(root: Path, notebook: str) -> tuple[list[Incoming], list[str]]:
    found: list[Incoming] = []
    problems: list[str] = []
    for folder in sorted(p for p in root.iterdir()):
        if folder.is_symlink() or not folder.is_dir():
            if folder.suffix == ".ipynb":
                problems.append(f"{folder} is not inside a student folder (<student>/"
                                f"{folder.name}); it was skipped.")
            continue
        student = folder.name
        if not _valid_student(student, str(folder), problems):
            continue
        files = _notebooks(folder, notebook, str(folder), problems)
        if not files:
            problems.append(f"{folder} holds no .ipynb notebook; nothing was collected for "
                            f"{student}.")
        for path in files:
            data = _read(path, problems)
            if data is not None:
                stamp = _iso(datetime.fromtimestamp(path.stat().st_mtime, UTC))
                found.append(Incoming(student, path.name, data, stamp, False, f"folder:{path}"))
    return found, problems


def _exchange_stamp(folder: Path, fallback: str) -> str:
    """nbgrader's timestamp.txt in `folder`, else `fallback` text, else the folder's mtime."""
    stamp_file = folder / "timestamp.txt"
    if stamp_file.is_file():
        fallback = stamp_file.read_text(errors="replace").strip() or fallback
    try:
        return _iso(datetime.strptime(fallback.replace("UTC", "").strip() + " UTC",
                                      EXCHANGE_TS))
    except ValueError:
        return _iso(datetime.fromtimestamp(folder.stat().st_mtime, UTC))


def _one_notebook(folder: Path, notebook: str, problems: list[str]) -> list[Path]:
    """The assignment's notebook in an nbgrader folder that holds all of its notebooks."""
    path = folder / notebook
    if path.is_file() and not path.is_symlink():
        return [path]
    problems.append(f"{folder} holds no {notebook}; nothing was collected from it.")
    return []


def _from_submitted(root: Path, nb_assignment: str,
                    notebook: str) -> tuple[list[Incoming], list[str]]:
    """nbgrader's `submitted/<student>/<assignment>/<notebook>.ipynb` (+ timestamp.txt)."""
    found: list[Incoming] = []
    problems: list[str] = []
    for student_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
        folder = student_dir / nb_assignment
        if not folder.is_dir() or folder.is_symlink():
            continue
        if not _valid_student(student_dir.name, str(student_dir), problems):
            continue
        for path in _one_notebook(folder, notebook, problems):
            data = _read(path, problems)
            if data is not None:
                found.append(Incoming(student_dir.name, path.name, data,
                                      _exchange_stamp(folder, ""), False,
                                      f"nbgrader:{student_dir.name}/{nb_assignment}/"
                                      f"{path.name}"))
    return found, problems


def _from_exchange(inbound: Path, slug: str, notebook: str = "",
                   nb_assignment: str | None = None) -> tuple[list[Incoming], list[str]]:
    found: list[Incoming] = []
    problems: list[str] = []
    for folder in sorted(p for p in inbound.iterdir() if p.is_dir() and not p.is_symlink()):
        parts = folder.name.split("+")
        if len(parts) < 3:
            problems.append(f"{folder} is not named <student>+<assignment>+<timestamp>; "
                            "it was skipped.")
            continue
        student, assignment, stamp_text = parts[0], parts[1], parts[2]
        if assignment not in (slug, nb_assignment):
            continue
        if not _valid_student(student, str(folder), problems):
            continue
        stamp = _exchange_stamp(folder, stamp_text)
        paths = (_one_notebook(folder, notebook, problems) if assignment == nb_assignment
                 else _notebooks(folder, f"{slug}.ipynb", str(folder), problems))
        for path in paths:
            data = _read(path, problems)
            if data is not None:
                found.append(Incoming(student, path.name, data, stamp, False,
                                      f"exchange:{folder.name}/{path.name}"))
    return found, problems


def collect(course: Course, slug: str, source: Path) -> CollectReport:
    """Store every submission in `source` and record it in the gradebook."""
    assignment = course.assignment(slug)
    incoming, problems = discover(Path(source), slug, assignment.notebook,
                                  assignment.nbgrader_assignment)
    report = CollectReport(problems=problems)
    store = Store(course.course_dir / "store")
    book = open_gradebook(course.course_dir)
    try:
        for item in incoming:
            digest = store.put(item.data)
            added = book.add_submission(
                assignment=slug, student=item.student, sha256=digest, filename=item.filename,
                origin=item.origin, submitted_at=item.submitted_at, late=item.late)
            (report.added if added else report.unchanged).append((item.student, item.filename))
            if added:
                try:
                    parse_notebook(item.data, f"{item.student}/{item.filename}")
                except SubmissionError as exc:
                    report.problems.append(f"{exc} (stored; it will be graded 0 with this "
                                           "message unless resubmitted)")
    finally:
        book.close()
    if not incoming and not problems:
        report.problems.append(f"{source} holds no submissions for '{slug}'.")
    return report
