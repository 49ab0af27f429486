"""Collecting submissions: a plain folder `<student>/<notebook>.ipynb`, an LMS bulk download
(Canvas-style zip, `<name>[_LATE]_<id>_<subid>_<file>.ipynb`) or an nbgrader exchange
`inbound/` folder (`<student>+<assignment>+<timestamp>/`).

Originals are never modified: each is stored by content hash and recorded in the gradebook with
its timestamp; resubmissions are new rows, and the latest is the one graded.

Every source is untrusted, and nothing is written outside the course directory:

- Zip members are read in memory, never extracted. Only a member's base name counts: a path
  with `..`, an absolute path or a drive letter (`/`, `C:\\`, `\\\\server`) is collected by its
  base name, with a sentence saying its folders were ignored. Symbolic links, encrypted and
  corrupt members are skipped. A member over MAX_FILE bytes, or one that inflates more than
  MAX_RATIO times past 1 MiB, is skipped as a bomb, and a zip is read up to MAX_MEMBERS files
  and MAX_TOTAL bytes (or MAX_RATIO times its own size); the rest is skipped with a sentence.
  Names stored as UTF-8 without the zip's UTF-8 flag are read as UTF-8, else as cp437.
- Folders are read without following links: a symbolic link (student folder or notebook), a
  pipe, a socket or a device is skipped with a sentence; files are opened non-blocking and
  only regular files are read.
- Student ids are normalized to NFC (macOS stores "Zoë" decomposed: both spellings are one
  student) and may be written in any script ("李雷", "Ђорђе", "مُحَمَّد"), but hold only letters,
  digits, combining marks and `. _ @ + -`, start with a letter, digit or `_` (no `-`, `=`,
  `+`, `@` that a spreadsheet would run from an export), and are at most MAX_ID characters:
  no control, bidi-override or zero-width characters, spaces or path separators.
- Duplicate LMS names: a zip names a student by the `<name>` part, and the numeric LMS id tells
  people apart. The same id with several submission ids is one student resubmitting. Two ids
  under one name are two people and are never merged: the id the gradebook first recorded under
  that name (else the lowest id) keeps `<name>`, and each other id is collected as
  `<name>-<id>`, with a sentence asking to check them in the LMS before exporting grades.
- A .ipynb that is not a notebook (binary, empty, invalid JSON, no cells) is stored and
  reported; it is graded 0 with that message unless resubmitted. Other files are skipped.

Each problem is one sentence (which file, what is wrong, what to do), with unprintable
characters escaped so that no name can break or reorder the line; at most MAX_PROBLEMS are
listed per source. A problem with the whole source raises CnnGradeError.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..course.config import Course
from ..course.errors import CnnGradeError, SubmissionError
from ..course.gradebook import Gradebook, open_gradebook
from ..course.store import Store
from .notebook import parse_notebook

MAX_FILE = 64 * 1024 * 1024          # one notebook
MAX_TOTAL = 4 * 1024 * 1024 * 1024   # one zip, uncompressed
MAX_RATIO = 200                      # uncompressed / compressed, beyond which a member is a bomb
MAX_MEMBERS = 10_000                 # files read from one zip
MAX_PROBLEMS = 100                   # sentences listed for one source; the rest are counted
MAX_ID = 100                         # characters in a student id
CANVAS = re.compile(r"(?P<name>[^_]+?)(?P<late>_LATE)?_(?P<id>[0-9]{1,20})_(?P<sub>[0-9]+)_"
                    r"(?P<file>.+)", re.DOTALL)   # used with fullmatch
ID_PUNCTUATION = "._@+-"
ODD_PATH = re.compile(r"(^|/)\.\.(/|$)|^/|^[A-Za-z]:")   # on the name with / for \
EXCHANGE_TS = "%Y-%m-%d %H:%M:%S.%f %Z"
EXCHANGE_DIR = re.compile(r"[^+]+\+[^+]+\+[0-9]{4}-[0-9]{2}-[0-9]{2}")   # not ids with a '+'
UTF8_NAME = 0x800                    # zip flag bit: the member's name is UTF-8, not cp437
OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | \
    getattr(os, "O_NOCTTY", 0)
KINDS = {stat.S_IFLNK: "a symbolic link", stat.S_IFDIR: "a folder", stat.S_IFIFO: "a named pipe",
         stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}


@dataclass
class Incoming:
    student: str
    filename: str
    data: bytes
    submitted_at: str
    late: bool
    origin: str
    lms_id: str | None = None


@dataclass
class CollectReport:
    added: list[tuple[str, str]] = field(default_factory=list)     # (student, file)
    unchanged: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _iso(ts: datetime) -> str:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat(timespec="seconds")


def _iso_from(seconds: float) -> str:
    """A file's mtime as ISO text; now, for an mtime no calendar holds."""
    try:
        return _iso(datetime.fromtimestamp(seconds, UTC))
    except (OverflowError, OSError, ValueError):
        return _iso(datetime.now(UTC))


