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


EventKind = Literal["ended", "failing"]


class BatchEvent(msgspec.Struct):
    """Something a user should be told about a batch, noticed by the server's refresher.

    ``kind``: ``ended`` (every task final: ``state`` is done, failed, lost or cancelled) or
    ``failing`` (the first failures of a batch still running, once per batch). ``n_failed``:
    its failed and lost tasks at that time. ``at``: when the server noticed (epoch seconds).
    """

    id: int
    batch_id: str
    batch_name: str
    kind: EventKind
    state: State
    n_failed: int
    n_tasks: int
    message: str
    at: float


class EventList(msgspec.Struct):
    """``GET events?after=ID``: the events after ``ID`` (oldest first) and the latest id.

    Events live in the server's memory (the last few hundred): ``log_id`` changes when the
    server restarts, and ids start again from 1.
    """

    events: list[BatchEvent]
    latest: int
    log_id: str


class ProfileInfo(msgspec.Struct):
    """A profile a run can name (``local``, ``inline`` and those of ``profiles.toml``)."""

    name: str
    backend: str
    host: str | None
    partition: str | None
    workers: int | None


class ProfileCheckItem(msgspec.Struct):
    """One verdict of ``profiles --check``: what was checked, whether it is fine, how to fix."""

    name: str
    ok: bool
    detail: str
    fix: str


class ProfileCheck(msgspec.Struct):
    """The result of ``profiles --check NAME``."""

    profile: str
    ok: bool
    checks: list[ProfileCheckItem]


class ProfileList(msgspec.Struct):
    """``GET profiles`` (``?check=NAME``: with that profile's check, else ``check`` is None)."""

    profiles: list[ProfileInfo]
    default: str
    check: ProfileCheck | None


class GlobCount(msgspec.Struct):
    """``GET glob?pattern=``: the data files a pattern matches (relative to the server root),
    as a run expands it; ``names``: the first few."""

    pattern: str
    count: int
    names: list[str]


class StageInfo(msgspec.Struct):
    """A ``%%tramway stage`` cell: its name, ``--per`` and ``--sweep-independent``."""

    name: str
    per: str
    sweep_independent: bool


class NotebookPipeline(msgspec.Struct):
    """``GET notebook-pipeline?path=``: the ``%%tramway`` cells of a notebook.

    ``parameters``: the names the parameters cell defines (None: no parameters cell).
    """

    path: str
    stages: list[StageInfo]
    parameters: list[str] | None
    setup: int


class RunStarted(msgspec.Struct):
    """``POST run``: the batch just started."""

    batch_id: str
    name: str


class DryRunResult(msgspec.Struct):
    """``POST run`` with ``dry_run``: the estimate's summary text and its fields."""

    text: str
    details: dict[str, Any]


class DeleteResult(msgspec.Struct):
    """``DELETE batches/<id>``."""

    batch_id: str
    deleted: bool


class DurationHistogram(msgspec.Struct):
    """The durations (s) of the done tasks: ``counts`` in equal bins from ``shortest`` to
    ``longest``."""

    shortest: float
    longest: float
    counts: list[int]


class FailureGroup(msgspec.Struct):
    """Failed (or lost) tasks that share a one-line error (None: no message)."""

    error: str | None
    count: int


class BatchSummary(msgspec.Struct):
    """``GET batches/<id>/summary``: durations of done tasks and failures grouped by message
    (the most frequent first, at most 10 groups; ``n_failed``: all failed and lost tasks)."""

    batch_id: str
    durations: DurationHistogram | None
    failures: list[FailureGroup]
    n_failed: int


#: Every reply of the REST API, in the order the TypeScript file lists them.
class PromptField(msgspec.Struct):
    """One question of a login prompt; ``echo`` false: a masked input (a code, a passphrase)."""

    text: str
    echo: bool


class Prompt(msgspec.Struct):
    """A login waiting for the user's answers (a one-time code, a key's passphrase)."""

    id: str
    profile: str
    where: str
    title: str
    prompts: list[PromptField]
    created: float


class PromptList(msgspec.Struct):
    """The pending login prompts (answered with POST ``prompts/<id>``)."""

    prompts: list[Prompt]


class PromptAnswered(msgspec.Struct):
    """The answers were handed to the waiting login (in memory only)."""

    id: str
    ok: bool


PAYLOADS: tuple[type[msgspec.Struct], ...] = (
    BatchList, BatchCounts, BatchDetail, JobPage, TaskDetail, TaskLog, NotebookPath,
    CancelResult, RetryResult, EventList,


    CancelResult, RetryResult,
    ProfileList, GlobCount, NotebookPipeline, RunStarted, DryRunResult, DeleteResult,
    BatchSummary, PromptList, PromptAnswered,
)

_encoder = msgspec.json.Encoder()


def encode(payload: msgspec.Struct) -> bytes:
    """The JSON body of a reply."""
    return _encoder.encode(payload)
