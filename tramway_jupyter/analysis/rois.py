"""Regions of interest: TRamWAy's ROI files and cropping a data set to one ROI.

ROI files sit next to each trajectory file, named ``splitext(source)[0] + "-roi.txt"``
(``X.rpt.txt`` -> ``X.rpt-roi.txt``), tab-separated with a header, one ROI per row
(TRamWAy ``analyzer/roi/__init__.py::ROIAsciiFile``).
"""

from __future__ import annotations

import logging
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from tramway_jupyter.exceptions import DataFormatError

__all__ = ["read_rois", "write_rois", "roi_file_for", "crop"]

logger = logging.getLogger(__name__)


def roi_file_for(path: str | PathLike[str], suffix: str = "-roi.txt") -> Path:
    """Return the ROI file TRamWAy associates with a trajectory file.

    Parameters
    ----------
    path : str or path-like
        Trajectory file, e.g. ``data/X.rpt.txt``.
    suffix : str, default ``"-roi.txt"``
        TRamWAy also accepts ``"roi.txt"`` and ``"_roi.txt"``.

    Returns
    -------
    pathlib.Path
        ``splitext(path)[0] + suffix``, e.g. ``data/X.rpt-roi.txt``.

    Examples
    --------
    >>> roi_file_for("data/X.rpt.txt").as_posix()
    'data/X.rpt-roi.txt'
    """
    p = Path(path)
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    return p.with_name(stem + suffix)


def read_rois(
    path: str | PathLike[str], size: float | None = None, return_time: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Read a TRamWAy ROI file.

    Parameters
    ----------
    path : str or path-like
        Tab-separated file with a header: either the *bounds* layout
        (``x min, y min[, t min], x max, y max[, t max]``) or the *centres* layout (``x, y``).
    size : float, optional
        Side of the square ROI (µm) for the centres layout (box = centre ± size/2). Required there.
    return_time : bool, default False
        Also return the time bounds (s), ``(-inf, inf)`` where the file has none.

    Returns
    -------
    bounds : numpy.ndarray, shape (n_roi, 4)
        ``[x_min, y_min, x_max, y_max]`` in µm.
    time_bounds : numpy.ndarray, shape (n_roi, 2)
        Only if ``return_time``: ``[t_min, t_max]`` in s.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    tramway_jupyter.exceptions.DataFormatError
        If the header is not one of the two layouts, a cell is not a number, a box is empty
        (min >= max), or the file has no ROI.
    ValueError
        If the centres layout is read without ``size``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"ROI file not found: {path}")
    try:
        table = pd.read_csv(path, sep="\t", engine="c")
    except pd.errors.EmptyDataError:
        raise DataFormatError(path, "empty ROI file, expected a header 'x min\ty min\tx max\ty max'",
                              line=1) from None
    except pd.errors.ParserError as exc:
        raise DataFormatError(path, f"cannot parse ROI file: {exc}") from None
    table.columns = [str(c).strip() for c in table.columns]
    cols = set(table.columns)
    if {"x min", "y min", "x max", "y max"} <= cols:
        names = ["x min", "y min", "x max", "y max"]
    elif {"x", "y"} <= cols:
        if size is None:
            raise ValueError(f"{path}: ROI centres layout (columns x, y) needs size= (µm)")
        names = ["x", "y"]
    else:
        raise DataFormatError(
            path, f"unknown ROI header {list(table.columns)}; expected 'x min\ty min\tx max\t"
            "y max' (tab-separated) or 'x\ty'", line=1,
        )
    if table.shape[0] == 0:
        raise DataFormatError(path, "no ROI in file", line=2)
    tnames = [c for c in ("t min", "t max") if c in cols]
    values = {}
    for name in names + tnames:
        num = pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(np.isnan(num))
        if bad.size:
            raise DataFormatError(
                path, f"non-numeric value {table[name].iloc[bad[0]]!r} in column {name!r}",
                line=int(bad[0]) + 2,
            )
        values[name] = num
    if names[0] == "x":
        half = float(size) / 2.0
        bounds = np.column_stack([values["x"] - half, values["y"] - half,
                                  values["x"] + half, values["y"] + half])
    else:
        bounds = np.column_stack([values[c] for c in names])
    empty = np.flatnonzero((bounds[:, 2] <= bounds[:, 0]) | (bounds[:, 3] <= bounds[:, 1]))
    if empty.size:
        raise DataFormatError(path, f"empty ROI (min >= max): {bounds[empty[0]].tolist()}",
                              line=int(empty[0]) + 2)
    if not return_time:
        return bounds
    tb = np.column_stack([values.get("t min", np.full(len(bounds), -np.inf)),
                          values.get("t max", np.full(len(bounds), np.inf))])
    return bounds, tb


