"""Matplotlib drawings of inferred maps (work with any backend, Agg included).

matplotlib is imported lazily so that workers that never plot do not pay for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .maps import UNITS, Maps

__all__ = ["plot_map", "plot_maps", "map_values", "relative_uncertainty", "MapGrid"]

LABELS = {"diffusivity": "D", "potential": "V", "force": "|F|", "drift": "|drift|",
          "diffusivity_relative_uncertainty": "(D_high - D_low) / D"}


def relative_uncertainty(maps: Maps, variable: str = "diffusivity") -> np.ndarray:
    """Width of the credible interval over the estimate, ``(high - low) / |value|``, per cell.

    Raises
    ------
    ValueError
        If the maps have no interval for ``variable`` (infer with ``uncertainty=True``).
    """
    lo, hi = maps.variables.get(variable + "_low"), maps.variables.get(variable + "_high")
    if lo is None or hi is None:
        raise ValueError(f"maps have no credible interval for {variable!r}; infer with "
                         "uncertainty=True")
    with np.errstate(divide="ignore", invalid="ignore"):
        return (hi - lo) / np.abs(maps.variables[variable])


def map_values(maps: Maps, variable: str) -> np.ndarray:
    """Values of ``variable`` per cell; ``"force"``/``"drift"`` give the vector's norm and
    ``"<variable>_relative_uncertainty"`` the :func:`relative_uncertainty` of a variable."""
    suffix = "_relative_uncertainty"
    if variable.endswith(suffix):
        return relative_uncertainty(maps, variable[: -len(suffix)])
    if variable in ("force", "drift"):
        vx, vy = maps.variables.get(variable + "_x"), maps.variables.get(variable + "_y")
        if vx is None:
            raise ValueError(f"maps of mode {maps.mode!r} have no {variable}; "
                             f"available: {sorted(maps.variables)}")
        return np.hypot(vx, vy)
    if variable not in maps.variables:
        raise ValueError(f"maps of mode {maps.mode!r} have no {variable!r}; "
                         f"available: {sorted(maps.variables)}")
    return maps.variables[variable]


def _spacing(centers: np.ndarray) -> float:
    if len(centers) < 2:
        return 1.0
    from scipy.spatial import cKDTree

    d = cKDTree(centers).query(centers, k=2)[0][:, 1]
    return float(np.median(d))


def plot_map(
    maps: Maps,
    variable: str = "diffusivity",
    ax: Any = None,
    tessellation: Any = None,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "viridis",
    colorbar: bool = True,
    title: str | None = None,
    arrows: bool = True,
) -> Any:
    """Draw one variable of ``maps``, one coloured polygon (or marker) per cell.

    Parameters
    ----------
    maps : Maps
    variable : str, default "diffusivity"
        A key of ``maps.variables``, or ``"force"``/``"drift"`` (norm, with arrows), or
        ``"diffusivity_relative_uncertainty"`` (``(high - low) / D``, maps inferred with
        ``uncertainty=True``).
    ax : matplotlib.axes.Axes, optional
        Drawn into a new figure if omitted.
    tessellation : Tessellation, optional
        The tessellation the maps were inferred on: cells are drawn as their polygons.
        Without it, cells are the Voronoi polygons of the centres (exact for hexagon and grid
        lattices away from holes).
    vmin, vmax : float, optional
        Colour scale limits (default: range of the unmasked values).
    cmap : str, default "viridis"
    colorbar : bool, default True
        Add a colorbar labelled with the variable's units.
    title : str, optional
    arrows : bool, default True
        Overlay arrows for ``"force"``/``"drift"``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    values = map_values(maps, variable)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.2))
    finite = np.isfinite(values)
    if vmin is None:
        vmin = float(np.nanmin(values)) if finite.any() else 0.0
    if vmax is None:
        vmax = float(np.nanmax(values)) if finite.any() else 1.0
    norm = plt.Normalize(vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1e-12)
    centers = maps.centers
    spacing = _spacing(centers)
    if tessellation is not None:
        polys = tessellation.polygons(maps.cells)
    elif len(centers) >= 3:
        from ._voronoi import clipped_voronoi

        h = spacing / 2
        box = np.r_[centers.min(axis=0) - h, centers.max(axis=0) + h]
        polys, _ = clipped_voronoi(centers, box)
    else:
        h = spacing / 2
        ring = np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
        polys = list(centers[:, None, :] + ring[None])
    import matplotlib

    cm = matplotlib.colormaps[cmap].with_extremes(bad="0.85")
    coll = PolyCollection(polys, cmap=cm, norm=norm, edgecolors="face", linewidths=0.2)
    coll.set_array(np.ma.masked_invalid(values))
    ax.add_collection(coll)
    allv = np.vstack(polys) if len(polys) else np.zeros((1, 2))
    ax.set_xlim(allv[:, 0].min(), allv[:, 0].max())
    ax.set_ylim(allv[:, 1].min(), allv[:, 1].max())
    ax.set_aspect("equal")
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    if arrows and variable in ("force", "drift") and finite.any():
        vx, vy = maps.variables[variable + "_x"], maps.variables[variable + "_y"]
        longest = float(np.nanmax(np.hypot(vx, vy)[finite])) or 1.0
        ax.quiver(centers[finite, 0], centers[finite, 1], vx[finite], vy[finite],
                  angles="xy", scale_units="xy", scale=longest / (0.9 * spacing),
                  color="black", pivot="middle", width=0.004, alpha=0.8)
    label = f"{LABELS.get(variable, variable)} ({UNITS.get(variable, '')})"
    if colorbar:
        ax.figure.colorbar(coll, ax=ax, label=label)
    ax.set_title(title if title is not None else f"{variable} ({maps.mode})")
    return ax


