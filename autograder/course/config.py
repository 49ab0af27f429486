"""Course and assignment settings: `cnngrade.toml` in the course directory, `assignment.toml` per
assignment. The course content defaults to this repository's `assignments/`, `solutions/` and
`autograder/suites/`; a course can point elsewhere in its `cnngrade.toml`:

    [content]
    assignments = "/path/to/assignments"
    solutions = "/path/to/solutions"
    suites = "/path/to/suites"

Late policy (read by `Course.late_policy`, applied by `cnngrade.course.policy`): a course-wide
default in `[late]`, and per assignment a `[late.<slug>]` table whose keys override it:

    [late]                          # every assignment; all keys optional
    penalty = "per-day"             # "none" (default), "zero" or "per-day"
    percent_per_day = 10            # per-day: percent off for each day late, started days count
    max_percent = 50                # per-day: at most this percent off in all (default 100)
    grace_minutes = 15              # the deadline is this much later for everyone (default 0)
    deduct_from = "max_score"       # the percent is of "max_score" (default) or of the "score"
    timezone = "Europe/Berlin"      # for deadlines written without an offset (IANA name)

    [late.keras-convnet]
    deadline = "2026-10-01T23:59:00+00:00"   # or a TOML datetime: 2026-10-01T23:59:00+02:00
    penalty = "zero"                # overrides [late] for this assignment

    [late.keras-convnet.extensions] # per student: a later deadline, or days after the deadline
    ada = "2026-10-03T23:59:00+00:00"
    bob = 2

An assignment without a deadline has no late penalty. Grace applies to extended deadlines too.

Exports (read by `Course.export_settings`, used by `cnngrade.views.export`):

    [export]
    canvas_student_id = "sis_login_id"   # what cnngrade's student ids are in Canvas:
                                         # "sis_login_id", "sis_user_id" or "none" (default)
    moodle_user_field = "username"       # "username" (default), "idnumber" or "email"
    moodle_email_domain = "uni.example"  # with "email": appended to ids without an "@"

    [export.canvas_columns]              # the Canvas gradebook column of an assignment,
    keras-convnet = "Keras convnet (123456)"  # as Canvas's own export names it: "Title (id)"
"""

from __future__ import annotations

import math
import re
import tomllib
import unicodedata
import zoneinfo
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from .data import DataLayout, data_layout
from .errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]   # autograder/course/config.py -> the repository
COURSE_FILE = "cnngrade.toml"

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "KIB": 1024, "M": 1000**2, "MB": 1000**2,
          "MIB": 1024**2, "G": 1000**3, "GB": 1000**3, "GIB": 1024**3, "T": 1000**4,
          "TB": 1000**4, "TIB": 1024**4}


def parse_size(value: str | int, where: str) -> int:
    """'2GiB' -> 2147483648; plain integers are bytes."""
    if isinstance(value, int):
        return value
    match = _SIZE.match(str(value))
    unit = (match.group(2) or "").upper() if match else None
    if not match or unit not in _UNITS:
        raise ConfigError(f"{where}: cannot read the size {value!r}; write it like "
                          "\"2GiB\" or \"512MiB\".")
    return int(float(match.group(1)) * _UNITS[unit])


@dataclass(frozen=True)
class Limits:
    """The sandbox's limits. The three time limits count the submission's own work: the CPU
    seconds of the kernel's whole process tree (cnngrade.sandbox.cputime), so that a busy machine
    gives the same verdict as an idle one. Each also has a wall-clock backstop,
    `wall_factor` times as long, that stops what sleeps or waits forever (it uses no CPU).
    Where CPU time cannot be read (no /proc), the limits count wall-clock seconds."""
    cell_timeout: float = 60.0     # CPU seconds per cell
    notebook_timeout: float = 600.0   # CPU seconds for all cells together
    call_timeout: float = 30.0     # CPU seconds per call the checker makes into the kernel
    memory: int = 4 * 1024**3
    processes: int = 64
    file_size: int = 256 * 1024**2
    output_size: int = 2 * 1024**2
    threads: int = 1               # CPU threads the kernel's maths libraries may use
    wall_factor: float = 4.0       # each wall-clock backstop is this many times its CPU limit

    def wall(self, seconds: float) -> float:
        """The wall-clock backstop of a CPU limit of `seconds`."""
        return seconds * self.wall_factor


