"""Gather: what a batch produced, as one object in the notebook session.

One row per task (source, ROI, stage, state, duration, error), the objects the task recorded
(loaded lazily from ``results/<task>.pkl``), and the path of each output notebook.
"""

from __future__ import annotations

import html
import json
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import JobFailedError
from .batchdir import BatchDir
from .record import _NOT_JSONABLE, to_jsonable


@dataclass
class TaskResult:
    task_id: str
    stage: str
    source: str
    roi_index: int | None
    state: str
    attempt: int
    duration: float | None
    error: dict[str, Any] | None
    notebook: Path | None
    results_path: Path | None
    record_names: list[str] = field(default_factory=list)
    job_index: int | None = None
    cached_from: str | None = None

    @property
    def error_summary(self) -> str:
        if not self.error:
            return ""
        return f"{self.error.get('ename', '')}: {self.error.get('evalue', '')}".strip(": ")


class Results:
    """The gathered outcome of a batch."""

    def __init__(self, batch_id: str, batch_dir: BatchDir, rows: list[TaskResult]) -> None:
        self.batch_id = batch_id
        self.dir = batch_dir
        self.rows = rows
        self._records: dict[str, dict[str, Any]] = {}

    @classmethod
    def from_batch_dir(cls, batch_dir: BatchDir, task_rows: list[Any]) -> Results:
        """Build from the store's task rows plus the status files of the batch directory."""
        statuses = batch_dir.read_statuses()
        rows: list[TaskResult] = []
        for t in task_rows:
            st = statuses.get(t.task_id) or {}
            nb = st.get("notebook") or t.notebook
            res = st.get("results")
            names = list(st.get("records") or [])
            rows.append(TaskResult(
                task_id=t.task_id, stage=t.stage, source=t.source, roi_index=t.roi_index,
                state=t.state, attempt=t.attempt, duration=t.duration,
                error=st.get("error") if t.state != "done" else None,
                notebook=batch_dir.root / nb if nb else None,
                results_path=batch_dir.root / res if res else None, record_names=names,
                job_index=t.job_index, cached_from=t.cached_from,
            ))
        batch_id = task_rows[0].batch_id if task_rows else batch_dir.root.name
        return cls(batch_id, batch_dir, rows)

    # -- container protocol ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[TaskResult]:
        return iter(self.rows)

    def __getitem__(self, task_id: str) -> TaskResult:
        for r in self.rows:
            if r.task_id == task_id:
                return r
        raise KeyError(f"no task {task_id!r} in batch {self.batch_id}")

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r.state] = out.get(r.state, 0) + 1
        return out

    @property
    def ok(self) -> bool:
        return all(r.state == "done" for r in self.rows)

    # -- records --------------------------------------------------------------------------
    def records(self, task_id: str) -> dict[str, Any]:
        """Every object task ``task_id`` recorded (``{}`` if none)."""
        if task_id not in self._records:
            row = self[task_id]
            if row.results_path is None or not row.results_path.exists():
                self._records[task_id] = {}
            else:
                with open(row.results_path, "rb") as fh:
                    self._records[task_id] = pickle.load(fh)
        return self._records[task_id]

    def get(self, name: str, *, stage: str | None = None) -> dict[tuple[str, int | None], Any]:
        """Objects recorded under ``name``, keyed by (data file, ROI index)."""
        out: dict[tuple[str, int | None], Any] = {}
        for r in self.rows:
            if (stage is None or r.stage == stage) and name in r.record_names:
                out[(r.source, r.roi_index)] = self.records(r.task_id)[name]
        return out

    # -- failures -------------------------------------------------------------------------
    def failures(self) -> list[JobFailedError]:
        """One :class:`JobFailedError` per task that did not end done."""
        out = []
        for r in self.rows:
            if r.state == "done":
                continue
            e = r.error or {"ename": r.state.capitalize(), "evalue": f"task is {r.state}"}
            log = self.dir.job_log_path(r.job_index, r.attempt) if r.job_index is not None else None
            out.append(JobFailedError(
                self.batch_id, r.task_id, job_index=r.job_index, source=r.source,
                roi_index=r.roi_index, cell_index=e.get("cell_index"), ename=e.get("ename", ""),
                evalue=e.get("evalue", ""), traceback=e.get("traceback", ""),
                log_path=str(log) if log else None,
                notebook_path=str(r.notebook) if r.notebook else None))
        return out

    def raise_for_failures(self) -> None:
        fails = self.failures()
        if fails:
            raise fails[0]

    # -- views ----------------------------------------------------------------------------
    def table(self) -> Any:
        """A pandas DataFrame, one row per task."""
        import pandas as pd

        return pd.DataFrame([{
            "task_id": r.task_id, "stage": r.stage, "source": os.path.basename(r.source),
            "roi_index": r.roi_index, "state": r.state, "attempt": r.attempt,
            "duration": r.duration, "error": r.error_summary,
            "records": ", ".join(r.record_names),
            "notebook": str(r.notebook) if r.notebook else None,
        } for r in self.rows])

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))
        lines = [f"Results of batch {self.batch_id}: {len(self)} task(s) ({counts})"]
        w = max((len(r.task_id) for r in self.rows), default=4)
        for r in self.rows:
            dur = f"{r.duration:7.2f}s" if r.duration is not None else "       -"
            roi = "" if r.roi_index is None else f"ROI {r.roi_index}"
            lines.append(f"  {r.task_id:<{w}}  {r.state:<9} {roi:>7} {dur}  "
                         f"{', '.join(r.record_names)}{'  ' + r.error_summary if r.error else ''}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colors = {"done": "#2e7d32", "failed": "#c62828", "lost": "#ad1457",
                  "cancelled": "#6d4c41", "running": "#1565c0"}
        head = "".join(f"<th>{h}</th>" for h in
                       ("task", "stage", "file", "ROI", "state", "time (s)", "records", "error"))
        body = []
        for r in self.rows:
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
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))
        return (f"<div><b>Batch {html.escape(self.batch_id)}</b>: {len(self)} task(s) "
                f"({counts})<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
                "</tbody></table></div>")

    def plot_maps(self, name: str = "maps", variable: str = "diffusivity", *,
                  stage: str | None = None, **kwargs: Any) -> Any:
        """Plot every ROI's recorded map side by side with one colour scale."""
        from ..analysis import plot_maps

        found = self.get(name, stage=stage)
        if not found:
            raise LookupError(f"no task of batch {self.batch_id} recorded {name!r}")
        keys = sorted(found, key=lambda k: (k[0], -1 if k[1] is None else k[1]))
        titles = [f"{os.path.basename(s)}" + ("" if r is None else f" ROI {r}") for s, r in keys]
        return plot_maps([found[k] for k in keys], variable, titles=titles, **kwargs)

    def to_json(self, path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """Per task: source, ROI, stage, state, error, notebook, and JSON-able recorded values."""
        tasks = []
        for r in self.rows:
            values: dict[str, Any] = {}
            if r.record_names:
                try:
                    recs = self.records(r.task_id)
                except Exception as exc:  # unpicklable here (e.g. a class only the notebook had)
                    recs = {}
                    values["__error__"] = f"cannot load records: {exc}"
                for k, v in recs.items():
                    jv = to_jsonable(v)
                    values[k] = jv if jv is not _NOT_JSONABLE else {"type": type(v).__name__,
                                                                     "repr": repr(v)[:200]}
            tasks.append({
                "task_id": r.task_id, "stage": r.stage, "source": r.source,
                "roi_index": r.roi_index, "state": r.state, "attempt": r.attempt,
                "duration": r.duration, "error": r.error,
                "notebook": str(r.notebook) if r.notebook else None, "records": values,
            })
        doc = {"batch_id": self.batch_id, "batch_dir": str(self.dir.root), "counts": self.counts,
               "tasks": tasks}
        if path is not None:
            Path(path).write_text(json.dumps(doc, indent=1, default=str))
        return doc
