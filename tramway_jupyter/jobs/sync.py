"""Bring the job store in line with the status files and the backend's verdicts.

The status files are the truth. A backend's verdict (``{job_index: (state, reason)}``) only
speaks for jobs that ended without writing a final status for some task (killed, timed out,
cancelled, node failure): those tasks get that state, written to their status file as well, so
that the batch directory alone always tells the whole story.
"""

from __future__ import annotations

import time
from typing import Any

from .batchdir import new_status
from .context import BatchContext
from .states import FINAL_STATES, State
from .worker import error_summary


def sync(ctx: BatchContext, verdicts: dict[int, tuple[State, str]] | None = None) -> int:
    """Update the store from status files and verdicts; return the number of tasks changed."""
    plan = ctx.plan
    statuses = ctx.dir.read_statuses()
    rows = {t.task_id: t for t in ctx.store.tasks(ctx.batch_id)}
    now = time.time()
    for job_index, (state, reason) in (verdicts or {}).items():
        try:
            job = plan.job(job_index)
        except KeyError:
            continue
        for tid in job.task_ids:
            st = statuses.get(tid)
            if st is not None and int(st.get("attempt", 1)) > job.attempt:
                continue  # a newer attempt owns this task
            if st is not None and int(st.get("attempt", 1)) == job.attempt and \
                    State(st["state"]) in FINAL_STATES:
                continue
            new = new_status(
                state, attempt=job.attempt, job_index=job_index,
                started=(st or {}).get("started"), finished=now,
                error=None if state is State.DONE else {
                    "ename": state.value.capitalize() if state is not State.FAILED else "JobFailed",
                    "evalue": reason, "traceback": "", "cell_index": None, "source": ""},
            )
            if ctx.dir.write_status(tid, new):
                statuses[tid] = new
    updates: list[dict[str, Any]] = []
    for tid, st in statuses.items():
        row = rows.get(tid)
        if row is None:
            continue
        attempt = int(st.get("attempt", 1))
        if attempt < row.attempt:
            continue
        err = st.get("error")
        u = {
            "task_id": tid,
            "state": st["state"],
            "attempt": attempt,
            "job_index": st.get("job_index", row.job_index),
            "started": st.get("started"),
            "finished": st.get("finished"),
            "duration": st.get("duration"),
            "error": error_summary(err) if err else None,
            "notebook": st.get("notebook"),
            "host": st.get("host"),
        }
        if (row.state, row.attempt, row.error, row.notebook) != (
            u["state"], u["attempt"], u["error"], u["notebook"]
        ) or row.duration != u["duration"]:
            updates.append(u)
    changed = ctx.store.update_tasks(ctx.batch_id, updates) if updates else 0
    _sync_jobs(ctx)
    return changed


def _sync_jobs(ctx: BatchContext) -> None:
    """A job is done/failed once all its tasks are final."""
    by_job: dict[int, list[str]] = {}
    for t in ctx.store.tasks(ctx.batch_id):
        by_job.setdefault(t.job_index, []).append(t.state)
    for j in ctx.store.jobs(ctx.batch_id):
        states = by_job.get(j.job_index)
        if not states or j.state in ("done", "failed", "cancelled", "lost"):
            continue
        if all(State(s) in FINAL_STATES for s in states):
            final = "done" if all(s == "done" for s in states) else (
                "cancelled" if all(s == "cancelled" for s in states) else "failed")
            ctx.store.update_job(ctx.batch_id, j.job_index, state=final, finished=time.time())
        elif any(s == "running" for s in states) and j.state in ("pending", "queued"):
            ctx.store.update_job(ctx.batch_id, j.job_index, state="running")
