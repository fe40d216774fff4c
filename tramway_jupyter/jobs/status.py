"""A task's status: the one model that every writer and reader of task statuses uses.

A worker writes a :class:`TaskStatus` each time a task changes state (running, then done or
failed), the submitting host writes verdicts for tasks a dead job left unfinished and the tasks
it resumed from an earlier batch; all go to the status journals (:mod:`.journal`). Readers decide
between records with :func:`supersedes`, ask whether an attempt of a task is over with
:meth:`TaskStatus.ended`, and turn a record into a row update with :meth:`TaskStatus.store_update`.
Records are msgspec Structs: a journal line that is not a valid record is reported (file and
line) and skipped, never half-read.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .states import State

__all__ = ["TaskError", "TaskStatus", "Rank", "supersedes", "encode", "decode"]


class TaskError(msgspec.Struct, kw_only=True):
    """Why a task did not end done: the exception a cell raised, or what ended its job."""

    ename: str
    evalue: str = ""
    traceback: str = ""
    cell_index: int | None = None  # the notebook cell that raised (None: not a cell's error)
    source: str = ""  # that cell's source

    def summary(self) -> str:
        """One line for listings: ``ename: evalue (cell N)``, cut at 300 characters."""
        where = f" (cell {self.cell_index})" if self.cell_index is not None else ""
        msg = f"{self.ename or 'Error'}: {self.evalue}".strip()
        return (msg[:300] + "…" if len(msg) > 300 else msg) + where

    def replace(self, **changes: Any) -> TaskError:
        return msgspec.structs.replace(self, **changes)

    @classmethod
    def job_ended(cls, state: State, reason: str) -> TaskError:
        """The error of a task whose job ended (killed, timed out, cancelled, lost) before it."""
        return cls(ename="JobFailed" if state is State.FAILED else state.value.capitalize(),
                   evalue=reason)

    @classmethod
    def from_exception(cls, exc: BaseException, *, prefix: str = "") -> TaskError:
        import traceback as tb

        return cls(ename=f"{prefix}{type(exc).__name__}", evalue=str(exc),
                   traceback="".join(tb.format_exception(type(exc), exc, exc.__traceback__)))


class TaskStatus(msgspec.Struct, kw_only=True):
    """One status record of one attempt of a task."""

    state: State
    attempt: int = 1
    job_index: int | None = None  # -1: resumed from an earlier batch, run by no job
    task_id: str = ""  # set when written to a journal
    started: float | None = None
    finished: float | None = None
    duration: float | None = None
    host: str | None = None
    pid: int | None = None
    error: TaskError | None = None
    notebook: str | None = None  # output notebook, relative to the batch directory
    results: str | None = None  # recorded results, relative to the batch directory
    records: list[str] = msgspec.field(default_factory=list)  # names given to record()
    log: str | None = None  # the task's own stdout/stderr log, when it printed
    cached_from: str | None = None  # "<batch>/<task>" this done task was resumed from
    updated: float | None = None  # when the record was written

    @property
    def is_final(self) -> bool:
        return self.state.is_final

    def ended(self, attempt: int) -> bool:
        """Whether attempt ``attempt`` of the task is over: this record ends it, or belongs to
        a newer attempt (a retry owns the task now)."""
        return self.attempt > attempt or (self.attempt == attempt and self.state.is_final)

    def rank(self, *, from_worker: bool) -> Rank:
        return (self.attempt, self.state.is_final, from_worker)

    def store_update(self, task_id: str | None = None) -> dict[str, Any]:
        """The ``Store.update_tasks`` item this record makes."""
        u: dict[str, Any] = {
            "task_id": task_id or self.task_id,
            "state": self.state.value,
            "attempt": self.attempt,
            "started": self.started,
            "finished": self.finished,
            "duration": self.duration,
            "error": self.error.summary() if self.error else None,
            "notebook": self.notebook,
            "records": list(self.records),
            "results": self.results,
            "host": self.host,
        }
        if self.job_index is not None:
            u["job_index"] = self.job_index
        return u

    def replace(self, **changes: Any) -> TaskStatus:
        return msgspec.structs.replace(self, **changes)


#: (attempt, final, written by the worker): the order in which records of a task win.
Rank = tuple[int, bool, bool]


def supersedes(new: Rank, old: Rank) -> bool:
    """Whether a record of rank ``new``, read after one of rank ``old``, replaces it.

    A newer attempt wins; in the same attempt a final state beats a live one, and the worker's
    final record beats a verdict of the submitting host (the worker saw the task end; a verdict
    only speaks for tasks left without a final record); between equals, the later one.
    """
    return new >= old


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(TaskStatus)


def encode(status: TaskStatus) -> bytes:
    return _encoder.encode(status)


def decode(line: bytes | str) -> TaskStatus:
    """A record from one journal line; ``msgspec.DecodeError`` (a ValueError) names the field
    that is wrong (e.g. ``Expected `int`, got `str` - at `$.attempt```)."""
    return _decoder.decode(line)
