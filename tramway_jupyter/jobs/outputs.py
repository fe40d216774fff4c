"""Collect the outputs of one task's cells: linear in time, bounded in the notebook, complete in a log.

Every stdout/stderr chunk goes, as it comes, to the task's log (``logs/task-<id>.log``, opened on
the first output, so a silent task writes none). The output notebook keeps a bounded part of the
text: the first ``max_bytes / 2`` of the task's stream text (over all its cells) and the last
``max_bytes / 2``, cut at line boundaries; every stream output that lost text in between shows a
marker with the exact number of lines and bytes left out. Memory stays bounded whatever a task
prints: the head up to its budget, a rolling tail of chunks trimmed to its budget, and counters.
Rich outputs (``display_data``, ``execute_result``) are kept first come up to a count and a size
per task; those beyond are dropped and a marker output in their cell says how many.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_MAX_OUTPUT_BYTES = 256 * 1024  # stream text kept in the notebook, per task
DEFAULT_MAX_RICH_OUTPUTS = 50  # images, HTML... kept in the notebook, per task
DEFAULT_MAX_RICH_BYTES = 2 * 1024 * 1024
#: Budget charged per stream output kept (its JSON frame), so that many tiny outputs stay bounded.
OUTPUT_OVERHEAD = 64
_PIECE = 64 * 1024  # tail chunks of one output are grouped up to this size
_NL = b"\n"

_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([kmgt]?)(i?b?)\s*", re.IGNORECASE)


def parse_size(value: str | int) -> int:
    """Bytes from ``262144``, ``200k``, ``1M``, ``1.5MB``, ``2GiB`` (powers of 1024); ``0``: no limit."""
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative: {value}")
        return value
    m = _SIZE.fullmatch(str(value))
    if not m:
        raise ValueError(f"not a size: {value!r} (examples: 262144, 200k, 1M, 0 for no limit)")
    scale = 1024 ** " kmgt".index(m.group(2).lower() or " ")
    return int(float(m.group(1)) * scale)


def format_size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{int(n)} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def _utf8_back(data: bytes, k: int) -> int:
    """``k`` moved back to the start of a UTF-8 character."""
    while 0 < k < len(data) and (data[k] & 0xC0) == 0x80:
        k -= 1
    return k


def _utf8_forward(data: bytes, k: int) -> int:
    while 0 < k < len(data) and (data[k] & 0xC0) == 0x80:
        k += 1
    return k


def _encode(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return text.encode("utf-8", "backslashreplace")


def _rich_size(out: dict[str, Any]) -> int:
    n = 0
    for v in out.get("data", {}).values():
        n += len(_encode(v)) if isinstance(v, str) else len(json.dumps(v))
    return n


class _Rec:
    """One stream output: a run of stdout (or stderr) text within a cell."""

    __slots__ = ("out", "cell", "rich_seq", "head", "head_bytes", "tail_pieces", "total",
                 "lines", "dead", "cleared")

    def __init__(self, out: dict[str, Any], cell: _Cell) -> None:
        self.out = out
        self.cell = cell
        self.rich_seq = cell.rich_seq
        self.head: list[bytes] = []
        self.head_bytes = 0
        self.tail_pieces = 0  # pieces of the tail deque holding its text
        self.total = 0  # bytes written
        self.lines = 0  # newlines written
        self.dead = False  # all its text omitted: the output shows only a marker
        self.cleared = False


class _Piece:
    __slots__ = ("rec", "chunks", "nbytes")

    def __init__(self, rec: _Rec, data: bytes) -> None:
        self.rec = rec
        self.chunks = [data]
        self.nbytes = len(data)


class _Cell:
    __slots__ = ("outputs", "rich_seq", "gap", "gap_pos", "dropped", "dropped_bytes", "drop_marker")

    def __init__(self) -> None:
        self.outputs: list[dict[str, Any]] = []
        self.rich_seq = 0  # rich and error outputs appended so far
        self.gap: _Rec | None = None  # the dead output later dead outputs merge into
        self.gap_pos = -1
        self.dropped = 0
        self.dropped_bytes = 0
        self.drop_marker: dict[str, Any] | None = None


class OutputCollector:
    """The outputs of one task's cells (see the module's docstring).

    ``max_bytes``, ``max_rich`` and ``max_rich_bytes``: 0 means no limit. ``log_path``: the task's
    log (``None``: no log); ``log_name``: how markers name it. The engines call :meth:`begin_cell`,
    then :meth:`stream`, :meth:`rich`, :meth:`error` and :meth:`clear` as the cell runs, then
    :meth:`end_cell`; after the last cell, :meth:`finish` settles the texts of every cell's outputs
    (in the lists :meth:`begin_cell` returned) and closes the log.
    """

    def __init__(self, log_path: str | os.PathLike[str] | None = None, *,
                 max_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
                 max_rich: int = DEFAULT_MAX_RICH_OUTPUTS,
                 max_rich_bytes: int = DEFAULT_MAX_RICH_BYTES,
                 log_name: str | None = None) -> None:
        self.log_path = Path(log_path) if log_path is not None else None
        self.log_name = log_name or (str(self.log_path) if self.log_path else None)
        self.max_bytes = max_bytes
        self.max_rich = max_rich
        self.max_rich_bytes = max_rich_bytes
        self.head_budget = max_bytes // 2 if max_bytes else -1  # -1: everything goes to the head
        self.tail_budget = max_bytes - max_bytes // 2
        self._overhead = min(OUTPUT_OVERHEAD, max_bytes // 64)  # small budgets: small charge
        self.log_written = False
        self.bytes_written = 0  # stream bytes of the task, all of them
        self.rich_count = 0
        self.rich_bytes = 0
        self._log: Any = None
        self._log_failed = False
        self._cells: list[_Cell] = []
        self._cell: _Cell | None = None
        self._current: _Rec | None = None
        self._recs: dict[int, _Rec] = {}  # id(output dict) -> its record, for outputs shown
        self._head_used = 0
        self._head_full = self.head_budget == 0
        self._head_last: _Rec | None = None
        self._tail: collections.deque[_Piece] = collections.deque()
        self._tail_bytes = 0
        self._dropped = False  # tail text was dropped: something is omitted
        self._dropped_ends_line = True  # the last byte dropped from the tail was a newline
        self._finished = False

    # -- cells ----------------------------------------------------------------------------
    def begin_cell(self) -> list[dict[str, Any]]:
        """Start collecting a cell's outputs; returns the (live) list of its outputs."""
        self._cell = _Cell()
        self._cells.append(self._cell)
        self._current = None
        return self._cell.outputs

    def cell_outputs(self) -> list[dict[str, Any]]:
        """The outputs of the current (or last) cell."""
        return self._cell.outputs if self._cell is not None else []

    def end_cell(self) -> list[dict[str, Any]]:
        """The cell's outputs with their texts as known so far (final after :meth:`finish`)."""
        cell = self._cell
        if cell is None:
            return []
        tails = self._tail_chunks(cell)
        for out in cell.outputs:
            rec = self._recs.get(id(out))
            if rec is not None:
                self._render(rec, tails.get(rec, []))
        self._current = None
        return cell.outputs

    def finish(self) -> None:
        """Settle every output text (head and tail cut at lines, markers); close the log."""
        if self._finished:
            return
        self._finished = True
        self._close_log()
        omitted = self._dropped or self._tail_bytes > self.tail_budget
        if omitted and self._tail:
            front = self._tail[0]
            data = b"".join(front.chunks)
            cut = max(0, self._tail_bytes - self.tail_budget)
            cut = min(cut, len(data))
            ends_line = data[cut - 1:cut] == _NL if cut else self._dropped_ends_line
            if not ends_line:  # start the tail at a line
                p = data.find(_NL, cut)
                cut = p + 1 if p >= 0 else _utf8_forward(data, cut)
            front.chunks = [data[cut:]]
            front.nbytes = len(data) - cut
        hb = self._head_last
        if omitted and hb is not None and not hb.cleared:
            tail_of_hb = sum(p.nbytes for p in self._tail if p.rec is hb)
            if hb.total > hb.head_bytes + tail_of_hb:  # the omitted text starts in it: end at a line
                head = b"".join(hb.head)
                p = head.rfind(_NL)
                if p >= 0:
                    hb.head = [head[:p + 1]]
                    hb.head_bytes = p + 1
        tails = self._tail_chunks(None)
        for cell in self._cells:
            for out in cell.outputs:
                rec = self._recs.get(id(out))
                if rec is not None:
                    self._render(rec, tails.get(rec, []))
        self._tail.clear()
        self._recs.clear()

    # -- outputs --------------------------------------------------------------------------
    def stream(self, name: str, text: str) -> None:
        """Text written to stdout or stderr."""
        if not text:
            return
        data = _encode(text)
        self._write_log(data)
        self.bytes_written += len(data)
        cell = self._open_cell()
        rec = self._current
        if rec is None or rec.out["name"] != name:
            out = {"output_type": "stream", "name": name, "text": ""}
            cell.outputs.append(out)
            rec = self._current = _Rec(out, cell)
            self._recs[id(out)] = rec
        rec.total += len(data)
        rec.lines += data.count(_NL)
        if not self._head_full:
            if self.head_budget < 0:
                self._to_head(rec, data)
                return
            room = self.head_budget - self._head_used - (0 if rec.head else self._overhead)
            if len(data) <= room:
                self._to_head(rec, data)
                return
            self._head_full = True
            k = _utf8_back(data, max(room, 0))
            if k > 0:
                self._to_head(rec, data[:k])
            data = data[k:]
        self._to_tail(rec, data)

    def rich(self, out: dict[str, Any]) -> None:
        """A display_data or execute_result output."""
        cell = self._open_cell()
        self._current = None
        size = _rich_size(out)
        if ((self.max_rich and self.rich_count >= self.max_rich)
                or (self.max_rich_bytes and self.rich_bytes + size > self.max_rich_bytes)):
            cell.dropped += 1
            cell.dropped_bytes += size
            if cell.drop_marker is None:
                cell.drop_marker = {"output_type": "stream", "name": "stderr", "text": ""}
                cell.outputs.append(cell.drop_marker)
            cell.drop_marker["text"] = (
                f"[tramway-jupyter: {cell.dropped:,} rich output(s) (images, HTML...) / "
                f"{format_size(cell.dropped_bytes)} not kept in this notebook: over the task's "
                f"limit of {self.max_rich or 'any'} outputs / {format_size(self.max_rich_bytes)}]\n")
            return
        self.rich_count += 1
        self.rich_bytes += size
        cell.rich_seq += 1
        cell.outputs.append(out)

    def error(self, out: dict[str, Any]) -> None:
        """An error output: always kept."""
        cell = self._open_cell()
        self._current = None
        cell.rich_seq += 1
        cell.outputs.append(out)

    def clear(self) -> None:
        """``clear_output()``: forget the current cell's outputs (the log keeps their text)."""
        cell = self._cell
        if cell is None:
            return
        for out in cell.outputs:
            rec = self._recs.pop(id(out), None)
            if rec is not None:
                rec.cleared = True
                rec.head = []
            elif out is not cell.drop_marker and out.get("output_type") in (
                    "display_data", "execute_result"):
                self.rich_count -= 1
                self.rich_bytes -= _rich_size(out)
        cell.outputs.clear()
        cell.gap, cell.gap_pos = None, -1
        cell.dropped = cell.dropped_bytes = 0
        cell.drop_marker = None
        self._current = None

    # -- internals ------------------------------------------------------------------------
    def _open_cell(self) -> _Cell:
        if self._cell is None:
            self.begin_cell()
        assert self._cell is not None
        return self._cell

    def _to_head(self, rec: _Rec, data: bytes) -> None:
        if not rec.head:
            self._head_used += self._overhead
        rec.head.append(data)
        rec.head_bytes += len(data)
        self._head_used += len(data)
        self._head_last = rec

    def _to_tail(self, rec: _Rec, data: bytes) -> None:
        if not data:
            return
        if len(data) > self.tail_budget:  # keep only its end
            self._dropped = True
            self._dropped_ends_line = data[-self.tail_budget - 1] == 0x0A
            data = data[-self.tail_budget:] if self.tail_budget else b""
            while self._tail:
                self._pop_front()
            if not data:
                self._maybe_dead(rec)
                return
        last = self._tail[-1] if self._tail else None
        if last is not None and last.rec is rec and last.nbytes < _PIECE:
            last.chunks.append(data)
            last.nbytes += len(data)
        else:
            self._tail.append(_Piece(rec, data))
            rec.tail_pieces += 1
            self._tail_bytes += self._overhead
        self._tail_bytes += len(data)
        while self._tail and self._tail_bytes - self._tail[0].nbytes - self._overhead \
                >= self.tail_budget:
            self._pop_front()

    def _pop_front(self) -> None:
        piece = self._tail.popleft()
        self._tail_bytes -= piece.nbytes + self._overhead
        self._dropped = True
        self._dropped_ends_line = piece.chunks[-1][-1:] == _NL
        rec = piece.rec
        rec.tail_pieces -= 1
        self._maybe_dead(rec)

    def _maybe_dead(self, rec: _Rec) -> None:
        if rec.tail_pieces or rec.head or rec.cleared or rec is self._current:
            return
        # Its text is all omitted. Outputs die in order, so the cell's last dead output, if no
        # rich output stands between, sits just before it: merge into that one.
        rec.dead = True
        cell = rec.cell
        gap = cell.gap
        if (gap is not None and gap.rich_seq == rec.rich_seq
                and cell.gap_pos + 1 < len(cell.outputs)
                and cell.outputs[cell.gap_pos + 1] is rec.out):
            gap.total += rec.total
            gap.lines += rec.lines
            del cell.outputs[cell.gap_pos + 1]
            del self._recs[id(rec.out)]
            return
        start = cell.gap_pos + 1
        for i in range(start, len(cell.outputs)):
            if cell.outputs[i] is rec.out:
                cell.gap, cell.gap_pos = rec, i
                break

    def _tail_chunks(self, cell: _Cell | None) -> dict[_Rec, list[bytes]]:
        out: dict[_Rec, list[bytes]] = {}
        for piece in self._tail:
            if cell is None or piece.rec.cell is cell:
                out.setdefault(piece.rec, []).extend(piece.chunks)
        return out

    def _render(self, rec: _Rec, tail: list[bytes]) -> None:
        head = b"".join(rec.head)
        tail_b = b"".join(tail)
        omitted = rec.total - len(head) - len(tail_b)
        if omitted <= 0:
            rec.out["text"] = (head + tail_b).decode("utf-8", "replace")
            return
        lines = rec.lines - head.count(_NL) - tail_b.count(_NL)
        text = head.decode("utf-8", "replace")
        if text and not text.endswith("\n"):
            text += "\n"
        rec.out["text"] = text + self.marker(lines, omitted) + tail_b.decode("utf-8", "replace")

    def marker(self, lines: int, nbytes: int) -> str:
        where = (f"full text in {self.log_name}" if self.log_name and not self._log_failed
                 else "full text not kept")
        return (f"... [tramway-jupyter: {lines:,} lines / {nbytes:,} bytes ({format_size(nbytes)})"
                f" omitted (limit {format_size(self.max_bytes)} per task, --max-output);"
                f" {where}] ...\n")

    def _write_log(self, data: bytes) -> None:
        if self.log_path is None or self._log_failed:
            return
        try:
            if self._log is None:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                self._log = open(self.log_path, "wb", buffering=0)  # noqa: SIM115 - kept open
                self.log_written = True
            self._log.write(data)  # unbuffered: `tail -f` sees every chunk
        except OSError as exc:
            logger.warning("cannot write the task log %s: %s", self.log_path, exc)
            self._log_failed = True
            self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            try:
                self._log.close()
            except OSError:  # pragma: no cover
                pass
            self._log = None

    def __enter__(self) -> OutputCollector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()
