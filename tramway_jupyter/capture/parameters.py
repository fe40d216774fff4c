"""The parameters every task receives: one definition for the template, the worker and the preview.

``source``, ``roi_index``, ``roi_file``, ``output_dir``, ``task_id`` and, for a stage run per time
window, ``segment_index``, ``t_start`` and ``t_end`` are set by tramway-jupyter for each task,
after the notebook's own parameters (swept parameters included). The template's ``parameters`` cell carries
their defaults (:data:`STANDARD_PARAMETERS`); the worker injects each task's values
(:func:`task_values`); ``%%tramway`` gives the preview the values of the current file and ROI
(:func:`preview_values`). One rule places the output directory of a data file:
``<outputs root>/<file key>`` (:func:`output_dir`), the root being the batch's ``outputs/`` for
tasks and ``./tramway-preview`` for the preview, the key :func:`file_key` of the data file.

Standard library only: the worker imports this module, and it must start fast.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StandardParameter:
    name: str
    types: tuple[type, ...]  # the types of its values (``type(None)`` where it may be None)
    default: Any
    doc: str


#: The standard parameters, in the order they are written.
STANDARD: tuple[StandardParameter, ...] = (
    StandardParameter("source", (str, type(None)), None,
                      "absolute path of the task's data file"),
    StandardParameter("roi_index", (int, type(None)), None,
                      "index of the task's ROI in roi_file (0 is the first); None: the whole file"),
    StandardParameter("roi_file", (str, type(None)), None,
                      "the ROI file of the data file; None when it has none"),
    StandardParameter("output_dir", (str,), ".",
                      "the directory of the data file's outputs, shared by its stages"),
    StandardParameter("task_id", (str, type(None)), None,
                      "the task's id in its batch; None in the preview"),
    StandardParameter("segment_index", (int, type(None)), None,
                      "index of the task's time window (--per segment stages); else None"),
    StandardParameter("t_start", (float, type(None)), None,
                      "start of the time window [t_start, t_end), s; None: not segmented"),
    StandardParameter("t_end", (float, type(None)), None,
                      "end of the time window (excluded), s; None: not segmented"),
)

#: Names and defaults of the standard parameters; the template's ``parameters`` cell holds these.
STANDARD_PARAMETERS: dict[str, Any] = {p.name: p.default for p in STANDARD}

#: Where the preview's output directories go (relative to the kernel's working directory).
PREVIEW_DIR = "tramway-preview"

#: The file key of the preview, when the parameters cell names no data file.
PREVIEW_KEY = "preview"


def file_key(index: int, path: str) -> str:
    """A safe directory name for the ``index``-th data file of a batch (``f003-cell1``)."""
    stem = os.path.basename(path)
    for ext in (".txt", ".rpt", ".trxyt", ".csv"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:40] or "data"
    return f"f{index:03d}-{slug}"


def output_dir(outputs_root: str | os.PathLike[str], key: str) -> Path:
    """The output directory of the data file with key ``key``: ``<outputs_root>/<key>``."""
    return Path(outputs_root) / key


def task_values(*, source: str | None, roi_index: int | None, roi_file: str | None,
                output_dir: str | os.PathLike[str], task_id: str | None,
                segment_index: int | None = None, t_start: float | None = None,
                t_end: float | None = None) -> dict[str, Any]:
    """The standard parameters of one task, in :data:`STANDARD` order, type-checked."""
    values: dict[str, Any] = {"source": source, "roi_index": roi_index, "roi_file": roi_file,
                              "output_dir": os.fspath(output_dir), "task_id": task_id,
                              "segment_index": segment_index,
                              "t_start": None if t_start is None else float(t_start),
                              "t_end": None if t_end is None else float(t_end)}
    for p in STANDARD:
        v = values[p.name]
        if not isinstance(v, p.types) or isinstance(v, bool):
            raise TypeError(f"standard parameter {p.name} = {v!r}: expected "
                            f"{' or '.join(t.__name__ for t in p.types)}")
    return values


def preview_values(ns: dict[str, Any], cwd: str | os.PathLike[str] = ".") -> dict[str, Any]:
    """The standard parameters of the preview, from what the parameters cell set in ``ns``.

    ``source``, ``roi_index`` and ``task_id`` are the cell's (or the defaults); ``roi_file`` the
    ROI file beside ``source`` when the cell sets a ROI but no ROI file; ``output_dir``, unless
    the cell sets one other than ``"."``, follows the tasks' rule under ``<cwd>/tramway-preview``
    with the key of a one-file batch (``tramway-preview/f000-cell1``). Not type-checked: the
    preview runs whatever the cell set.
    """
    values = {p.name: ns.get(p.name, p.default) for p in STANDARD}
    source = values["source"]
    if values["roi_file"] is None and source and values["roi_index"] is not None:
        from ..analysis.rois import roi_file_for

        values["roi_file"] = str(roi_file_for(str(source)))
    if values["output_dir"] in (None, "."):
        key = file_key(0, str(source)) if source else PREVIEW_KEY
        values["output_dir"] = os.path.abspath(output_dir(Path(cwd) / PREVIEW_DIR, key))
    return values
