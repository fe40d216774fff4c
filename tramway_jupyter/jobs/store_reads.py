"""The job store's queries: batches, jobs and tasks read back, one at a time, by page (the
sidebar), in chunks (gather, the CLI) or as aggregate counts. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..exceptions import BatchNotFoundError
from .eta import StageProgress, eta_seconds
from .states import FINAL_VALUES, State
from .store_connection import StoreConnection
from .store_rows import TASK_SORT_KEYS, BatchRow, JobRow, TaskRow, batch_row, job_row, task_row


class StoreReads(StoreConnection):
    """The read queries of :class:`~.store.Store`; each runs on this thread's connection."""

    # -- batches ------------------------------------------------------------------------
    def list_batches(self, *, include_deleted: bool = False) -> list[BatchRow]:
        db = self._conn()
        where = "" if include_deleted else "WHERE deleted = 0"
        rows = db.execute(f"SELECT * FROM batches {where} ORDER BY created DESC").fetchall()
        counts: dict[str, dict[str, int]] = {}
        for r in db.execute("SELECT batch_id, state, COUNT(*) FROM tasks GROUP BY batch_id, state"):
            counts.setdefault(r[0], {})[r[1]] = r[2]
        return [batch_row(r, counts.get(r["batch_id"], {})) for r in rows]

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
        return batch_row(r, counts)

    # -- jobs ---------------------------------------------------------------------------
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
        return [job_row(r) for r in rows]

    def job_page(self, batch_id: str, *, states: Iterable[str] | None = None, offset: int = 0,
                 limit: int = 100) -> tuple[list[JobRow], int]:
        """One page of a batch's jobs (by index) and the number matching ``states``."""
        states = None if states is None else list(states)
        where, args = self._task_filter(batch_id, states, None)
        db = self._conn()
        total = int(db.execute(f"SELECT COUNT(*) FROM jobs WHERE {where}", args).fetchone()[0])
        rows = db.execute(f"SELECT * FROM jobs WHERE {where} ORDER BY job_index LIMIT ? OFFSET ?",
                          [*args, limit, offset]) if limit else []
        return [job_row(r) for r in rows], total

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

    # -- tasks --------------------------------------------------------------------------
    def task(self, batch_id: str, task_id: str) -> TaskRow:
        r = (
            self._conn()
            .execute("SELECT * FROM tasks WHERE batch_id = ? AND task_id = ?", (batch_id, task_id))
            .fetchone()
        )
        if r is None:
            raise BatchNotFoundError(f"no task {task_id!r} in batch {batch_id!r}")
        return task_row(r)

    def tasks(
        self, batch_id: str, *, states: Iterable[str | State] | None = None, stage: str | None = None
    ) -> list[TaskRow]:
        where, args = self._task_filter(batch_id, states, stage)
        return [task_row(r) for r in self._conn().execute(
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
                out[r["task_id"]] = task_row(r)
        return out

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
        return [task_row(r) for r in rows], total

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
                yield task_row(r)
            last = rows[-1]["rid"]

    def task_counts(self, batch_id: str) -> dict[tuple[str, str], int]:
        """``(stage, state) -> number of tasks``, from one aggregate query."""
        rows = self._conn().execute(
            "SELECT stage, state, COUNT(*) FROM tasks WHERE batch_id = ? GROUP BY stage, state",
            (batch_id,))
        return {(r[0], r[1]): r[2] for r in rows}

    def duration_histogram(self, batch_id: str, bins: int = 10
                           ) -> tuple[float, float, list[int]] | None:
        """``(shortest, longest, counts)``: the durations of the batch's done tasks in ``bins``
        equal bins, from two aggregate queries (never a row per task); None if none is done."""
        if bins < 1:
            raise ValueError(f"bins must be >= 1, got {bins}")
        db = self._conn()
        where = "batch_id = ? AND state = 'done' AND duration IS NOT NULL"
        lo, hi, n = db.execute(
            f"SELECT MIN(duration), MAX(duration), COUNT(*) FROM tasks WHERE {where}",
            (batch_id,)).fetchone()
        if not n:
            return None
        width = (hi - lo) / bins
        counts = [0] * bins
        if width <= 0:
            counts[0] = int(n)
            return float(lo), float(hi), counts
        rows = db.execute(
            f"SELECT MIN(CAST((duration - ?) / ? AS INTEGER), ?), COUNT(*) FROM tasks"
            f" WHERE {where} GROUP BY 1", (lo, width, bins - 1, batch_id))
        for b, k in rows:
            counts[int(b)] += int(k)
        return float(lo), float(hi), counts

    def failure_groups(self, batch_id: str, limit: int = 10) -> tuple[list[tuple[str | None, int]], int]:
        """The ``limit`` most frequent one-line errors of the batch's failed and lost tasks with
        their counts (most frequent first; None: no message), and the number of such tasks."""
        db = self._conn()
        where = "batch_id = ? AND state IN ('failed', 'lost')"
        total = int(db.execute(f"SELECT COUNT(*) FROM tasks WHERE {where}",
                               (batch_id,)).fetchone()[0])
        rows = db.execute(
            f"SELECT error, COUNT(*) AS n FROM tasks WHERE {where} GROUP BY error"
            " ORDER BY n DESC, error LIMIT ?", (batch_id, limit))
        return [(r[0], int(r[1])) for r in rows], total

    def stage_progress(self, batch_id: str) -> list[StageProgress]:
        """Per stage: tasks done here (mean duration), left and running; one aggregate query."""
        rows = self._conn().execute(
            "SELECT stage,"
            " SUM(state = 'done' AND cached_from IS NULL AND duration IS NOT NULL),"
            " AVG(CASE WHEN state = 'done' AND cached_from IS NULL THEN duration END),"
            " SUM(state IN ('pending', 'queued', 'running')), SUM(state = 'running')"
            " FROM tasks WHERE batch_id = ? GROUP BY stage", (batch_id,))
        return [StageProgress(stage=r[0], done=int(r[1] or 0), mean_duration=r[2],
                              remaining=int(r[3] or 0), running=int(r[4] or 0)) for r in rows]

    def eta(self, batch_id: str) -> float | None:
        """The batch's remaining time in seconds (:mod:`.eta`), or None."""
        return eta_seconds(self.stage_progress(batch_id))

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

    def ended_since(self, batch_id: str, after: int = 0) -> tuple[list[str], int]:
        """The tasks that reached a final state after transition ``after``, in the order they
        did (a task may come twice: a retry ends again), and the last transition id read."""
        finals = sorted(FINAL_VALUES)
        rows = self._conn().execute(
            "SELECT id, task_id FROM transitions WHERE batch_id = ? AND id > ? AND to_state IN"
            f" ({','.join('?' * len(finals))}) ORDER BY id", (batch_id, after, *finals)
        ).fetchall()
        return [r["task_id"] for r in rows], (rows[-1]["id"] if rows else after)

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
