"""cnngrade's engine: release, collect, sandboxed grading, gradebook and reports.

The stages, each a sub-package that imports only the stages below it:

    views/     report, feedback pages, exports, the student's check, the demo   what people read
    grading/   grade a class: evaluate each notebook, run the hidden suite       the trusted side
    sandbox/   the walls, the kernel inside them, the `student` proxy            the untrusted side
    intake/    the notebook format, release, collect                            untrusted bytes in
    course/    settings, gradebook, store, late policy, data, errors            settings and state
    suites/    the hidden suites (course content, never shipped to students)

The public API below is what the CLI (`cli/`, which only parses options and renders) and a Python
user call; every function takes data and returns data:

    course = autograder.load_course(Path("course"))
    autograder.prepare_data(course.data)
    autograder.release(course, "conv-by-hand")
    autograder.collect(course, "conv-by-hand", Path("inbox"))
    autograder.grade(course, "conv-by-hand")
    autograder.class_report(course, "conv-by-hand")
    autograder.write_feedback(course, "conv-by-hand")
    autograder.export(course, "conv-by-hand", "canvas")
    autograder.check_notebook(Path("conv-by-hand.ipynb"), course)   # what students run

Names are imported when first used, so `import autograder` (done by every grader, worker and Ray
task process, and by the suites) stays cheap.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

# jsonschema (which nbformat imports) checks the "iri" string formats with rfc3987-syntax when it
# is installed, and builds that package's grammar at import: about a second in every grader,
# worker and Ray task process. No schema cnngrade validates uses those formats; without the
# package jsonschema simply skips them.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

__version__ = "0.1.0"

# public name -> (module, name in that module)
_API: dict[str, tuple[str, str]] = {
    "CnnGradeError": ("autograder.course.errors", "CnnGradeError"),
    "Course": ("autograder.course.config", "Course"),
    "load_course": ("autograder.course.config", "load_course"),
    "DATASETS": ("autograder.course.data", "DATASETS"),
    "data_layout": ("autograder.course.data", "data_layout"),
    "prepare_data": ("autograder.course.data", "prepare"),
    "final_grades": ("autograder.course.policy", "final_grades"),
    "set_override": ("autograder.course.policy", "set_override"),
    "clear_override": ("autograder.course.policy", "clear_override"),
    "release": ("autograder.intake.release", "release"),
    "collect": ("autograder.intake.collect", "collect"),
    "grade": ("autograder.grading.grade", "grade"),
    "import_nbgrader": ("autograder.grading.nbgrader_compat", "import_nbgrader"),
    "class_report": ("autograder.views.report", "class_report"),
    "write_plot": ("autograder.views.report", "write_plot"),
    "write_feedback": ("autograder.views.feedback", "write_feedback"),
    "export": ("autograder.views.export", "export"),
    "write_export": ("autograder.views.export", "write_export"),
    "write_gradescope": ("autograder.views.export", "write_gradescope"),
    "check_notebook": ("autograder.views.student_check", "check_notebook"),
    "demo": ("autograder.views.demo", "demo"),
}

__all__ = [
    "CnnGradeError",
    "Course",
    "DATASETS",
    "check_notebook",
    "class_report",
    "clear_override",
    "collect",
    "data_layout",
    "demo",
    "export",
    "final_grades",
    "grade",
    "import_nbgrader",
    "load_course",
    "prepare_data",
    "release",
    "set_override",
    "write_export",
    "write_feedback",
    "write_gradescope",
    "write_plot",
]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'autograder' has no attribute {name!r}")
    module, attribute = _API[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value   # the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))


if TYPE_CHECKING:   # for editors and type checkers: the same names, imported eagerly
    from autograder.course.config import Course, load_course
    from autograder.course.data import DATASETS, data_layout
    from autograder.course.data import prepare as prepare_data
    from autograder.course.errors import CnnGradeError
    from autograder.course.policy import clear_override, final_grades, set_override
    from autograder.grading.grade import grade
    from autograder.grading.nbgrader_compat import import_nbgrader
    from autograder.intake.collect import collect
    from autograder.intake.release import release
    from autograder.views.demo import demo
    from autograder.views.export import export, write_export, write_gradescope
    from autograder.views.feedback import write_feedback
    from autograder.views.report import class_report, write_plot
    from autograder.views.student_check import check_notebook
