"""Regions of interest: ROI files (TRamWAy's, ImageJ's) and cropping a data set to one ROI.

TRamWAy's ROI files sit next to each trajectory file, named ``splitext(source)[0] + "-roi.txt"``
(``X.rpt.txt`` -> ``X.rpt-roi.txt``), tab-separated with a header, one box per row
(TRamWAy ``analyzer/roi/__init__.py::ROIAsciiFile``), in µm. ImageJ/Fiji's ``.roi`` and
``RoiSet.zip`` files (rectangles, ovals, polygons, in pixels) are read by
:mod:`~tramway_jupyter.analysis.imagej_rois`; :func:`roi_file_for` says which file goes with
which data file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from tramway_jupyter.exceptions import DataFormatError

from .roi_shapes import RoiShape

__all__ = ["read_rois", "write_rois", "roi_file_for", "roi_file_candidates", "roi_names",
           "crop", "RoiShape"]

logger = logging.getLogger(__name__)

#: Data file extensions (TrackMate's exports) whose ROIs may also come from ImageJ.
IMAGEJ_DATA_SUFFIXES = (".xml", ".csv")
#: The ROI files looked for beside such a data file ``X.xml``, in this order.
IMAGEJ_LOOKUP_SUFFIXES = ("_RoiSet.zip", "-RoiSet.zip", ".roi", "-roi.txt")


def _stem(p: Path) -> str:
    return p.name[: -len(p.suffix)] if p.suffix else p.name


def roi_file_candidates(path: str | PathLike[str]) -> list[Path]:
    """The ROI files :func:`roi_file_for` looks for beside a data file, in order.

    ``X.rpt.txt`` (and any other extension): ``X.rpt-roi.txt``. ``X.xml`` / ``X.csv``
    (TrackMate's exports, any case): ``X_RoiSet.zip``, ``X-RoiSet.zip``, ``X.roi``,
    ``X-roi.txt``.

    Examples
    --------
    >>> [p.name for p in roi_file_candidates("data/X.xml")]
    ['X_RoiSet.zip', 'X-RoiSet.zip', 'X.roi', 'X-roi.txt']
    """
    p = Path(path)
    suffixes = (IMAGEJ_LOOKUP_SUFFIXES if p.suffix.lower() in IMAGEJ_DATA_SUFFIXES
                else ("-roi.txt",))
    return [p.with_name(_stem(p) + s) for s in suffixes]


def roi_file_for(path: str | PathLike[str], suffix: str | None = None) -> Path:
    """Return the ROI file associated with a trajectory file.

    Parameters
    ----------
    path : str or path-like
        Trajectory file, e.g. ``data/X.rpt.txt`` or ``data/X.xml``.
    suffix : str, optional
        ``splitext(path)[0] + suffix`` (e.g. TRamWAy's ``"roi.txt"``, ``"_roi.txt"``, or
        ``"_RoiSet.zip"``, ``".roi"``). None: the lookup rule below.

    Returns
    -------
    pathlib.Path
        With ``suffix`` None, the first existing file of :func:`roi_file_candidates`:
        for ``X.rpt.txt`` (any extension but ``.xml``/``.csv``) ``X.rpt-roi.txt``, as TRamWAy;
        for ``X.xml`` / ``X.csv`` ``X_RoiSet.zip``, ``X-RoiSet.zip``, ``X.roi``, ``X-roi.txt``
        in that order. When none exists, the first candidate (which does not exist).

    Examples
    --------
    >>> roi_file_for("data/X.rpt.txt").as_posix()
    'data/X.rpt-roi.txt'
    >>> roi_file_for("data/X.xml", "-roi.txt").as_posix()
    'data/X-roi.txt'
    """
    p = Path(path)
    if suffix is not None:
        return p.with_name(_stem(p) + suffix)
    candidates = roi_file_candidates(p)
    return next((c for c in candidates if c.is_file()), candidates[0])


def _is_imagej(path: Path) -> bool:
    from .imagej_rois import is_imagej_roi_file

    return is_imagej_roi_file(path)


def roi_names(path: str | PathLike[str]) -> list[str]:
    """The names of the ROIs of a ROI file, in order (the labels results can show).

    Parameters
    ----------
    path : str or path-like
        A TRamWAy ``-roi.txt`` file, or an ImageJ ``.roi`` / ``.zip`` file.

    Returns
    -------
    list of str
        ImageJ: each ROI's name (else its zip member's, else the file's name). TRamWAy: the
        indices as strings, ``["0", "1", ...]``. The list's length is the number of ROIs.

    Raises
    ------
    FileNotFoundError, tramway_jupyter.exceptions.DataFormatError
        As :func:`read_rois`; no pixel size is needed (a line ROI is refused here already).
    """
    path = Path(path)
    if _is_imagej(path):
        from .imagej_rois import imagej_roi_names

        return imagej_roi_names(path)
    return [str(i) for i in range(len(read_rois(path)))]


def read_rois(
    path: str | PathLike[str], size: float | None = None, return_time: bool = False, *,
    shapes: bool = False, pixel_size: float | None = None, units: str = "pixel",
) -> np.ndarray | tuple[np.ndarray, np.ndarray] | list[RoiShape]:
    """Read a ROI file: TRamWAy's ``-roi.txt``, or ImageJ's ``.roi`` / ``RoiSet.zip``.

    Parameters
    ----------
    path : str or path-like
        TRamWAy: a tab-separated file with a header, either the *bounds* layout
        (``x min, y min[, t min], x max, y max[, t max]``) or the *centres* layout (``x, y``).
        ImageJ: a ``.roi`` or ``.zip`` file (see
        :func:`~tramway_jupyter.analysis.imagej_rois.read_imagej_rois`).
    size : float, optional
        Side of the square ROI (µm) for the centres layout (box = centre ± size/2). Required there.
    return_time : bool, default False
        Also return the time bounds (s), ``(-inf, inf)`` where the file has none.
    shapes : bool, default False
        Return the ROIs as :class:`RoiShape` (name, kind, vertices, bounds), for every format.
        False (the historical result): the bounding boxes, an ImageJ ROI's included.
    pixel_size : float, optional
        µm per pixel, for ImageJ files only (their coordinates are in pixels): required there
        unless ``units="um"``. Ignored for TRamWAy files, which are in µm.
    units : {"pixel", "um"}, default "pixel"
        The units of an ImageJ file's coordinates. Ignored for TRamWAy files.

    Returns
    -------
    bounds : numpy.ndarray, shape (n_roi, 4)
        ``[x_min, y_min, x_max, y_max]`` in µm.
    time_bounds : numpy.ndarray, shape (n_roi, 2)
        Only if ``return_time``: ``[t_min, t_max]`` in s.
    shapes : list of RoiShape
        Instead of the above if ``shapes``: TRamWAy boxes are closed rectangles named
        ``"0"``, ``"1"``..., with their time bounds.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    tramway_jupyter.exceptions.DataFormatError
        If the header is not one of the two layouts, a cell is not a number, a box is empty
        (min >= max), or the file has no ROI.
    ValueError
        If the centres layout is read without ``size``, or an ImageJ file without
        ``pixel_size`` (nor ``units="um"``).
    """
    path = Path(path)
    if _is_imagej(path):
        from .imagej_rois import read_imagej_rois

        found = read_imagej_rois(path, pixel_size=pixel_size, units=units)
        if shapes:
            return found
        bounds = np.array([s.bounds for s in found], dtype=np.float64).reshape(-1, 4)
        if not return_time:
            return bounds
        return bounds, np.tile([-np.inf, np.inf], (len(bounds), 1))
    if shapes:
        b, tb = read_rois(path, size=size, return_time=True)
        return [RoiShape.rectangle(str(i), b[i], _finite_or_none(tb[i]), closed=True)
                for i in range(len(b))]
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


def _finite_or_none(tb: np.ndarray) -> tuple[float, float] | None:
    lo, hi = float(tb[0]), float(tb[1])
    return None if np.isneginf(lo) and np.isposinf(hi) else (lo, hi)


RoiSource = np.ndarray | str | PathLike[str] | RoiShape | Sequence[RoiShape]


def _shapes_of(rois: RoiSource, index: int | None, pixel_size: float | None,
               units: str) -> tuple[list[RoiShape], str]:
    """The candidate shapes of ``rois`` and where they come from (for messages)."""
    if isinstance(rois, str | PathLike):
        found = cast(list[RoiShape],
                     read_rois(rois, shapes=True, pixel_size=pixel_size, units=units))
        return found, f" in {rois}"
    if isinstance(rois, RoiShape):
        return [rois], ""
    if isinstance(rois, Sequence) and len(rois) and all(isinstance(r, RoiShape) for r in rois):
        return list(rois), ""
    allb = np.array(rois, dtype=np.float64)
    if allb.ndim == 1:
        if allb.shape != (4,):
            raise ValueError(f"ROI bounds must be [x_min, y_min, x_max, y_max], got {allb.shape}")
        if index not in (None, 0):
            raise IndexError(f"ROI index {index} out of range: 1 ROI given")
        allb = allb[None, :]
    if allb.ndim != 2 or allb.shape[1] != 4:
        raise ValueError(f"ROI bounds must have shape (n_roi, 4), got {allb.shape}")
    return [RoiShape.rectangle(str(i), b, closed=True) for i, b in enumerate(allb)], ""


def _select(shapes: list[RoiShape], where: str, index: int | None,
            name: str | None) -> tuple[RoiShape, int]:
    n = len(shapes)
    if name is not None:
        if index is not None:
            raise ValueError(f"pass index= or name=, not both (index={index}, name={name!r})")
        hits = [i for i, s in enumerate(shapes) if s.name == name]
        if not hits:
            raise KeyError(f"no ROI named {name!r}{where}; the names are "
                           f"{[s.name for s in shapes]}")
        if len(hits) > 1:
            raise ValueError(f"{len(hits)} ROIs named {name!r}{where} (indices {hits}): "
                             f"pass index= instead")
        return shapes[hits[0]], hits[0]
    if index is None:
        if n != 1:
            raise ValueError(f"{n} ROIs{where}: pass index= (0..{n - 1}) or name=")
        index = 0
    if not -n <= int(index) < n:
        raise IndexError(f"ROI index {index} out of range: {n} ROI(s){where} (valid 0..{n - 1})")
    return shapes[int(index)], int(index)


def crop(
    df: pd.DataFrame,
    bounds_or_rois: RoiSource | None,
    index: int | None = None,
    *,
    name: str | None = None,
    pixel_size: float | None = None,
    units: str = "pixel",
    keep_exits: bool = False,
) -> pd.DataFrame:
    """Keep the localizations inside one ROI and split trajectories at their excursions.

    Parameters
    ----------
    df : pandas.DataFrame
        Trajectories with columns ``n, x, y[, z], t`` (µm, s), rows grouped by trajectory.
    bounds_or_rois : array_like or str or path-like or RoiShape or list of RoiShape or None
        ``[x_min, y_min, x_max, y_max]`` (µm), an (n_roi, 4) array, shapes, or a ROI file:
        TRamWAy's ``-roi.txt`` (its ``t min``/``t max`` are honoured) or ImageJ's ``.roi`` /
        ``RoiSet.zip`` (see :func:`read_rois`). ``None`` (with ``index`` None): the whole
        file, as in a task of a data file without ROI file, whose ``roi_file`` and
        ``roi_index`` are None; ``df`` is returned as it is.
    index : int, optional
        Which ROI; required when there are several, unless ``name`` is given.
    name : str, optional
        Which ROI, by name (an ImageJ ROI's name, ``"0"``, ``"1"``... for TRamWAy's boxes).
    pixel_size : float, optional
        µm per pixel of an ImageJ ROI file (whose coordinates are pixels): required for those
        unless ``units="um"``; ignored for TRamWAy files and arrays, which are in µm. In a
        pipeline, make it a parameter of the parameters cell and pass it on:
        ``crop(df, roi_file, index=roi_index, pixel_size=pixel_size)``.
    units : {"pixel", "um"}, default "pixel"
        The units of an ImageJ file's coordinates (see :func:`read_rois`).
    keep_exits : bool, default False
        Also keep the first localization after each run inside the box, so that the
        translocations that start in the ROI and end outside it are kept (TRamWAy computes
        the displacements before cropping). Without it, the steps that leave the ROI are
        lost, and they are the long ones: cells along the ROI border read D low. With it,
        each cell gets exactly the translocations that start in it, as without a ROI.

    Returns
    -------
    pandas.DataFrame
        The localizations inside the ROI, same columns, new index: a closed box for arrays and
        TRamWAy files; for ImageJ rectangles and polygons, ImageJ's own rule (left and top
        edges in, right and bottom edges out), for ovals the exact ellipse, its outline in
        (see :class:`RoiShape`). A trajectory that leaves the ROI and comes back becomes
        several trajectories, so that no translocation spans an excursion; trajectories are
        renumbered ``1..K`` in order of appearance. ``attrs`` gains ``roi`` (the index, if
        ``index`` or ``name`` is given), ``roi_name``, ``roi_kind`` and ``roi_bounds``. With ``keep_exits``,
        a trajectory may end with one localization outside the ROI.

    Raises
    ------
    IndexError
        If ``index`` is out of range; the message names the file and the number of ROIs.
    KeyError
        If no ROI has that ``name``; the message lists the names.
    ValueError
        If several ROIs are given without ``index``/``name``, both are given, the name is
        ambiguous, the bounds have the wrong shape, or an ImageJ file comes without
        ``pixel_size``.
    """
    if bounds_or_rois is None:
        if index is not None or name is not None:
            which = f"index {index}" if index is not None else f"name {name!r}"
            raise ValueError(f"ROI {which} given without ROIs (no ROI file for this data)")
        return df
    shapes, where = _shapes_of(bounds_or_rois, index, pixel_size, units)
    shape, resolved = _select(shapes, where, index, name)
    for c in ("n", "x", "y", "t"):
        if c not in df.columns:
            raise ValueError(f"trajectory DataFrame lacks column {c!r}")
    inside = shape.contains(df["x"].to_numpy(), df["y"].to_numpy())
    if shape.time_bounds is not None:
        t = df["t"].to_numpy()
        inside &= (t >= shape.time_bounds[0]) & (t <= shape.time_bounds[1])
    n = df["n"].to_numpy()
    prev_in = np.r_[False, inside[:-1]]
    new_traj = np.r_[True, n[1:] != n[:-1]]
    start = inside & (~prev_in | new_traj)
    label = np.cumsum(start)
    keep = inside | (prev_in & ~new_traj) if keep_exits else inside
    out = df.loc[keep].copy()
    out["n"] = label[keep].astype(np.int64)
    out = out.reset_index(drop=True)
    out.attrs = {**df.attrs, "roi_bounds": [float(v) for v in shape.bounds],
                 "roi_name": shape.name, "roi_kind": shape.kind}
    if index is not None or name is not None:
        out.attrs["roi"] = resolved
    return out