def _printable(text: str) -> str:
    """`text` with control, bidi, zero-width and undecodable characters escaped (`\\u202e`)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def _describe(char: str) -> str:
    fallback = {"Cc": "a control character", "Cs": "a byte that is not UTF-8"}
    name = unicodedata.name(char, "") or fallback.get(unicodedata.category(char), "unnamed")
    return f"U+{ord(char):04X} ({name})"


def _id_problem(student: str) -> str | None:
    """What makes `student` (NFC) unusable as a student id, or None."""
    for char in student:
        if not (char.isalnum() or char in ID_PUNCTUATION
                or unicodedata.category(char).startswith("M")):
            return f"contains {_describe(char)}"
    if not (student[:1].isalnum() or student[:1] == "_"):
        return "does not start with a letter, a digit or '_'"
    if len(student) > MAX_ID or len(student.encode()) > 255:
        return f"is longer than {MAX_ID} characters (or 255 bytes)"
    return None


def _student_id(raw: str, where: str, problems: list[str]) -> str | None:
    """`raw` as a student id (NFC), or None with a sentence saying why it cannot be one."""
    student = unicodedata.normalize("NFC", raw)
    problem = _id_problem(student)
    if problem is None:
        return student
    problems.append(f"{where}: the student id '{student}' {problem}; rename it (letters and "
                    "digits in any script, and '.', '_', '@', '+', '-') and collect again.")
    return None


def _where(item: Incoming) -> str:
    return item.origin.split(":", 1)[-1]   # without the kind of source ("zip:")


def _file_name(item: Incoming, notebook: str, problems: list[str]) -> str:
    """The name the grader writes the executed notebook under: the submitted one where it is a
    plain .ipynb name, else the assignment's."""
    name = unicodedata.normalize("NFC", item.filename)
    if (name.endswith(".ipynb") and not name.startswith(".") and name.isprintable()
            and "/" not in name and "\\" not in name and len(name.encode()) <= 255):
        return name
    problems.append(f"{_where(item)}: its file name is not a plain .ipynb name; it was "
                    f"collected as {notebook}.")
    return notebook


def discover(source: Path, slug: str, notebook: str,
             nbgrader_assignment: str | None = None) -> tuple[list[Incoming], list[str]]:
    """Everything submitted in `source`, and one sentence per file that could not be used.
    For an assignment imported from nbgrader, `nbgrader_assignment` names the folder its
    notebook lies in within nbgrader's `submitted/<student>/` and exchange folders."""
    source = Path(source)
    if not source.exists():
        raise CnnGradeError(f"{source} does not exist; give a folder, an LMS zip or an nbgrader "
                            "exchange inbound/ folder.")
    if source.is_file():
        if not zipfile.is_zipfile(source):
            raise CnnGradeError(f"{source} is a file but not a zip archive, or a truncated one; "
                                "download the LMS bulk download (.zip) again, or give a folder "
                                "of <student>/<notebook>.ipynb.")
        found, problems = _from_zip(source)
    elif source.is_dir():
        found, problems = _from_dir(source, slug, notebook, nbgrader_assignment)
    else:
        raise CnnGradeError(f"{source} is neither a folder nor a zip file; give a folder, an LMS "
                            "zip or an nbgrader exchange inbound/ folder.")
    for item in found:
        item.origin = _printable(item.origin)
        item.filename = _file_name(item, notebook, problems)
    problems = [_printable(p) for p in problems]
    if len(problems) > MAX_PROBLEMS:
        problems[MAX_PROBLEMS:] = [f"{len(problems) - MAX_PROBLEMS} more problems in "
                                   f"{_printable(str(source))} were not listed; fix those "
                                   "above and collect again to see them."]
    return found, problems


