"""``tramway_jupyter.record(name, obj)``: keep a result of the running task, as scrapbook's ``glue``.

Inside a worker ``record()`` pickles the object at once (a snapshot; an object that cannot be
pickled fails the cell with a :class:`TypeError` naming the record), and the records of a task
are written, when the task ends (even when a cell failed), to ``results/<task>.pkl`` (one file
per task that recorded something; the names are in the task's status and the store). Outside a
worker (the notebook preview) records are kept in memory, in :data:`preview_records`, and the
object is returned unchanged.
"""

from __future__ import annotations

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
    Inside a task the object is pickled at once: the record is a snapshot of its value now
    (a later change of the object is not recorded), and an object that cannot be pickled
    raises :class:`TypeError` here, so the cell fails and the task says why.
    Recording the same name twice keeps the last value.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"record() needs a non-empty string name, got {name!r}")
    if _current is None:
        preview_records[name] = obj
        return obj
    try:
        blob = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        kind = f"{type(obj).__module__}.{type(obj).__qualname__}"
        raise TypeError(
            f"record({name!r}, ...): a {kind} cannot be pickled ({type(exc).__name__}: {exc}); "
            f"records must be picklable (numbers, strings, arrays, dicts, lists, DataFrames, "
            f"Maps): record plain data derived from it instead") from exc
    _current["records"][name] = blob
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
    pickled: dict[str, bytes] = cur["records"]
    path: Path = cur["path"]
    if not pickled:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    # the snapshots taken by record(), not the objects as they are now
    records = {k: pickle.loads(b) for k, b in pickled.items()}
    atomic_write_bytes(path, pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL))
    return list(records)


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


