"""The live progress widget of a batch: counts per state, a bar, times, cancel and retry.

``%tramway run`` displays ``ProgressWidget(batch)``. It uses the ``Batch`` handle of
:mod:`tramway_jupyter.api` only (duck-typed) and updates from a daemon thread, so the kernel stays
free to run cells while a batch runs.
"""

from __future__ import annotations

import html
import logging
import os
import threading
import time
from collections.abc import Callable, Collection
from typing import Any, cast

import ipywidgets as w

from ..jobs.states import ACTIVE_STATES, RETRYABLE_STATES, State

logger = logging.getLogger(__name__)

#: States that count as a failure (a cell raised, or the worker died).
FAILED_STATES = frozenset({State.FAILED, State.LOST})
#: Segment order and colours (JupyterLab CSS variables, so the dark theme works).
SEGMENTS: tuple[tuple[str, Collection[State], str], ...] = (
    ("done", (State.DONE,), "var(--jp-success-color1, #388e3c)"),
    ("running", (State.RUNNING,), "var(--jp-brand-color1, #1976d2)"),
    ("queued", (State.QUEUED, State.PENDING), "var(--jp-brand-color3, #bbdefb)"),
    ("failed", FAILED_STATES, "var(--jp-error-color1, #d32f2f)"),
    ("cancelled", (State.CANCELLED,), "var(--jp-warn-color2, #ffb74d)"),
)
MAX_FAILURES_LISTED = 20