def write_rois(
    bounds: np.ndarray, path: str | PathLike[str], time_bounds: np.ndarray | None = None
) -> Path:
    """Write ROI bounds in TRamWAy's layout (``%.4f``, tab-separated, with a header).

    Parameters
    ----------
    bounds : array_like, shape (n_roi, 4)
        ``[x_min, y_min, x_max, y_max]`` in µm.
    path : str or path-like
        Output file, usually :func:`roi_file_for` of the trajectory file.
    time_bounds : array_like, shape (n_roi, 2), optional
        ``[t_min, t_max]`` in s, written as ``t min``/``t max`` columns.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        If ``bounds`` is not (n_roi, 4) or a box is empty.
    """
    b = np.array(bounds, dtype=np.float64, ndmin=2)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"ROI bounds must have shape (n_roi, 4), got {b.shape}")
    if np.any(b[:, 2] <= b[:, 0]) or np.any(b[:, 3] <= b[:, 1]):
        raise ValueError("every ROI needs x_min < x_max and y_min < y_max")
    if time_bounds is None:
        header, body = ["x min", "y min", "x max", "y max"], b
    else:
        tb = np.array(time_bounds, dtype=np.float64, ndmin=2)
        header = ["x min", "y min", "t min", "x max", "y max", "t max"]
        body = np.column_stack([b[:, 0], b[:, 1], tb[:, 0], b[:, 2], b[:, 3], tb[:, 1]])
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    np.savetxt(tmp, body, fmt="%.4f", delimiter="\t", header="\t".join(header), comments="")
    tmp.replace(path)
    return path


def _select_bounds(
    bounds_or_rois: np.ndarray | str | PathLike[str], index: int | None
) -> tuple[np.ndarray, np.ndarray | None]:
    source = None
    tb = None
    if isinstance(bounds_or_rois, str | PathLike):
        source = Path(bounds_or_rois)
        allb, alltb = read_rois(source, return_time=True)
    else:
        allb = np.array(bounds_or_rois, dtype=np.float64)
        alltb = None
        if allb.ndim == 1:
            if allb.shape != (4,):
                raise ValueError(f"ROI bounds must be [x_min, y_min, x_max, y_max], got {allb.shape}")
            if index not in (None, 0):
                raise IndexError(f"ROI index {index} out of range: 1 ROI given")
            return allb, None
        if allb.ndim != 2 or allb.shape[1] != 4:
            raise ValueError(f"ROI bounds must have shape (n_roi, 4), got {allb.shape}")
    n = allb.shape[0]
    where = f" in {source}" if source else ""
    if index is None:
        if n != 1:
            raise ValueError(f"{n} ROIs{where}: pass index= (0..{n - 1})")
        index = 0
    if not -n <= int(index) < n:
        raise IndexError(f"ROI index {index} out of range: {n} ROI(s){where} (valid 0..{n - 1})")
    if alltb is not None:
        tb = alltb[int(index)]
    return allb[int(index)], tb


def crop(
    df: pd.DataFrame,
    bounds_or_rois: np.ndarray | str | PathLike[str] | None,
    index: int | None = None,
    keep_exits: bool = False,
) -> pd.DataFrame:
    """Keep the localizations inside one ROI and split trajectories at their excursions.

    Parameters
    ----------
    df : pandas.DataFrame
        Trajectories with columns ``n, x, y[, z], t`` (µm, s), rows grouped by trajectory.
    bounds_or_rois : array_like or str or path-like or None
        ``[x_min, y_min, x_max, y_max]`` (µm), an (n_roi, 4) array, or a ROI file
        (see :func:`read_rois`; its ``t min``/``t max`` are honoured). ``None`` (with
        ``index`` None): the whole file, as in a task of a data file without ROI file, whose
        ``roi_file`` and ``roi_index`` are None; ``df`` is returned as it is.
    index : int, optional
        Which ROI of an array or a file; required when there are several.
    keep_exits : bool, default False
        Also keep the first localization after each run inside the box, so that the
        translocations that start in the ROI and end outside it are kept (TRamWAy computes
        the displacements before cropping). Without it, the steps that leave the ROI are
        lost, and they are the long ones: cells along the ROI border read D low. With it,
        each cell gets exactly the translocations that start in it, as without a ROI.

    Returns
    -------
    pandas.DataFrame
        The localizations inside the closed box, same columns, new index. A trajectory that
        leaves the box and comes back becomes several trajectories, so that no translocation
        spans an excursion; trajectories are renumbered ``1..K`` in order of appearance.
        ``attrs`` gains ``roi`` (the index, if given) and ``roi_bounds``. With ``keep_exits``,
        a trajectory may end with one localization outside the box.

    Raises
    ------
    IndexError
        If ``index`` is out of range; the message names the file and the number of ROIs.
    ValueError
        If several ROIs are given without ``index`` or the bounds have the wrong shape.
    """
    if bounds_or_rois is None:
        if index is not None:
            raise ValueError(f"ROI index {index} given without ROIs (no ROI file for this data)")
        return df
    box, tb = _select_bounds(bounds_or_rois, index)
    for c in ("n", "x", "y", "t"):
        if c not in df.columns:
            raise ValueError(f"trajectory DataFrame lacks column {c!r}")
    x = df["x"].to_numpy()
    y = df["y"].to_numpy()
    inside = (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])
    if tb is not None:
        t = df["t"].to_numpy()
        inside &= (t >= tb[0]) & (t <= tb[1])
    n = df["n"].to_numpy()
    prev_in = np.r_[False, inside[:-1]]
    new_traj = np.r_[True, n[1:] != n[:-1]]
    start = inside & (~prev_in | new_traj)
    label = np.cumsum(start)
    keep = inside | (prev_in & ~new_traj) if keep_exits else inside
    out = df.loc[keep].copy()
    out["n"] = label[keep].astype(np.int64)
    out = out.reset_index(drop=True)
    out.attrs = {**df.attrs, "roi_bounds": [float(v) for v in box]}
    if index is not None:
        out.attrs["roi"] = int(index)
    return out
