"""Gather: what a batch produced, as one object in the notebook session.

One row per task (source, ROI, stage, state, duration, error), the objects the task recorded
(loaded lazily from ``results/<task>.pkl``), and the path of each output notebook.

Nothing is loaded up front, so a batch of 100,000 tasks costs what is asked of it: the rows
stream from the job store a chunk at a time, a task's records are unpickled when asked for (a
few are kept, least recently used first out), and a status file is read only for the full error
of a task that did not end done.
"""

from __future__ import annotations

import html
import json
import os
import pickle
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

import msgspec

from ..exceptions import JobFailedError, RecordNotFoundError
from . import results_json, results_plots, results_table
from .batchdir import BatchDir
from .results_json import write_json_stream
from .states import ACTIVE_VALUES, RETRYABLE_VALUES
from .store import Store, TaskRow

#: Rows shown by ``repr`` / ``_repr_html_`` before a "... N more" line.
SHOWN_ROWS = 50
#: Tasks whose records are kept in memory by :meth:`Results.records`.
RECORDS_CACHE = 32

_UNFINISHED = tuple(sorted(ACTIVE_VALUES))
_NOT_DONE = tuple(sorted(RETRYABLE_VALUES | ACTIVE_VALUES))



def where_in_space(r: TaskResult) -> str:
    """``  [10-20 s] sigma=0.02``: a task's time window and sweep point, for listings."""
    parts = []
    if r.t_start is not None and r.t_end is not None:
        parts.append(f"[{r.t_start:g}-{r.t_end:g} s]")
    if r.sweep:
        parts.append(", ".join(f"{k}={v!r}" for k, v in r.sweep.items()))
    return ("  " + " ".join(parts)) if parts else ""


class TaskKey(NamedTuple):
    """A task's key in :meth:`Results.get` for a batch over time windows or sweep points."""

    source: str
    roi_index: int | None
    segment_index: int | None
    sweep: tuple[tuple[str, Any], ...]  # (name, value) of each swept parameter


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


@dataclass
class TaskResult:
    task_id: str
    stage: str
    source: str
    roi_index: int | None
    state: str
    attempt: int
    duration: float | None
    notebook: Path | None
    results_path: Path | None
    record_names: list[str] = field(default_factory=list)
    job_index: int | None = None
    cached_from: str | None = None
    error_line: str | None = None  # the store's one-line summary
    segment_index: int | None = None  # the time window [t_start, t_end) of a per-segment task
    t_start: float | None = None
    t_end: float | None = None
    sweep: dict[str, Any] = field(default_factory=dict)  # its swept parameters' values
    _error: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    _load_error: Callable[[], dict[str, Any] | None] | None = field(
        default=None, repr=False, compare=False)

    def records(self) -> dict[str, Any]:
        """Every object the task recorded (``{}`` if none), loaded from its results file."""
        return Results._load(self)

    def get(self, name: str) -> Any:
        """One recorded object; :class:`RecordNotFoundError` (a ``KeyError``) names the task."""
        recs = self.records()
        if name not in recs:
            raise RecordNotFoundError(f"task {self.task_id} recorded no {name!r}; it recorded: "
                                      f"{', '.join(sorted(recs)) or 'nothing'}")
        return recs[name]

    @property
    def error(self) -> dict[str, Any] | None:
        """The full error (ename, evalue, traceback, cell), read from the status file once."""
        if self._load_error is not None:
            self._error, self._load_error = self._load_error(), None
        return self._error

    @property
    def error_summary(self) -> str:
        if self.error_line:
            return self.error_line
        if self.state == "done":
            return ""
        e = self.error
        if not e:
            return ""
        return f"{e.get('ename', '')}: {e.get('evalue', '')}".strip(": ")