def _from_dir(source: Path, slug: str, notebook: str,
              nb_assignment: str | None) -> tuple[list[Incoming], list[str]]:
    try:
        if (source / "inbound").is_dir():
            source = source / "inbound"
        entries = sorted(source.iterdir())
    except OSError as exc:
        raise CnnGradeError(f"{source} cannot be read ({exc.strerror}); check its "
                            "permissions.") from None
    if not entries:
        raise CnnGradeError(f"{source} is empty; give the folder that holds the submissions "
                            "(<student>/<notebook>.ipynb), an LMS zip or an nbgrader exchange "
                            "inbound/ folder.")
    folders = [p for p in entries if p.is_dir() and not p.is_symlink()]
    if any(EXCHANGE_DIR.match(p.name) for p in folders):
        return _from_exchange(entries, slug, notebook, nb_assignment)
    if nb_assignment and any((p / nb_assignment).is_dir() for p in folders):
        return _from_submitted(entries, nb_assignment, notebook)
    return _from_folder(entries, notebook)


# -- LMS zip ---------------------------------------------------------------------------------

def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's name as its author wrote it, NFC: tools that store UTF-8 without the UTF-8
    flag are read as UTF-8 where those bytes decode, else as the cp437 of the zip standard."""
    name = info.filename
    if not info.flag_bits & UTF8_NAME:
        try:
            name = name.encode("cp437").decode("utf-8")
        except UnicodeError:
            pass
    return unicodedata.normalize("NFC", name)


def _usable_member(info: zipfile.ZipInfo, base: str, where: str,
                   problems: list[str]) -> re.Match[str] | None:
    """The LMS name match of a member worth reading, or None with a sentence saying why not."""
    if stat.S_ISLNK(info.external_attr >> 16):
        problems.append(f"{where} is a symbolic link, not a notebook; it was skipped.")
        return None
    if not base.endswith(".ipynb"):
        problems.append(f"{where} is not a .ipynb notebook; it was skipped.")
        return None
    match = CANVAS.fullmatch(base)
    if not match:
        problems.append(f"{where}: cannot tell whose file this is (expected the LMS name "
                        "<name>_<id>_<subid>_<file>.ipynb); it was skipped.")
        return None
    if info.file_size > MAX_FILE or (
            info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * info.compress_size):
        problems.append(f"{where} is too large or too compressed to be a notebook "
                        f"({info.file_size} bytes unpacked); it was skipped.")
        return None
    return match


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str,
                 problems: list[str]) -> bytes | None:
    try:
        with archive.open(info) as member:
            # zipfile stops at the declared size (then checks the CRC), but inflates as much
            # as it is asked for first: ask for no more than that size
            data = member.read(min(info.file_size, MAX_FILE) + 1)
    except Exception as exc:  # hostile members raise many types: BadZipFile, zlib.error, EOFError
        why = str(exc) or type(exc).__name__
        problems.append(f"{where} cannot be read from the zip ({why}); it was skipped: "
                        "download the zip again or ask for this file.")
        return None
    if len(data) > MAX_FILE:
        problems.append(f"{where} is larger than {MAX_FILE} bytes; it was skipped.")
        return None
    return data


def _zip_stamp(info: zipfile.ZipInfo) -> str:
    try:
        return _iso(datetime(*info.date_time))
    except (TypeError, ValueError):
        return _iso(datetime.now(UTC))


def _from_zip(path: Path) -> tuple[list[Incoming], list[str]]:
    found: list[Incoming] = []
    problems: list[str] = []
    try:
        archive = zipfile.ZipFile(path)
        size = path.stat().st_size
    except Exception as exc:  # a hostile central directory raises many types
        raise CnnGradeError(_printable(f"{path} cannot be opened as a zip ({exc}); download it "
                                       "again.")) from None
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) > MAX_MEMBERS:
            problems.append(f"{path.name} holds {len(members)} files, more than the "
                            f"{MAX_MEMBERS} read from one zip; the files after the first "
                            f"{MAX_MEMBERS} were skipped: split the download and collect each "
                            "part.")
            members = members[:MAX_MEMBERS]
        budget, total = min(MAX_TOTAL, max(MAX_FILE, MAX_RATIO * size)), 0
        for info in members:
            name = _member_name(info)
            where = f"{path.name}:{name}"
            slashed = name.replace("\\", "/")
            folders, _, base = slashed.rpartition("/")
            if "__MACOSX" in folders.split("/") or base.startswith("._"):
                continue   # macOS resource forks, not submissions
            match = _usable_member(info, base, where, problems)
            if match is None:
                continue
            student = _student_id(match["name"], where, problems)
            if student is None:
                continue
            total += info.file_size   # what reading can yield: zipfile stops at this size
            if total > budget:
                problems.append(f"{path.name} unpacks to more than {budget} bytes; {name} and "
                                "the files after it were skipped: split the download and "
                                "collect each part.")
                break
            if ODD_PATH.search(slashed):
                problems.append(f"{where}: the folders in this path were ignored (a zip should "
                                f"not point outside itself); it was collected as {base}.")
            data = _read_member(archive, info, where, problems)
            if data is not None:
                found.append(Incoming(student, match["file"], data, _zip_stamp(info),
                                      bool(match["late"]), f"zip:{path.name}:{name}",
                                      match["id"]))
    return found, problems


# -- folders ---------------------------------------------------------------------------------

def _kind(mode: int) -> str | None:
    """What a file that is not a regular one is ("a named pipe"), or None for a regular file."""
    return None if stat.S_ISREG(mode) else KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _read(path: Path, problems: list[str], limit: int = MAX_FILE) -> tuple[bytes, float] | None:
    """The bytes and mtime of the regular file `path`, opened without following a link or
    waiting on a pipe; None, with a sentence, where it cannot be used."""
    try:
        fd = os.open(path, OPEN_FLAGS)
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            kind = _kind(info.st_mode)
            if kind:
                problems.append(f"{path} is {kind}, not a notebook file; it was skipped.")
                return None
            data = handle.read(limit + 1) if info.st_size <= limit else b""
    except OSError as exc:
        problems.append(f"{path} cannot be read ({exc.strerror}); it was skipped.")
        return None
    if info.st_size > limit or len(data) > limit:
        problems.append(f"{path} is larger than {limit} bytes; it was skipped.")
        return None
    return data, info.st_mtime


def _subfolders(entries: list[Path], problems: list[str]) -> list[Path]:
    """The real folders among `entries`. A symbolic link or a notebook lying loose is skipped
    with a sentence; hidden entries (.git, .DS_Store) and __MACOSX silently."""
    folders = []
    for entry in entries:
        if entry.name.startswith(".") or entry.name == "__MACOSX":
            continue
        if entry.is_symlink():
            problems.append(f"{entry} is a symbolic link; it was skipped (copy the real folder "
                            "or file in if it is a submission).")
        elif entry.is_dir():
            folders.append(entry)
        elif entry.suffix == ".ipynb":
            problems.append(f"{entry} is not inside a student folder (<student>/{entry.name}); "
                            "it was skipped.")
    return folders


def _notebooks(folder: Path, notebook: str, where: str, problems: list[str]) -> list[Path]:
    """The notebook to collect from a student's folder: its only .ipynb, else the one named
    `notebook`, else the newest, with a sentence naming those not collected."""
    try:
        entries = sorted((p, p.lstat()) for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        problems.append(f"{folder} cannot be read ({exc.strerror}); it was skipped.")
        return []
    files = []
    for path, info in entries:
        if path.suffix != ".ipynb":
            continue
        kind = _kind(info.st_mode)
        if kind:
            problems.append(f"{path} is {kind}, not a notebook file; it was skipped (submit "
                            "the notebook itself).")
        else:
            files.append((path, info.st_mtime))
    if not any(p.suffix == ".ipynb" for p, _ in entries):
        others = ", ".join(p.name for p, _ in entries[:5])
        problems.append(f"{folder} holds no .ipynb notebook{f' (only {others})' if others else ''}"
                        "; nothing was collected from it.")
    if len(files) > 1:
        exact = [f for f in files if f[0].name == notebook]
        chosen = exact[0] if exact else max(files, key=lambda f: f[1])
        others = ", ".join(p.name for p, _ in files if p != chosen[0])
        problems.append(f"{where}: more than one notebook; graded {chosen[0].name}, not "
                        f"{others}.")
        files = [chosen]
    return [p for p, _ in files]


def _from_folder(entries: list[Path], notebook: str) -> tuple[list[Incoming], list[str]]:
    found: list[Incoming] = []
    problems: list[str] = []
    for folder in _subfolders(entries, problems):
        student = _student_id(folder.name, str(folder), problems)
        if student is None:
            continue
        for path in _notebooks(folder, notebook, str(folder), problems):
            read = _read(path, problems)
            if read is not None:
                found.append(Incoming(student, path.name, read[0], _iso_from(read[1]), False,
                                      f"folder:{path}"))
    return found, problems


def _exchange_stamp(folder: Path, fallback: str) -> str:
    """nbgrader's timestamp.txt in `folder`, else `fallback` text, else the folder's mtime."""
    read = _read(folder / "timestamp.txt", [], limit=1024)
    if read is not None:
        fallback = read[0].decode(errors="replace").strip() or fallback
    try:
        return _iso(datetime.strptime(fallback.replace("UTC", "").strip() + " UTC",
                                      EXCHANGE_TS))
    except ValueError:
        try:
            return _iso_from(folder.lstat().st_mtime)
        except OSError:
            return _iso(datetime.now(UTC))


def _one_notebook(folder: Path, notebook: str, problems: list[str]) -> list[Path]:
    """The assignment's notebook in an nbgrader folder that holds all of its notebooks."""
    path = folder / notebook
    try:
        kind = _kind(path.lstat().st_mode)
    except OSError:
        problems.append(f"{folder} holds no {notebook}; nothing was collected from it.")
        return []
    if kind:
        problems.append(f"{path} is {kind}, not a notebook file; it was skipped.")
        return []
    return [path]


