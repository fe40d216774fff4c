"""The job store's file: its schema (numbered migrations keyed on ``PRAGMA user_version``),
the header check that finds a damaged file before sqlite does, and the translation of sqlite
errors into the package's one-line :class:`StoreError` / :class:`StoreCorruptError`.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ..exceptions import StoreCorruptError, StoreError

MIGRATIONS: tuple[str, ...] = (
    # 1: initial schema
    """
    CREATE TABLE batches (
        batch_id   TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        created    REAL NOT NULL,
        batch_dir  TEXT NOT NULL,
        backend    TEXT NOT NULL,
        profile    TEXT NOT NULL,
        notebook   TEXT,
        meta       TEXT NOT NULL DEFAULT '{}',
        deleted    INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE jobs (
        batch_id   TEXT NOT NULL REFERENCES batches(batch_id) ON DELETE CASCADE,
        job_index  INTEGER NOT NULL,
        stage      TEXT NOT NULL,
        attempt    INTEGER NOT NULL DEFAULT 1,
        state      TEXT NOT NULL,
        backend_id TEXT,
        n_tasks    INTEGER NOT NULL,
        submitted  REAL,
        started    REAL,
        finished   REAL,
        reason     TEXT,
        PRIMARY KEY (batch_id, job_index)
    );
    CREATE TABLE tasks (
        batch_id    TEXT NOT NULL REFERENCES batches(batch_id) ON DELETE CASCADE,
        task_id     TEXT NOT NULL,
        job_index   INTEGER NOT NULL,
        stage       TEXT NOT NULL,
        source      TEXT NOT NULL,
        roi_index   INTEGER,
        state       TEXT NOT NULL,
        attempt     INTEGER NOT NULL DEFAULT 1,
        started     REAL,
        finished    REAL,
        duration    REAL,
        error       TEXT,
        notebook    TEXT,
        fingerprint TEXT,
        cached_from TEXT,
        PRIMARY KEY (batch_id, task_id)
    );
    CREATE INDEX tasks_state ON tasks(batch_id, state);
    CREATE INDEX tasks_fingerprint ON tasks(fingerprint, state);
    CREATE TABLE attempts (
        batch_id  TEXT NOT NULL,
        task_id   TEXT NOT NULL,
        attempt   INTEGER NOT NULL,
        job_index INTEGER NOT NULL,
        state     TEXT NOT NULL,
        started   REAL,
        finished  REAL,
        host      TEXT,
        error     TEXT,
        PRIMARY KEY (batch_id, task_id, attempt),
        FOREIGN KEY (batch_id) REFERENCES batches(batch_id) ON DELETE CASCADE
    );
    CREATE TABLE transitions (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        batch_id   TEXT NOT NULL,
        task_id    TEXT,
        job_index  INTEGER,
        from_state TEXT,
        to_state   TEXT NOT NULL,
        at         REAL NOT NULL,
        FOREIGN KEY (batch_id) REFERENCES batches(batch_id) ON DELETE CASCADE
    );
    CREATE INDEX transitions_batch ON transitions(batch_id, id);
    """,
    # 2: what a task recorded (so gather needs no status file per task), and the indexes of
    # the paginated and aggregated queries of the sidebar and the CLI
    """
    ALTER TABLE tasks ADD COLUMN records TEXT;
    ALTER TABLE tasks ADD COLUMN results TEXT;
    CREATE INDEX tasks_stage_state ON tasks(batch_id, stage, state);
    CREATE INDEX tasks_batch ON tasks(batch_id);
    CREATE INDEX tasks_job ON tasks(batch_id, job_index);
    """,
    # 3: a task's time window and sweep point (issue 10)
    """
    ALTER TABLE tasks ADD COLUMN segment_index INTEGER;
    ALTER TABLE tasks ADD COLUMN t_start REAL;
    ALTER TABLE tasks ADD COLUMN t_end REAL;
    ALTER TABLE tasks ADD COLUMN sweep TEXT;
    """,
)

#: The schema version a store written by this code has (its ``PRAGMA user_version``).
SCHEMA_VERSION = len(MIGRATIONS)

_SQLITE_MAGIC = b"SQLite format 3\x00"


def check_store_file(path: Path) -> None:
    """Raise :class:`StoreCorruptError` if ``path`` is not an sqlite file or is truncated.

    Reads the 100-byte header only (O(1)): the magic string, and the page count the header
    claims (when valid) against the file size. A missing or empty file is fine (a new store).
    The size is not checked while a write-ahead log exists: another process may be in the
    middle of a checkpoint (page 1, with the new count, is written before the file grows), and
    sqlite reports real damage itself on the first read.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(100)
            size = os.fstat(fh.fileno()).st_size
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"cannot read the job store {path}: {exc.strerror or exc}") from None
    if size == 0:
        return
    if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
        raise StoreCorruptError(path, "not an SQLite database file")
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    n_pages = int.from_bytes(head[28:32], "big")
    counter_valid = head[24:28] == head[92:96]
    in_use = path.with_name(path.name + "-wal").exists()
    if counter_valid and n_pages and n_pages * page_size > size and not in_use:
        raise StoreCorruptError(
            path, f"truncated: {size} bytes where its header claims {n_pages} pages of "
                  f"{page_size} bytes")


def store_error(path: Path, exc: sqlite3.Error, doing: str) -> StoreError:
    """One-line error for an sqlite failure: damage (doctor) or access (permissions)."""
    if type(exc) is sqlite3.DatabaseError or "malformed" in str(exc) or "not a database" in str(exc):
        return StoreCorruptError(path, str(exc))
    hint = ""
    if any(w in str(exc) for w in ("readonly", "unable to open", "read-only", "permission")):
        hint = (f"; check that {path.parent} is writable, or set TRAMWAY_JUPYTER_HOME (or "
                f"TRAMWAY_JUPYTER_STORE) to a writable place")
    return StoreError(f"cannot {doing} the job store {path}: {exc}{hint}")


def migrate(db: sqlite3.Connection) -> None:
    """Bring the schema of ``db`` up to :data:`SCHEMA_VERSION` (inside the caller's transaction)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the job store was written by a newer tramway-jupyter (schema {version}); upgrade"
        )
    for i in range(version, SCHEMA_VERSION):
        for stmt in MIGRATIONS[i].split(";"):
            if stmt.strip():
                db.execute(stmt)
        db.execute(f"PRAGMA user_version = {i + 1}")