class Results:
    """The gathered outcome of a batch, read lazily from the job store and the batch directory."""

    def __init__(self, batch_id: str, batch_dir: BatchDir, store: Store) -> None:
        self.batch_id = batch_id
        self.dir = batch_dir
        self.store = store
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()

    # -- rows -----------------------------------------------------------------------------
    @property
    def partial(self) -> bool:
        """Whether some task is still pending, queued or running (the results so far)."""
        return any(self.counts.get(s, 0) for s in ACTIVE_VALUES)

    def result(self, t: TaskRow) -> TaskResult:
        """The result of one task row of the store."""
        return self._result(t)

    def _result(self, t: TaskRow) -> TaskResult:
        names, res = list(t.records), t.results
        if not names and res is None and t.state not in _UNFINISHED \
                and self.dir.results_path(t.task_id).exists():
            # a store that predates the records column: the status file knows the names
            st = self.dir.read_status(t.task_id, t.job_index)
            if st is not None:
                names, res = list(st.records), st.results
        load = None
        if t.state != "done":
            def load(tid: str = t.task_id, job: int = t.job_index) -> dict[str, Any] | None:
                st = self.dir.read_status(tid, job)
                return msgspec.structs.asdict(st.error) if st and st.error else None
        return TaskResult(
            task_id=t.task_id, stage=t.stage, source=t.source, roi_index=t.roi_index,
            state=t.state, attempt=t.attempt, duration=t.duration,
            notebook=self.dir.root / t.notebook if t.notebook else None,
            results_path=self.dir.root / res if res else None, record_names=names,
            job_index=t.job_index, cached_from=t.cached_from, error_line=t.error,
            segment_index=t.segment_index, t_start=t.t_start, t_end=t.t_end,
            sweep=dict(t.sweep), _load_error=load)

    def iter_rows(self, *, states: Iterable[str] | None = None,
                  stage: str | None = None) -> Iterator[TaskResult]:
        """Every task (or those in ``states`` / of ``stage``), streamed from the store."""
        for t in self.store.iter_tasks(self.batch_id, states=states, stage=stage):
            yield self._result(t)

    def head(self, n: int = SHOWN_ROWS, *, states: Iterable[str] | None = None) -> list[TaskResult]:
        """The first ``n`` tasks (in submission order)."""
        rows, _ = self.store.task_page(self.batch_id, states=states, limit=n)
        return [self._result(t) for t in rows]

    @property
    def rows(self) -> Iterator[TaskResult]:
        return self.iter_rows()

    # -- container protocol ---------------------------------------------------------------
    def __len__(self) -> int:
        return sum(self.counts.values())

    def __iter__(self) -> Iterator[TaskResult]:
        return self.iter_rows()

    def __getitem__(self, task_id: str) -> TaskResult:
        try:
            return self._result(self.store.task(self.batch_id, task_id))
        except LookupError:
            raise KeyError(f"no task {task_id!r} in batch {self.batch_id}") from None

    @property
    def counts(self) -> dict[str, int]:
        """Tasks per state (one aggregate query)."""
        out: dict[str, int] = {}
        for (_, state), n in self.store.task_counts(self.batch_id).items():
            out[state] = out.get(state, 0) + n
        return out

    def stage_counts(self) -> dict[str, dict[str, int]]:
        """``stage -> {state: tasks}`` (one aggregate query)."""
        out: dict[str, dict[str, int]] = {}
        for (stage, state), n in self.store.task_counts(self.batch_id).items():
            out.setdefault(stage, {})[state] = n
        return out

    @property
    def ok(self) -> bool:
        c = self.counts
        return sum(c.values()) == c.get("done", 0)

    # -- records --------------------------------------------------------------------------
    @staticmethod
    def _load(row: TaskResult) -> dict[str, Any]:
        if row.results_path is None or not row.results_path.exists():
            return {}
        with open(row.results_path, "rb") as fh:
            return dict(pickle.load(fh))

    def records(self, task_id: str) -> dict[str, Any]:
        """Every object task ``task_id`` recorded (``{}`` if none); the last few are cached."""
        if task_id in self._cache:
            self._cache.move_to_end(task_id)
            return self._cache[task_id]
        recs = self._load(self[task_id])
        self._cache[task_id] = recs
        while len(self._cache) > RECORDS_CACHE:
            self._cache.popitem(last=False)
        return recs

    def names(self) -> list[str]:
        """Every name some task recorded, sorted."""
        seen: set[str] = set()
        for r in self.iter_rows():
            seen.update(r.record_names)
        return sorted(seen)

    def roi_names(self) -> dict[str, str]:
        """``{task_id: ROI name}`` for the tasks whose ROI file is an ImageJ one (``.roi``,
        ``RoiSet.zip``: its ROIs carry names); empty when no ROI has a name of its own."""
        return results_table.roi_names(self)

    def _keyed_wide(self) -> bool:
        """Whether the batch runs over time windows or sweep points (wider result keys)."""
        meta = self.store.get_batch(self.batch_id).meta
        return bool(meta.get("segments") or meta.get("sweep_names"))

    def key(self, r: TaskResult) -> tuple[Any, ...]:
        """A task's key in :meth:`get`: ``(source, roi_index)``, or for a batch over time windows
        or sweep points a :class:`TaskKey` ``(source, roi_index, segment_index, sweep)``."""
        return self._key(r, self._keyed_wide())

    @staticmethod
    def _key(r: TaskResult, wide: bool) -> tuple[Any, ...]:
        if not wide:
            return (r.source, r.roi_index)
        return TaskKey(r.source, r.roi_index, r.segment_index,
                       tuple((k, _hashable(v)) for k, v in r.sweep.items()))

    def get(self, name: str, *, stage: str | None = None) -> dict[tuple[Any, ...], Any]:
        """Objects recorded under ``name``, keyed by (data file, ROI index) (and, in a batch over
        time windows or sweep points, time window and sweep point: see :meth:`key`).

        Each task's records are loaded, the one asked for kept and the rest dropped, so memory
        holds only the returned objects. Raises :class:`RecordNotFoundError` (a ``KeyError``)
        listing the recorded names when no task recorded ``name``.
        """
        return self._get(name, stage, self._keyed_wide())

    def _get(self, name: str, stage: str | None, wide: bool) -> dict[tuple[Any, ...], Any]:
        out: dict[tuple[Any, ...], Any] = {}
        seen: set[str] = set()
        for r in self.iter_rows(stage=stage):
            seen.update(r.record_names)
            if name not in r.record_names:
                continue
            recs = self._load(r)
            if name not in recs:
                raise RecordNotFoundError(
                    f"task {r.task_id} of batch {self.batch_id} recorded {name!r} but it is "
                    f"not in {r.results_path}{self._unpicklable_reason(r, name)}")
            out[self._key(r, wide)] = recs[name]
        if not out:
            where = f" (stage {stage})" if stage else ""
            have = ", ".join(repr(n) for n in sorted(seen)) if seen else "none"
            raise RecordNotFoundError(
                f"no task of batch {self.batch_id}{where} recorded {name!r}; recorded names: "
                f"{have}")
        return out

    @staticmethod
    def _unpicklable_reason(row: TaskResult, name: str) -> str:
        if row.results_path is None:
            return ""
        try:
            summary = json.loads(row.results_path.with_suffix(".json").read_text())
        except (OSError, ValueError):
            return ""
        why = (summary.get("unpicklable") or {}).get(name)
        return f" (it could not be pickled: {why})" if why else ""

    # -- failures -------------------------------------------------------------------------
    def _failure(self, r: TaskResult) -> JobFailedError:
        e = r.error or {"ename": r.state.capitalize(), "evalue": f"task is {r.state}"}
        log = self.dir.job_log_path(r.job_index, r.attempt) if r.job_index is not None else None
        return JobFailedError(
            self.batch_id, r.task_id, job_index=r.job_index, source=r.source,
            roi_index=r.roi_index, cell_index=e.get("cell_index"), ename=e.get("ename", ""),
            evalue=e.get("evalue", ""), traceback=e.get("traceback", ""),
            log_path=str(log) if log else None,
            notebook_path=str(r.notebook) if r.notebook else None)

    def iter_failures(self) -> Iterator[JobFailedError]:
        """One :class:`JobFailedError` per task that did not end done, streamed."""
        for r in self.iter_rows(states=_NOT_DONE):
            yield self._failure(r)

    def failures(self, limit: int | None = None) -> list[JobFailedError]:
        """One :class:`JobFailedError` per task that did not end done (the first ``limit``)."""
        if limit is not None:
            return [self._failure(r) for r in self.head(limit, states=_NOT_DONE)]
        return list(self.iter_failures())

    def raise_for_failures(self) -> None:
        fails = self.failures(limit=1)
        if fails:
            raise fails[0]

    # -- views ----------------------------------------------------------------------------
    def table(self, value: str | None = None, *, stage: str | None = None) -> Any:
        """A pandas DataFrame, one row per task (see :func:`.results_table.table`); ``value``:
        a recorded scalar pivoted by sweep values."""
        return results_table.table(self, value, stage=stage)

    def _counts_text(self, counts: dict[str, int]) -> str:
        return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))

    @staticmethod
    def format_row(r: TaskResult, width: int = 0) -> str:
        dur = f"{r.duration:7.2f}s" if r.duration is not None else "       -"
        roi = "" if r.roi_index is None else f"ROI {r.roi_index}"
        err = "  " + r.error_summary if r.state != "done" and r.error_summary else ""
        return (f"  {r.task_id:<{width}}  {r.state:<9} {roi:>7} {dur}  "
                f"{', '.join(r.record_names)}{where_in_space(r)}{err}")

    def __repr__(self) -> str:
        counts = self.counts
        n = sum(counts.values())
        lines = [f"Results of batch {self.batch_id}: {n} task(s) ({self._counts_text(counts)})"
                 + (" - partial: the batch is still running" if self.partial else "")]
        rows = self.head(SHOWN_ROWS)
        w = max((len(r.task_id) for r in rows), default=4)
        lines += [self.format_row(r, w) for r in rows]
        if n > len(rows):
            lines.append(f"  ... {n - len(rows)} more")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colors = {"done": "#2e7d32", "failed": "#c62828", "lost": "#ad1457",
                  "cancelled": "#6d4c41", "running": "#1565c0"}
        head = "".join(f"<th>{h}</th>" for h in
                       ("task", "stage", "file", "ROI", "state", "time (s)", "records", "error"))
        body = []
        rows = self.head(SHOWN_ROWS)
        for r in rows:
            c = colors.get(r.state, "inherit")
            body.append(
                "<tr>"
                f"<td><code>{html.escape(r.task_id)}</code></td><td>{html.escape(r.stage)}</td>"
                f"<td>{html.escape(os.path.basename(r.source))}</td>"
                f"<td>{'' if r.roi_index is None else r.roi_index}</td>"
                f"<td style='color:{c};font-weight:bold'>{r.state}</td>"
                f"<td>{'' if r.duration is None else f'{r.duration:.2f}'}</td>"
                f"<td>{html.escape(', '.join(r.record_names))}</td>"
                f"<td>{html.escape(r.error_summary)}</td></tr>")
        counts = self.counts
        n = sum(counts.values())
        more = (f"<div><i>... {n - len(rows)} more task(s): iterate the results or use "
                "<code>.table()</code></i></div>" if n > len(rows) else "")
        partial = " <i>(partial: the batch is still running)</i>" if self.partial else ""
        return (f"<div><b>Batch {html.escape(self.batch_id)}</b>: {n} task(s) "
                f"({self._counts_text(counts)}){partial}<table><thead><tr>{head}</tr></thead><tbody>"
                f"{''.join(body)}</tbody></table>{more}</div>")

    def plot_maps(self, name: str = "maps", variable: str = "diffusivity", *,
                  stage: str | None = None, **kwargs: Any) -> Any:
        """Plot every ROI's recorded map side by side with one colour scale (a ``MapGrid``)."""
        return results_plots.plot_maps(self, name, variable, stage=stage, **kwargs)

    def rerun(self, task_id: str) -> Any:
        """Run a task again from its provenance record, in a scratch directory, and compare
        its records with the original's (see :func:`tramway_jupyter.jobs.rerun.rerun_task`)."""
        from .rerun import rerun_task

        return rerun_task(self.dir.root, task_id)

    # -- time segments --------------------------------------------------------------------
    def plot_over_time(self, name: str, *, stage: str | None = None, ax: Any = None,
                       ylabel: str | None = None) -> Any:
        """A recorded scalar against the centre of its time window, one line per ROI (and
        sweep point); returns the Axes."""
        return results_plots.plot_over_time(self, name, stage=stage, ax=ax, ylabel=ylabel)

    def plot_map_series(self, name: str = "maps", variable: str = "diffusivity", *,
                        source: str | None = None, roi_index: int | None = None,
                        stage: str | None = None, **kwargs: Any) -> Any:
        """The maps of one ROI (default: the first) over its time windows, side by side on
        one colour scale; returns a ``MapGrid``."""
        from ..analysis import plot_map_series

        maps, titles = results_plots.series(self, name, source, roi_index, stage)
        return plot_map_series(maps, variable, titles, **kwargs)

    def animate_maps(self, dest: str | os.PathLike[str], name: str = "maps",
                     variable: str = "diffusivity", *, source: str | None = None,
                     roi_index: int | None = None, stage: str | None = None,
                     **kwargs: Any) -> Any:
        """The maps of one ROI over its time windows as an animation: ``dest`` ending in
        ``.gif`` (a GIF) or ``.html``; returns its path."""
        from ..analysis import animate_maps

        maps, titles = results_plots.series(self, name, source, roi_index, stage)
        return animate_maps(maps, variable, titles, dest, **kwargs)

    # -- JSON -----------------------------------------------------------------------------
    def write_json(self, dest: str | os.PathLike[str] | IO[str]) -> int:
        """Stream the JSON document of :meth:`to_json` to a path or a text file, one task at a
        time (memory independent of the number of tasks). Returns the number of tasks written."""
        tasks = (results_json.task_doc(self, r) for r in self.iter_rows())
        head = results_json.json_head(self)
        if isinstance(dest, (str, os.PathLike)):
            with open(dest, "w") as fh:
                return write_json_stream(fh, head, "tasks", tasks)
        return write_json_stream(dest, head, "tasks", tasks)

    def to_json(self, path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """Per task: source, ROI, stage, state, error, notebook, and JSON-able recorded values.

        Builds the whole document in memory: for big batches use :meth:`write_json`.
        """
        doc = {**results_json.json_head(self),
               "tasks": [results_json.task_doc(self, r) for r in self.iter_rows()]}
        if path is not None:
            Path(path).write_text(json.dumps(doc, indent=1, default=str))
        return doc
