"""Translocations: displacements between consecutive localizations of a trajectory."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["translocations", "is_translocations"]


def is_translocations(df: pd.DataFrame) -> bool:
    """True if ``df`` already holds translocations (has ``dx``, ``dy`` and ``dt``)."""
    return all(c in df.columns for c in ("dx", "dy", "dt"))


def translocations(df: pd.DataFrame) -> pd.DataFrame:
    """Compute the translocations of a trajectory data set.

    A translocation joins two consecutive rows with the same trajectory index ``n``
    (TRamWAy ``core/xyt.py::translocations``); no gap check is made, so a missed frame gives
    ``dt`` = 2 frame intervals.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``n, x, y[, z], t`` (µm, s), rows grouped by trajectory and time-sorted,
        as returned by :func:`~tramway_jupyter.analysis.read_trajectories`.

    Returns
    -------
    pandas.DataFrame
        Columns ``n, x, y[, z], dx, dy[, dz], dt``: start point (µm), displacement (µm) and
        duration (s), one row per consecutive pair within a trajectory.

    Raises
    ------
    ValueError
        If a required column is missing or time does not increase within a trajectory.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"n": [1, 1, 2, 2], "x": [0., 1., 5., 5.], "y": [0., 0., 0., 2.],
    ...                    "t": [0., .1, 0., .1]})
    >>> translocations(df)[["dx", "dy"]].to_numpy().tolist()
    [[1.0, 0.0], [0.0, 2.0]]
    """
    axes = ["x", "y", "z"] if "z" in df.columns else ["x", "y"]
    for c in ["n", *axes, "t"]:
        if c not in df.columns:
            raise ValueError(f"trajectory DataFrame lacks column {c!r}")
    n = df["n"].to_numpy()
    same = n[1:] == n[:-1]
    t = df["t"].to_numpy(dtype=np.float64)
    dt = (t[1:] - t[:-1])[same]
    if np.any(dt <= 0):
        raise ValueError("time does not increase within a trajectory; sort rows by (n, t)")
    out = {"n": n[:-1][same]}
    pos = {a: df[a].to_numpy(dtype=np.float64) for a in axes}
    for a in axes:
        out[a] = pos[a][:-1][same]
    for a in axes:
        out["d" + a] = (pos[a][1:] - pos[a][:-1])[same]
    out["dt"] = dt
    result = pd.DataFrame(out)
    result.attrs = dict(df.attrs)
    return result