@dataclass(frozen=True)
class Assignment:
    slug: str
    title: str
    points: float
    notebook: str
    gpu: bool
    public_files: tuple[str, ...]
    limits: Limits
    template_dir: Path
    solution: Path
    suite_dir: Path
    data: tuple[str, ...] = ()     # public datasets the notebook reads (see cnngrade.course.data)
    thresholds: dict[str, float] = field(default_factory=dict)   # [thresholds], e.g. accuracy
    # "cnngrade": a hidden pytest suite in autograder/suites/<slug>/; "nbgrader": the grade
    # cells of the solution notebook are the tests, scored by nbgrader's rules
    kind: str = "cnngrade"
    # for kind = "nbgrader": the nbgrader assignment and notebook (stem) it was imported from,
    # so that collect reads nbgrader's submitted/ and exchange folders
    nbgrader_assignment: str | None = None
    # the Keras backend of the student's kernel and of the checker (KERAS_BACKEND)
    keras_backend: str = "tensorflow"
    # GPU packing (gpu = true): up to `gpu_slots` submissions share one GPU at a time, each
    # kernel capped to `gpu_memory` bytes of it (None: an equal share, 1 / gpu_slots)
    gpu_slots: int = 1
    gpu_memory: int | None = None

    @property
    def template(self) -> Path:
        return self.template_dir / self.notebook

    @property
    def public_tests_dir(self) -> Path:
        return self.template_dir / "public_tests"


PENALTIES = ("none", "zero", "per-day")
DEDUCT_FROM = ("max_score", "score")
LATE_POLICY_KEYS = ("penalty", "percent_per_day", "max_percent", "grace_minutes", "deduct_from",
                    "timezone")
LATE_ASSIGNMENT_KEYS = ("deadline", "extensions")
KERAS_BACKENDS = ("tensorflow", "jax", "torch")
CANVAS_STUDENT_IDS = ("none", "sis_login_id", "sis_user_id")
MOODLE_USER_FIELDS = ("username", "idnumber", "email")
EXPORT_KEYS = ("canvas_student_id", "canvas_columns", "moodle_user_field", "moodle_email_domain")


@dataclass(frozen=True)
class LatePolicy:
    """The late policy of one assignment, from `[late]` and `[late.<slug>]` of cnngrade.toml."""
    slug: str
    deadline: datetime | None = None           # aware; None: no deadline, nothing is late
    penalty: str = "none"                      # "none" | "zero" | "per-day"
    percent_per_day: float = 0.0
    max_percent: float = 100.0
    grace: timedelta = timedelta(0)
    deduct_from: str = "max_score"             # "max_score" | "score"
    extensions: dict[str, datetime] = field(default_factory=dict)   # student (NFC) -> deadline

    def deadline_for(self, student: str) -> tuple[datetime | None, bool]:
        """The deadline that holds for `student` and whether it is an extension."""
        extended = self.extensions.get(unicodedata.normalize("NFC", student))
        if extended is not None:
            return extended, True
        return self.deadline, False


@dataclass(frozen=True)
class ExportSettings:
    """`[export]` of cnngrade.toml: how student ids and assignments are named in an LMS."""
    canvas_student_id: str = "none"
    canvas_columns: dict[str, str] = field(default_factory=dict)   # slug -> column header
    moodle_user_field: str = "username"
    moodle_email_domain: str | None = None


