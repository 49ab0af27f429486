"""cnngrade's engine: release, collect, sandboxed grading, gradebook and reports.

Every CLI command is a plain function here that takes data and returns data; `cli/` only parses
options and renders the results.
"""

import sys

# jsonschema (which nbformat imports) checks the "iri" string formats with rfc3987-syntax when it
# is installed, and builds that package's grammar at import: about a second in every grader,
# worker and Ray task process. No schema cnngrade validates uses those formats; without the
# package jsonschema simply skips them.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

from autograder.errors import CnnGradeError  # noqa: E402

__all__ = ["CnnGradeError"]
__version__ = "0.1.0"
