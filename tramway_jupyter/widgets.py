"""ipywidgets for notebooks: a live progress widget, a profile picker and a results view.

``%tramway run`` displays ``ProgressWidget(batch)``. The widgets use the ``Batch`` / ``Results``
handles of :mod:`tramway_jupyter.api` only (duck-typed), and update from a daemon thread so the
kernel stays free to run cells while a batch runs.
"""

from __future__ import annotations

import html
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

try:
    import ipywidgets as w
except ImportError as exc:  # pragma: no cover - exercised only without the [lab] extra
    from .exceptions import MissingDependencyError

    raise MissingDependencyError(
        "tramway_jupyter.widgets needs ipywidgets: pip install 'tramway-jupyter[lab]'"
    ) from exc

logger = logging.getLogger(__name__)

ACTIVE = ("pending", "queued", "running")
FAILED = ("failed", "lost")
RETRYABLE = ("failed", "lost", "cancelled")
#: Segment order and colours (JupyterLab CSS variables, so the dark theme works).
SEGMENTS = (
    ("done", ("done",), "var(--jp-success-color1, #388e3c)"),
    ("running", ("running",), "var(--jp-brand-color1, #1976d2)"),
    ("queued", ("queued", "pending"), "var(--jp-brand-color3, #bbdefb)"),
    ("failed", ("failed", "lost"), "var(--jp-error-color1, #d32f2f)"),
    ("cancelled", ("cancelled",), "var(--jp-warn-color2, #ffb74d)"),
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
    finished = total - sum(counts.get(s, 0) for s in ACTIVE)
    if finished <= 0 or elapsed <= 0:
        return None
    return (total - finished) * elapsed / finished


def _n(counts: dict[str, int], states: tuple[str, ...]) -> int:
    return sum(counts.get(s, 0) for s in states)


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
    parts = [f"{counts.get('done', 0)}/{total} done"]
    for label, states in (
        ("running", ("running",)),
        ("queued", ("queued", "pending")),
        ("failed", FAILED),
        ("cancelled", ("cancelled",)),
    ):
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
                w.HBox([self.cancel_button, self.retry_button]),
                self.message,
                self.summary,
            ]
        )
        self.add_class("tramway-progress-widget")
        self.counts: dict[str, int] = {}
        self.total = 0
        self.finished = 0
        #: "running" while tasks are active, then "done", "failed" or "cancelled"
        self.outcome = "running"
        self.update(refresh=False)
        if start:
            self.start()

    # -- state --------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return _n(self.counts, ACTIVE) > 0

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
        self.finished = self.total - _n(c, ACTIVE)
        self.bar.value = segments_html(c)
        self.counts_label.value = f"<span class='tramway-counts'>{counts_text(c)}</span>"
        now = self._clock()
        if self.active:
            self._finished_at = None
        elif self._finished_at is None:
            self._finished_at = now
        end = self._finished_at or now
        elapsed = end - self._created
        eta = estimate_remaining(c, elapsed) if self.active else None
        text = f"elapsed {format_seconds(elapsed)}"
        if self.active:
            text += f" · remaining ~{format_seconds(eta)}" if eta is not None else ""
        self.time_label.value = f"<span class='tramway-time'>{text}</span>"
        self.cancel_button.disabled = not self.active
        self.cancel_button.button_style = "warning" if self.active else ""
        self.retry_button.disabled = self.active or _n(c, RETRYABLE) == 0
        if self.active:
            self.outcome = "running"
            self.summary.value = ""
        else:
            self.outcome = (
                "failed" if _n(c, FAILED) else "cancelled" if c.get("cancelled") else "done"
            )
            self.summary.value = self._summary_html()

    def _summary_html(self) -> str:
        c = self.counts
        total = sum(c.values())
        failed = _n(c, FAILED)
        if not failed:
            state = "cancelled" if c.get("cancelled") else "done"
            return self._note(f"Finished: {c.get('done', 0)}/{total} tasks done ({state}).")
        rows = self.batch.tasks(states=list(FAILED))
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
            f"<div class='tramway-summary'><b>Finished: {c.get('done', 0)}/{total} done, "
            f"{failed} failed.</b><ul style='margin:2px 0'>{''.join(items)}</ul></div>"
        )

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