@dataclass(frozen=True)
class Course:
    course_dir: Path
    assignments_dir: Path
    solutions_dir: Path
    suites_dir: Path
    settings: dict = field(default_factory=dict)

    @property
    def data(self) -> DataLayout:
        return data_layout(self.settings, self.course_dir)

    @property
    def config_path(self) -> Path:
        return self.course_dir / COURSE_FILE

    def late_policy(self, slug: str) -> LatePolicy:
        """The late policy of `slug`: `[late]` with `[late.<slug>]` over it. The whole `[late]`
        table is checked, so that a mistake for any assignment is found at once."""
        policies = _late_policies(self.settings.get("late", {}), self.config_path, self.slugs())
        return policies.get(slug) or replace(policies[None], slug=slug)

    def export_settings(self) -> ExportSettings:
        return _export_settings(self.settings.get("export", {}), self.config_path)

    def slugs(self) -> list[str]:
        if not self.assignments_dir.is_dir():
            return []
        return sorted(p.name for p in self.assignments_dir.iterdir()
                      if (p / "assignment.toml").is_file())

    def assignment(self, slug: str) -> Assignment:
        toml_path = self.assignments_dir / slug / "assignment.toml"
        if not toml_path.is_file():
            known = ", ".join(self.slugs()) or "none"
            raise ConfigError(f"There is no assignment '{slug}' in {self.assignments_dir} "
                              f"(known: {known}); check the spelling of the slug.")
        data = _read_toml(toml_path)
        where = str(toml_path)
        limits_data = data.get("limits", {})
        try:
            defaults = Limits()
            limits = Limits(
                cell_timeout=float(limits_data.get("cell_timeout", defaults.cell_timeout)),
                notebook_timeout=float(limits_data.get("notebook_timeout",
                                                        defaults.notebook_timeout)),
                call_timeout=float(limits_data.get("call_timeout", defaults.call_timeout)),
                memory=parse_size(limits_data.get("memory", defaults.memory), where),
                processes=int(limits_data.get("processes", defaults.processes)),
                file_size=parse_size(limits_data.get("file_size", defaults.file_size), where),
                output_size=parse_size(limits_data.get("output_size", defaults.output_size),
                                       where),
                threads=int(limits_data.get("threads", defaults.threads)),
                wall_factor=float(limits_data.get("wall_factor", defaults.wall_factor)),
            )
            if limits.wall_factor < 1 or limits.threads < 0:
                raise ValueError("wall_factor must be at least 1 and threads at least 0")
            return Assignment(
                slug=slug,
                title=str(data.get("title", slug)),
                points=float(data["points"]),
                notebook=str(data.get("notebook", f"{slug}.ipynb")),
                gpu=bool(data.get("gpu", False)),
                public_files=tuple(str(p) for p in data.get("public_files", [])),
                limits=limits,
                template_dir=self.assignments_dir / slug,
                solution=self.solutions_dir / f"{slug}.ipynb",
                suite_dir=self.suites_dir / slug,
                data=tuple(str(d) for d in data.get("data", [])),
                thresholds={str(k): float(v) for k, v in data.get("thresholds", {}).items()},
                kind=_kind(data.get("kind", "cnngrade"), where),
                nbgrader_assignment=(str(data["nbgrader"]["assignment"])
                                     if isinstance(data.get("nbgrader"), dict)
                                     and "assignment" in data["nbgrader"] else None),
                keras_backend=keras_backend(data.get("keras_backend", "tensorflow"), where),
                gpu_slots=gpu_slots(data.get("gpu_slots", 1), where),
                gpu_memory=(parse_size(data["gpu_memory"], where)
                            if data.get("gpu_memory") is not None else None),
            )
        except KeyError as missing:
            raise ConfigError(f"{where} has no {missing} setting; add it (see README, "
                              "'Adding an assignment').") from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where} has a setting of the wrong type ({exc}); fix it.") from None


def keras_backend(value: object, where: str) -> str:
    """A Keras backend's name, or one clear sentence saying which ones there are."""
    if value not in KERAS_BACKENDS:
        raise ConfigError(f"{where}: keras_backend = {value!r} is not a Keras backend; use "
                          "\"tensorflow\", \"jax\" or \"torch\".")
    return str(value)


