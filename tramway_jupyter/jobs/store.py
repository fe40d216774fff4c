"""The job store: one sqlite file per user (WAL mode), and :class:`Store`, its one entry point.

It holds batches, jobs, tasks, attempts and every state transition, so that a batch survives a
kernel restart and can be listed by the JupyterLab sidebar while workers write to it. Several
processes read and write it at once (workers, the kernel, the Jupyter server): every write is a
short transaction, ``busy_timeout`` absorbs contention, and WAL lets readers proceed during writes.

Only the ``store*`` modules speak SQL: :mod:`.store_schema` (the schema and its migrations, the
file check), :mod:`.store_rows` (the row types), :mod:`.store_connection` (connections and
transactions), :mod:`.store_reads` (the queries) and this one (the writes). Import from here.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from typing import Any

from ..exceptions import BatchNotFoundError, StoreCorruptError
from .states import State
from .store_reads import StoreReads
from .store_rows import TASK_SORT_KEYS, BatchRow, JobRow, TaskRow, job_rows
from .store_schema import MIGRATIONS, check_store_file

__all__ = ["MIGRATIONS", "TASK_SORT_KEYS", "BatchRow", "JobRow", "Store", "StoreCorruptError",
           "TaskRow", "check_store_file", "job_rows"]


class Store(StoreReads):
    """Access to the sqlite job store. Cheap to create; safe to share between threads.

    Opening checks the file: a damaged one raises :class:`StoreCorruptError` (``tramway-jupyter
    doctor`` rebuilds it), an unwritable place a one-line :class:`StoreError`. The connection is
    :class:`~.store_connection.StoreConnection`'s, the reads :class:`~.store_reads.StoreReads`';
    the writes are here: each one short transaction.
    """

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
                    t.get("segment_index"),
                    t.get("t_start"),
                    t.get("t_end"),
                    json.dumps(t["sweep"]) if t.get("sweep") else None,
                )
            )
            trans.append((batch_id, t["task_id"], t["job_index"], None, state, now))
        db.executemany(
            "INSERT INTO tasks (batch_id, task_id, job_index, stage, source, roi_index, state,"
            " attempt, fingerprint, cached_from, notebook, duration, records, results,"
            " segment_index, t_start, t_end, sweep)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        db.executemany(
            "INSERT INTO transitions (batch_id, task_id, job_index, from_state, to_state, at)"
            " VALUES (?,?,?,?,?,?)",
            trans,
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
