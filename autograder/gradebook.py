"""The SQLite gradebook in the course directory (WAL mode, one transaction per write).

`submissions` keeps every collected file (resubmissions included); `results` keeps every
grading of a submission, keyed by what it depends on (submission hash, suite hash,
environment), so a regrade reuses what has not changed. Only the trusted grader process writes.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY,
    assignment TEXT NOT NULL,
    student TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    filename TEXT NOT NULL,
    origin TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    collected_at TEXT NOT NULL,
    late INTEGER NOT NULL DEFAULT 0,
    UNIQUE (assignment, student, sha256)
);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY,
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    suite_hash TEXT NOT NULL,
    env_hash TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    status TEXT NOT NULL,
    results_json TEXT NOT NULL,
    graded_at TEXT NOT NULL,
    seconds REAL NOT NULL DEFAULT 0,
    UNIQUE (submission_id, suite_hash, env_hash)
);
"""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Submission:
    id: int
    assignment: str
    student: str
    sha256: str
    filename: str
    origin: str
    submitted_at: str
    collected_at: str
    late: bool


@dataclass(frozen=True)
class GradeRow:
    submission: Submission
    score: float
    max_score: float
    status: str            # "graded" | "ungradable" | "grader-error"
    results: dict[str, Any]
    graded_at: str
    seconds: float


class Gradebook:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, timeout=60, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        with self.transaction():
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)

    def close(self) -> None:
        self.db.close()

    def transaction(self) -> _Tx:
        return _Tx(self.db)

    # -- submissions -----------------------------------------------------------------------
    def add_submission(self, *, assignment: str, student: str, sha256: str, filename: str,
                       origin: str, submitted_at: str, late: bool) -> bool:
        """Record a collected file; False when the same file was already recorded."""
        with self.transaction():
            cur = self.db.execute(
                "INSERT OR IGNORE INTO submissions (assignment, student, sha256, filename, "
                "origin, submitted_at, collected_at, late) VALUES (?,?,?,?,?,?,?,?)",
                (assignment, student, sha256, filename, origin, submitted_at, now(), int(late)))
            return cur.rowcount == 1

    def submissions(self, assignment: str, student: str | None = None) -> list[Submission]:
        sql = "SELECT * FROM submissions WHERE assignment = ?"
        params: list[Any] = [assignment]
        if student is not None:
            sql += " AND student = ?"
            params.append(student)
        rows = self.db.execute(sql + " ORDER BY student, submitted_at, id", params).fetchall()
        return [_submission(r) for r in rows]

    def latest(self, assignment: str, student: str | None = None) -> list[Submission]:
        """The submission to grade for each student: the latest one submitted."""
        latest: dict[str, Submission] = {}
        for sub in self.submissions(assignment, student):
            latest[sub.student] = sub
        return [latest[s] for s in sorted(latest)]

    # -- results ---------------------------------------------------------------------------
    def cached(self, submission_id: int, suite_hash: str, env_hash: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM results WHERE submission_id=? AND suite_hash=? AND env_hash=? "
            "AND status != 'grader-error'", (submission_id, suite_hash, env_hash)).fetchone()
        return row is not None

    def record(self, submission_id: int, suite_hash: str, env_hash: str,
               results: dict[str, Any], status: str, seconds: float) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO results (submission_id, suite_hash, env_hash, score, "
                "max_score, status, results_json, graded_at, seconds) VALUES (?,?,?,?,?,?,?,?,?)",
                (submission_id, suite_hash, env_hash, float(results["score"]),
                 float(results["max_score"]), status, json.dumps(results), now(), seconds))

    def grades(self, assignment: str, student: str | None = None) -> list[GradeRow]:
        """The newest grading of each student's latest submission."""
        rows = []
        for sub in self.latest(assignment, student):
            row = self.db.execute(
                "SELECT * FROM results WHERE submission_id=? ORDER BY graded_at DESC, id DESC "
                "LIMIT 1", (sub.id,)).fetchone()
            if row is not None:
                rows.append(GradeRow(sub, row["score"], row["max_score"], row["status"],
                                     json.loads(row["results_json"]), row["graded_at"],
                                     row["seconds"]))
        return rows


def _submission(row: sqlite3.Row) -> Submission:
    return Submission(row["id"], row["assignment"], row["student"], row["sha256"],
                      row["filename"], row["origin"], row["submitted_at"], row["collected_at"],
                      bool(row["late"]))


class _Tx:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def open_gradebook(course_dir: Path) -> Gradebook:
    return Gradebook(course_dir / "gradebook.sqlite")
