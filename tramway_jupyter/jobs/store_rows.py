"""The job store's rows as Python sees them: ``BatchRow``, ``JobRow``, ``TaskRow``, their
conversion from sqlite rows, the job rows of planned jobs, and the task columns one may sort by.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from .plan_model import Job
from .states import FINAL_VALUES, State, batch_state

#: Columns the task listing may be sorted by (``task_page``).
TaskSortKey = Literal["rowid", "task_id", "stage", "source", "roi_index", "state", "attempt",
                      "started", "finished", "duration"]
TASK_SORT_KEYS = frozenset(get_args(TaskSortKey))


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
    segment_index: int | None = None  # its time window (per-segment stages)
    t_start: float | None = None
    t_end: float | None = None
    sweep: dict[str, Any] = field(default_factory=dict)  # its swept parameters' values

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_TASK_COLS = [f for f in TaskRow.__dataclass_fields__]
_JOB_COLS = [f for f in JobRow.__dataclass_fields__]


def batch_row(r: sqlite3.Row, counts: dict[str, int]) -> BatchRow:
    """A ``batches`` row with its task counts by state."""
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


def job_row(r: sqlite3.Row) -> JobRow:
    """A ``jobs`` row."""
    return JobRow(**{k: r[k] for k in _JOB_COLS})


def task_row(r: sqlite3.Row) -> TaskRow:
    """A ``tasks`` row (its ``records`` decoded)."""
    d = {k: r[k] for k in _TASK_COLS}
    d["records"] = json.loads(d["records"]) if d["records"] else []
    d["sweep"] = json.loads(d["sweep"]) if d["sweep"] else {}
    return TaskRow(**d)


def job_rows(jobs: Iterable[Job]) -> list[dict[str, Any]]:
    """The store rows of planned jobs (for :meth:`Store.add_batch` and :meth:`Store.add_jobs`)."""
    return [{"job_index": j.job_index, "stage": j.stage, "attempt": j.attempt,
             "n_tasks": len(j.task_ids)} for j in jobs]
