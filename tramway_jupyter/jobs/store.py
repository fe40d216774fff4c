"""The job store: one sqlite file per user (WAL mode), the only module that speaks SQL.

It holds batches, jobs, tasks, attempts and every state transition, so that a batch survives a
kernel restart and can be listed by the JupyterLab sidebar while workers write to it. Several
processes read and write it at once (workers, the kernel, the Jupyter server): every write is a
short transaction, ``busy_timeout`` absorbs contention, and WAL lets readers proceed during writes.
Schema changes are numbered migrations keyed on ``PRAGMA user_version``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import BatchNotFoundError, StoreCorruptError, StoreError
from ..paths import default_store_path
from .plan_model import Job
from .states import FINAL_VALUES, State, batch_state

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
)

#: Columns the task listing may be sorted by (``task_page``).
TASK_SORT_KEYS = frozenset({"rowid", "task_id", "stage", "source", "roi_index", "state",
                            "attempt", "started", "finished", "duration"})


@dataclass
class BatchRow:
    batch_id: str
    name: str
    created: float
    batch_dir: str
    backend: str
    profile: str
    notebook: str | None
    meta: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def n_tasks(self) -> int:
        return sum(self.counts.values())

    @property
    def state(self) -> State:
        return batch_state(self.counts)

    @property
    def progress(self) -> float:
        n = self.n_tasks
        final = sum(self.counts.get(s, 0) for s in FINAL_VALUES)
        return final / n if n else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(state=self.state.value, n_tasks=self.n_tasks, progress=self.progress)
        return d


@dataclass
class JobRow:
    batch_id: str
    job_index: int
    stage: str
    attempt: int
    state: str
    backend_id: str | None
    n_tasks: int
    submitted: float | None
    started: float | None
    finished: float | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TaskRow:
    batch_id: str
    task_id: str
    job_index: int
    stage: str
    source: str
    roi_index: int | None
    state: str
    attempt: int
    started: float | None
    finished: float | None
    duration: float | None
    error: str | None  # a one-line summary; the full error is in the status file
    notebook: str | None  # path relative to the batch directory
    fingerprint: str | None
    cached_from: str | None
    records: list[str] = field(default_factory=list)  # names the task recorded
    results: str | None = None  # its records file, relative to the batch directory

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _task_row(r: sqlite3.Row) -> TaskRow:
    d = {k: r[k] for k in _TASK_COLS}
    d["records"] = json.loads(d["records"]) if d["records"] else []
    return TaskRow(**d)


_TASK_COLS = [f for f in TaskRow.__dataclass_fields__]
_JOB_COLS = [f for f in JobRow.__dataclass_fields__]


_SQLITE_MAGIC = b"SQLite format 3\x00"


def job_rows(jobs: Iterable[Job]) -> list[dict[str, Any]]:
    """The store rows of planned jobs (for :meth:`Store.add_batch` and :meth:`Store.add_jobs`)."""
    return [{"job_index": j.job_index, "stage": j.stage, "attempt": j.attempt,
             "n_tasks": len(j.task_ids)} for j in jobs]


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


def _store_error(path: Path, exc: sqlite3.Error, doing: str) -> StoreError:
    """One-line error for an sqlite failure: damage (doctor) or access (permissions)."""
    if type(exc) is sqlite3.DatabaseError or "malformed" in str(exc) or "not a database" in str(exc):
        return StoreCorruptError(path, str(exc))
    hint = ""
    if any(w in str(exc) for w in ("readonly", "unable to open", "read-only", "permission")):
        hint = (f"; check that {path.parent} is writable, or set TRAMWAY_JUPYTER_HOME (or "
                f"TRAMWAY_JUPYTER_STORE) to a writable place")
    return StoreError(f"cannot {doing} the job store {path}: {exc}{hint}")


class Store:
    """Access to the sqlite job store. Cheap to create; safe to share between threads.

    Opening checks the file: a damaged one raises :class:`StoreCorruptError` (``tramway-jupyter
    doctor`` rebuilds it), an unwritable place a one-line :class:`StoreError`.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, timeout: float = 30.0):
        self.path = Path(path) if path is not None else default_store_path()
        self._timeout = timeout
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create {self.path.parent} for the job store: {exc.strerror or exc}; "
                f"set TRAMWAY_JUPYTER_HOME (or TRAMWAY_JUPYTER_STORE) to a writable place"
            ) from None
        check_store_file(self.path)
        with self._tx() as db:
            self._migrate(db)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- connection handling ------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        pid = getattr(self._local, "pid", None)
        if conn is None or pid != os.getpid():  # never share a connection across fork
            try:
                conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
            except sqlite3.Error as exc:
                raise _store_error(self.path, exc, "open") from None
            try:
                conn.row_factory = sqlite3.Row
                conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA foreign_keys = ON")
            except sqlite3.Error as exc:
                conn.close()
                raise _store_error(self.path, exc, "open") from None
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._conn()
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc, "write to") from None
        try:
            yield db
        except BaseException as exc:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if type(exc) is sqlite3.DatabaseError:  # damage found inside a transaction
                raise StoreCorruptError(self.path, str(exc)) from None
            raise
        else:
            db.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(
                f"the job store was written by a newer tramway-jupyter (schema {version}); upgrade"
            )
        for i in range(version, len(MIGRATIONS)):
            for stmt in MIGRATIONS[i].split(";"):
                if stmt.strip():
                    db.execute(stmt)
            db.execute(f"PRAGMA user_version = {i + 1}")

    def integrity_problem(self) -> str | None:
        """``PRAGMA integrity_check`` (reads the whole file): ``None`` if sound, else the first fault."""
        try:
            rows = self._conn().execute("PRAGMA integrity_check(5)").fetchall()
        except sqlite3.Error as exc:
            return str(exc)
        faults = [r[0] for r in rows if r[0] != "ok"]
        return "; ".join(faults) if faults else None

    # -- batches ------------------------------------------------------------------------
    def add_batch(
        self,
        batch_id: str,
        *,
        name: str,
        batch_dir: str,
        backend: str,
        profile: str,
        notebook: str | None = None,
        meta: dict[str, Any] | None = None,
        jobs: Iterable[dict[str, Any]] = (),
        tasks: Iterable[dict[str, Any]] = (),
        created: float | None = None,
    ) -> None:
        """Insert a batch with its jobs and tasks (dicts with the JobRow/TaskRow fields)."""
        now = time.time() if created is None else created
        with self._tx() as db:
            db.execute(
                "INSERT INTO batches (batch_id, name, created, batch_dir, backend, profile,"
                " notebook, meta) VALUES (?,?,?,?,?,?,?,?)",
                (batch_id, name, now, batch_dir, backend, profile, notebook, json.dumps(meta or {})),
            )
            self._insert_jobs(db, batch_id, jobs)
            self._insert_tasks(db, batch_id, tasks, now)

    @staticmethod
    def _insert_jobs(db: sqlite3.Connection, batch_id: str, jobs: Iterable[dict[str, Any]]) -> None:
        db.executemany(
            "INSERT INTO jobs (batch_id, job_index, stage, attempt, state, n_tasks, submitted)"
            " VALUES (?,?,?,?,?,?,?)",
            [
                (
                    batch_id,
                    j["job_index"],
                    j["stage"],
                    j.get("attempt", 1),
                    j.get("state", State.PENDING.value),
                    j["n_tasks"],
                    j.get("submitted"),
                )
                for j in jobs
            ],
        )

    @staticmethod
    def _insert_tasks(
        db: sqlite3.Connection, batch_id: str, tasks: Iterable[dict[str, Any]], now: float
    ) -> None:
        rows = []
        trans = []
        for t in tasks:
            state = t.get("state", State.PENDING.value)
            rows.append(
                (
                    batch_id,
                    t["task_id"],
                    t["job_index"],
                    t["stage"],
                    t["source"],
                    t.get("roi_index"),
                    state,
                    t.get("attempt", 1),
                    t.get("fingerprint"),
                    t.get("cached_from"),
                    t.get("notebook"),
                    t.get("duration"),
                    json.dumps(list(t["records"])) if t.get("records") else None,
                    t.get("results"),
                )
            )
            trans.append((batch_id, t["task_id"], t["job_index"], None, state, now))
        db.executemany(
            "INSERT INTO tasks (batch_id, task_id, job_index, stage, source, roi_index, state,"
            " attempt, fingerprint, cached_from, notebook, duration, records, results)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        db.executemany(
            "INSERT INTO transitions (batch_id, task_id, job_index, from_state, to_state, at)"
            " VALUES (?,?,?,?,?,?)",
            trans,
        )

    def list_batches(self, *, include_deleted: bool = False) -> list[BatchRow]:
        db = self._conn()
        where = "" if include_deleted else "WHERE deleted = 0"
        rows = db.execute(f"SELECT * FROM batches {where} ORDER BY created DESC").fetchall()
        counts: dict[str, dict[str, int]] = {}
        for r in db.execute("SELECT batch_id, state, COUNT(*) FROM tasks GROUP BY batch_id, state"):
            counts.setdefault(r[0], {})[r[1]] = r[2]
        return [self._batch_row(r, counts.get(r["batch_id"], {})) for r in rows]

    def get_batch(self, batch_id: str) -> BatchRow:
        db = self._conn()
        r = db.execute("SELECT * FROM batches WHERE batch_id = ?", (batch_id,)).fetchone()
        if r is None:
            # accept a unique prefix, as git does; an ambiguous one lists the candidates
            escaped = batch_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            rows = db.execute(
                "SELECT * FROM batches WHERE batch_id LIKE ? || '%' ESCAPE '\\'"
                " ORDER BY created DESC", (escaped,)
            ).fetchall()
            if not rows:
                raise BatchNotFoundError(f"no batch {batch_id!r} in the job store {self.path}")
            if len(rows) > 1:
                shown = "\n".join(f"  {c['batch_id']}  {c['name']}" for c in rows[:20])
                more = f"\n  ... and {len(rows) - 20} more" if len(rows) > 20 else ""
                raise BatchNotFoundError(
                    f"batch id prefix {batch_id!r} is ambiguous; it matches {len(rows)} batches:"
                    f"\n{shown}{more}")
            r = rows[0]
        counts = {
            s: n
            for s, n in db.execute(
                "SELECT state, COUNT(*) FROM tasks WHERE batch_id = ? GROUP BY state",
                (r["batch_id"],),
            )
        }
        return self._batch_row(r, counts)

    @staticmethod
    def _batch_row(r: sqlite3.Row, counts: dict[str, int]) -> BatchRow:
        return BatchRow(
            batch_id=r["batch_id"],
            name=r["name"],
            created=r["created"],
            batch_dir=r["batch_dir"],
            backend=r["backend"],
            profile=r["profile"],
            notebook=r["notebook"],
            meta=json.loads(r["meta"] or "{}"),
            counts=counts,
        )

    def update_batch_meta(self, batch_id: str, **meta: Any) -> None:
        with self._tx() as db:
            r = db.execute("SELECT meta FROM batches WHERE batch_id = ?", (batch_id,)).fetchone()
            if r is None:
                raise BatchNotFoundError(f"no batch {batch_id!r} in the job store {self.path}")
            m = json.loads(r["meta"] or "{}")
            m.update(meta)
            db.execute("UPDATE batches SET meta = ? WHERE batch_id = ?", (json.dumps(m), batch_id))

    def delete_batch(self, batch_id: str, *, purge: bool = False) -> None:
        """Hide a batch from listings (``purge`` removes its rows for good)."""
        with self._tx() as db:
            if purge:
                for table in ("transitions", "attempts", "tasks", "jobs", "batches"):
                    db.execute(f"DELETE FROM {table} WHERE batch_id = ?", (batch_id,))
            else:
                db.execute("UPDATE batches SET deleted = 1 WHERE batch_id = ?", (batch_id,))

    # -- jobs ---------------------------------------------------------------------------
    def add_jobs(self, batch_id: str, jobs: Iterable[dict[str, Any]]) -> None:
        with self._tx() as db:
            self._insert_jobs(db, batch_id, jobs)

    def jobs(self, batch_id: str, job_indices: Iterable[int] | None = None) -> list[JobRow]:
        """The batch's jobs (or those of ``job_indices``), by index."""
        if job_indices is None:
            rows = list(self._conn().execute(
                "SELECT * FROM jobs WHERE batch_id = ? ORDER BY job_index", (batch_id,)))
        else:
            ids = sorted(set(job_indices))
            rows = []
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                rows += self._conn().execute(
                    f"SELECT * FROM jobs WHERE batch_id = ? AND job_index IN"
                    f" ({','.join('?' * len(chunk))}) ORDER BY job_index", [batch_id, *chunk])
        return [JobRow(**{k: r[k] for k in _JOB_COLS}) for r in rows]

    def job_page(self, batch_id: str, *, states: Iterable[str] | None = None, offset: int = 0,
                 limit: int = 100) -> tuple[list[JobRow], int]:
        """One page of a batch's jobs (by index) and the number matching ``states``."""
        states = None if states is None else list(states)
        where, args = self._task_filter(batch_id, states, None)
        db = self._conn()
        total = int(db.execute(f"SELECT COUNT(*) FROM jobs WHERE {where}", args).fetchone()[0])
        rows = db.execute(f"SELECT * FROM jobs WHERE {where} ORDER BY job_index LIMIT ? OFFSET ?",
                          [*args, limit, offset]) if limit else []
        return [JobRow(**{k: r[k] for k in _JOB_COLS}) for r in rows], total

    def job_counts(self, batch_id: str) -> dict[str, tuple[dict[str, int], int]]:
        """``stage -> ({state: number of jobs}, its first job index)``, one aggregate query."""
        out: dict[str, tuple[dict[str, int], int]] = {}
        for stage, state, n, first in self._conn().execute(
                "SELECT stage, state, COUNT(*), MIN(job_index) FROM jobs WHERE batch_id = ?"
                " GROUP BY stage, state", (batch_id,)):
            per_state, first0 = out.get(stage, ({}, first))
            per_state[state] = n
            out[stage] = (per_state, min(first0, first))
        return out

    def update_job(self, batch_id: str, job_index: int, **fields: Any) -> None:
        """Set any of state, backend_id, submitted, started, finished, reason on a job."""
        allowed = {"state", "backend_id", "submitted", "started", "finished", "reason", "attempt"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"unknown job fields: {sorted(bad)}")
        if not fields:
            return
        fields = {k: (v.value if isinstance(v, State) else v) for k, v in fields.items()}
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as db:
            old = db.execute(
                "SELECT state FROM jobs WHERE batch_id = ? AND job_index = ?", (batch_id, job_index)
            ).fetchone()
            db.execute(
                f"UPDATE jobs SET {sets} WHERE batch_id = ? AND job_index = ?",
                (*fields.values(), batch_id, job_index),
            )
            if "state" in fields and old is not None and old["state"] != fields["state"]:
                db.execute(
                    "INSERT INTO transitions (batch_id, task_id, job_index, from_state, to_state,"
                    " at) VALUES (?,?,?,?,?,?)",
                    (batch_id, None, job_index, old["state"], fields["state"], time.time()),
                )

    # -- tasks --------------------------------------------------------------------------
    def tasks(
        self, batch_id: str, *, states: Iterable[str | State] | None = None, stage: str | None = None
    ) -> list[TaskRow]:
        where, args = self._task_filter(batch_id, states, stage)
        return [_task_row(r) for r in self._conn().execute(
            f"SELECT * FROM tasks WHERE {where} ORDER BY rowid", args)]

    @staticmethod
    def _task_filter(batch_id: str, states: Iterable[str | State] | None,
                     stage: str | None) -> tuple[str, list[Any]]:
        where = "batch_id = ?"
        args: list[Any] = [batch_id]
        if states is not None:
            sl = [s.value if isinstance(s, State) else s for s in states]
            where += f" AND state IN ({','.join('?' * len(sl))})"
            args += sl
        if stage is not None:
            where += " AND stage = ?"
            args.append(stage)
        return where, args

    def tasks_by_id(self, batch_id: str, task_ids: Iterable[str]) -> dict[str, TaskRow]:
        """The rows of these tasks (those that exist), read 500 at a time."""
        ids = list(task_ids)
        out: dict[str, TaskRow] = {}
        db = self._conn()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            q = (f"SELECT * FROM tasks WHERE batch_id = ? AND task_id IN"
                 f" ({','.join('?' * len(chunk))})")
            for r in db.execute(q, [batch_id, *chunk]):
                out[r["task_id"]] = _task_row(r)
        return out

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Run the reads of the block in one read transaction of this thread's connection (WAL:
        a consistent view while workers write, without blocking them)."""
        db = self._conn()
        db.execute("BEGIN")
        try:
            yield
        finally:
            db.execute("COMMIT")

    def task_page(self, batch_id: str, *, states: Iterable[str | State] | None = None,
                  stage: str | None = None, sort: str = "rowid", descending: bool = False,
                  offset: int = 0, limit: int = 100,
                  count: bool = True) -> tuple[list[TaskRow], int | None]:
        """One page of a batch's tasks and the number of tasks matching the filter (None when
        not ``count``: the caller knows it from :meth:`task_counts`)."""
        if sort not in TASK_SORT_KEYS:
            raise ValueError(f"cannot sort tasks by {sort!r}; one of {sorted(TASK_SORT_KEYS)}")
        if offset < 0 or limit < 0:
            raise ValueError(f"offset and limit must be >= 0, got {offset} and {limit}")
        states = None if states is None else list(states)
        where, args = self._task_filter(batch_id, states, stage)
        db = self._conn()
        total = (db.execute(f"SELECT COUNT(*) FROM tasks WHERE {where}", args).fetchone()[0]
                 if count else None)
        direction = "DESC" if descending else "ASC"
        if sort == "rowid":
            # the rowids from an index first (sorting integers), then those rows: 5-11 ms for
            # any page of 100,000 tasks, against 24-240 ms sorting whole rows
            ids = [r[0] for r in db.execute(
                f"SELECT rowid FROM tasks WHERE {where} ORDER BY rowid {direction}"
                " LIMIT ? OFFSET ?", [*args, limit, offset])]
            rows = db.execute(f"SELECT * FROM tasks WHERE rowid IN ({','.join('?' * len(ids))})"
                              f" ORDER BY rowid {direction}", ids) if ids else []
        else:
            rows = db.execute(f"SELECT * FROM tasks WHERE {where} ORDER BY {sort} {direction},"
                              " rowid LIMIT ? OFFSET ?", [*args, limit, offset])
        return [_task_row(r) for r in rows], total

    def iter_tasks(self, batch_id: str, *, states: Iterable[str | State] | None = None,
                   stage: str | None = None, chunk: int = 5000) -> Iterator[TaskRow]:
        """Every matching task, read ``chunk`` rows at a time (memory independent of the count)."""
        states = None if states is None else list(states)
        where, args = self._task_filter(batch_id, states, stage)
        last = 0
        db = self._conn()
        while True:
            rows = db.execute(f"SELECT rowid AS rid, * FROM tasks WHERE {where} AND rowid > ?"
                              " ORDER BY rowid LIMIT ?", [*args, last, chunk]).fetchall()
            if not rows:
                return
            for r in rows:
                yield _task_row(r)
            last = rows[-1]["rid"]

    def task_counts(self, batch_id: str) -> dict[tuple[str, str], int]:
        """``(stage, state) -> number of tasks``, from one aggregate query."""
        rows = self._conn().execute(
            "SELECT stage, state, COUNT(*) FROM tasks WHERE batch_id = ? GROUP BY stage, state",
            (batch_id,))
        return {(r[0], r[1]): r[2] for r in rows}

    def cached_origins(self, batch_id: str) -> dict[str, int]:
        """``earlier batch id -> number of this batch's tasks resumed from it``."""
        rows = self._conn().execute(
            "SELECT substr(cached_from, 1, instr(cached_from, '/') - 1), COUNT(*) FROM tasks"
            " WHERE batch_id = ? AND cached_from IS NOT NULL GROUP BY 1 ORDER BY 2 DESC",
            (batch_id,))
        return {r[0]: r[1] for r in rows}

    def job_task_counts(self, batch_id: str,
                        job_indices: Iterable[int] | None = None) -> dict[int, dict[str, int]]:
        """``job_index -> {state: number of tasks}`` (of every job, or of ``job_indices``)."""
        out: dict[int, dict[str, int]] = {}
        db = self._conn()
        if job_indices is None:
            chunks: list[list[int]] = [[]]
        else:
            ids = sorted(set(job_indices))
            chunks = [ids[i : i + 500] for i in range(0, len(ids), 500)]
        for chunk in chunks:
            where = "" if job_indices is None else \
                f" AND job_index IN ({','.join('?' * len(chunk))})"
            for r in db.execute("SELECT job_index, state, COUNT(*) FROM tasks WHERE batch_id = ?"
                                f"{where} GROUP BY job_index, state", [batch_id, *chunk]):
                out.setdefault(r[0], {})[r[1]] = r[2]
        return out

    def task(self, batch_id: str, task_id: str) -> TaskRow:
        r = (
            self._conn()
            .execute("SELECT * FROM tasks WHERE batch_id = ? AND task_id = ?", (batch_id, task_id))
            .fetchone()
        )
        if r is None:
            raise BatchNotFoundError(f"no task {task_id!r} in batch {batch_id!r}")
        return _task_row(r)

    def update_tasks(self, batch_id: str, updates: Iterable[dict[str, Any]]) -> int:
        """Apply task updates in one transaction; each dict has ``task_id`` and the fields to set.

        Only real changes are written; each state change is recorded as a transition, and an
        attempt row is upserted. A task already in a final state of a *newer* attempt is never
        moved back by an update of an older attempt. Returns the number of tasks changed.
        """
        allowed = {"state", "attempt", "job_index", "started", "finished", "duration", "error",
                   "notebook", "cached_from", "records", "results"}
        now = time.time()
        changed = 0
        with self._tx() as db:
            for u in updates:
                u = {k: (v.value if isinstance(v, State) else v) for k, v in u.items()}
                if isinstance(u.get("records"), (list, tuple)):
                    u["records"] = json.dumps(list(u["records"])) if u["records"] else None
                tid = u.pop("task_id")
                host = u.pop("host", None)
                bad = set(u) - allowed
                if bad:
                    raise ValueError(f"unknown task fields: {sorted(bad)}")
                old = db.execute(
                    "SELECT * FROM tasks WHERE batch_id = ? AND task_id = ?", (batch_id, tid)
                ).fetchone()
                if old is None:
                    continue
                if "attempt" in u and u["attempt"] < old["attempt"]:
                    continue
                diff = {k: v for k, v in u.items() if old[k] != v}
                if not diff:
                    continue
                sets = ", ".join(f"{k} = ?" for k in diff)
                db.execute(
                    f"UPDATE tasks SET {sets} WHERE batch_id = ? AND task_id = ?",
                    (*diff.values(), batch_id, tid),
                )
                changed += 1
                new_state = diff.get("state")
                if new_state is not None:
                    db.execute(
                        "INSERT INTO transitions (batch_id, task_id, job_index, from_state,"
                        " to_state, at) VALUES (?,?,?,?,?,?)",
                        (batch_id, tid, u.get("job_index", old["job_index"]), old["state"],
                         new_state, now),
                    )
                attempt = u.get("attempt", old["attempt"])
                db.execute(
                    "INSERT INTO attempts (batch_id, task_id, attempt, job_index, state, started,"
                    " finished, host, error) VALUES (?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT (batch_id, task_id, attempt) DO UPDATE SET state=excluded.state,"
                    " started=COALESCE(excluded.started, started),"
                    " finished=COALESCE(excluded.finished, finished),"
                    " host=COALESCE(excluded.host, host), error=excluded.error",
                    (batch_id, tid, attempt, u.get("job_index", old["job_index"]),
                     u.get("state", old["state"]), u.get("started"), u.get("finished"), host,
                     u.get("error")),
                )
        return changed

    def attempts(self, batch_id: str, task_id: str) -> list[dict[str, Any]]:
        rows = self._conn().execute(
            "SELECT * FROM attempts WHERE batch_id = ? AND task_id = ? ORDER BY attempt",
            (batch_id, task_id),
        )
        return [dict(r) for r in rows]

    def transitions(self, batch_id: str, task_id: str | None = None) -> list[dict[str, Any]]:
        q = "SELECT * FROM transitions WHERE batch_id = ?"
        args: list[Any] = [batch_id]
        if task_id is not None:
            q += " AND task_id = ?"
            args.append(task_id)
        return [dict(r) for r in self._conn().execute(q + " ORDER BY id", args)]

    def find_done(self, fingerprints: Iterable[str]) -> dict[str, tuple[str, str, str]]:
        """Done tasks with these fingerprints: ``fingerprint -> (batch_id, task_id, batch_dir)``.

        The newest done task wins; tasks of deleted batches do not count.
        """
        fps = list(dict.fromkeys(f for f in fingerprints if f))
        out: dict[str, tuple[str, str, str]] = {}
        db = self._conn()
        for i in range(0, len(fps), 500):
            chunk = fps[i : i + 500]
            q = (
                "SELECT t.fingerprint, t.batch_id, t.task_id, b.batch_dir FROM tasks t"
                " JOIN batches b ON b.batch_id = t.batch_id"
                f" WHERE t.state = 'done' AND b.deleted = 0 AND t.fingerprint IN"
                f" ({','.join('?' * len(chunk))}) ORDER BY b.created"
            )
            for r in db.execute(q, chunk):
                out[r[0]] = (r[1], r[2], r[3])
        return out
