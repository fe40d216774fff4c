"""The one list of task and job states; every backend maps its scheduler's states into it."""

from __future__ import annotations

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
