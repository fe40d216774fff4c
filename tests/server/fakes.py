"""A stand-in for ``tramway_jupyter.api.Batch`` (cancel/retry/refresh) that edits the store only."""

from __future__ import annotations

from typing import Any

from tramway_jupyter.jobs.states import ACTIVE_STATES, RETRYABLE_STATES
from tramway_jupyter.jobs.store import Store

CALLS: list[tuple[str, str, Any]] = []


class FakeBatch:
    def __init__(self, batch_id: str, store: Store) -> None:
        self.batch_id = store.get_batch(batch_id).batch_id
        self.store = store

    def refresh(self) -> None:
        CALLS.append(("refresh", self.batch_id, None))

    def cancel(self, job_indices: list[int] | None = None) -> None:
        CALLS.append(("cancel", self.batch_id, job_indices))
        active = {s.value for s in ACTIVE_STATES}
        self.store.update_tasks(
            self.batch_id,
            [
                {"task_id": t.task_id, "state": "cancelled"}
                for t in self.store.tasks(self.batch_id, states=active)
                if job_indices is None or t.job_index in job_indices
            ],
        )

    def retry(self) -> int:
        CALLS.append(("retry", self.batch_id, None))
        tasks = self.store.tasks(self.batch_id, states=[s.value for s in RETRYABLE_STATES])
        self.store.update_tasks(
            self.batch_id,
            [{"task_id": t.task_id, "state": "queued", "attempt": t.attempt + 1} for t in tasks],
        )
        return len(tasks)


    def delete(self) -> None:
        CALLS.append(("delete", self.batch_id, None))
        self.store.delete_batch(self.batch_id)


def fake_batch_factory(batch_id: str, store: Store) -> FakeBatch:
    return FakeBatch(batch_id, store)
