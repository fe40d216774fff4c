"""A batch as its files and store rows: id, directory, store and plan (no backend, no profile).

What a status sync reads and writes; :class:`tramway_jupyter.backends.context.BatchContext`
adds the resolved profile for the backends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .batchdir import BatchDir
from .plan_model import Plan
from .store import Store


@dataclass
class BatchFiles:
    batch_id: str
    dir: BatchDir
    store: Store
    _plan: Plan | None = field(default=None, repr=False, kw_only=True)

    @property
    def plan(self) -> Plan:
        """The plan, read once from ``plan.json`` (call :meth:`reload_plan` after a retry)."""
        if self._plan is None:
            self._plan = self.dir.read_plan()
        return self._plan

    def reload_plan(self) -> Plan:
        self._plan = None
        return self.plan
