"""The SQLite gradebook in the course directory (WAL mode, one transaction per write).

Crash safety: every write is one `BEGIN IMMEDIATE ... COMMIT` transaction with synchronous=FULL,
so a grader killed at any moment leaves the rows committed before it (durable) and none of the
transaction it was in; SQLite replays or discards the `-wal` file on the next open. Several
processes may open the gradebook at once: writers queue on the busy timeout, readers never wait.

`submissions` keeps every collected file (resubmissions included); `results` keeps every
grading of a submission, keyed by what it depends on (submission hash, suite hash,
environment), so a regrade reuses what has not changed. Only the trusted grader process writes.

`overrides` is the audit trail of manual test scores (`cnngrade override`): append-only (SQLite
triggers refuse UPDATE and DELETE), one row per change with who, when, the submission's hash,
the test, the points before and after (after = NULL: the override was cleared) and the reason.
The newest row for (assignment, student, submission hash, test) is the one in force; see
`cnngrade.course.policy`. A gradebook of schema 1 gains the table when first opened.

`manual_grades` is the audit trail of the answers a person grades (`cnngrade manual`), and
`rubric_edits` that of the rubric items' points changed while grading: both append-only like
`overrides`. A manual grade row holds the submission's hash, the answer cell, the rubric items
applied (ids), an adjustment in points, a comment, the hash of the answer's source (to carry
a grade over to a resubmission whose answer is byte-for-byte the same), who and when; its
points are computed from the rubric when read, so an item's edited points apply to every
answer it was applied to. The newest row for (assignment, student, cell) is in force; its id is
the version a grader saw, and a write that saw an older one is refused (two graders at once).
Older gradebooks gain the tables when first opened.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 3   # PRAGMA user_version once SCHEMA and SCHEMA_STATEMENTS are in place
BUSY_TIMEOUT = 60    # seconds a writer waits for another process's transaction

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
CREATE TABLE IF NOT EXISTS overrides (
    id INTEGER PRIMARY KEY,
    assignment TEXT NOT NULL,
    student TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    test TEXT NOT NULL,
    old_points REAL NOT NULL,
    new_points REAL,
    reason TEXT NOT NULL,
    who TEXT NOT NULL,
    made_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS overrides_by_student ON overrides (assignment, student, id);
CREATE TABLE IF NOT EXISTS manual_grades (
    id INTEGER PRIMARY KEY,
    assignment TEXT NOT NULL,
    student TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    cell TEXT NOT NULL,
    items TEXT NOT NULL,
    adjustment REAL NOT NULL,
    comment TEXT NOT NULL,
    answer_sha256 TEXT NOT NULL,
    who TEXT NOT NULL,
    made_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS manual_by_cell ON manual_grades (assignment, cell, student, id);
CREATE TABLE IF NOT EXISTS rubric_edits (
    id INTEGER PRIMARY KEY,
    assignment TEXT NOT NULL,
    cell TEXT NOT NULL,
    item TEXT NOT NULL,
    old_points REAL NOT NULL,
    new_points REAL NOT NULL,
    who TEXT NOT NULL,
    made_at TEXT NOT NULL
);
"""
# statements with semicolons of their own, so not in SCHEMA (which is split on ';')
SCHEMA_STATEMENTS = (
    "CREATE TRIGGER IF NOT EXISTS overrides_no_update BEFORE UPDATE ON overrides "
    "BEGIN SELECT RAISE(ABORT, 'overrides are an audit trail: add a row instead'); END",
    "CREATE TRIGGER IF NOT EXISTS overrides_no_delete BEFORE DELETE ON overrides "
    "BEGIN SELECT RAISE(ABORT, 'overrides are an audit trail: add a row instead'); END",
    *(f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
      f"BEGIN SELECT RAISE(ABORT, '{table} is an audit trail: add a row instead'); END"
      for table in ("manual_grades", "rubric_edits") for op in ("UPDATE", "DELETE")),
)


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
class Override:
    """One row of the override audit trail; new_points None: the override was cleared."""
    id: int
    assignment: str
    student: str
    sha256: str
    test: str
    old_points: float
    new_points: float | None
    reason: str
    who: str
    made_at: str


@dataclass(frozen=True)
class ManualGrade:
    """One row of the manual grades' audit trail; its id is the version it makes."""
    id: int
    assignment: str
    student: str
    sha256: str
    cell: str
    items: tuple[str, ...]
    adjustment: float
    comment: str
    answer_sha256: str
    who: str
    made_at: str


