"""What the REST handlers do, as plain Python (no tornado): read the job store, act on batches.

Every path this module reads or returns is confined to the batch directory recorded in the
store; task ids come from the URL, so they are validated, looked up in the store, and the
resolved path is checked to lie under the batch directory. Cancel and retry go through the
public ``tramway_jupyter.api`` (never a shell command built from request data).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..exceptions import BatchNotFoundError, TramwayJupyterError
from ..jobs.batchdir import BatchDir
from ..jobs.states import State
from ..jobs.store import BatchRow, Store, TaskRow

logger = logging.getLogger(__name__)

#: At most this much of a log is returned (its tail).
LOG_TAIL_BYTES = 256 * 1024
_BAD_ID_CHARS = frozenset("/\\\x00")


class RequestError(TramwayJupyterError, ValueError):
    """The request is malformed (HTTP 400)."""


class NotFoundError(TramwayJupyterError, LookupError):
    """The batch, task, log or notebook does not exist (HTTP 404)."""


class ConflictError(TramwayJupyterError):
    """The request is valid but cannot be served in the current state (HTTP 409)."""


class BatchHandle(Protocol):
    """The part of ``tramway_jupyter.api.Batch`` the server uses."""

    def refresh(self) -> Any: ...

    def cancel(self, job_indices: list[int] | None = None) -> Any: ...

    def retry(self) -> int: ...


BatchFactory = Callable[[str, Store], BatchHandle]


def api_batch_factory(batch_id: str, store: Store) -> BatchHandle:
    """Open a batch through the public API (imported lazily: it pulls in the backends)."""
    from .. import api

    return api.get_batch(batch_id, store=store)


@dataclass(frozen=True)
class CancelRequest:
    jobs: list[int] | None

    @classmethod
    def parse(cls, body: Any) -> CancelRequest:
        if body is None or body == {}:
            return cls(jobs=None)
        if not isinstance(body, dict):
            raise RequestError('the body must be a JSON object like {"jobs": [0, 2]}')
        unknown = set(body) - {"jobs"}
        if unknown:
            raise RequestError(f"unknown fields in the body: {sorted(unknown)}")
        jobs = body.get("jobs")
        if jobs is None:
            return cls(jobs=None)
        if not isinstance(jobs, list) or not all(
            isinstance(j, int) and not isinstance(j, bool) and j >= 0 for j in jobs
        ):
            raise RequestError("'jobs' must be a list of job indices (integers >= 0)")
        return cls(jobs=sorted(set(jobs)))


def parse_states(values: Iterable[str]) -> list[str] | None:
    """Validate ``?state=`` filters (repeatable or comma-separated); None means no filter."""
    out: list[str] = []
    for v in values:
        out += [s.strip() for s in v.split(",") if s.strip()]
    if not out:
        return None
    known = {s.value for s in State}
    bad = [s for s in out if s not in known]
    if bad:
        raise RequestError(f"unknown state(s) {bad}; use one of {sorted(known)}")
    return out


def check_id(kind: str, value: str) -> str:
    """Refuse ids that could name a path outside the batch directory."""
    if not value or value.startswith(".") or any(c in _BAD_ID_CHARS for c in value):
        raise RequestError(f"invalid {kind} id {value!r}")
    return value


def confine(root: Path, path: Path) -> Path:
    """``path`` resolved, if it lies under ``root``; else a NotFoundError."""
    rroot = root.resolve()
    rpath = (root / path).resolve()
    if not rpath.is_relative_to(rroot):
        raise NotFoundError(f"{path} is outside the batch directory {root}")
    return rpath


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
    def list_batches(self) -> dict[str, Any]:
        return {"batches": [self._batch_dict(b) for b in self.store.list_batches()]}

    def batch(self, batch_id: str, states: list[str] | None = None) -> dict[str, Any]:
        row = self._row(batch_id)
        tasks = self.store.tasks(row.batch_id, states=states)
        return {
            "batch": self._batch_dict(row),
            "jobs": [j.to_dict() for j in self.store.jobs(row.batch_id)],
            "tasks": [self._task_dict(t) for t in tasks],
        }

    def task(self, batch_id: str, task_id: str) -> dict[str, Any]:
        row, task = self._task(batch_id, task_id)
        # the journal is found by job index (an integer), never by a path from the request
        status = BatchDir(row.batch_dir).read_status(task.task_id, task.job_index)
        return {
            "batch_id": row.batch_id,
            "task": self._task_dict(task),
            "status": status,
            "attempts": self.store.attempts(row.batch_id, task.task_id),
        }

    def task_log(self, batch_id: str, task_id: str) -> dict[str, Any]:
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
        return {
            "batch_id": row.batch_id,
            "task_id": task.task_id,
            "job_index": task.job_index,
            "attempt": task.attempt,
            "path": ", ".join(p.relative_to(root).as_posix() for p in paths),
            "truncated": truncated,
            "log": "\n".join(parts),
        }

    def notebook(self, batch_id: str, task_id: str) -> dict[str, Any]:
        row, task = self._task(batch_id, task_id)
        bd = BatchDir(row.batch_dir)
        rel = task.notebook
        if not rel:
            status = bd.read_status(task.task_id, task.job_index) or {}
            rel = status.get("notebook")
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
        return {
            "batch_id": row.batch_id,
            "task_id": task.task_id,
            "path": path.relative_to(self.root_dir).as_posix(),
        }

    # -- actions ----------------------------------------------------------------------
    def cancel(self, batch_id: str, jobs: list[int] | None = None) -> dict[str, Any]:
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
        return {"batch": self._batch_dict(self.store.get_batch(row.batch_id)), "cancelled": jobs}

    def retry(self, batch_id: str) -> dict[str, Any]:
        row = self._row(batch_id)
        if row.state.is_active:
            raise ConflictError(
                f"batch {row.batch_id} is still {row.state}: wait for it to finish (or cancel it)"
                " before retrying its failed tasks"
            )
        with self._handle(row.batch_id) as batch:
            n = batch.retry()
        return {"batch": self._batch_dict(self.store.get_batch(row.batch_id)), "retried": n}

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
        """This attempt's log files, else the newest earlier attempt that has some."""
        for attempt in range(task.attempt, 0, -1):
            stem = bd.job_log_path(task.job_index, attempt)
            found = sorted(stem.parent.glob(f"job-{task.job_index}-a{attempt}.*"))
            paths = [confine(bd.root, p) for p in found if p.is_file()]
            if paths:
                return paths
        return []

    @staticmethod
    def _batch_dict(row: BatchRow) -> dict[str, Any]:
        d = row.to_dict()
        d["state"] = row.state.value
        return d

    @staticmethod
    def _task_dict(task: TaskRow) -> dict[str, Any]:
        d = task.to_dict()
        d.pop("batch_id", None)
        return d
