"""User-facing errors: each carries one clear sentence (which file, what is wrong, what to do)."""


class CnnGradeError(Exception):
    """A mistake in the user's input or setup, shown as one sentence and never as a traceback."""


class ConfigError(CnnGradeError):
    """A course or assignment configuration problem."""


class SubmissionError(CnnGradeError):
    """A submission that cannot be graded at all (not a notebook, corrupt JSON, ...)."""


class LeakError(CnnGradeError):
    """A release that would hand students a solution or a hidden test."""
