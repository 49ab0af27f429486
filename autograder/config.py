"""Course and assignment settings: `cnngrade.toml` in the course directory, `assignment.toml` per
assignment. The course content defaults to this repository's `assignments/`, `solutions/` and
`autograder/suites/`; a course can point elsewhere in its `cnngrade.toml`:

    [content]
    assignments = "/path/to/assignments"
    solutions = "/path/to/solutions"
    suites = "/path/to/suites"
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from autograder.data import DataLayout, data_layout
from autograder.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
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
    cell_timeout: float = 60.0
    notebook_timeout: float = 600.0
    call_timeout: float = 30.0
    memory: int = 4 * 1024**3
    processes: int = 64
    file_size: int = 256 * 1024**2
    output_size: int = 2 * 1024**2
    threads: int = 1               # CPU threads the kernel's maths libraries may use


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
    data: tuple[str, ...] = ()     # public datasets the notebook reads (see autograder.data)
    thresholds: dict[str, float] = field(default_factory=dict)   # [thresholds], e.g. accuracy
    # "cnngrade": a hidden pytest suite in autograder/suites/<slug>/; "nbgrader": the grade
    # cells of the solution notebook are the tests, scored by nbgrader's rules
    kind: str = "cnngrade"
    # for kind = "nbgrader": the nbgrader assignment and notebook (stem) it was imported from,
    # so that collect reads nbgrader's submitted/ and exchange folders
    nbgrader_assignment: str | None = None

    @property
    def template(self) -> Path:
        return self.template_dir / self.notebook

    @property
    def public_tests_dir(self) -> Path:
        return self.template_dir / "public_tests"


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
            )
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
            )
        except KeyError as missing:
            raise ConfigError(f"{where} has no {missing} setting; add it (see README, "
                              "'Adding an assignment').") from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where} has a setting of the wrong type ({exc}); fix it.") from None


def _kind(value: object, where: str) -> str:
    if value not in ("cnngrade", "nbgrader"):
        raise ConfigError(f"{where}: kind = {value!r}; use \"cnngrade\" (a hidden pytest "
                          "suite) or \"nbgrader\" (the notebook's own grade cells).")
    return str(value)


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
