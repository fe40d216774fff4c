"""``inline``: run the jobs one after the other in this process (for debugging)."""

from __future__ import annotations

import time

from ..jobs.states import State
from ..jobs.sync import sync
from ..jobs.worker import run_job
from .base import Backend, JobVerdict, register_backend
from .context import BatchContext


class InlineBackend(Backend):
    name = "inline"
    local = True

    def submit(self, batch: BatchContext, job_indices: list[int]) -> None:
        plan = batch.plan
        order = sorted(job_indices, key=lambda j: (plan.stages.index(plan.stage(plan.job(j).stage)), j))
        for j in order:
            batch.store.update_job(batch.batch_id, j, state=State.RUNNING, started=time.time())
            try:
                run_job(batch.dir.root, j, store_path=str(batch.store.path))
            finally:
                sync(batch, {j: (State.LOST, "the job stopped before finishing its tasks")})

    def poll(self, batch: BatchContext) -> dict[int, JobVerdict]:
        return {}

    def cancel(self, batch: BatchContext, job_indices: list[int] | None = None) -> None:
        jobs = job_indices if job_indices is not None else [
            j.job_index for j in batch.store.jobs(batch.batch_id)
            if j.state in (State.PENDING, State.QUEUED)]
        sync(batch, {j: (State.CANCELLED, "cancelled by the user") for j in jobs})


register_backend("inline", InlineBackend)
