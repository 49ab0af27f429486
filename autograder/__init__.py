"""cnngrade's engine: release, collect, sandboxed grading, gradebook and reports.

The repository's folder `autograder/` is installed as the package `cnngrade` (and `cli/` as
`cnngrade.cli`): the distribution's own name, so no other package can claim the import name.
Inside the engine every import is relative, so it does not depend on that name.

The stages, each a sub-package that imports only the stages below it:

    views/     report, feedback pages, exports, the student's check, the demo   what people read
    grading/   grade a class: evaluate each notebook, run the hidden suite       the trusted side
    sandbox/   the walls, the kernel inside them, the `student` proxy            the untrusted side
    intake/    the notebook format, release, collect                            untrusted bytes in
    course/    settings, gradebook, store, late policy, data, errors            settings and state
    suites/    the hidden suites (course content, never shipped to students)

The public API below is what the CLI (`cnngrade.cli`, which only parses options and renders) and
a Python user call; every function takes data and returns data:

    import cnngrade
    course = cnngrade.load_course(Path("course"))
    cnngrade.prepare_data(course.data)
    cnngrade.release(course, "conv-by-hand")
    cnngrade.collect(course, "conv-by-hand", Path("inbox"))
    cnngrade.grade(course, "conv-by-hand")
    cnngrade.class_report(course, "conv-by-hand")
    cnngrade.write_feedback(course, "conv-by-hand")
    cnngrade.export(course, "conv-by-hand", "canvas")
    cnngrade.check_notebook(Path("conv-by-hand.ipynb"))   # a student, beside the release

Names are imported when first used, so `import cnngrade` (done by every grader, worker and Ray
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
    "CnnGradeError": (".course.errors", "CnnGradeError"),
    "Course": (".course.config", "Course"),
    "load_course": (".course.config", "load_course"),
    "DATASETS": (".course.data", "DATASETS"),
    "data_layout": (".course.data", "data_layout"),
    "prepare_data": (".course.data", "prepare"),
    "final_grades": (".grading.overrides", "final_grades"),   # manual answers counted
    "set_override": (".grading.overrides", "set_override"),
    "clear_override": (".grading.overrides", "clear_override"),
    "whoami": (".course.policy", "whoami"),
    "release": (".intake.release", "release"),
    "collect": (".intake.collect", "collect"),
    "find_release": (".intake.release_manifest", "find_release"),
    "read_release": (".intake.release_manifest", "read_release"),
    "grade": (".grading.grade", "grade"),
    "import_nbgrader": (".grading.nbgrader_compat", "import_nbgrader"),
    "manual_answers": (".grading.manual", "answers"),
    "next_ungraded": (".grading.manual", "next_ungraded"),
    "grade_answer": (".grading.manual", "grade_answer"),
    "edit_rubric_item": (".grading.manual", "edit_rubric_item"),
    "manual_progress": (".grading.manual", "progress"),
    "manual_rubrics": (".grading.manual", "rubrics"),
    "serve_desk": (".views.desk.serve", "serve"),
    "class_report": (".views.report", "class_report"),
    "write_plot": (".views.report", "write_plot"),
    "write_feedback": (".views.feedback", "write_feedback"),
    "export": (".views.export", "export"),
    "write_export": (".views.export", "write_export"),
    "write_gradescope": (".views.export", "write_gradescope"),
    "check_notebook": (".views.student_check", "check_notebook"),
    "demo": (".views.demo", "demo"),
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
    "edit_rubric_item",
    "export",
    "final_grades",
    "find_release",
    "grade",
    "grade_answer",
    "import_nbgrader",
    "load_course",
    "manual_answers",
    "manual_progress",
    "manual_rubrics",
    "serve_desk",
    "next_ungraded",
    "prepare_data",
    "read_release",
    "release",
    "set_override",
    "whoami",
    "write_export",
    "write_feedback",
    "write_gradescope",
    "write_plot",
]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'cnngrade' has no attribute {name!r}")
    module, attribute = _API[name]
    value = getattr(importlib.import_module(module, __name__), attribute)
    globals()[name] = value   # the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))


if TYPE_CHECKING:   # for editors and type checkers: the same names, imported eagerly
    from .course.config import Course, load_course
    from .course.data import DATASETS, data_layout
    from .course.data import prepare as prepare_data
    from .course.errors import CnnGradeError
    from .course.policy import clear_override, final_grades, set_override
    from .grading.grade import grade
    from .grading.nbgrader_compat import import_nbgrader
    from .intake.collect import collect
    from .intake.release import release
    from .intake.release_manifest import find_release, read_release
    from .views.demo import demo
    from .views.export import export, write_export, write_gradescope
    from .views.feedback import write_feedback
    from .views.report import class_report, write_plot
    from .views.student_check import check_notebook