def _from_submitted(entries: list[Path], nb_assignment: str,
                    notebook: str) -> tuple[list[Incoming], list[str]]:
    """nbgrader's `submitted/<student>/<assignment>/<notebook>.ipynb` (+ timestamp.txt)."""
    found: list[Incoming] = []
    problems: list[str] = []
    for student_dir in _subfolders(entries, problems):
        folder = student_dir / nb_assignment
        if folder.is_symlink():
            problems.append(f"{folder} is a symbolic link; it was skipped.")
            continue
        if not folder.is_dir():
            continue
        student = _student_id(student_dir.name, str(student_dir), problems)
        if student is None:
            continue
        for path in _one_notebook(folder, notebook, problems):
            read = _read(path, problems)
            if read is not None:
                found.append(Incoming(student, path.name, read[0], _exchange_stamp(folder, ""),
                                      False, f"nbgrader:{student_dir.name}/{nb_assignment}/"
                                      f"{path.name}"))
    return found, problems


def _from_exchange(entries: list[Path], slug: str, notebook: str = "",
                   nb_assignment: str | None = None) -> tuple[list[Incoming], list[str]]:
    found: list[Incoming] = []
    problems: list[str] = []
    for folder in _subfolders(entries, problems):
        parts = folder.name.split("+")
        if len(parts) < 3:
            problems.append(f"{folder} is not named <student>+<assignment>+<timestamp>; "
                            "it was skipped.")
            continue
        raw_student, assignment, stamp_text = parts[0], parts[1], parts[2]
        if assignment not in (slug, nb_assignment):
            continue
        student = _student_id(raw_student, str(folder), problems)
        if student is None:
            continue
        stamp = _exchange_stamp(folder, stamp_text)
        paths = (_one_notebook(folder, notebook, problems) if assignment == nb_assignment
                 else _notebooks(folder, f"{slug}.ipynb", str(folder), problems))
        for path in paths:
            read = _read(path, problems)
            if read is not None:
                found.append(Incoming(student, path.name, read[0], stamp, False,
                                      f"exchange:{folder.name}/{path.name}"))
    return found, problems


