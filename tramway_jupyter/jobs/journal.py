"""Task status journals: append-only JSON lines, one file per job plus one for the submitting host.

A 100,000-task batch cannot afford a file per task and per state change (creating a file costs
0.3-1 ms on a network or virtual disk, and 4 KB of it): each worker appends its tasks' status
records to its job's journal, ``status/job-<J>.jsonl``; what the submitting host decides (verdicts
for tasks a dead job left unfinished, tasks resumed from an earlier batch) goes to
``status/local.jsonl``. A job's journal has one writer (its worker), so a cluster's copy can be
fetched over the local one as a whole; appends of one line are single ``write()`` calls.

Readers merge the lines of a task with one rule, :func:`supersedes`: a newer attempt wins; in
the same attempt a final state beats a live one, and the worker's final record beats a verdict
(the worker saw the task end; a verdict only speaks for tasks left without a final record).
:class:`JournalReader` keeps its offset in every file, so a poll reads only what was appended.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .states import FINAL_STATES

logger = logging.getLogger(__name__)

LOCAL_JOURNAL = "local.jsonl"
_FINAL = frozenset(s.value for s in FINAL_STATES)


def job_journal_name(job_index: int) -> str:
    return f"job-{int(job_index)}.jsonl"


def journal_job_index(name: str) -> int | None:
    """The job index of ``job-<J>.jsonl``; None for the local journal or another file."""
    if name.startswith("job-") and name.endswith(".jsonl"):
        try:
            return int(name[4:-6])
        except ValueError:
            return None
    return None


def rank(status: dict[str, Any], from_worker: bool) -> tuple[int, bool, bool]:
    return (int(status.get("attempt", 1)), status.get("state") in _FINAL, from_worker)


def supersedes(new: tuple[int, bool, bool], old: tuple[int, bool, bool]) -> bool:
    """Whether a record of rank ``new``, read after one of rank ``old``, replaces it."""
    return new >= old


def append(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Append records as JSON lines in one ``write()`` (created with the umask's permissions)."""
    data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()
    if not data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    finally:
        os.close(fd)


class _Tail:
    """What has been read of one journal file: offset, and the winning record of each task."""

    __slots__ = ("offset", "records", "ranks")

    def __init__(self) -> None:
        self.offset = 0
        self.records: dict[str, dict[str, Any]] = {}
        self.ranks: dict[str, tuple[int, bool, bool]] = {}


class JournalReader:
    """Incremental reader of a batch's ``status/`` journals."""

    def __init__(self, status_dir: Path) -> None:
        self.dir = status_dir
        self._tails: dict[str, _Tail] = {}

    def _read(self, name: str) -> _Tail:
        tail = self._tails.get(name)
        if tail is None:
            tail = self._tails[name] = _Tail()
        path = self.dir / name
        try:
            fh = open(path, "rb")  # noqa: SIM115 (closed by the with below)
        except FileNotFoundError:
            return tail
        with fh:
            st = os.fstat(fh.fileno())
            # a journal replaced by a fetched copy (new inode) has only grown: read on from the
            # offset; one that shrank was rewritten: read it again
            if st.st_size < tail.offset:
                tail.records.clear()
                tail.ranks.clear()
                tail.offset = 0
            if st.st_size == tail.offset:
                return tail
            fh.seek(tail.offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # a line being written is read next time
        from_worker = name != LOCAL_JOURNAL
        for line in data[:end].splitlines():
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                tid = rec["task_id"]
                r = rank(rec, from_worker)
            except (ValueError, KeyError, TypeError):
                logger.warning("%s: skipped a malformed status record: %.200r", path, line)
                continue
            old = tail.ranks.get(tid)
            if old is None or supersedes(r, old):
                tail.records[tid] = rec
                tail.ranks[tid] = r
        tail.offset += end
        return tail

    def names(self) -> list[str]:
        try:
            return sorted(e.name for e in os.scandir(self.dir) if e.name.endswith(".jsonl"))
        except FileNotFoundError:
            return []

    def _merge(self, tails: Iterable[_Tail], task_ids: Iterable[str] | None
               ) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        ranks: dict[str, tuple[int, bool, bool]] = {}
        wanted = None if task_ids is None else set(task_ids)
        for tail in tails:
            items = tail.records.items() if wanted is None else (
                (t, tail.records[t]) for t in wanted if t in tail.records)
            for tid, rec in items:
                r = tail.ranks[tid]
                old = ranks.get(tid)
                if old is None or supersedes(r, old):
                    out[tid] = rec
                    ranks[tid] = r
        return out

    def statuses(self, *, jobs: Iterable[int] | None = None,
                 task_ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """The winning record of each task: from every journal, or from those of ``jobs``
        (and the local journal); only ``task_ids`` when given."""
        if jobs is None:
            names = self.names()
        else:
            names = [job_journal_name(j) for j in sorted(set(jobs))] + [LOCAL_JOURNAL]
        return self._merge([self._read(n) for n in names], task_ids)
