"""Batch events for notifications: what the refresher noticed, kept in memory for the sidebar.

``BatchWatcher.observe()`` is given every batch of the store at each refresher tick and tells
two things per batch: it ended (every task final) and, while it still runs, its first failures
(once per run of the batch). ``EventLog`` keeps the last events with increasing ids, so that a
reloaded page asks for those after the last it saw; a server restart starts a new log (a new
``log_id``, ids from 1).

The first observation is the baseline: batches already finished then, and failures already
there, are not reported (a restarted server must not notify again about old batches). A batch
first seen later (started after the server) is reported even if it already ended.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from ..jobs.states import State
from .payloads import BatchEvent, BatchInfo, EventKind, EventList

#: Events kept (the oldest are dropped).
CAPACITY = 200


def n_failed(batch: BatchInfo) -> int:
    """The batch's tasks that ended badly (failed or lost)."""
    return batch.counts.get(State.FAILED, 0) + batch.counts.get(State.LOST, 0)


def describe(batch: BatchInfo, kind: EventKind) -> str:
    """The one-line message of an event about ``batch``."""
    name = batch.name or batch.batch_id
    failed, total = n_failed(batch), batch.n_tasks
    if kind == "failing":
        return (f'Batch "{name}": {failed} of {total} tasks failed so far; '
                "the others are still running")
    cancelled = batch.counts.get(State.CANCELLED, 0)
    if failed:
        more = f", {cancelled} cancelled" if cancelled else ""
        return f'Batch "{name}" ended: {failed} of {total} tasks failed{more}'
    if cancelled:
        done = batch.counts.get(State.DONE, 0)
        return f'Batch "{name}" was cancelled: {done} of {total} tasks done'
    return f'Batch "{name}" is done: all {total} tasks done'


class EventLog:
    """The last ``capacity`` events, ids increasing from 1; safe to use from several threads."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.log_id = secrets.token_hex(6)
        self._events: deque[BatchEvent] = deque(maxlen=capacity)
        self._latest = 0
        self._lock = threading.Lock()

    @property
    def latest(self) -> int:
        return self._latest

    def add(self, batch: BatchInfo, kind: EventKind) -> BatchEvent:
        with self._lock:
            self._latest += 1
            event = BatchEvent(
                id=self._latest,
                batch_id=batch.batch_id,
                batch_name=batch.name,
                kind=kind,
                state=batch.state,
                n_failed=n_failed(batch),
                n_tasks=batch.n_tasks,
                message=describe(batch, kind),
                at=time.time(),
            )
            self._events.append(event)
        return event

    def after(self, event_id: int = 0) -> EventList:
        """The events after ``event_id`` that are still kept, oldest first."""
        with self._lock:
            events = [e for e in self._events if e.id > event_id]
            return EventList(events=events, latest=self._latest, log_id=self.log_id)


@dataclass
class _Watch:
    active: bool  # running when last seen
    warned: bool  # its failures were reported (or were there at the baseline)


class BatchWatcher:
    """Turn successive views of the store's batches into events in ``log``."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self._seen: dict[str, _Watch] | None = None  # None until the baseline

    def observe(self, batches: Iterable[BatchInfo]) -> list[BatchEvent]:
        """Compare with the last view; add the events to the log and return them."""
        batches = list(batches)
        if self._seen is None:
            self._seen = {
                b.batch_id: _Watch(active=b.state.is_active, warned=n_failed(b) > 0)
                for b in batches
            }
            return []
        seen, events = self._seen, []
        for b in batches:
            # a batch started since the last view is taken as running, with no failure yet
            w = seen.setdefault(b.batch_id, _Watch(active=True, warned=False))
            if b.state.is_active:
                if not w.active:  # finished, then retried: a new run, reported afresh
                    w.active, w.warned = True, n_failed(b) > 0
                elif not w.warned and n_failed(b) > 0:
                    w.warned = True
                    events.append(self.log.add(b, "failing"))
            elif w.active:
                w.active = False
                events.append(self.log.add(b, "ended"))
        for gone in set(seen) - {b.batch_id for b in batches}:  # deleted batches
            del seen[gone]
        return events
