"""A batch's results as a file to download: the ``--json`` document (``Results.write_json``) or
a CSV of its scalar records, written one task at a time to a text sink (memory independent of
the number of tasks); :class:`ChunkSink` hands the text to the event loop in chunks, so the
handler streams it while a worker thread writes it.
"""

from __future__ import annotations

import asyncio
import csv
import numbers
import threading
from typing import IO, Any, Literal, Protocol, cast

from ..jobs.results import Results, TaskResult

Format = Literal["json", "csv"]
FORMATS: tuple[Format, ...] = ("json", "csv")
#: Text handed to the event loop at a time; chunks waiting to be sent, at most.
CHUNK_CHARS = 64 * 1024
MAX_QUEUED_CHUNKS = 8

#: The CSV's first columns; then one per swept parameter, then one per scalar record.
TASK_COLUMNS = ("task_id", "stage", "source", "roi_index", "segment_index", "t_start", "t_end")
STATE_COLUMNS = ("state", "duration")


def is_scalar(value: Any) -> bool:
    """A number, a string or a bool (numpy scalars included): what a CSV cell can hold."""
    return isinstance(value, (str, bool, numbers.Number)) and not isinstance(value, complex)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, numbers.Number) and not isinstance(value, (bool, int, float)):
        return value.item() if hasattr(value, "item") else str(value)  # numpy scalars
    return value


def _columns(results: Results) -> tuple[list[str], list[str]]:
    """The swept parameters' names, and the recorded names whose values are scalars (judged on
    the first task that recorded each name: one unpickling per name, not per task)."""
    sweep: dict[str, None] = {}
    first: dict[str, str] = {}
    for r in results.iter_rows():
        sweep.update(dict.fromkeys(r.sweep))
        for name in r.record_names:
            first.setdefault(name, r.task_id)
    scalar = []
    for name, task_id in sorted(first.items()):
        try:
            value = results.records(task_id).get(name)
        except Exception:  # a record this process cannot unpickle: not a CSV column
            continue
        if is_scalar(value):
            scalar.append(name)
    return list(sweep), scalar


def _records(results: Results, r: TaskResult) -> dict[str, Any]:
    if not r.record_names:
        return {}
    try:
        return results.records(r.task_id)
    except Exception:
        return {}


def write_csv(results: Results, fh: TextSink) -> int:
    """One row per task: where it ran, its sweep values, state, duration and scalar records."""
    sweep, names = _columns(results)
    w = csv.writer(fh)
    w.writerow([*TASK_COLUMNS, *sweep, *STATE_COLUMNS, *names])
    n = 0
    for r in results.iter_rows():
        recs = _records(results, r) if names else {}
        w.writerow(
            [_cell(getattr(r, c)) for c in TASK_COLUMNS]
            + [_cell(r.sweep.get(k)) for k in sweep]
            + [r.state, _cell(r.duration)]
            + [_cell(recs[k]) if k in recs and is_scalar(recs[k]) else "" for k in names]
        )
        n += 1
    return n


class TextSink(Protocol):
    def write(self, text: str, /) -> int: ...


def write(results: Results, fmt: Format, fh: TextSink) -> int:
    """Write the file in ``fmt``; return the number of tasks written."""
    if fmt == "json":
        return results.write_json(cast(IO[str], fh))
    return write_csv(results, fh)


class _Aborted(Exception):
    """The client went away: stop writing."""


class ChunkSink:
    """A text file the writer thread writes to; full chunks go to an asyncio queue (bounded:
    the writer waits while the client is slow), ``None`` at the end."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes | None]
                 ) -> None:
        self._loop = loop
        self._queue = queue
        self._buf: list[str] = []
        self._size = 0
        self.closed = threading.Event()

    def write(self, text: str) -> int:
        self._buf.append(text)
        self._size += len(text)
        if self._size >= CHUNK_CHARS:
            self._send()
        return len(text)

    def _put(self, item: bytes | None) -> None:
        while True:
            if self.closed.is_set():
                raise _Aborted
            fut = asyncio.run_coroutine_threadsafe(self._queue.put(item), self._loop)
            try:
                fut.result(timeout=1.0)
                return
            except TimeoutError:
                fut.cancel()

    def _send(self) -> None:
        if self._buf:
            data = "".join(self._buf).encode()
            self._buf, self._size = [], 0
            self._put(data)

    def finish(self) -> None:
        self._send()
        self._put(None)
