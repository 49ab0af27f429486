"""cnngrade's engine: release, collect, sandboxed grading, gradebook and reports.

Every CLI command is a plain function here that takes data and returns data; `cli/` only parses
options and renders the results.
"""

from autograder.errors import CnnGradeError

__all__ = ["CnnGradeError"]
__version__ = "0.1.0"
