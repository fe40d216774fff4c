"""Bring the job store in line with the status files and the backend's verdicts.

The status files are the truth. A backend's verdict (``{job_index: (state, reason)}``) only
speaks for jobs that ended without writing a final status for some task (killed, timed out,
cancelled, node failure): those tasks get that state, written to their status file as well, so
that the batch directory alone always tells the whole story.

A sync reads only what may have changed: the status journals of the jobs that have a verdict
and of the jobs a backend names (the journals it just fetched), and the local journal; local
workers write the store themselves. Its cost follows what changed, never the size of the batch;
``full=True`` reads every journal (recovery and tests).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from .batchfiles import BatchFiles
from .states import FINAL_VALUES, State, job_outcome
from .status import TaskError, TaskStatus


def sync(ctx: BatchFiles, verdicts: dict[int, tuple[State, str]] | None = None, *,
         jobs: Iterable[int] = (), full: bool = False) -> int:
    """Update the store from status journals and verdicts; return the number of tasks changed.

    Reads the journals of the jobs with a verdict and of ``jobs`` (e.g. just fetched from a
    cluster), and the local journal; ``full``: every journal.
    """
    plan = ctx.plan
    verdicts = verdicts or {}
    judged = {}
    for job_index in verdicts:
        try:
            judged[job_index] = plan.job(job_index)
        except KeyError:
            continue
    statuses = ctx.dir.read_statuses() if full else \
        ctx.dir.read_statuses(jobs={*jobs, *judged})
    now = time.time()
    decided: dict[str, TaskStatus] = {}
    for job_index, job in judged.items():
        state, reason = verdicts[job_index]
        for tid in job.task_ids:
            st = statuses.get(tid)
            if st is not None and st.ended(job.attempt):
                continue  # this attempt of the task ended, or a newer attempt owns it
            decided[tid] = TaskStatus(
                state=state, attempt=job.attempt, job_index=job_index,
                started=st.started if st else None, finished=now,
                error=None if state is State.DONE else TaskError.job_ended(state, reason))
    if decided:  # one append for every task the verdicts speak for (a job can hold thousands)
        ctx.dir.write_statuses(decided)
        statuses.update(decided)
    changed = 0
    touched: set[int] = set(judged)
    if statuses:
        rows = ctx.store.tasks_by_id(ctx.batch_id, statuses)
        updates: list[dict[str, Any]] = []
        for tid, st in statuses.items():
            row = rows.get(tid)
            if row is None:
                continue
            u = st.store_update(tid)
            if u["attempt"] < row.attempt:
                continue
            if (row.state, row.attempt, row.error, row.notebook, row.duration, row.records) != (
                    u["state"], u["attempt"], u["error"], u["notebook"], u["duration"],
                    u["records"]):
                updates.append(u)
                touched.update((row.job_index, u.get("job_index", row.job_index)))
        changed = ctx.store.update_tasks(ctx.batch_id, updates) if updates else 0
    if full:
        sync_jobs(ctx)
    elif touched:
        sync_jobs(ctx, touched)
    return changed


def sync_jobs(ctx: BatchFiles, job_indices: Iterable[int] | None = None) -> None:
    """A job is done/failed once all its tasks are final (one aggregate query).

    Only ``job_indices`` are looked at when given (the jobs whose tasks just changed).
    """
    by_job = ctx.store.job_task_counts(ctx.batch_id, job_indices)
    for j in ctx.store.jobs(ctx.batch_id, job_indices):
        counts = by_job.get(j.job_index)
        if not counts or j.state in FINAL_VALUES:
            continue
        if FINAL_VALUES.issuperset(counts):
            ctx.store.update_job(ctx.batch_id, j.job_index, state=job_outcome(counts).value,
                                 finished=time.time())
        elif counts.get(State.RUNNING.value) and j.state in (State.PENDING, State.QUEUED):
            ctx.store.update_job(ctx.batch_id, j.job_index, state=State.RUNNING.value)
