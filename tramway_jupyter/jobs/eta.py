"""The remaining time of a running batch, from the durations of its tasks that are done.

Per stage: the mean duration of the tasks done in this batch (not those reused from an earlier
one) x the tasks not yet ended (pending, queued, running: a running task counts whole, so the
ETA errs long), summed over the stages, divided by the parallelism observed now: the number of
tasks running (at least 1). A stage with no task done yet borrows the mean of all the tasks
done. No task done yet, or nothing left: no ETA (``None``).

The mean, not the median: it comes from one aggregate query of the store (the sidebar asks for
every active batch at each poll), and with uneven inputs the sum of the remaining tasks' times
is the mean's business. The parallelism observed, not the profile's: on a cluster it is what
the queue gives, and it follows ``max_running`` or a local pool's size without knowing them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class StageProgress:
    """One stage of a batch, as the store counts it."""

    stage: str
    done: int  # done in this batch, with a duration
    mean_duration: float | None  # s, over those
    remaining: int  # pending, queued or running
    running: int


def eta_seconds(stages: Iterable[StageProgress]) -> float | None:
    """Seconds until the batch ends, or ``None`` (nothing done yet, or nothing left)."""
    rows = list(stages)
    remaining = sum(s.remaining for s in rows)
    done = sum(s.done for s in rows if s.mean_duration is not None)
    if remaining == 0 or done == 0:
        return None
    overall = sum(s.done * (s.mean_duration or 0.0) for s in rows) / done
    work = sum(s.remaining * (s.mean_duration if s.done and s.mean_duration is not None
                              else overall) for s in rows)
    return work / max(1, sum(s.running for s in rows))
