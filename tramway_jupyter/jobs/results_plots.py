"""The plots of a batch's results: every ROI's map side by side, and for batches over time
windows, a recorded scalar over time, one ROI's maps over its windows and their animation.
Functions of a :class:`~tramway_jupyter.jobs.results.Results` (its methods call them)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..exceptions import RecordNotFoundError

if TYPE_CHECKING:
    from .results import Results, TaskResult


def plot_maps(results: Results, name: str = "maps", variable: str = "diffusivity", *,
              stage: str | None = None, **kwargs: Any) -> Any:
    """Plot every ROI's recorded map side by side with one colour scale."""
    from ..analysis import plot_maps as draw

    found = results.get(name, stage=stage)  # raises a LookupError when nobody recorded it
    keys = sorted(found, key=lambda k: (k[0], -1 if k[1] is None else k[1]))
    titles = [f"{os.path.basename(s)}" + ("" if r is None else f" ROI {r}")
              for s, r, *_ in keys]
    return draw([found[k] for k in keys], variable, titles=titles, **kwargs)


def windowed(results: Results, name: str, stage: str | None) -> list[tuple[TaskResult, Any]]:
    """(task, its record ``name``) of every per-segment task that recorded it, in order."""
    out = []
    for r in results.iter_rows(stage=stage):
        if r.segment_index is not None and name in r.record_names:
            out.append((r, r.records()[name]))
    if not out:
        raise RecordNotFoundError(
            f"no task of batch {results.batch_id} run per time window recorded {name!r}")
    return out


def unit_label(r: TaskResult) -> str:
    """``sim0 ROI 2 sigma=0.02``: a task's data unit and sweep point."""
    label = os.path.basename(r.source).split(".")[0]
    label += "" if r.roi_index is None else f" ROI {r.roi_index}"
    if r.sweep:
        label += " " + ", ".join(f"{k}={v!r}" for k, v in r.sweep.items())
    return label


def plot_over_time(results: Results, name: str, *, stage: str | None = None, ax: Any = None,
                   ylabel: str | None = None) -> Any:
    """A recorded scalar against the centre of its time window, one line per ROI (and sweep
    point); returns the Axes."""
    from ..analysis import plot_over_time as draw

    rows = [(unit_label(r), (r.t_start + r.t_end) / 2, v)  # type: ignore[operator]
            for r, v in windowed(results, name, stage)]
    return draw(rows, ax=ax, ylabel=ylabel or name)


def series(results: Results, name: str, source: str | None, roi_index: int | None,
           stage: str | None) -> tuple[list[Any], list[str]]:
    """One ROI's records ``name`` over its windows (default: the first ROI), with titles."""
    found = windowed(results, name, stage)
    first = found[0][0]
    want_src = first.source if source is None else source
    want_roi = first.roi_index if source is None and roi_index is None else roi_index
    picked = sorted(((r, v) for r, v in found
                     if (r.source == want_src or os.path.basename(r.source) == want_src)
                     and r.roi_index == want_roi and r.sweep == first.sweep),
                    key=lambda rv: rv[0].segment_index or 0)
    if not picked:
        raise RecordNotFoundError(f"no window of {want_src} ROI {want_roi} recorded {name!r}")
    titles = [f"[{r.t_start:g}, {r.t_end:g}) s" for r, _ in picked]
    return [v for _, v in picked], titles
