"""The Python API: one function per operation; the CLI, the magics, the widgets and the server
extension all call these, never each other."""

from __future__ import annotations

import os
from typing import Any

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


#: Run a captured pipeline over data files x ROIs; returns the batch handle at once.
run = submit


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