# -- collecting ------------------------------------------------------------------------------

def _recorded_lms_id(book: Gradebook, student: str) -> str | None:
    """The LMS id of the first zip submission the gradebook recorded for `student`."""
    rows = book.db.execute("SELECT origin FROM submissions WHERE student = ? AND origin LIKE "
                           "'zip:%' ORDER BY id", (student,))
    for row in rows:
        match = CANVAS.fullmatch(re.split(r"[:/]", row[0])[-1])
        if match:
            return match["id"]
    return None


def _separate_namesakes(incoming: list[Incoming], book: Gradebook, problems: list[str]) -> None:
    """Two LMS ids under one name are two people: the id first recorded under that name (else
    the lowest) keeps it; each other id becomes `<name>-<id>`, with one sentence."""
    keeper: dict[str, str] = {}
    for item in sorted((i for i in incoming if i.lms_id),
                       key=lambda i: (len(i.lms_id or ""), i.lms_id)):
        if item.student not in keeper:
            keeper[item.student] = _recorded_lms_id(book, item.student) or item.lms_id or ""
    told: set[str] = set()
    for item in incoming:
        owner = keeper.get(item.student) if item.lms_id else None
        if owner is None or owner == item.lms_id:
            continue
        renamed = f"{item.student}-{item.lms_id}"
        if renamed not in told:
            told.add(renamed)
            problems.append(f"{_where(item)}: LMS users {owner} and {item.lms_id} are both named "
                            f"'{item.student}'; {item.lms_id}'s files were collected as "
                            f"'{renamed}' so that the two are not merged: check who is who in "
                            "the LMS before exporting grades.")
        item.student = renamed


