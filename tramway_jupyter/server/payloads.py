"""The REST payloads of ``/tramway/api/``: one Struct per reply, the one definition of their shape.

The service builds these and encodes them with ``msgspec.json``; the sidebar's TypeScript types
(``labextension/src/generated/api-types.ts``) are generated from their JSON Schema by
``python -m tramway_jupyter.server.schema``, and a test fails when the two drift. Every field is
always sent (no field is omitted for having its default), so the TypeScript fields are required.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from ..jobs.states import State
from ..jobs.status import TaskStatus
from ..jobs.store_rows import TaskSortKey

Order = Literal["asc", "desc"]
#: Keys the task listing may be sorted by (the store's ``TASK_SORT_KEYS``; a test checks).

class BatchInfo(msgspec.Struct):
    """A batch, with its number of tasks per state."""

    batch_id: str
    name: str
    created: float
    batch_dir: str
    backend: str
    profile: str
    notebook: str | None
    meta: dict[str, Any]
    counts: dict[State, int]
    state: State
    n_tasks: int
    progress: float  # the fraction of the tasks that ended (0 to 1)
    eta: float | None = None  # seconds left, from the durations of the tasks done (jobs.eta)


class JobInfo(msgspec.Struct):
    """A job: tasks run by one worker process (one Slurm array element, one local process)."""

    batch_id: str
    job_index: int
    stage: str
    attempt: int
    state: State
    backend_id: str | None
    n_tasks: int
    submitted: float | None
    started: float | None
    finished: float | None
    reason: str | None


class TaskInfo(msgspec.Struct):
    """A task as the store has it (in listings its error is one line, cut to 300 characters)."""

    task_id: str
    job_index: int
    stage: str
    source: str
    roi_index: int | None
    state: State
    attempt: int
    started: float | None
    finished: float | None
    duration: float | None
    error: str | None
    notebook: str | None
    fingerprint: str | None
    cached_from: str | None
    records: list[str]
    results: str | None
    segment_index: int | None  # its time window [t_start, t_end) (per-segment stages)
    t_start: float | None
    t_end: float | None
    sweep: dict[str, Any]  # its swept parameters' values (empty: no sweep)


class Attempt(msgspec.Struct):
    """One attempt at a task (a retry makes another)."""

    batch_id: str
    task_id: str
    attempt: int
    job_index: int
    state: State
    started: float | None
    finished: float | None
    host: str | None
    error: str | None


class BatchList(msgspec.Struct):
    """``GET batches``."""

    batches: list[BatchInfo]


class BatchCounts(msgspec.Struct):
    """``GET batches/<id>/counts`` (or ``?tasks=0``): the cheap poll, no task, no job.

    ``stages``: stage -> state -> number of tasks, stages in pipeline order.
    """

    batch: BatchInfo
    stages: dict[str, dict[State, int]]
    job_counts: dict[State, int]
    n_jobs: int


class BatchDetail(BatchCounts):
    """``GET batches/<id>``: the counts and ONE page of tasks (and of jobs), never every task.

    ``total``: the tasks matching the filter (all pages).
    """

    tasks: list[TaskInfo]
    total: int
    offset: int
    limit: int
    sort: TaskSortKey
    order: Order
    state: list[State] | None
    stage: str | None
    jobs: list[JobInfo]
    jobs_offset: int
    jobs_limit: int


class JobPage(msgspec.Struct):
    """``GET batches/<id>/jobs``."""

    batch_id: str
    jobs: list[JobInfo]
    total: int
    offset: int
    limit: int
    state: list[State] | None


class TaskDetail(msgspec.Struct):
    """``GET batches/<id>/tasks/<task>``: the task, its status record (None before it ran) and
    its attempts."""

    batch_id: str
    task: TaskInfo
    status: TaskStatus | None
    attempts: list[Attempt]


class TaskLog(msgspec.Struct):
    """``GET batches/<id>/tasks/<task>/log``: the tail of the task's logs."""

    batch_id: str
    task_id: str
    job_index: int
    attempt: int
    path: str
    truncated: bool
    log: str


class NotebookPath(msgspec.Struct):
    """``GET batches/<id>/tasks/<task>/notebook``: the output notebook, relative to the server
    root."""

    batch_id: str
    task_id: str
    path: str


class CancelResult(msgspec.Struct):
    """``POST batches/<id>/cancel`` (or ``jobs/<j>/cancel``): ``cancelled`` is None for every
    job."""

    batch: BatchInfo
    cancelled: list[int] | None


class RetryResult(msgspec.Struct):
    """``POST batches/<id>/retry``: ``retried``, the number of tasks submitted again."""

    batch: BatchInfo
    retried: int


#: Every reply of the REST API, in the order the TypeScript file lists them.
PAYLOADS: tuple[type[msgspec.Struct], ...] = (
    BatchList, BatchCounts, BatchDetail, JobPage, TaskDetail, TaskLog, NotebookPath,
    CancelResult, RetryResult,
)

_encoder = msgspec.json.Encoder()


def encode(payload: msgspec.Struct) -> bytes:
    """The JSON body of a reply."""
    return _encoder.encode(payload)