def gpu_slots(value: object, where: str) -> int:
    """How many submissions may share one GPU: a whole number from 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: gpu_slots = {value!r}; write a whole number of "
                          "submissions per GPU, 1 or more.")
    return value


def _kind(value: object, where: str) -> str:
    if value not in ("cnngrade", "nbgrader"):
        raise ConfigError(f"{where}: kind = {value!r}; use \"cnngrade\" (a hidden pytest "
                          "suite) or \"nbgrader\" (the notebook's own grade cells).")
    return str(value)


# -- [late] ----------------------------------------------------------------------------------

def _late_error(where: Path, key: str, value: object, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"{where}: {key} = {value!r} {problem}; {fix}.")


def _number(where: Path, key: str, value: object, low: float, high: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value < low or (high is not None and value > high):
        span = f"from {low:g} to {high:g}" if high is not None else f"{low:g} or more"
        raise _late_error(where, key, value, "is not a number " + span, "write a number " + span)
    return float(value)


def _choice(where: Path, key: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _late_error(where, key, value, "is not one of " + ", ".join(choices),
                          "use one of them")
    return str(value)


def _zone(where: Path, key: str, value: object) -> tzinfo:
    try:
        if not isinstance(value, str) or not value:
            raise ValueError
        return zoneinfo.ZoneInfo(value)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise _late_error(where, key, value, "is not a time zone",
                          'write an IANA name such as "Europe/Berlin" or "UTC"') from None


def _moment(where: Path, key: str, value: object, zone: tzinfo | None) -> datetime:
    """A deadline: a TOML datetime or an ISO 8601 string, with an offset or with `timezone`."""
    fix = ('write a date and time with its offset, like "2026-10-01T23:59:00+02:00", or set '
           'timezone in [late]')
    moment: datetime | None = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
        if moment is not None and len(value.strip()) <= 10:   # "2026-10-01": no time given
            moment = None
    if moment is None:
        raise _late_error(where, key, value, "is not a date and time", fix)
    if moment.tzinfo is None or moment.utcoffset() is None:
        if zone is None:
            raise _late_error(where, key, value, "has no time zone offset", fix)
        moment = moment.replace(tzinfo=zone)
    return moment


def _late_policies(table: object, where: Path, slugs: list[str]) -> dict[str | None, LatePolicy]:
    """Every assignment's policy in `[late]`, and the course-wide one under None."""
    if not isinstance(table, dict):
        raise _late_error(where, "late", table, "is not a table",
                          "write [late] and [late.<slug>] tables (see README, 'Late policy')")
    defaults: dict = {}
    per_assignment: dict[str, dict] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            per_assignment[key] = value
        elif key in LATE_POLICY_KEYS:
            defaults[key] = value
        elif key in LATE_ASSIGNMENT_KEYS:
            raise _late_error(where, f"late.{key}", value, "is set for the whole course",
                              f"put {key} in the table of its assignment, [late.<slug>]")
        else:
            raise _late_error(where, f"late.{key}", value, "is not a late-policy setting",
                              "use " + ", ".join(LATE_POLICY_KEYS) + " or a [late.<slug>] table")
    zone = _zone(where, "late.timezone", defaults["timezone"]) if "timezone" in defaults else None
    policies: dict[str | None, LatePolicy] = {None: _policy(None, defaults, {}, where, zone)}
    for slug, settings in per_assignment.items():
        if slug not in slugs:
            raise ConfigError(f"{where}: [late.{slug}] names no assignment of this course; fix "
                              "the slug (known: " + (", ".join(slugs) or "none") + ").")
        for key in settings:
            if key not in LATE_POLICY_KEYS + LATE_ASSIGNMENT_KEYS:
                raise _late_error(where, f"late.{slug}.{key}", settings[key],
                                  "is not a late-policy setting",
                                  "use " + ", ".join(LATE_POLICY_KEYS + LATE_ASSIGNMENT_KEYS))
        own_zone = (_zone(where, f"late.{slug}.timezone", settings["timezone"])
                    if "timezone" in settings else zone)
        policies[slug] = _policy(slug, {**defaults, **settings}, settings, where, own_zone)
    return policies


