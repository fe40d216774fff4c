"""What the REST handlers do, as plain Python (no tornado): read the job store into payloads
(``payloads.py``), act on batches.

Requests arrive parsed and checked (``requests.py``: the queries, ``check_id``, ``confine``).
Every path this module reads or returns is confined to the batch directory recorded in the
store; task ids come from the URL, so they are validated, looked up in the store, and the
resolved path is checked to lie under the batch directory. Cancel and retry go through the
public ``tramway_jupyter.api`` (never a shell command built from request data).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import msgspec

from ..exceptions import (
    BatchNotFoundError,
    ConflictError,
    NotFoundError,
    RequestError,
    TramwayJupyterError,
)
from ..jobs.batchdir import BatchDir
from ..jobs.results import Results
from ..jobs.states import ACTIVE_STATES, State
from ..jobs.store import BatchRow, Store, TaskRow
from .payloads import (
    Attempt,
    BatchCounts,
    BatchDetail,
    BatchInfo,
    BatchList,
    BatchSummary,
    CancelResult,
    DeleteResult,
    DurationHistogram,
    FailureGroup,
    JobInfo,
    JobPage,
    NotebookPath,
    RetryResult,
    TaskDetail,
    TaskInfo,
    TaskLog,
)
from .requests import JobQuery, TaskQuery, check_id, confine

logger = logging.getLogger(__name__)

#: At most this much of a log is returned (its tail).
LOG_TAIL_BYTES = 256 * 1024
#: A task's one-line error is cut to this many characters in listings (whole in ``task()``).
LISTED_ERROR_CHARS = 300
#: Failures of a batch summary are grouped by message, this many groups at most.
FAILURE_GROUPS = 10


class BatchHandle(Protocol):
    """The part of ``tramway_jupyter.api.Batch`` the server uses."""

    def refresh(self) -> Any: ...

    def cancel(self, job_indices: list[int] | None = None) -> Any: ...

    def retry(self) -> int: ...

    def delete(self) -> Any: ...


BatchFactory = Callable[[str, Store], BatchHandle]


def api_batch_factory(batch_id: str, store: Store) -> BatchHandle:
    """Open a batch through the public API (imported lazily: it pulls in the backends)."""
    from .. import api

    return api.get_batch(batch_id, store=store)


class BatchService:
    """Read batches from the store and act on them; every method is blocking (run it in a thread)."""

    def __init__(
        self,
        store: Store,
        root_dir: str | os.PathLike[str],
        batch_factory: BatchFactory = api_batch_factory,
    ) -> None:
        self.store = store
        self.root_dir = Path(root_dir).expanduser().resolve()
        self._open_batch = batch_factory
        # one handle per batch, reused across refreshes (a Slurm backend keeps its SSH
        # connection), used by one thread at a time
        self._handles: dict[str, tuple[threading.Lock, BatchHandle]] = {}
        self._handles_lock = threading.Lock()

    # -- reads ------------------------------------------------------------------------
    def list_batches(self) -> BatchList:
        return BatchList(batches=[self._batch_info(b) for b in self.store.list_batches()])

    def batch(self, batch_id: str, query: TaskQuery | None = None) -> BatchCounts:
        """The batch with its counts (per state, per stage x state, jobs per state) and one page
        of its tasks and of its jobs: never every task (a batch may have 100,000).

        Everything is read in one read transaction, so the counts, ``total`` and the page agree
        while workers write.
        """
        q = query or TaskQuery()
        with self.store.snapshot():
            row = self._row(batch_id)
            stage_counts = self.store.task_counts(row.batch_id)  # one aggregate query
            out = self._summary(row, stage_counts)
            if q.stage is not None and q.stage not in out.stages:
                raise RequestError(
                    f"batch {row.batch_id} has no stage {q.stage!r}; its stages: "
                    f"{list(out.stages)}"
                )
            if not q.tasks:
                return out
            total = sum(
                n
                for (stage, state), n in stage_counts.items()
                if (q.states is None or state in q.states) and (q.stage in (None, stage))
            )
            if q.limit == 0 or q.offset >= total:
                tasks: list[TaskRow] = []
            else:
                tasks, _ = self.store.task_page(
                    row.batch_id,
                    states=q.states,
                    stage=q.stage,
                    sort=q.sort,
                    descending=q.descending,
                    offset=q.offset,
                    limit=q.limit,
                    count=False,
                )
            jobs = self.store.job_page(row.batch_id, offset=q.jobs_offset, limit=q.jobs_limit)[0]
            return BatchDetail(
                batch=out.batch,
                stages=out.stages,
                job_counts=out.job_counts,
                n_jobs=out.n_jobs,
                tasks=[self._task_info(t, listed=True) for t in tasks],
                total=total,
                offset=q.offset,
                limit=q.limit,
                sort=q.sort,  # type: ignore[arg-type]  # checked by TaskQuery.parse
                order="desc" if q.descending else "asc",
                state=_as_states(q.states),
                stage=q.stage,
                jobs=[_convert(j, JobInfo) for j in jobs],
                jobs_offset=q.jobs_offset,
                jobs_limit=q.jobs_limit,
            )

    def counts(self, batch_id: str) -> BatchCounts:
        """The batch and its counts only (the poll of a collapsed batch): no task, no job."""
        return self.batch(batch_id, TaskQuery(tasks=False))

    def jobs(self, batch_id: str, query: JobQuery | None = None) -> JobPage:
        """A page of the batch's jobs (a Slurm batch can have thousands)."""
        q = query or JobQuery()
        with self.store.snapshot():
            row = self._row(batch_id)
            jobs, total = self.store.job_page(
                row.batch_id, states=q.states, offset=q.offset, limit=q.limit
            )
        return JobPage(
            batch_id=row.batch_id,
            jobs=[_convert(j, JobInfo) for j in jobs],
            total=total,
            offset=q.offset,
            limit=q.limit,
            state=_as_states(q.states),
        )

    def _summary(self, row: BatchRow, stage_counts: dict[tuple[str, str], int]) -> BatchCounts:
        """The batch (with its per-state counts), its stage x state counts and job counts."""
        job_stats = self.store.job_counts(row.batch_id)
        # stages in pipeline order (that of their first job), then any without a job
        order = {stage: first for stage, (_, first) in job_stats.items()}
        stages: dict[str, dict[State, int]] = {}
        for (stage, state), n in sorted(
            stage_counts.items(), key=lambda kv: (order.get(kv[0][0], 1 << 60), kv[0][0])
        ):
            stages.setdefault(stage, {})[State(state)] = n
        job_counts: dict[State, int] = {}
        for per_state, _ in job_stats.values():
            for state, n in per_state.items():
                job_counts[State(state)] = job_counts.get(State(state), 0) + n
        return BatchCounts(
            batch=self._batch_info(row),
            stages=stages,
            job_counts=job_counts,
            n_jobs=sum(job_counts.values()),
        )

    def task(self, batch_id: str, task_id: str) -> TaskDetail:
        row, task = self._task(batch_id, task_id)
        # the journal is found by job index (an integer), never by a path from the request
        bd = BatchDir(row.batch_dir)
        status = bd.read_status(task.task_id, task.job_index)
        return TaskDetail(
            batch_id=row.batch_id,
            task=self._task_info(task),
            status=status,
            attempts=[_convert(a, Attempt) for a in self.store.attempts(row.batch_id,
                                                                        task.task_id)],
        )

    def task_log(self, batch_id: str, task_id: str) -> TaskLog:
        """The logs of the job attempt that ran the task (``logs/job-<j>-a<k>.*``), their tail."""
        row, task = self._task(batch_id, task_id)
        bd = BatchDir(row.batch_dir)
        paths = self._log_paths(bd, task)
        if not paths:
            raise NotFoundError(
                f"no log yet for task {task.task_id} of batch {row.batch_id} "
                f"(job {task.job_index}, attempt {task.attempt}, state {task.state})"
            )
        parts, truncated = [], False
        budget = LOG_TAIL_BYTES // len(paths)
        for path in paths:
            size = path.stat().st_size
            with open(path, "rb") as fh:
                if size > budget:
                    fh.seek(size - budget)
                    truncated = True
                data = fh.read().decode("utf-8", errors="replace")
            parts.append(data if len(paths) == 1 else f"==> {path.name} <==\n{data}")
        root = bd.root.resolve()
        return TaskLog(
            batch_id=row.batch_id,
            task_id=task.task_id,
            job_index=task.job_index,
            attempt=task.attempt,
            path=", ".join(p.relative_to(root).as_posix() for p in paths),
            truncated=truncated,
            log="\n".join(parts),
        )

    def notebook(self, batch_id: str, task_id: str) -> NotebookPath:
        row, task = self._task(batch_id, task_id)
        bd = BatchDir(row.batch_dir)
        rel = task.notebook
        if not rel:
            status = bd.read_status(task.task_id, task.job_index)
            rel = status.notebook if status is not None else None
        candidate = Path(rel) if rel else bd.notebook_path(task.task_id)
        path = confine(bd.root, candidate)
        if not path.is_file():
            raise NotFoundError(
                f"task {task.task_id} has no output notebook yet (state {task.state})"
            )
        if not path.is_relative_to(self.root_dir):
            raise ConflictError(
                f"the output notebook {path} is outside the Jupyter server root {self.root_dir}:"
                " JupyterLab cannot open it. Start jupyter lab from a parent directory, or put"
                " batch directories under it (TRAMWAY_JUPYTER_BATCHES)."
            )
        return NotebookPath(
            batch_id=row.batch_id,
            task_id=task.task_id,
            path=path.relative_to(self.root_dir).as_posix(),
        )

    def summary(self, batch_id: str, bins: int = 10) -> BatchSummary:
        """Durations of the done tasks (a histogram) and the failures grouped by their one-line
        error: aggregate queries, never a row per task."""
        with self.store.snapshot():
            row = self._row(batch_id)
            hist = self.store.duration_histogram(row.batch_id, bins)
            groups, n_failed = self.store.failure_groups(row.batch_id, FAILURE_GROUPS)
        return BatchSummary(
            batch_id=row.batch_id,
            durations=None if hist is None else DurationHistogram(
                shortest=hist[0], longest=hist[1], counts=hist[2]),
            failures=[FailureGroup(error=e, count=n) for e, n in groups],
            n_failed=n_failed,
        )

    def results(self, batch_id: str) -> Results:
        """The batch's results (read lazily: rows stream from the store)."""
        row = self._row(batch_id)
        return Results(row.batch_id, BatchDir(row.batch_dir), self.store)

    # -- actions ----------------------------------------------------------------------
    def cancel(self, batch_id: str, jobs: list[int] | None = None) -> CancelResult:
        row = self._row(batch_id)
        if jobs is not None:
            known = {j.job_index for j in self.store.jobs(row.batch_id)}
            missing = sorted(set(jobs) - known)
            if missing:
                raise NotFoundError(f"batch {row.batch_id} has no job(s) {missing}")
        if not row.state.is_active:
            raise ConflictError(f"batch {row.batch_id} is {row.state}: nothing to cancel")
        with self._handle(row.batch_id) as batch:
            batch.cancel(jobs)
        return CancelResult(batch=self._batch_info(self.store.get_batch(row.batch_id)),
                            cancelled=jobs)

    def retry(self, batch_id: str) -> RetryResult:
        row = self._row(batch_id)
        if row.state.is_active:
            raise ConflictError(
                f"batch {row.batch_id} is still {row.state}: wait for it to finish (or cancel it)"
                " before retrying its failed tasks"
            )
        with self._handle(row.batch_id) as batch:
            n = batch.retry()
        return RetryResult(batch=self._batch_info(self.store.get_batch(row.batch_id)), retried=n)

    def delete(self, batch_id: str) -> DeleteResult:
        """Cancel what still runs, hide the batch from listings (``Batch.delete``)."""
        row = self._row(batch_id)
        with self._handle(row.batch_id) as batch:
            batch.delete()
        with self._handles_lock:
            self._handles.pop(row.batch_id, None)
        return DeleteResult(batch_id=row.batch_id, deleted=True)

    def refresh(self, batch_id: str) -> None:
        with self._handle(batch_id) as batch:
            batch.refresh()

    def active_batch_ids(self) -> list[str]:
        """Ids of the batches still running; handles of finished batches are dropped."""
        active = [b.batch_id for b in self.store.list_batches() if b.state.is_active]
        with self._handles_lock:
            for gone in set(self._handles) - set(active):
                del self._handles[gone]
        return active

    @contextmanager
    def _handle(self, batch_id: str) -> Iterator[BatchHandle]:
        with self._handles_lock:
            entry = self._handles.get(batch_id)
            if entry is None:
                entry = (threading.Lock(), self._open_batch(batch_id, self.store))
                self._handles[batch_id] = entry
        lock, batch = entry
        with lock:
            yield batch

    # -- helpers ----------------------------------------------------------------------
    def _row(self, batch_id: str) -> BatchRow:
        check_id("batch", batch_id)
        try:
            return self.store.get_batch(batch_id)
        except BatchNotFoundError as exc:
            raise NotFoundError(str(exc)) from None

    def _task(self, batch_id: str, task_id: str) -> tuple[BatchRow, TaskRow]:
        row = self._row(batch_id)
        check_id("task", task_id)
        try:
            return row, self.store.task(row.batch_id, task_id)
        except BatchNotFoundError as exc:
            raise NotFoundError(str(exc)) from None

    @staticmethod
    def _log_paths(bd: BatchDir, task: TaskRow) -> list[Path]:
        """The task's own output log (if it printed), then this attempt's job log files, else
        those of the newest earlier attempt that has some."""
        own = bd.task_log_path(task.task_id)
        mine = [confine(bd.root, own)] if own.is_file() else []
        for attempt in range(task.attempt, 0, -1):
            stem = bd.job_log_path(task.job_index, attempt)
            found = sorted(stem.parent.glob(f"job-{task.job_index}-a{attempt}.*"))
            paths = [confine(bd.root, p) for p in found if p.is_file()]
            if paths:
                return mine + paths
        return mine

    def _batch_info(self, row: BatchRow) -> BatchInfo:
        info = _convert(row, BatchInfo)
        if row.state in ACTIVE_STATES:
            info.eta = self.store.eta(row.batch_id)
        return info

    @staticmethod
    def _task_info(task: TaskRow, *, listed: bool = False) -> TaskInfo:
        info = _convert(task, TaskInfo)
        err = info.error
        if listed and err and len(err) > LISTED_ERROR_CHARS:
            info.error = err[: LISTED_ERROR_CHARS - 1] + "\u2026"
        return info


P = TypeVar("P", bound=msgspec.Struct)


def _convert(obj: Any, payload: type[P], what: str | None = None) -> P:
    """A store row (its attributes) or a record (a dict) as a payload, checked on the way.

    A record that does not fit is a server error (500) that names it, not a bad request.
    """
    try:
        return msgspec.convert(obj, payload, from_attributes=True)
    except msgspec.ValidationError as exc:
        raise TramwayJupyterError(f"{what or obj!r} does not fit {payload.__name__}: {exc}") from None


def _as_states(states: list[str] | None) -> list[State] | None:
    return None if states is None else [State(s) for s in states]


