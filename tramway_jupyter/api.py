"""The Python API: one function per operation; the CLI, the magics, the widgets and the server
extension all call these, never each other."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from .backends.profiles import Profile
from .capture.pipeline import Pipeline
from .capture.template import pipeline_from_notebook
from .jobs.batch import Batch
from .jobs.results import Results
from .jobs.store import BatchRow, Store
from .jobs.submit import submit

__all__ = [
    "Batch",
    "Results",
    "run",
    "run_notebook",
    "list_batches",
    "get_batch",
    "status",
    "cancel",
    "retry",
    "gather",
]


def run(
    pipeline: Pipeline,
    data: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    rois: str | None = None,
    profile: str | Profile | type[Profile] | None = None,
    workers: int | None = None,
    tasks_per_job: int | None = None,
    params: dict[str, Any] | None = None,
    force: bool = False,
    isolate: bool | None = None,
    engine: str | None = None,
    task_timeout: float | None = None,
    name: str | None = None,
    notebook: str | None = None,
    store: Store | None = None,
    batches_root: str | os.PathLike[str] | None = None,
) -> Batch:
    """Run a captured pipeline over data files x ROIs; returns the batch handle at once."""
    return submit(pipeline, data, rois=rois, profile=profile, workers=workers,
                  tasks_per_job=tasks_per_job, params=params, force=force, isolate=isolate,
                  engine=engine, task_timeout=task_timeout, name=name, notebook=notebook, store=store,
                  batches_root=batches_root)


def run_notebook(notebook: str | os.PathLike[str], data: Any, **kwargs: Any) -> Batch:
    """Run the pipeline captured in a notebook file's ``%%tramway`` cells."""
    pipeline = pipeline_from_notebook(notebook)
    return run(pipeline, data, notebook=os.path.abspath(notebook), **kwargs)


def list_batches(store: Store | None = None) -> list[BatchRow]:
    return (store or Store()).list_batches()


def get_batch(batch_id: str, store: Store | None = None) -> Batch:
    return Batch(batch_id, store)


def status(batch_id: str, store: Store | None = None) -> dict[str, int]:
    return get_batch(batch_id, store).refresh()


def cancel(batch_id: str, store: Store | None = None, job_indices: list[int] | None = None) -> None:
    get_batch(batch_id, store).cancel(job_indices)


def retry(batch_id: str, store: Store | None = None) -> int:
    return get_batch(batch_id, store).retry()


def gather(batch_id: str, store: Store | None = None) -> Results:
    return get_batch(batch_id, store).results()