def format_seconds(s: float | None) -> str:
    if s is None:
        return "–"
    s = max(0.0, s)
    if s < 60:
        return f"{s:.0f} s"
    m, sec = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m} min {sec:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def estimate_remaining(counts: dict[str, int], elapsed: float) -> float | None:
    """Seconds left at the rate seen so far (None before the first task finishes)."""
    total = sum(counts.values())
    finished = total - _n(counts, ACTIVE_STATES)
    if finished <= 0 or elapsed <= 0:
        return None
    return (total - finished) * elapsed / finished


def _n(counts: dict[str, int], states: Collection[State]) -> int:
    return sum(counts.get(s.value, 0) for s in states)


def segments_html(counts: dict[str, int]) -> str:
    total = max(sum(counts.values()), 1)
    parts = []
    for key, states, colour in SEGMENTS:
        n = _n(counts, states)
        if n:
            parts.append(
                f"<div class='tramway-seg tramway-seg-{key}' title='{n} {key}' "
                f"style='width:{100 * n / total:.3f}%;background:{colour};height:100%'></div>"
            )
    return (
        "<div class='tramway-bar' style='display:flex;height:10px;border-radius:5px;"
        "overflow:hidden;background:var(--jp-layout-color3, #eee);margin:2px 0'>"
        + "".join(parts)
        + "</div>"
    )


def counts_text(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    parts = [f"{counts.get(State.DONE.value, 0)}/{total} done"]
    for label, states, _ in SEGMENTS[1:]:
        n = _n(counts, states)
        if n:
            parts.append(f"{n} {label}")
    return " · ".join(parts)


class ProgressWidget(w.VBox):
    """Live progress of a batch: counts per state, a bar, elapsed and remaining time,
    cancel and retry buttons, and a final summary listing the failures.

    Parameters
    ----------
    batch
        A ``tramway_jupyter.api.Batch`` (or anything with ``batch_id``, ``info()``,
        ``refresh()``, ``counts()``, ``tasks(states)``, ``cancel()``, ``retry()``).
    interval, max_interval
        Seconds between polls: starts at ``interval`` and doubles up to ``max_interval``.
    start
        Start the background updater at once (tests pass False and call :meth:`update`).
    """

    def __init__(
        self,
        batch: Any,
        *,
        interval: float = 0.5,
        max_interval: float = 5.0,
        start: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.batch = batch
        self.interval = interval
        self.max_interval = max_interval
        self._clock = clock
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._finished_at: float | None = None
        info = batch.info()
        self._created = float(info.created)
        name = html.escape(str(getattr(info, "name", "") or batch.batch_id))
        self.title = w.HTML(
            f"<b>{name}</b> <code style='font-size:85%'>{html.escape(batch.batch_id)}</code>"
            f" <span style='color:var(--jp-ui-font-color2, #777)'>"
            f"{html.escape(str(getattr(info, 'profile', '')))}</span>"
        )
        self.bar = w.HTML(segments_html({}), layout=w.Layout(width="100%"))
        self.counts_label = w.HTML()
        self.time_label = w.HTML()
        self.cancel_button = w.Button(description="Cancel", icon="stop", button_style="warning")
        self.retry_button = w.Button(description="Retry failed", icon="refresh")
        self.live_button = w.Button(description="Live results", icon="table",
                                    tooltip="the finished tasks and the maps, as they come")
        self.live: Any = None
        self.live_button.on_click(lambda _: self.show_live())
        self.cancel_button.on_click(lambda _: self._in_thread(self._cancel))
        self.retry_button.on_click(lambda _: self._in_thread(self._retry))
        self.summary = w.HTML()
        self.message = w.HTML()
        super().__init__(
            [
                self.title,
                self.bar,
                w.HBox(
                    [self.counts_label, self.time_label],
                    layout=w.Layout(justify_content="space-between"),
                ),
                w.HBox([self.cancel_button, self.retry_button, self.live_button]),
                self.message,
                self.summary,
            ]
        )
        self.add_class("tramway-progress-widget")
        self.counts: dict[str, int] = {}
        self.total = 0
        self.finished = 0
        #: "running" while tasks are active, then "done", "failed" or "cancelled"
        self.outcome: str = State.RUNNING.value
        self.update(refresh=False)
        if start:
            self.start()

    # -- state --------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return _n(self.counts, ACTIVE_STATES) > 0

    def update(self, *, refresh: bool = True) -> dict[str, int]:
        """Poll the batch once (``refresh``) and redraw; returns the counts."""
        with self._lock:
            counts: dict[str, int] | None = None
            if refresh:
                try:
                    counts = dict(self.batch.refresh())
                except Exception as exc:  # keep showing the last known state
                    logger.warning("refreshing batch %s failed: %s", self.batch.batch_id, exc)
                    self.message.value = self._note(f"refresh failed: {exc}", error=True)
            if counts is None:
                counts = dict(self.batch.counts())
            self.counts = counts
            self._draw()
            return counts

    def _draw(self) -> None:
        c = self.counts
        self.total = sum(c.values())
        self.finished = self.total - _n(c, ACTIVE_STATES)
        self.bar.value = segments_html(c)
        self.counts_label.value = f"<span class='tramway-counts'>{counts_text(c)}</span>"
        now = self._clock()
        if self.active:
            self._finished_at = None
        elif self._finished_at is None:
            self._finished_at = now
        end = self._finished_at or now
        elapsed = end - self._created
        eta = self._eta(c, elapsed) if self.active else None
        text = f"elapsed {format_seconds(elapsed)}"
        if self.active:
            text += f" · remaining ~{format_seconds(eta)}" if eta is not None else ""
        self.time_label.value = f"<span class='tramway-time'>{text}</span>"
        self.cancel_button.disabled = not self.active
        self.cancel_button.button_style = "warning" if self.active else ""
        self.retry_button.disabled = self.active or _n(c, RETRYABLE_STATES) == 0
        if self.active:
            self.outcome = State.RUNNING.value
            self.summary.value = ""
        else:
            self.outcome = (
                State.FAILED.value if _n(c, FAILED_STATES)
                else State.CANCELLED.value if c.get(State.CANCELLED.value)
                else State.DONE.value
            )
            self.summary.value = self._summary_html()

    def _summary_html(self) -> str:
        c = self.counts
        total = sum(c.values())
        done = c.get(State.DONE.value, 0)
        failed = _n(c, FAILED_STATES)
        if not failed:
            state = State.CANCELLED if c.get(State.CANCELLED.value) else State.DONE
            return self._note(f"Finished: {done}/{total} tasks done ({state}).")
        rows = self.batch.tasks(states=sorted(s.value for s in FAILED_STATES))
        items = []
        for t in rows[:MAX_FAILURES_LISTED]:
            roi = "" if t.roi_index is None else f", ROI {t.roi_index}"
            source = os.path.basename(str(t.source))
            items.append(
                f"<li><code>{html.escape(t.task_id)}</code> ({html.escape(source)}{roi}): "
                f"<span style='color:var(--jp-error-color1, #d32f2f)'>"
                f"{html.escape(t.error or t.state)}</span></li>"
            )
        more = len(rows) - MAX_FAILURES_LISTED
        if more > 0:
            items.append(f"<li>… and {more} more</li>")
        return (
            f"<div class='tramway-summary'><b>Finished: {done}/{total} done, "
            f"{failed} failed.</b><ul style='margin:2px 0'>{''.join(items)}</ul></div>"
        )

    def _eta(self, counts: dict[str, int], elapsed: float) -> float | None:
        """The store's ETA (per-stage task durations, ``jobs.eta``); else the rate so far."""
        store = getattr(self.batch, "store", None)
        if store is not None and hasattr(store, "eta"):
            try:
                return cast(float | None, store.eta(self.batch.batch_id))
            except Exception as exc:  # a store busy or gone: the rate so far
                logger.debug("ETA of batch %s: %s", self.batch.batch_id, exc)
        return estimate_remaining(counts, elapsed)

    @staticmethod
    def _note(text: str, *, error: bool = False) -> str:
        colour = "var(--jp-error-color1, #d32f2f)" if error else "inherit"
        return f"<span class='tramway-note' style='color:{colour}'>{html.escape(text)}</span>"

    # -- background updates -------------------------------------------------------------
    def start(self) -> None:
        """Start (or restart) the updater thread; it stops when the batch is finished."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"tramway-progress-{self.batch.batch_id}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        delay = self.interval
        while not self._stop.is_set():
            try:
                self.update()
            except Exception:  # the widget must never kill the kernel
                logger.exception("progress widget of batch %s", self.batch.batch_id)
            if not self.active:
                return
            self._stop.wait(delay)
            delay = min(self.max_interval, delay * 2)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the updater thread ends (tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        self.stop()
        super().close()

    # -- buttons ------------------------------------------------------------------------
    def show_live(self) -> Any:
        """Show the batch's results as they come below the progress (once)."""
        if self.live is None:
            from .live_results import LiveResults

            self.live = LiveResults(self.batch)
            self.children = (*tuple(self.children), self.live)  # type: ignore[has-type]
            self.live_button.disabled = True
        return self.live

    def _in_thread(self, fn: Callable[[], None]) -> None:
        threading.Thread(target=fn, daemon=True).start()

    def _cancel(self) -> None:
        self.cancel_button.disabled = True
        self.message.value = self._note("cancelling…")
        try:
            self.batch.cancel()
            self.message.value = self._note("cancelled")
        except Exception as exc:
            self.message.value = self._note(f"cancel failed: {exc}", error=True)
        self.update()

    def _retry(self) -> None:
        self.retry_button.disabled = True
        self.message.value = self._note("retrying…")
        try:
            n = self.batch.retry()
            self.message.value = self._note(f"retrying {n} task(s)")
        except Exception as exc:
            self.message.value = self._note(f"retry failed: {exc}", error=True)
        self.update(refresh=False)
        self.start()