def _policy(slug: str | None, merged: dict, own: dict, where: Path,
            zone: tzinfo | None) -> LatePolicy:
    prefix = f"late.{slug}." if slug else "late."

    def key(name: str) -> str:   # where the setting was written: the assignment's or [late]
        return (prefix if name in own or not slug else "late.") + name

    penalty = _choice(where, key("penalty"), merged.get("penalty", "none"), PENALTIES)
    per_day = _number(where, key("percent_per_day"), merged.get("percent_per_day", 0), 0, 100)
    if penalty == "per-day" and per_day == 0:
        raise _late_error(where, key("penalty"), penalty, "needs percent_per_day",
                          "add percent_per_day = <percent off per day late> beside it")
    max_percent = _number(where, key("max_percent"), merged.get("max_percent", 100), 0, 100)
    grace = _number(where, key("grace_minutes"), merged.get("grace_minutes", 0), 0, None)
    deduct_from = _choice(where, key("deduct_from"), merged.get("deduct_from", "max_score"),
                          DEDUCT_FROM)
    deadline = (_moment(where, f"{prefix}deadline", merged["deadline"], zone)
                if "deadline" in merged else None)
    extensions: dict[str, datetime] = {}
    raw = merged.get("extensions", {})
    if not isinstance(raw, dict):
        raise _late_error(where, f"{prefix}extensions", raw, "is not a table",
                          f"write [late.{slug}.extensions] with one student = deadline per line")
    if raw and deadline is None:
        raise _late_error(where, f"{prefix}extensions", raw, "extends no deadline",
                          f"add deadline = ... to [late.{slug}]")
    for student, value in raw.items():
        name = f"{prefix}extensions.{student}"
        if isinstance(value, int | float) and not isinstance(value, bool):
            days = _number(where, name, value, 0, 3650)
            moment = deadline + timedelta(days=days) if deadline else None
        else:
            moment = _moment(where, name, value, zone)
        if deadline is not None and moment is not None and moment < deadline:
            raise _late_error(where, name, value, "is before the deadline it extends",
                              "give a later date and time, or a number of days after the "
                              "deadline")
        if moment is not None:
            extensions[unicodedata.normalize("NFC", str(student))] = moment
    return LatePolicy(slug=slug or "", deadline=deadline, penalty=penalty,
                      percent_per_day=per_day, max_percent=max_percent,
                      grace=timedelta(minutes=grace), deduct_from=deduct_from,
                      extensions=extensions)


def _export_settings(table: object, where: Path) -> ExportSettings:
    if not isinstance(table, dict):
        raise _late_error(where, "export", table, "is not a table", "write an [export] table")
    for key, value in table.items():
        if key not in EXPORT_KEYS:
            raise _late_error(where, f"export.{key}", value, "is not an export setting",
                              "use " + ", ".join(EXPORT_KEYS))
    columns = table.get("canvas_columns", {})
    if not isinstance(columns, dict) or not all(
            isinstance(v, str) and v.strip() and v.isprintable() for v in columns.values()):
        raise _late_error(where, "export.canvas_columns", columns,
                          "is not a table of column names",
                          'write [export.canvas_columns] with lines like slug = "Title (id)"')
    domain = table.get("moodle_email_domain")
    if domain is not None and (not isinstance(domain, str) or not re.fullmatch(
            r"[A-Za-z0-9.-]+\.[A-Za-z]{2,}", domain)):
        raise _late_error(where, "export.moodle_email_domain", domain, "is not a domain name",
                          'write it like "uni.example" (without "@")')
    return ExportSettings(
        canvas_student_id=_choice(where, "export.canvas_student_id",
                                  table.get("canvas_student_id", "none"), CANVAS_STUDENT_IDS),
        canvas_columns={str(k): v.strip() for k, v in columns.items()},
        moodle_user_field=_choice(where, "export.moodle_user_field",
                                  table.get("moodle_user_field", "username"),
                                  MOODLE_USER_FIELDS),
        moodle_email_domain=domain)


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix the file.") from None


def load_course(course_dir: str | Path = "course") -> Course:
    """The course workspace in `course_dir` (need not exist yet) and where its content lives."""
    course_dir = Path(course_dir).resolve()
    settings: dict = {}
    config_path = course_dir / COURSE_FILE
    if config_path.is_file():
        settings = _read_toml(config_path)
    content = settings.get("content", {})

    def folder(key: str, default: Path) -> Path:
        value = content.get(key)
        return (course_dir / value).resolve() if value else default

    return Course(
        course_dir=course_dir,
        assignments_dir=folder("assignments", REPO_ROOT / "assignments"),
        solutions_dir=folder("solutions", REPO_ROOT / "solutions"),
        suites_dir=folder("suites", REPO_ROOT / "autograder" / "suites"),
        settings=settings,
    )
