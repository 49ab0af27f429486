"""Results in Gradescope's `results.json` shape, built by the trusted side only."""

from __future__ import annotations

from typing import Any

from .suite_runner import TestResult


def build_results(*, tests: list[TestResult], max_score: float, output: str,
                  seconds: float, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "score": round(sum(t.score for t in tests), 4),
        "max_score": max_score,
        "output": output,
        "visibility": "visible",
        "execution_time": round(seconds, 2),
        "tests": [
            {
                "name": t.name,
                "description": t.description,
                "score": t.score,
                "max_score": t.points,
                "status": "passed" if t.status == "passed" else "failed",
                "output": t.output,
                "visibility": "visible",
                **({"extra_data": t.extra} if t.extra else {}),
            }
            for t in tests
        ],
        "extra_data": extra,
    }


def ungradable(message: str, max_score: float, extra: dict[str, Any]) -> dict[str, Any]:
    """A submission that could not be run at all: 0 points and the one sentence why."""
    return build_results(tests=[], max_score=max_score, output=message, seconds=0.0,
                         extra={**extra, "problems": [message]})
