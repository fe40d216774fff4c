"""A batch's results as JSON (``tramway-jupyter gather --json``): per task its source, ROI,
window, sweep point, state, error, notebook, JSON-able records and provenance, streamed one task
at a time. Functions of a :class:`~tramway_jupyter.jobs.results.Results`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

from .provenance import task_document
from .record import _NOT_JSONABLE, to_jsonable

if TYPE_CHECKING:
    from .results import Results, TaskResult


def task_doc(results: Results, r: TaskResult) -> dict[str, Any]:
    """One task's JSON object."""
    values: dict[str, Any] = {}
    if r.record_names:
        try:
            recs = r.records()
        except Exception as exc:  # unpicklable here (e.g. a class only the notebook had)
            recs = {}
            values["__error__"] = f"cannot load records: {exc}"
        for k, v in recs.items():
            jv = to_jsonable(v)
            values[k] = jv if jv is not _NOT_JSONABLE else {"type": type(v).__name__,
                                                             "repr": repr(v)[:200]}
    return {
        "task_id": r.task_id, "stage": r.stage, "source": r.source,
        "roi_index": r.roi_index, "state": r.state, "attempt": r.attempt,
        "duration": r.duration, "error": r.error if r.state != "done" else None,
        "notebook": str(r.notebook) if r.notebook else None, "records": values,
        "segment_index": r.segment_index, "t_start": r.t_start, "t_end": r.t_end,
        "sweep": r.sweep,
        "provenance": task_document(results.dir.root, r.task_id),
    }


def json_head(results: Results) -> dict[str, Any]:
    return {"batch_id": results.batch_id, "batch_dir": str(results.dir.root),
            "counts": results.counts}


def write_json_stream(fh: IO[str], head: dict[str, Any], key: str,
                      items: Iterable[dict[str, Any]]) -> int:
    """Write ``{**head, key: [items...]}`` as JSON, one item at a time; return the item count."""
    fh.write("{")
    for k, v in head.items():
        fh.write(f"{json.dumps(k)}: {json.dumps(v, default=str)},\n")
    fh.write(f"{json.dumps(key)}: [")
    n = 0
    for item in items:
        fh.write(",\n" if n else "\n")
        fh.write(json.dumps(item, default=str))
        n += 1
    fh.write("\n]}\n")
    return n
