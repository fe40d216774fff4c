"""tramway-jupyter: run single-particle-tracking notebooks over many files and ROIs, at scale.

The package imports nothing heavy at import time: workers running in lean containers import
``tramway_jupyter.jobs.worker`` and the analysis core only.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .jobs.record import record  # light: stdlib only

__all__ = ["__version__", "record", "load_ipython_extension", "run", "run_notebook",
           "get_batch", "list_batches", "gather", "Pipeline"]

_API = {"run", "run_notebook", "get_batch", "list_batches", "gather", "status", "cancel", "retry"}


def __getattr__(name: str) -> Any:
    """``tramway_jupyter.run`` and friends, imported on first use (workers never pay for them)."""
    if name in _API:
        from . import api

        return getattr(api, name)
    if name == "Pipeline":
        from .capture.pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'tramway_jupyter' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext tramway_jupyter``: register the ``%tramway`` / ``%%tramway`` magics."""
    from .magics import load_ipython_extension as _load

    _load(ipython)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "tramway-jupyter"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "tramway_jupyter.server"}]