class MapGrid:
    """What :func:`plot_maps` drew: ``figure`` and ``axes`` (one panel per map).

    Jupyter shows the figure once, as it shows pyplot's figures (and as with
    ``df.plot()`` or ``plt.plot()``, the cell's value is a one-line text). Other attributes
    are the figure's: ``grid.savefig("maps.png")``, ``grid.suptitle(...)``.
    """

    def __init__(self, figure: Any, axes: list[Any], variable: str) -> None:
        self.figure = figure
        self.axes = axes
        self.variable = variable

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # never the figure's rich reprs: it is shown once already
            raise AttributeError(name)
        return getattr(self.figure, name)

    def __repr__(self) -> str:
        return f"<MapGrid: {self.variable}, {len(self.axes)} map(s)>"


def plot_maps(
    maps_list: Sequence[Maps],
    variable: str = "diffusivity",
    titles: Sequence[str] | None = None,
    tessellations: Sequence[Any] | None = None,
    ncols: int | None = None,
    cmap: str = "viridis",
    pyplot: bool = True,
) -> Any:
    """Draw several maps side by side with one shared colour scale and colorbar.

    Parameters
    ----------
    maps_list : sequence of Maps
        E.g. one per ROI, as gathered after a batch.
    variable : str, default "diffusivity"
    titles : sequence of str, optional
        One per map (default ``"#0"``, ``"#1"``, ...).
    tessellations : sequence of Tessellation, optional
        One per map, to draw cell polygons.
    ncols : int, optional
        Columns of the grid of panels (default: up to 4).
    cmap : str, default "viridis"
    pyplot : bool, default True
        False: a figure pyplot does not manage (never shown by Jupyter's inline backend; safe
        to draw from a thread, e.g. into PNG bytes with ``grid.figure.savefig``).

    Returns
    -------
    MapGrid
        The figure and its panels (figure attributes pass through: ``savefig``...).

    Raises
    ------
    ValueError
        If ``maps_list`` is empty or ``titles`` has the wrong length.
    """
    import matplotlib.pyplot as plt

    if len(maps_list) == 0:
        raise ValueError("plot_maps needs at least one Maps")
    if titles is not None and len(titles) != len(maps_list):
        raise ValueError(f"{len(titles)} titles for {len(maps_list)} maps")
    values = np.concatenate([map_values(m, variable) for m in maps_list])
    finite = values[np.isfinite(values)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    n = len(maps_list)
    ncols = min(n, 4) if ncols is None else ncols
    nrows = int(np.ceil(n / ncols))
    size = (3.6 * ncols + 1, 3.4 * nrows)
    if pyplot:
        fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False, layout="constrained")
    else:
        from matplotlib.figure import Figure

        fig = Figure(figsize=size, layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        if k >= n:
            ax.set_visible(False)
            continue
        plot_map(maps_list[k], variable, ax=ax,
                 tessellation=None if tessellations is None else tessellations[k],
                 vmin=vmin, vmax=vmax, cmap=cmap, colorbar=False,
                 title=titles[k] if titles is not None else f"#{k}")
    sm = plt.cm.ScalarMappable(norm=plt.Normalize(vmin, vmax if vmax > vmin else vmin + 1e-12),
                               cmap=cmap)
    fig.colorbar(sm, ax=[a for a in axes.ravel()[:n]],
                 label=f"{LABELS.get(variable, variable)} ({UNITS.get(variable, '')})")
    return MapGrid(fig, list(axes.ravel()[:n]), variable)
