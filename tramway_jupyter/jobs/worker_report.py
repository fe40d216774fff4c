"""Where a worker reports, besides the status files (the truth): live updates of the job store
(local backends, ``--store``) and a copy of its log records in the job's log file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .status import TaskStatus

logger = logging.getLogger("tramway_jupyter.worker")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class StoreReporter:
    """Mirror status changes into the job store when the worker runs next to it."""

    def __init__(self, store_path: str | None, batch_id: str) -> None:
        self.store = None
        self.batch_id = batch_id
        if store_path:
            from .store import Store

            self.store = Store(store_path)

    def task(self, task_id: str, status: TaskStatus) -> None:
        if self.store is None:
            return
        try:
            self.store.update_tasks(self.batch_id, [status.store_update(task_id)])
        except Exception:  # the status file is the truth; a busy store must not fail a task
            logger.exception("could not record task %s in the store", task_id)

    def job(self, job_index: int, **fields: Any) -> None:
        if self.store is None:
            return
        try:
            self.store.update_job(self.batch_id, job_index, **fields)
        except Exception:
            logger.exception("could not record job %s in the store", job_index)


class JobLog:
    """Copy the worker's log records into ``logs/job-J-aK.log`` while a job runs."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> JobLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handler = logging.FileHandler(self.path)
        self.handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logging.getLogger("tramway_jupyter").addHandler(self.handler)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("tramway_jupyter").removeHandler(self.handler)
        self.handler.close()
