"""Keep active batches live when no kernel polls them: ``Batch.refresh()`` every few seconds.

Refreshes run in the thread pool (a Slurm refresh may go over SSH), one batch at a time; a batch
whose refresh fails is retried later and later (doubling, up to a cap), and the failure is logged
once per streak, not at every poll.

Given a ``BatchWatcher`` (``events.py``), each tick first lists every batch (one aggregate
query) and lets it note which batches ended or started failing since the last tick: the
notifications come from here, so they need no open notebook.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Executor
from typing import Any

from .events import BatchWatcher
from .prompts import in_background
from .service import BatchService

logger = logging.getLogger(__name__)


class BatchRefresher:
    def __init__(
        self,
        service: BatchService,
        executor: Executor,
        *,
        interval: float = 5.0,
        max_interval: float = 60.0,
        log: logging.Logger | Any = logger,
        watcher: BatchWatcher | None = None,
    ) -> None:
        self.service = service
        self.executor = executor
        self.interval = interval
        self.max_interval = max_interval
        self.log = log
        self.watcher = watcher
        self._failures: dict[str, int] = {}
        self._next: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # the store itself failed: keep the server up, try again later
                self.log.warning("tramway: cannot list active batches", exc_info=True)
            await asyncio.sleep(self.interval)

    async def tick(self) -> None:
        loop = asyncio.get_running_loop()
        if self.watcher is not None:
            batches = await loop.run_in_executor(self.executor, self.service.list_batches)
            for event in self.watcher.observe(batches.batches):
                self.log.info("tramway: event %d: %s", event.id, event.message)
        active = await loop.run_in_executor(self.executor, self.service.active_batch_ids)
        now = time.monotonic()
        for gone in set(self._next) - set(active):
            self._next.pop(gone, None)
            self._failures.pop(gone, None)
        for batch_id in active:
            if self._next.get(batch_id, 0.0) > now:
                continue
            try:
                # a login it needs asks Lab's dialog, but not again soon once dismissed
                await loop.run_in_executor(self.executor, in_background, self.service.refresh,
                                           batch_id)
            except Exception as exc:
                n = self._failures.get(batch_id, 0) + 1
                self._failures[batch_id] = n
                delay = min(self.max_interval, self.interval * 2**n)
                self._next[batch_id] = time.monotonic() + delay
                if n == 1:
                    self.log.warning(
                        "tramway: refreshing batch %s failed (%s: %s); retrying with back-off",
                        batch_id,
                        type(exc).__name__,
                        exc,
                    )
            else:
                if self._failures.pop(batch_id, None):
                    self.log.info("tramway: batch %s refreshes again", batch_id)
                self._next.pop(batch_id, None)
