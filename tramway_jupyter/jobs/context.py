"""What a backend is handed for a batch: its id, directory, store and profile."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .batchdir import BatchDir
from .plan_model import Plan
from .store import Store

if TYPE_CHECKING:
    from ..backends.profiles import Profile


@dataclass
class BatchContext:
    batch_id: str
    dir: BatchDir
    store: Store
    profile: Profile
    _plan: Plan | None = field(default=None, repr=False)

    @property
    def plan(self) -> Plan:
        """The plan, read once from ``plan.json`` (call :meth:`reload_plan` after a retry)."""
        if self._plan is None:
            self._plan = self.dir.read_plan()
        return self._plan

    def reload_plan(self) -> Plan:
        self._plan = None
        return self.plan
