"""Results as they come, in the notebook: the finished tasks' table fills in and the per-ROI maps
grid redraws while a batch runs.

A daemon thread follows ``batch.as_completed()`` (duck-typed: the ``Batch`` of
:mod:`tramway_jupyter.api`), loads each finished task's record once, and redraws at most every
``every`` seconds; the kernel stays free. The maps are drawn with matplotlib's Agg into PNG
bytes set on an ``Image`` widget (thread-safe, unlike an ``Output`` area written from a thread).
"""

from __future__ import annotations

import html
import io
import logging
import os
import threading
import time
from typing import Any

import ipywidgets as w

from ..jobs.states import State

logger = logging.getLogger(__name__)

#: Finished tasks listed, newest first.
MAX_ROWS = 30
#: Maps drawn at most (the latest ones): a grid of hundreds of panels draws slowly and reads badly.
MAX_MAPS = 24


class LiveResults(w.VBox):
    """A running batch's results as they come: counts, the last finished tasks, the maps grid."""

    def __init__(self, batch: Any, *, name: str = "maps", variable: str = "diffusivity",
                 every: float = 2.0, start: bool = True) -> None:
        self.batch = batch
        self.name = name
        self.variable = variable
        self.every = every
        self.header = w.HTML()
        self.table = w.HTML()
        self.image = w.Image(format="png", layout=w.Layout(width="100%", height="auto"))
        self.note = w.HTML()
        super().__init__([self.header, self.table, self.image, self.note])
        self.add_class("tramway-live-results")
        self.rows: list[Any] = []  # finished tasks, in the order they ended
        self.maps: dict[tuple[Any, ...], Any] = {}
        self.n_draws = 0
        self._dirty_maps = False
        self._last_draw = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._draw_text()
        if start:
            self.start()

    # -- background ---------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._follow, daemon=True,
                                        name=f"tramway-live-{self.batch.batch_id}")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the batch has ended and the last redraw is done (tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _follow(self) -> None:
        try:
            for r in self.batch.as_completed():
                if self._stop.is_set():
                    return
                self._add(r)
                if time.monotonic() - self._last_draw >= self.every:
                    self._redraw()
            self._redraw(final=True)
        except Exception as exc:  # the view must never kill the kernel
            logger.exception("live results of batch %s", self.batch.batch_id)
            self.note.value = (f"<span style='color:var(--jp-error-color1, #d32f2f)'>"
                               f"live results stopped: {html.escape(str(exc))}</span>")

    def _add(self, r: Any) -> None:
        self.rows.append(r)
        if r.state == State.DONE.value and self.name in r.record_names:
            try:
                self.maps[(r.source, r.roi_index, r.segment_index,
                           tuple(sorted(r.sweep.items())))] = r.get(self.name)
                self._dirty_maps = True
            except Exception as exc:  # an unreadable record: listed, not drawn
                logger.warning("task %s: cannot load %r: %s", r.task_id, self.name, exc)

    # -- drawing ------------------------------------------------------------------------
    def _redraw(self, *, final: bool = False) -> None:
        self._last_draw = time.monotonic()
        self._draw_text(final=final)
        if self._dirty_maps:
            self._dirty_maps = False
            try:
                self.image.value = self._maps_png()
                self.n_draws += 1
            except Exception as exc:
                self.note.value = f"<i>maps not drawn: {html.escape(str(exc))}</i>"

    def _draw_text(self, *, final: bool = False) -> None:
        done = sum(r.state == State.DONE.value for r in self.rows)
        bad = len(self.rows) - done
        state = "finished" if final else "running"
        self.header.value = (
            f"<b>{html.escape(self.batch.batch_id)}</b>: {len(self.rows)} task(s) ended"
            f" ({done} done{f', {bad} not done' if bad else ''}), batch {state}"
            f"{'' if final else ' - updating as tasks end'}")
        body = []
        for r in reversed(self.rows[-MAX_ROWS:]):
            dur = "" if r.duration is None else f"{r.duration:.2f}"
            where = os.path.basename(r.source) + ("" if r.roi_index is None
                                                  else f" ROI {r.roi_index}")
            if r.t_start is not None:
                where += f" [{r.t_start:g}, {r.t_end:g}) s"
            if r.sweep:
                where += " " + ", ".join(f"{k}={v!r}" for k, v in r.sweep.items())
            err = html.escape(r.error_summary) if r.state != State.DONE.value else ""
            body.append(f"<tr><td><code>{html.escape(r.task_id)}</code></td>"
                        f"<td>{html.escape(where)}</td><td>{html.escape(r.state)}</td>"
                        f"<td>{dur}</td><td>{err}</td></tr>")
        self.table.value = (
            "<table class='tramway-live-table'><thead><tr><th>task</th><th>data</th>"
            "<th>state</th><th>time (s)</th><th>error</th></tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>" if body else "<i>no task ended yet</i>")

    def _maps_png(self) -> bytes:
        from ..analysis import plot_maps

        keys = sorted(self.maps, key=lambda k: (k[0], -1 if k[1] is None else k[1],
                                                -1 if k[2] is None else k[2], repr(k[3])))
        keys = keys[-MAX_MAPS:]
        titles = []
        for src, roi, seg, sweep in keys:
            t = os.path.basename(src).split(".")[0] + ("" if roi is None else f" ROI {roi}")
            t += "" if seg is None else f" w{seg}"
            t += "" if not sweep else " " + ",".join(f"{k}={v}" for k, v in sweep)
            titles.append(t)
        grid = plot_maps([self.maps[k] for k in keys], self.variable, titles=titles,
                         pyplot=False)
        buf = io.BytesIO()
        grid.figure.savefig(buf, format="png", dpi=80)
        return buf.getvalue()

    def close(self) -> None:
        self.stop()
        super().close()