def _notebook_problem(item: Incoming) -> str | None:
    name = f"{item.student}/{item.filename}"
    try:
        nb = parse_notebook(item.data, name)
    except SubmissionError as exc:
        return _printable(f"{exc} (stored; it will be graded 0 with this message unless "
                          "resubmitted)")
    if not nb.cells:
        return (f"{name} is a notebook without cells (stored; it will be graded 0 unless "
                "resubmitted with the answers).")
    return None


def collect(course: Course, slug: str, source: Path) -> CollectReport:
    """Store every submission in `source` and record it in the gradebook."""
    assignment = course.assignment(slug)
    incoming, problems = discover(Path(source), slug, assignment.notebook,
                                  assignment.nbgrader_assignment)
    if not incoming and not problems:
        raise CnnGradeError(f"{source} holds no submissions for '{slug}'; give the folder, LMS "
                            "zip or nbgrader exchange that holds them.")
    report = CollectReport(problems=problems)
    store = Store(course.course_dir / "store")
    book = open_gradebook(course.course_dir)
    try:
        _separate_namesakes(incoming, book, report.problems)
        for item in incoming:
            digest = store.put(item.data)
            added = book.add_submission(
                assignment=slug, student=item.student, sha256=digest, filename=item.filename,
                origin=item.origin, submitted_at=item.submitted_at, late=item.late)
            (report.added if added else report.unchanged).append((item.student, item.filename))
            problem = _notebook_problem(item) if added else None
            if problem:
                report.problems.append(problem)
    finally:
        book.close()
    return report
