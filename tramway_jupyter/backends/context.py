"""What a backend is handed for a batch: its files and store (:class:`BatchFiles`) and the
resolved profile it runs with."""

from __future__ import annotations

from dataclasses import dataclass

from ..jobs.batchfiles import BatchFiles
from .profiles import Profile


@dataclass
class BatchContext(BatchFiles):
    profile: Profile
