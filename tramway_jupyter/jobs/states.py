"""The one list of task and job states; every backend maps its scheduler's states into it."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


class State(str, Enum):
    PENDING = "pending"  # planned, not yet handed to a backend (or waiting for a dependency)
    QUEUED = "queued"  # handed to a backend, not started
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # a cell raised, or the job ended badly (timeout, out of memory...)
    LOST = "lost"  # the worker died without writing a final status (killed, node failure)
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES

    @property
    def is_active(self) -> bool:
        return self in ACTIVE_STATES

    def __str__(self) -> str:  # so f-strings show "done", not "State.DONE"
        return self.value


FINAL_STATES = frozenset({State.DONE, State.FAILED, State.LOST, State.CANCELLED})
ACTIVE_STATES = frozenset({State.PENDING, State.QUEUED, State.RUNNING})
RETRYABLE_STATES = frozenset({State.FAILED, State.LOST, State.CANCELLED})
NOT_OK_STATES = frozenset({State.FAILED, State.LOST})  # ended badly (cancelled: by the user)

# The same sets as plain strings, for store rows and JSON (a str-Enum member does not hash like
# its value: ``"done" in FINAL_STATES`` is False).
FINAL_VALUES = frozenset(s.value for s in FINAL_STATES)
ACTIVE_VALUES = frozenset(s.value for s in ACTIVE_STATES)
RETRYABLE_VALUES = frozenset(s.value for s in RETRYABLE_STATES)
NOT_OK_VALUES = frozenset(s.value for s in NOT_OK_STATES)

#: Order used to summarise a batch: the worst state wins.
SUMMARY_ORDER = (
    State.RUNNING,
    State.QUEUED,
    State.PENDING,
    State.FAILED,
    State.LOST,
    State.CANCELLED,
    State.DONE,
)

#: Order of the per-state counts in listings: outcomes first, then what is still to come.
LISTING_ORDER = (State.DONE, State.FAILED, State.LOST, State.CANCELLED, State.RUNNING,
                 State.QUEUED, State.PENDING)


def job_outcome(task_states: Iterable[str]) -> State:
    """The final state of a job whose tasks have all ended: done if all are done, cancelled if
    all were cancelled, else failed."""
    states = set(task_states)
    if states == {State.DONE.value}:
        return State.DONE
    if states == {State.CANCELLED.value}:
        return State.CANCELLED
    return State.FAILED


def batch_state(counts: dict[str, int]) -> State:
    """Summarise a batch from its task counts per state."""
    total = sum(counts.values())
    if total == 0:
        return State.PENDING
    for s in (State.RUNNING, State.QUEUED, State.PENDING):
        if counts.get(s.value, 0):
            return State.RUNNING if s is State.RUNNING or counts.get("done", 0) else s
    for s in (State.FAILED, State.LOST, State.CANCELLED):
        if counts.get(s.value, 0):
            return s
    return State.DONE
