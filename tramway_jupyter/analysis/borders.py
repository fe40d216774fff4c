"""Cells along the walls of the field of view, where displacements are truncated.

A particle near a reflecting wall (the edge of a membrane patch, of the field of view, or the
simulation box) cannot step across it: its displacements normal to the wall are shorter and D
reads low within about one step length of the wall. :func:`border_cells` flags those cells so
that plots and summaries can leave them out. (The bias at ROI borders is of another kind, the
steps that leave the ROI being cut; ``crop(..., keep_exits=True)`` removes it.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .msd import frame_interval

__all__ = ["border_cells", "data_bounds"]


def data_bounds(df: pd.DataFrame) -> np.ndarray:
    """Bounding box ``[x_min, y_min, x_max, y_max]`` (µm) of the localizations of ``df``.

    Raises
    ------
    ValueError
        If ``df`` lacks ``x``/``y`` or has no row.
    """
    for c in ("x", "y"):
        if c not in df.columns:
            raise ValueError(f"DataFrame lacks column {c!r}")
    if len(df) == 0:
        raise ValueError("no localization: the bounding box is undefined")
    x = df["x"].to_numpy(dtype=np.float64)
    y = df["y"].to_numpy(dtype=np.float64)
    return np.array([x.min(), y.min(), x.max(), y.max()])


def border_cells(
    maps: Any,
    bounds: Any,
    distance: float | None = None,
    dt: float | None = None,
    diffusivity: float | None = None,
) -> np.ndarray:
    """Flag the cells whose centre lies near a wall of the field of view.

    Parameters
    ----------
    maps : Maps
        Inferred maps (their ``centers`` and, for the default distance, ``diffusivity`` and
        ``params``); any object with ``centers`` works if ``distance`` is given.
    bounds : array_like of 4 float or pandas.DataFrame
        The walls ``[x_min, y_min, x_max, y_max]`` (µm), or the whole data file's
        localizations, whose bounding box is used (:func:`data_bounds`). Pass the file's data,
        not a ROI's: a ROI border is not a wall.
    distance : float, optional
        Width of the flagged band (µm). Default ``2 sqrt(4 D dt)``: twice the rms step
        length, with D the median of the maps' diffusivity and dt as below.
    dt : float, optional
        Frame interval (s) for the default distance; default: the median time step of
        ``bounds`` if it is a data frame.
    diffusivity : float, optional
        D (µm²/s) for the default distance instead of the maps' median.

    Returns
    -------
    numpy.ndarray of bool, shape (n_cells,)
        True for a cell whose centre is within ``distance`` of a wall (or outside the box).

    Raises
    ------
    ValueError
        If ``bounds`` is not 4 numbers or a data frame, the box is empty, or the default
        distance cannot be computed (no finite diffusivity, or no ``dt``).
    """
    if isinstance(bounds, pd.DataFrame):
        box = data_bounds(bounds)
    else:
        box = np.asarray(bounds, dtype=np.float64).ravel()
        if box.shape != (4,):
            raise ValueError(f"bounds must be [x_min, y_min, x_max, y_max], got shape {box.shape}")
    if not (box[2] > box[0] and box[3] > box[1]):
        raise ValueError(f"empty box {box.tolist()}")
    if distance is None:
        if diffusivity is None:
            d = np.asarray(maps.variables["diffusivity"], dtype=np.float64)
            d = d[np.isfinite(d)]
            if d.size == 0:
                raise ValueError("no finite diffusivity in the maps: pass distance= (µm)")
            diffusivity = float(np.median(d))
        if dt is None and isinstance(bounds, pd.DataFrame) and "n" in bounds.columns:
            dt = frame_interval(bounds)
        if dt is None:
            raise ValueError("the frame interval is unknown: pass dt= (s) or distance= (µm)")
        distance = 2.0 * float(np.sqrt(4.0 * max(float(diffusivity), 0.0) * float(dt)))
    distance = float(distance)
    if not distance >= 0:
        raise ValueError(f"distance must be >= 0 (µm), got {distance}")
    c = np.asarray(maps.centers, dtype=np.float64)
    gap = np.minimum.reduce([c[:, 0] - box[0], c[:, 1] - box[1], box[2] - c[:, 0],
                             box[3] - c[:, 1]])
    return gap < distance
