"""Task status journals: append-only JSON lines, one file per job plus one for the submitting host.

A 100,000-task batch cannot afford a file per task and per state change (creating a file costs
0.3-1 ms on a network or virtual disk, and 4 KB of it): each worker appends its tasks' status
records to its job's journal, ``status/job-<J>.jsonl``; what the submitting host decides (verdicts
for tasks a dead job left unfinished, tasks resumed from an earlier batch) goes to
``status/local.jsonl``. A job's journal has one writer (its worker), so a cluster's copy can be
fetched over the local one as a whole; appends of one line are single ``write()`` calls.

Lines are :class:`~.status.TaskStatus` records; readers merge the lines of a task with the one
rule, :func:`.status.supersedes`. :class:`JournalReader` keeps its offset in every file, so a
poll reads only what was appended. A line that is not a valid record is reported (file, line,
what is wrong) and skipped: one bad line never hides the other tasks' statuses.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import msgspec

from .status import Rank, TaskStatus, decode, encode, supersedes

logger = logging.getLogger(__name__)

LOCAL_JOURNAL = "local.jsonl"


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


def append(path: Path, records: Iterable[TaskStatus]) -> None:
    """Append records as JSON lines in one ``write()`` (created with the umask's permissions)."""
    data = b"".join(encode(r) + b"\n" for r in records)
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

    __slots__ = ("offset", "records", "ranks", "lines")

    def __init__(self) -> None:
        self.offset = 0
        self.records: dict[str, TaskStatus] = {}
        self.ranks: dict[str, Rank] = {}
        self.lines = 0  # complete lines read, to name a bad one


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
                tail.lines = 0
            if st.st_size == tail.offset:
                return tail
            fh.seek(tail.offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # a line being written is read next time
        from_worker = name != LOCAL_JOURNAL
        for line in data[:end].split(b"\n")[:-1]:
            tail.lines += 1
            if not line.strip():
                continue
            try:
                rec = decode(line)
            except msgspec.DecodeError as exc:
                logger.warning("%s, line %d: skipped an invalid status record (%s): %.200r",
                               path, tail.lines, exc, line)
                continue
            if not rec.task_id:
                logger.warning("%s, line %d: skipped a status record without task_id", path,
                               tail.lines)
                continue
            r = rec.rank(from_worker=from_worker)
            old = tail.ranks.get(rec.task_id)
            if old is None or supersedes(r, old):
                tail.records[rec.task_id] = rec
                tail.ranks[rec.task_id] = r
        tail.offset += end
        return tail

    def names(self) -> list[str]:
        try:
            return sorted(e.name for e in os.scandir(self.dir) if e.name.endswith(".jsonl"))
        except FileNotFoundError:
            return []

    def _merge(self, tails: Iterable[_Tail], task_ids: Iterable[str] | None
               ) -> dict[str, TaskStatus]:
        out: dict[str, TaskStatus] = {}
        ranks: dict[str, Rank] = {}
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
                 task_ids: Iterable[str] | None = None) -> dict[str, TaskStatus]:
        """The winning record of each task: from every journal, or from those of ``jobs``
        (and the local journal); only ``task_ids`` when given."""
        if jobs is None:
            names = self.names()
        else:
            names = [job_journal_name(j) for j in sorted(set(jobs))] + [LOCAL_JOURNAL]
        return self._merge([self._read(n) for n in names], task_ids)
