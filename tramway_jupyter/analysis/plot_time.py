"""Plots of time-segmented results: a scalar over time per ROI, one ROI's maps over its windows.

matplotlib is imported lazily, as in :mod:`tramway_jupyter.analysis.plot`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from numbers import Real
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from .maps import UNITS, Maps
from .plot import LABELS, map_values, plot_map, plot_maps

__all__ = ["plot_over_time", "plot_map_series", "animate_maps"]


def plot_over_time(
    rows: Iterable[Sequence[Any]],
    *,
    ax: Any = None,
    ylabel: str = "value",
    xlabel: str = "window centre (s)",
    title: str | None = None,
) -> Any:
    """Plot a per-window scalar against the window's centre, one line per label (ROI).

    Parameters
    ----------
    rows : iterable of (str, float, float)
        ``(label, t_centre, value)``: the ROI (e.g. ``"sim0 ROI 2"``), the centre of the time
        window (s) and the value (in the unit of ``ylabel``; NaN leaves a gap). Rows may come in
        any order; e.g. ``table[["roi", "t_centre", "D"]].itertuples(index=False)``.
    ax : matplotlib.axes.Axes, optional
        Drawn into a new figure if omitted.
    ylabel : str, default "value"
        Label of the y axis, with its unit, e.g. ``"median D (µm²/s)"``.
    xlabel : str, default "window centre (s)"
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
        One line with markers per label, in order of first appearance, points sorted by time,
        and a legend. Jupyter shows its figure once, as for :func:`plot_map`.

    Raises
    ------
    TypeError
        If a row is not a ``(label, t_centre, value)`` triple of a label and two numbers.
    ValueError
        If there are no rows or a window centre is not finite.
    """
    import matplotlib.pyplot as plt

    series: dict[str, list[tuple[float, float]]] = {}
    for i, row in enumerate(rows):
        try:
            label, t, value = row
        except (TypeError, ValueError):
            raise TypeError(f"row {i} must be a (label, t_centre, value) triple, got {row!r}"
                            ) from None
        if isinstance(t, bool) or not isinstance(t, Real | np.number):
            raise TypeError(f"row {i}: window centre must be a number (s), got {t!r}")
        if value is not None and (isinstance(value, bool)
                                  or not isinstance(value, Real | np.number)):
            raise TypeError(f"row {i}: value must be a number, got {value!r}")
        if not np.isfinite(float(t)):
            raise ValueError(f"row {i}: window centre {t} is not finite")
        series.setdefault(str(label), []).append(
            (float(t), np.nan if value is None else float(value)))
    if not series:
        raise ValueError("plot_over_time needs at least one (label, t_centre, value) row")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
    for label, points in series.items():
        tv = np.array(sorted(points, key=lambda p: p[0]))
        ax.plot(tv[:, 0], tv[:, 1], marker="o", label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    ax.legend(title=None, fontsize="small")
    return ax


def _per_map(tessellations: Any, n: int) -> list[Any] | None:
    """One tessellation per map: ``None``, one shared by all, or a sequence of ``n``."""
    if tessellations is None:
        return None
    if not isinstance(tessellations, list | tuple):
        return [tessellations] * n  # one tessellation per ROI, reused by every window
    if len(tessellations) != n:
        raise ValueError(f"{len(tessellations)} tessellations for {n} maps")
    return list(tessellations)


def _check_series(maps_list: Sequence[Maps], titles: Sequence[str], what: str) -> None:
    if len(maps_list) == 0:
        raise ValueError(f"{what} needs at least one Maps")
    if isinstance(titles, str) or len(titles) != len(maps_list):
        got = 1 if isinstance(titles, str) else len(titles)
        raise ValueError(f"{got} title(s) for {len(maps_list)} maps: give one per window")


def _same_limits(axes: Sequence[Any]) -> tuple[tuple[float, float], tuple[float, float]]:
    """Set every panel to the union of their x and y limits (the same field of view)."""
    xs = np.array([ax.get_xlim() for ax in axes])
    ys = np.array([ax.get_ylim() for ax in axes])
    xlim = (float(xs.min()), float(xs.max()))
    ylim = (float(ys.min()), float(ys.max()))
    for ax in axes:
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
    return xlim, ylim


def plot_map_series(
    maps_list: Sequence[Maps],
    variable: str,
    titles: Sequence[str],
    *,
    tessellations: Any = None,
    ncols: int | None = None,
    cmap: str = "viridis",
) -> Any:
    """Draw the maps of one ROI over its time windows side by side, with one colour scale.

    Parameters
    ----------
    maps_list : sequence of Maps
        One per window, in time order.
    variable : str
        A key of the maps' variables (``"diffusivity"``...), or ``"force"``/``"drift"``.
    titles : sequence of str
        One per window, e.g. ``"10-20 s"``.
    tessellations : Tessellation or sequence of Tessellation, optional
        To draw cell polygons: one shared by every window (the ROI's tessellation, TRamWAy's
        way), or one per window.
    ncols : int, optional
        Columns of the grid of panels (default: up to 4).
    cmap : str, default "viridis"

    Returns
    -------
    MapGrid
        As :func:`~tramway_jupyter.analysis.plot_maps`: the figure and its panels, which share
        one colour scale and colorbar and the same field of view.

    Raises
    ------
    ValueError
        If ``maps_list`` is empty, or ``titles`` or ``tessellations`` has the wrong length.
    """
    _check_series(maps_list, titles, "plot_map_series")
    tess = _per_map(tessellations, len(maps_list))
    grid = plot_maps(maps_list, variable, titles=list(titles), tessellations=tess, ncols=ncols,
                     cmap=cmap)
    _same_limits(grid.axes)
    return grid


def animate_maps(
    maps_list: Sequence[Maps],
    variable: str,
    titles: Sequence[str],
    dest: str | PathLike[str],
    *,
    fps: float = 2,
    tessellations: Any = None,
    cmap: str = "viridis",
) -> Path:
    """Save an animation of one ROI's maps over its time windows, as a GIF or an HTML page.

    Parameters
    ----------
    maps_list : sequence of Maps
        One per window (one frame each), in time order.
    variable : str
        A key of the maps' variables, or ``"force"``/``"drift"``.
    titles : sequence of str
        One per frame, e.g. ``"10-20 s"``.
    dest : str or path-like
        Output file: ``*.gif`` (matplotlib's Pillow writer) or ``*.html`` (a self-contained
        page with play controls, ``Animation.to_jshtml``). Its directory must exist.
    fps : float, default 2
        Frames per second.
    tessellations : Tessellation or sequence of Tessellation, optional
        One shared by every window, or one per window.
    cmap : str, default "viridis"

    Returns
    -------
    pathlib.Path
        ``dest``, written atomically.

    Raises
    ------
    ValueError
        If ``dest`` ends with neither ``.gif`` nor ``.html``, ``fps`` is not positive,
        ``maps_list`` is empty, or ``titles`` has the wrong length.
    FileNotFoundError
        If the directory of ``dest`` does not exist.

    Notes
    -----
    Every frame has the same colour scale (the range of ``variable`` over all the windows,
    one colorbar) and the same field of view.
    """
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter

    dest = Path(dest)
    kind = dest.suffix.lower()
    if kind not in (".gif", ".html"):
        raise ValueError(f"cannot save an animation as {dest.name!r}: the file name must end "
                         f"with .gif or .html")
    if isinstance(fps, bool) or not isinstance(fps, Real) or not float(fps) > 0:
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    if not dest.parent.is_dir():
        raise FileNotFoundError(f"directory {dest.parent} does not exist (animation {dest.name})")
    _check_series(maps_list, titles, "animate_maps")
    tess = _per_map(tessellations, len(maps_list)) or [None] * len(maps_list)
    values = np.concatenate([map_values(m, variable) for m in maps_list])
    finite = values[np.isfinite(values)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    vmax = vmax if vmax > vmin else vmin + 1e-12

    fig, ax = plt.subplots(figsize=(5, 4.2), layout="constrained")
    try:
        def draw(k: int) -> list[Any]:
            ax.clear()
            plot_map(maps_list[k], variable, ax=ax, tessellation=tess[k], vmin=vmin, vmax=vmax,
                     cmap=cmap, colorbar=False, title=titles[k])
            return []

        limits = []
        for k in range(len(maps_list)):  # the field of view of all frames
            draw(k)
            limits.append((ax.get_xlim(), ax.get_ylim()))
        lim = np.array(limits)
        xlim = (float(lim[:, 0, 0].min()), float(lim[:, 0, 1].max()))
        ylim = (float(lim[:, 1, 0].min()), float(lim[:, 1, 1].max()))

        def frame(k: int) -> list[Any]:
            draw(k)
            ax.set_xlim(*xlim)
            ax.set_ylim(*ylim)
            return []

        sm = plt.cm.ScalarMappable(norm=plt.Normalize(vmin, vmax), cmap=cmap)
        fig.colorbar(sm, ax=ax, label=f"{LABELS.get(variable, variable)} "
                                       f"({UNITS.get(variable, '')})")
        frame(0)
        fig.canvas.draw()  # lay the figure out once, then freeze it: frames do not jitter
        fig.set_layout_engine("none")
        anim = FuncAnimation(fig, frame, frames=len(maps_list), interval=1000.0 / float(fps),
                             blit=False, repeat=True)
        tmp = dest.with_name(f".{dest.stem}.tmp{os.getpid()}{dest.suffix}")
        try:
            if kind == ".gif":
                anim.save(tmp, writer=PillowWriter(fps=float(fps)))
            else:
                tmp.write_text(anim.to_jshtml(fps=float(fps)), encoding="utf-8")
            tmp.replace(dest)
        finally:
            tmp.unlink(missing_ok=True)
    finally:
        plt.close(fig)  # saved to a file: not shown again by Jupyter
    return dest
