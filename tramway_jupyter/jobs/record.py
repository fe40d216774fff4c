"""``tramway_jupyter.record(name, obj)``: keep a result of the running task, as scrapbook's ``glue``.

Inside a worker the records of a task are written, when the task ends (even when a cell
failed), to ``results/<task>.pkl`` (every object, pickled) and ``results/<task>.json`` (names,
types and the values that JSON can hold). Outside a worker (the notebook preview) records
are kept in memory, in :data:`preview_records`, and the object is returned unchanged.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any, TypeVar

from .batchdir import atomic_write_bytes

T = TypeVar("T")

_current: dict[str, Any] | None = None  # {"path": Path, "task_id": str, "records": dict}
preview_records: dict[str, Any] = {}


def record(name: str, obj: T) -> T:
    """Record ``obj`` under ``name`` as a result of the current task and return it.

    Objects must be picklable (arrays, numbers, strings, dicts, DataFrames, :class:`Maps`...).
    Recording the same name twice keeps the last value.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"record() needs a non-empty string name, got {name!r}")
    if _current is None:
        preview_records[name] = obj
    else:
        _current["records"][name] = obj
    return obj


def begin(results_path: str, task_id: str) -> None:
    """Start recording for a task (called by the worker before the task's first cell)."""
    global _current
    _current = {"path": Path(results_path), "task_id": task_id, "records": {}}


def end() -> list[str]:
    """Write the task's records and stop recording; return the recorded names."""
    global _current
    if _current is None:
        return []
    cur, _current = _current, None
    records: dict[str, Any] = cur["records"]
    path: Path = cur["path"]
    if not records:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    unpicklable: dict[str, str] = {}
    blob: dict[str, Any] = {}
    for k, v in records.items():
        try:
            pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL)
            blob[k] = v
        except Exception as exc:  # keep the others: one bad object must not lose the rest
            unpicklable[k] = f"{type(exc).__name__}: {exc}"
    atomic_write_bytes(path, pickle.dumps(blob, protocol=pickle.HIGHEST_PROTOCOL))
    summary = {
        "task_id": cur["task_id"],
        "records": {k: describe(v) for k, v in records.items()},
        "unpicklable": unpicklable,
    }
    atomic_write_bytes(path.with_suffix(".json"), json.dumps(summary, default=str).encode())
    return list(records)


def describe(obj: Any) -> dict[str, Any]:
    """Type and, where JSON can hold it, the value of a recorded object (arrays as lists)."""
    d: dict[str, Any] = {"type": f"{type(obj).__module__}.{type(obj).__qualname__}"}
    value = to_jsonable(obj)
    if value is not _NOT_JSONABLE:
        d["value"] = value
    return d


_NOT_JSONABLE = object()
_MAX_JSON_ITEMS = 1_000_000


def to_jsonable(obj: Any) -> Any:
    """A JSON-compatible copy of ``obj``, or the sentinel ``_NOT_JSONABLE``."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return to_jsonable(obj.item())
        if isinstance(obj, np.ndarray):
            if obj.size > _MAX_JSON_ITEMS or obj.dtype.kind not in "biufU":
                return _NOT_JSONABLE
            if obj.dtype.kind == "f":
                return to_jsonable(obj.tolist())  # NaN and inf become null
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    if hasattr(obj, "to_dataframe"):  # Maps and the like
        obj = obj.to_dataframe()
    if type(obj).__name__ == "DataFrame" and hasattr(obj, "to_dict"):
        return to_jsonable({str(k): v.to_numpy() for k, v in obj.items()})
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            jv = to_jsonable(v)
            if jv is _NOT_JSONABLE:
                return _NOT_JSONABLE
            out[str(k)] = jv
        return out
    if isinstance(obj, (list, tuple)):
        items = [to_jsonable(v) for v in obj]
        return _NOT_JSONABLE if any(v is _NOT_JSONABLE for v in items) else items
    return _NOT_JSONABLE


