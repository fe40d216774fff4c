"""The backend interface and its registry (papermill-style: register by name, look up lazily).

A backend knows how to *launch* ``python -m tramway_jupyter.worker BATCH_DIR JOB_INDEX`` for a
batch's jobs, and how to find out what became of them. It never runs notebook logic itself.

The contract, for a batch already written to its directory and recorded in the store:

* ``submit(batch, job_indices)`` launches those jobs (respecting their ``depends_on``) and
  records in the store each job's ``backend_id`` and state ``queued``.
* ``poll(batch)`` brings the status files up to date in the local batch directory (a no-op for
  local backends; one round trip for remote ones), then explains jobs that died without writing
  a final status (returns ``{job_index: (State, reason)}`` for those only). The caller
  (:mod:`tramway_jupyter.jobs.sync`) turns that and the status files into store updates.
* ``cancel(batch, job_indices=None)`` stops the jobs (all active ones by default).
* ``fetch(batch)`` brings back the output notebooks, results and logs (no-op when local).
* ``cleanup(batch)`` removes remote copies (no-op when local).
"""

from __future__ import annotations

import abc
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, ClassVar

from ..exceptions import UnknownBackendError
from ..jobs.states import State

if TYPE_CHECKING:
    from .context import BatchContext
    from .profiles import Profile

JobVerdict = tuple[State, str]


class Backend(abc.ABC):
    name: ClassVar[str]
    #: True when the worker runs on this machine and reads/writes the batch directory in place.
    local: ClassVar[bool] = True

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    @abc.abstractmethod
    def submit(self, batch: BatchContext, job_indices: list[int]) -> None:
        """Launch these jobs of the batch."""

    @abc.abstractmethod
    def poll(self, batch: BatchContext) -> dict[int, JobVerdict]:
        """Refresh status files; return a verdict for every job that ended without reporting."""

    @abc.abstractmethod
    def cancel(self, batch: BatchContext, job_indices: list[int] | None = None) -> None:
        """Stop these jobs (default: every job of the batch that may still run)."""

    def fetch(self, batch: BatchContext) -> None:  # noqa: B027 - optional hook
        """Bring back notebooks, results and logs (no-op for local backends)."""

    def cleanup(self, batch: BatchContext) -> None:  # noqa: B027 - optional hook
        """Remove remote copies of the batch (no-op for local backends)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


_REGISTRY: dict[str, type[Backend]] = {}
_ENTRY_POINTS_LOADED = False


def register_backend(name: str, cls: type[Backend]) -> None:
    """Register a backend class under ``name`` (the last registration wins)."""
    _REGISTRY[name] = cls


def _load_builtin_and_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    from . import inline, local  # noqa: F401 - they register themselves

    try:
        from . import slurm  # noqa: F401
    except ImportError:  # pragma: no cover - slurm backend not present
        pass
    for ep in entry_points(group="tramway_jupyter.backends"):
        register_backend(ep.name, ep.load())


def get_backend(name: str) -> type[Backend]:
    """The backend class registered under ``name``."""
    _load_builtin_and_entry_points()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownBackendError(f"no backend named {name!r}; known backends: {known}") from None