@dataclass(frozen=True)
class RubricEdit:
    id: int
    assignment: str
    cell: str
    item: str
    old_points: float
    new_points: float
    who: str
    made_at: str


class ManualConflict(Exception):
    """A manual grade written over a version the writer had not seen: `theirs` is the row in
    force."""

    def __init__(self, theirs: ManualGrade):
        super().__init__(f"{theirs.who} graded this answer at {theirs.made_at} while you were "
                         "grading it; look at their grade and grade again")
        self.theirs = theirs


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
        self.open_tx: str | None = None   # "write" | "read" while a transaction() | snapshot()
        self.db = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
        try:
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            if self._version() < SCHEMA_VERSION:   # a new gradebook: no write lock otherwise
                with self.transaction():
                    if self._version() < SCHEMA_VERSION:   # not done by another process
                        for statement in SCHEMA.split(";"):
                            if statement.strip():
                                self.db.execute(statement)
                        for statement in SCHEMA_STATEMENTS:
                            self.db.execute(statement)
                        self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            self.db.close()
            raise

    def _version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self.db.close()

    def transaction(self) -> _Tx:
        """A write transaction: all of it is committed, or (on an exception or a crash) none.
        Within one already open it adds nothing: the writes are the outer one's."""
        return _Tx(self, "write")

    def snapshot(self) -> _Tx:
        """A read transaction: the queries in it see one committed state of the gradebook
        (within a transaction already open, that one's)."""
        return _Tx(self, "read")

    def integrity_problems(self) -> list[str]:
        """What SQLite's integrity and foreign-key checks find; empty when the gradebook is
        sound."""
        found = [row[0] for row in self.db.execute("PRAGMA integrity_check")]
        found = [] if found == ["ok"] else found
        found += [f"{row[0]} row {row[1]} refers to a missing {row[2]} row"
                  for row in self.db.execute("PRAGMA foreign_key_check")]
        return found

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
        with self.snapshot():   # not a submission collected between two of these queries
            for sub in self.latest(assignment, student):
                row = self.db.execute(
                    "SELECT * FROM results WHERE submission_id=? ORDER BY graded_at DESC, "
                    "id DESC LIMIT 1", (sub.id,)).fetchone()
                if row is not None:
                    rows.append(GradeRow(sub, row["score"], row["max_score"], row["status"],
                                         json.loads(row["results_json"]), row["graded_at"],
                                         row["seconds"]))
        return rows


    # -- overrides (append-only) -------------------------------------------------------------
    def add_override(self, *, assignment: str, student: str, sha256: str, test: str,
                     old_points: float, new_points: float | None, reason: str,
                     who: str) -> Override:
        """Append one row to the audit trail (new_points None: clear the override)."""
        with self.transaction():
            made_at = now()
            cur = self.db.execute(
                "INSERT INTO overrides (assignment, student, sha256, test, old_points, "
                "new_points, reason, who, made_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (assignment, student, sha256, test, float(old_points),
                 None if new_points is None else float(new_points), reason, who, made_at))
            return Override(int(cur.lastrowid or 0), assignment, student, sha256, test,
                            float(old_points), new_points, reason, who, made_at)

    def overrides(self, assignment: str, student: str | None = None) -> list[Override]:
        """The whole audit trail of `assignment` (one student's where given), oldest first."""
        sql = "SELECT * FROM overrides WHERE assignment = ?"
        params: list[Any] = [assignment]
        if student is not None:
            sql += " AND student = ?"
            params.append(student)
        return [Override(r["id"], r["assignment"], r["student"], r["sha256"], r["test"],
                         r["old_points"], r["new_points"], r["reason"], r["who"], r["made_at"])
                for r in self.db.execute(sql + " ORDER BY id", params)]


    # -- manual grades and rubric edits (append-only) ---------------------------------------
    def manual_version(self, assignment: str, student: str, cell: str) -> int:
        """The id of the newest manual grade row of (assignment, student, cell); 0 if none."""
        row = self.db.execute(
            "SELECT MAX(id) FROM manual_grades WHERE assignment=? AND student=? AND cell=?",
            (assignment, student, cell)).fetchone()
        return int(row[0] or 0)

    def add_manual_grade(self, *, assignment: str, student: str, sha256: str, cell: str,
                         items: tuple[str, ...] | list[str], adjustment: float, comment: str,
                         answer_sha256: str, who: str, seen_version: int) -> ManualGrade:
        """Append a manual grade; raises ManualConflict when the newest row of that answer is
        not `seen_version` (someone else graded it meanwhile)."""
        with self.transaction():
            current = self.manual_version(assignment, student, cell)
            if current != seen_version:
                raise ManualConflict(self._manual_row(current))
            made_at = now()
            cur = self.db.execute(
                "INSERT INTO manual_grades (assignment, student, sha256, cell, items, "
                "adjustment, comment, answer_sha256, who, made_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (assignment, student, sha256, cell, json.dumps(list(items)), float(adjustment),
                 comment, answer_sha256, who, made_at))
            return ManualGrade(int(cur.lastrowid or 0), assignment, student, sha256, cell,
                               tuple(items), float(adjustment), comment, answer_sha256, who,
                               made_at)

    def _manual_row(self, row_id: int) -> ManualGrade:
        row = self.db.execute("SELECT * FROM manual_grades WHERE id=?", (row_id,)).fetchone()
        return _manual(row)

    def manual_grades(self, assignment: str, student: str | None = None) -> list[ManualGrade]:
        """The whole manual-grade audit trail of `assignment` (one student's), oldest first."""
        sql = "SELECT * FROM manual_grades WHERE assignment = ?"
        params: list[Any] = [assignment]
        if student is not None:
            sql += " AND student = ?"
            params.append(student)
        return [_manual(r) for r in self.db.execute(sql + " ORDER BY id", params)]

    def add_rubric_edit(self, *, assignment: str, cell: str, item: str, old_points: float,
                        new_points: float, who: str) -> RubricEdit:
        with self.transaction():
            made_at = now()
            cur = self.db.execute(
                "INSERT INTO rubric_edits (assignment, cell, item, old_points, new_points, who, "
                "made_at) VALUES (?,?,?,?,?,?,?)",
                (assignment, cell, item, float(old_points), float(new_points), who, made_at))
            return RubricEdit(int(cur.lastrowid or 0), assignment, cell, item, float(old_points),
                              float(new_points), who, made_at)

    def rubric_edits(self, assignment: str) -> list[RubricEdit]:
        return [RubricEdit(r["id"], r["assignment"], r["cell"], r["item"], r["old_points"],
                           r["new_points"], r["who"], r["made_at"])
                for r in self.db.execute(
                    "SELECT * FROM rubric_edits WHERE assignment=? ORDER BY id", (assignment,))]


