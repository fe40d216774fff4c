"""A batch's results as a pandas table: one row per task (window and sweep columns in such
batches, ImageJ ROI names), or a recorded scalar pivoted by sweep values. Functions of a
:class:`~tramway_jupyter.jobs.results.Results`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .results import Results, TaskResult


def roi_names(results: Results) -> dict[str, str]:
    """``{task_id: ROI name}`` for the tasks whose ROI file is an ImageJ one (``.roi``,
    ``RoiSet.zip``: its ROIs carry names); empty when no ROI has a name of its own."""
    from ..analysis.rois import roi_names as names_in

    plan = results.dir.read_plan()
    names: dict[str, list[str]] = {}
    out: dict[str, str] = {}
    for t in plan.tasks:
        rf = t.roi_file
        if t.roi_index is None or not rf or not rf.lower().endswith((".roi", ".zip")):
            continue
        if rf not in names:
            try:
                names[rf] = names_in(rf)
            except Exception:  # noqa: BLE001 - a ROI file gone since the run: no names
                names[rf] = []
        if t.roi_index < len(names[rf]):
            out[t.task_id] = names[rf][t.roi_index]
    return out


def table(results: Results, value: str | None = None, *, stage: str | None = None) -> Any:
    """A pandas DataFrame, one row per task; in a batch over time windows or sweep points,
    with their columns (``segment_index``, ``t_start``, ``t_end``, one per swept name).

    ``value``: the name of a recorded scalar, pivoted instead: one row per data unit
    (file, ROI, window), one column per sweep point (or a single ``value`` column without
    a sweep).
    """
    import pandas as pd

    meta = results.store.get_batch(results.batch_id).meta
    swept = list(meta.get("sweep_names") or [])
    segmented = bool(meta.get("segments"))

    def row(r: TaskResult) -> dict[str, Any]:
        d: dict[str, Any] = {
            "task_id": r.task_id, "stage": r.stage, "source": os.path.basename(r.source),
            "roi_index": r.roi_index}
        if segmented:
            d.update(segment_index=r.segment_index, t_start=r.t_start, t_end=r.t_end)
        d.update({k: r.sweep.get(k) for k in swept})
        d.update(state=r.state, attempt=r.attempt, duration=r.duration,
                 error=r.error_summary, records=", ".join(r.record_names),
                 notebook=str(r.notebook) if r.notebook else None)
        return d

    if value is None:
        df = pd.DataFrame([row(r) for r in results.iter_rows(stage=stage)])
        named = results.roi_names()
        if named and len(df):  # ImageJ ROIs: their names beside their indices
            df.insert(int(df.columns.get_loc("roi_index")) + 1, "roi_name",
                      df["task_id"].map(named))
        return df
    found = results._get(value, stage, True)
    recs = []
    for k, v in found.items():
        d = {"source": os.path.basename(k[0]), "roi_index": k[1]}
        if segmented:
            d["segment_index"] = k[2]
        d.update(dict(k[3]))
        d[value] = v
        recs.append(d)
    df = pd.DataFrame(recs)
    index = [c for c in ("source", "roi_index", "segment_index") if c in df.columns]
    if not swept:
        return df.set_index(index)
    return df.pivot_table(index=index, columns=swept, values=value, aggfunc="first",
                          dropna=False)
