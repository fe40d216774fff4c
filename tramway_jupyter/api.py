"""The Python API: one function per operation; the CLI, the magics, the widgets and the server
extension all call these, never each other.

Importing this module is cheap (the job store only): the notebook machinery (nbformat, the
kernel client, the planner) is imported by the operations that need it, so ``tramway-jupyter
list`` starts at once.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal, overload

from .jobs.store import BatchRow, Store

if TYPE_CHECKING:
    from .jobs.results import Results
    from .orchestration.batch import Batch
    from .orchestration.estimate import DryRun

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
    "load_profiles",
]


def __getattr__(name: str) -> Any:
    """``api.Batch`` and ``api.Results``, imported on first use."""
    if name == "Batch":
        from .orchestration.batch import Batch

        return Batch
    if name == "Results":
        from .jobs.results import Results

        return Results
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@overload
def run(pipeline: Any, data: Any, *, dry_run: Literal[False] = ..., **kwargs: Any) -> Batch: ...
@overload
def run(pipeline: Any, data: Any, *, dry_run: Literal[True], **kwargs: Any) -> DryRun: ...
@overload
def run(pipeline: Any, data: Any, *, dry_run: bool, **kwargs: Any) -> Batch | DryRun: ...


def run(pipeline: Any, data: Any, *, dry_run: bool = False, **kwargs: Any) -> Batch | DryRun:
    """Run a captured pipeline over data files x ROIs; return the batch handle at once.

    The keyword arguments are those of :func:`tramway_jupyter.orchestration.submit.submit` (rois,
    profile, workers, tasks_per_job, params, force, isolate, engine, task_timeout, name,
    pilot...). ``dry_run=True``: create nothing, return the plan and its estimate (a ``DryRun``).
    """
    from .orchestration.submit import submit

    return submit(pipeline, data, dry_run=dry_run, **kwargs)


@overload
def run_notebook(notebook: str | os.PathLike[str], data: Any, *,
                 dry_run: Literal[False] = ..., **kwargs: Any) -> Batch: ...
@overload
def run_notebook(notebook: str | os.PathLike[str], data: Any, *, dry_run: Literal[True],
                 **kwargs: Any) -> DryRun: ...
@overload
def run_notebook(notebook: str | os.PathLike[str], data: Any, *, dry_run: bool,
                 **kwargs: Any) -> Batch | DryRun: ...


def run_notebook(notebook: str | os.PathLike[str], data: Any, *, dry_run: bool = False,
                 **kwargs: Any) -> Batch | DryRun:
    """Run the pipeline captured in a notebook file's ``%%tramway`` cells."""
    from .capture.template import pipeline_from_notebook

    pipeline = pipeline_from_notebook(notebook)
    return run(pipeline, data, notebook=os.path.abspath(notebook), dry_run=dry_run, **kwargs)


def load_profiles() -> dict[str, Any]:
    """The profiles a run can name: ``local``, ``inline`` and those of ``profiles.toml``."""
    from .backends.profiles import load_profiles as _load

    return dict(_load())


def list_batches(store: Store | None = None) -> list[BatchRow]:
    return (store or Store()).list_batches()


def get_batch(batch_id: str, store: Store | None = None) -> Batch:
    from .orchestration.batch import Batch

    return Batch(batch_id, store)


def status(batch_id: str, store: Store | None = None) -> dict[str, int]:
    return get_batch(batch_id, store).refresh()


def cancel(batch_id: str, store: Store | None = None, job_indices: list[int] | None = None) -> None:
    get_batch(batch_id, store).cancel(job_indices)


def retry(batch_id: str, store: Store | None = None) -> int:
    return get_batch(batch_id, store).retry()


def gather(batch_id: str, store: Store | None = None) -> Results:
    return get_batch(batch_id, store).results()