def _manual(row: sqlite3.Row) -> ManualGrade:
    return ManualGrade(row["id"], row["assignment"], row["student"], row["sha256"], row["cell"],
                       tuple(json.loads(row["items"])), row["adjustment"], row["comment"],
                       row["answer_sha256"], row["who"], row["made_at"])


def _submission(row: sqlite3.Row) -> Submission:
    return Submission(row["id"], row["assignment"], row["student"], row["sha256"],
                      row["filename"], row["origin"], row["submitted_at"], row["collected_at"],
                      bool(row["late"]))


class _Tx:
    """`with`: BEGIN, then COMMIT, or ROLLBACK when the block (or the COMMIT) raised; inside a
    transaction already open, nothing (the outer one decides). A write cannot start inside a
    read snapshot: SQLite could not always upgrade it without losing the snapshot."""

    def __init__(self, book: Gradebook, kind: str):
        self.book = book
        self.kind = kind
        self.outer = False

    def __enter__(self) -> sqlite3.Connection:
        book = self.book
        if book.open_tx is None:
            book.db.execute("BEGIN IMMEDIATE" if self.kind == "write" else "BEGIN DEFERRED")
            book.open_tx, self.outer = self.kind, True
        elif self.kind == "write" and book.open_tx == "read":
            raise sqlite3.ProgrammingError("a gradebook write cannot start inside a snapshot()")
        return book.db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if not self.outer:
            return
        db = self.book.db
        try:
            if exc_type is None:
                db.execute("COMMIT")
        finally:
            self.book.open_tx = None
            if db.in_transaction:   # the block or the COMMIT failed: none of it stays
                db.execute("ROLLBACK")


def open_gradebook(course_dir: Path) -> Gradebook:
    return Gradebook(course_dir / "gradebook.sqlite")
