"""A terminal progress bar for a batch (tqdm), used by the CLI and the demo."""

from __future__ import annotations

import sys
from typing import Any

from .jobs.states import FINAL_STATES


def wait_with_progress(batch: Any, *, timeout: float | None = None) -> None:
    """Wait for ``batch`` with a progress bar of its finished tasks on stderr (none when not a
    terminal)."""
    total = batch.info().n_tasks
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with papermill
        batch.wait(timeout)
        return
    bar = tqdm(total=total, unit="task", file=sys.stderr, dynamic_ncols=True,
               disable=None)  # None: off when not a terminal

    def progress(counts: dict[str, int]) -> None:
        final = sum(counts.get(s.value, 0) for s in FINAL_STATES)
        bar.n = final
        bar.set_postfix({k: v for k, v in sorted(counts.items()) if v}, refresh=False)
        bar.refresh()

    try:
        batch.wait(timeout, progress=progress)
    finally:
        bar.close()