class ProfilePicker(w.VBox):
    """Choose a profile (from ``profiles.toml``, plus ``local``) and a number of workers."""

    def __init__(
        self,
        profiles: dict[str, Any] | None = None,
        *,
        value: str | None = None,
        workers: int | None = None,
    ) -> None:
        if profiles is None:
            from .api import load_profiles

            try:
                profiles = load_profiles()
            except Exception as exc:  # a broken profiles file must not hide the picker
                logger.warning("cannot read profiles: %s", exc)
                profiles = {}
        self.profiles = dict(profiles)
        names = list(self.profiles) or ["local"]
        if "local" not in names:
            names.insert(0, "local")
        self.dropdown = w.Dropdown(options=names, value=value or names[0], description="Profile")
        self.workers = w.BoundedIntText(
            value=workers or 0,
            min=0,
            max=100000,
            description="Workers",
            tooltip="0: the profile's default",
        )
        self.details = w.HTML()
        self.dropdown.observe(lambda _: self._describe(), names="value")
        super().__init__([w.HBox([self.dropdown, self.workers]), self.details])
        self.add_class("tramway-profile-picker")
        self._describe()

    @property
    def value(self) -> str:
        return str(self.dropdown.value)

    @property
    def profile(self) -> Any:
        return self.profiles.get(self.value)

    def run_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``tramway_jupyter.api.run``."""
        kw: dict[str, Any] = {"profile": self.profile or self.value}
        if self.workers.value:
            kw["workers"] = int(self.workers.value)
        return kw

    def _describe(self) -> None:
        p = self.profile
        if p is None:
            self.details.value = "<small>local cores on this machine</small>"
            return
        d = p.to_dict() if hasattr(p, "to_dict") else dict(vars(p))
        keys = [k for k in ("backend", "host", "partition", "workers", "time", "mem") if d.get(k)]
        self.details.value = (
            "<small>" + html.escape(", ".join(f"{k}={d[k]}" for k in keys)) + "</small>"
        )


class ResultsView(w.VBox):
    """A batch's results: a table of tasks (filtered by state) and the per-ROI maps side by side."""

    def __init__(self, results: Any, *, name: str = "maps", variable: str = "diffusivity") -> None:
        self.results = results
        table = results.table()
        states = sorted(set(table["state"])) if len(table) else []
        self.filter = w.Dropdown(options=["all", *states], value="all", description="State")
        self.table = w.HTML()
        self.variable = w.Text(value=variable, description="Variable")
        self.record = w.Text(value=name, description="Record")
        self.plot_button = w.Button(description="Plot maps", icon="image")
        self.maps = w.Output()
        self.filter.observe(lambda _: self._draw_table(), names="value")
        self.plot_button.on_click(lambda _: self.plot())
        super().__init__(
            [
                self.filter,
                self.table,
                w.HBox([self.record, self.variable, self.plot_button]),
                self.maps,
            ]
        )
        self.add_class("tramway-results-view")
        self._draw_table()

    def _draw_table(self) -> None:
        df = self.results.table()
        if self.filter.value != "all":
            df = df[df["state"] == self.filter.value]
        cols = [
            c
            for c in ("task_id", "stage", "source", "roi_index", "state", "duration", "error")
            if c in df.columns
        ]
        self.table.value = df[cols].to_html(
            index=False, na_rep="", classes="tramway-results-table", float_format="{:.2f}".format
        )

    def plot(self) -> None:
        """Plot every ROI's map side by side (``Results.plot_maps``) into the output area."""
        from IPython.display import HTML, display

        self.maps.clear_output()
        with self.maps:
            try:
                fig = self.results.plot_maps(self.record.value, self.variable.value)
            except LookupError as exc:
                display(HTML(f"<i>{html.escape(str(exc))}</i>"))
                return
            fig = getattr(fig, "figure", fig)  # an Axes array or a Figure
            display(fig)
            try:
                import matplotlib.pyplot as plt

                plt.close(fig)
            except Exception:  # not a matplotlib figure: nothing to close
                pass
