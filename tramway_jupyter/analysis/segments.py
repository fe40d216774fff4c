"""Time segments: windows over a data set's time span and cropping trajectories to a window.

A segmented analysis runs one inference per file x ROI x time window. Windows are half-open,
``[t_start, t_end)`` in seconds, so that with windows that do not overlap each localization is
in exactly one window; overlapping windows (a shift shorter than the duration) share theirs.

Typical use, in a per-segment stage::

    roi = crop(df, roi_file_for(src), index=roi_index)
    for t_start, t_end in time_windows(*time_span(roi), duration=10.0, shift=5.0):
        maps = infer(crop_time(roi, t_start, t_end), tess, mode="d")
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["time_windows", "check_windows", "time_span", "crop_time"]

#: Relative tolerance under which ``duration / shift`` counts as a whole number (window ends
#: are then taken on the grid of starts, so that adjacent windows share their boundary exactly).
_RATIO_RTOL = 1e-9
#: More windows than this is surely a unit mistake (ms for s); refuse rather than fill memory.
_MAX_WINDOWS = 1_000_000


def _real(value: Any, name: str) -> float:
    """``value`` as a float; TypeError if it is not a real number, ValueError if NaN."""
    if isinstance(value, bool) or not isinstance(value, Real | np.floating | np.integer):
        raise TypeError(f"{name} must be a real number (s), got {value!r} "
                        f"({type(value).__name__})")
    out = float(value)
    if math.isnan(out):
        raise ValueError(f"{name} is NaN: expected a time in seconds")
    return out


def _finite(value: Any, name: str) -> float:
    out = _real(value, name)
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {out}")
    return out


def time_windows(
    t_min: float,
    t_max: float,
    duration: float,
    shift: float | None = None,
    *,
    min_fraction: float = 0.5,
) -> list[tuple[float, float]]:
    """Half-open time windows of fixed duration over ``[t_min, t_max]``.

    Window ``k`` is ``[start_k, start_k + duration)`` with ``start_k = t_min + k * shift``,
    for every ``k >= 0`` with ``start_k <= t_max``; a partial window (one that ends after the
    data, ``start_k + duration > t_max``) is kept only if the data it covers,
    ``t_max - start_k``, is at least ``min_fraction * duration``.

    Parameters
    ----------
    t_min, t_max : float
        Time span of the data (s), e.g. from :func:`time_span`; ``t_min <= t_max``.
    duration : float
        Length of each window (s), > 0.
    shift : float, optional
        Time between the starts of consecutive windows (s), > 0. Defaults to ``duration``:
        windows tile the span without overlap. ``shift < duration`` makes windows overlap (a
        localization is then in every window that contains it); ``shift > duration`` leaves gaps
        between windows, and a localization in a gap is in no window.
    min_fraction : float, default 0.5
        Keep a partial window at the end if it covers at least this fraction of ``duration``
        with data, in ``[0, 1]``. ``0`` keeps every partial window, ``1`` drops them all.

    Returns
    -------
    list of (float, float)
        ``(t_start, t_end)`` pairs (s) in increasing order of ``t_start``. Empty when even the
        first window is a partial one that is dropped (a span shorter than
        ``min_fraction * duration``).

    Raises
    ------
    TypeError
        If a time is not a real number.
    ValueError
        If a time is NaN or infinite, ``duration`` or ``shift`` is not positive,
        ``t_max < t_min``, ``min_fraction`` is outside ``[0, 1]``, or there would be more
        than a million windows.

    Notes
    -----
    Starts are computed as ``t_min + k * shift``, never by accumulating ``shift``, so
    ``duration=0.1`` over ``[0, 1]`` starts windows at exactly ``k * 0.1``. When ``duration`` is
    a whole multiple ``m`` of ``shift`` (to a relative 1e-9, e.g. ``shift`` omitted: ``m = 1``),
    window ``k`` ends at ``start_(k+m)``, computed the same way, so adjacent windows share their
    boundary exactly: a time equal to a boundary is in the window that starts there and not in
    the one that ends there. Otherwise window ``k`` ends at ``start_k + duration``.

    A time equal to ``t_max`` belongs to the windows that contain it, as any other: if ``t_max``
    is exactly on a boundary, that is the window that starts at ``t_max``, which covers no data
    (``t_max - start = 0``) and is therefore kept only with ``min_fraction=0``.

    When a partial window is dropped, the tail of the data it would have covered (the times
    from its start to ``t_max``) is in no window, unless an earlier, overlapping window covers
    it. The data covered by a window is compared with ``min_fraction * duration`` with a slack of
    a few units in the last place, so that a tail of exactly half a window in decimal (e.g.
    ``1.0 - 0.8`` against ``0.5 * 0.4``) counts as half.

    Examples
    --------
    >>> time_windows(0.0, 25.0, 10.0)
    [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)]
    >>> time_windows(0.0, 24.0, 10.0)  # the last 4 s are less than half a window: dropped
    [(0.0, 10.0), (10.0, 20.0)]
    >>> time_windows(0.0, 20.0, 10.0, 5.0)
    [(0.0, 10.0), (5.0, 15.0), (10.0, 20.0), (15.0, 25.0)]
    """
    t_min = _finite(t_min, "t_min")
    t_max = _finite(t_max, "t_max")
    duration = _finite(duration, "duration")
    shift = duration if shift is None else _finite(shift, "shift")
    min_fraction = _finite(min_fraction, "min_fraction")
    if duration <= 0:
        raise ValueError(f"window duration must be > 0 s, got {duration}")
    if shift <= 0:
        raise ValueError(f"window shift must be > 0 s, got {shift}")
    if t_max < t_min:
        raise ValueError(f"t_max ({t_max}) is before t_min ({t_min})")
    if not 0.0 <= min_fraction <= 1.0:
        raise ValueError(f"min_fraction must be in [0, 1], got {min_fraction}")

    # the last k with t_min + k * shift <= t_max, with the very expression used for the starts
    k_last = math.floor((t_max - t_min) / shift)
    if k_last >= _MAX_WINDOWS:
        raise ValueError(f"a shift of {shift} s over [{t_min}, {t_max}] s makes {k_last + 1} "
                         f"windows (at most {_MAX_WINDOWS}): are the times in seconds?")
    while t_min + (k_last + 1) * shift <= t_max:
        k_last += 1
    while k_last > 0 and t_min + k_last * shift > t_max:
        k_last -= 1
    ks = np.arange(k_last + 1, dtype=np.float64)
    starts = t_min + ks * shift
    ratio = duration / shift
    m = round(ratio)
    if m >= 1 and abs(ratio - m) <= _RATIO_RTOL * ratio:
        ends = t_min + (ks + m) * shift
    else:
        ends = starts + duration
    slack = 16.0 * float(np.spacing(max(abs(t_min), abs(t_max), duration)))
    partial = ends > t_max
    covered = t_max - starts
    keep = ~partial | (covered + slack >= min_fraction * duration)
    return [(float(s), float(e)) for s, e in zip(starts[keep], ends[keep], strict=True)]


def check_windows(windows: Iterable[Any]) -> list[tuple[float, float]]:
    """Validate explicit time windows.

    Parameters
    ----------
    windows : iterable of (float, float)
        ``(t_start, t_end)`` pairs (s), half-open ``[t_start, t_end)``. Windows may overlap
        and need not be sorted; their order is kept (it is the segments' numbering).

    Returns
    -------
    list of (float, float)
        The windows as pairs of Python floats.

    Raises
    ------
    TypeError
        If ``windows`` is not an iterable of pairs of real numbers, or is a single pair.
    ValueError
        If there is no window, a time is NaN or infinite, or a window has
        ``t_start >= t_end``; the message gives the window's position.

    Examples
    --------
    >>> check_windows([(0, 10), (5, 15.5)])
    [(0.0, 10.0), (5.0, 15.5)]
    """
    if isinstance(windows, str | bytes | dict) or not isinstance(windows, Iterable):
        raise TypeError(f"windows must be a list of (t_start, t_end) pairs, got {windows!r}")
    items = list(windows)
    if len(items) == 2 and all(isinstance(v, Real | np.number) for v in items):
        raise TypeError(f"windows must be a list of (t_start, t_end) pairs, got the single pair "
                        f"{tuple(items)!r}: pass [{tuple(items)!r}]")
    if not items:
        raise ValueError("no time windows given: expected at least one (t_start, t_end) pair")
    out = []
    for i, w in enumerate(items):
        if isinstance(w, str | bytes) or not isinstance(w, Iterable):
            raise TypeError(f"window {i} must be a (t_start, t_end) pair, got {w!r}")
        pair = list(w)
        if len(pair) != 2:
            raise TypeError(f"window {i} must be a (t_start, t_end) pair, got {len(pair)} "
                            f"value(s): {w!r}")
        t_start = _finite(pair[0], f"t_start of window {i}")
        t_end = _finite(pair[1], f"t_end of window {i}")
        if not t_start < t_end:
            raise ValueError(f"window {i} ({t_start}, {t_end}): t_start must be before t_end")
        out.append((t_start, t_end))
    return out


def _check_frame(df: Any, columns: tuple[str, ...]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame of trajectories, got {type(df).__name__}")
    for c in columns:
        if c not in df.columns:
            raise ValueError(f"trajectory DataFrame lacks column {c!r} "
                             f"(has {list(map(str, df.columns))})")


def time_span(df: pd.DataFrame) -> tuple[float, float]:
    """First and last time of a data set.

    Parameters
    ----------
    df : pandas.DataFrame
        Localizations with a ``t`` column (s), e.g. from
        :func:`~tramway_jupyter.analysis.read_trajectories` or
        :func:`~tramway_jupyter.analysis.crop`.

    Returns
    -------
    (float, float)
        ``(t_min, t_max)`` (s).

    Raises
    ------
    TypeError
        If ``df`` is not a DataFrame.
    ValueError
        If ``df`` has no ``t`` column, no rows, or a time that is NaN or infinite.

    Examples
    --------
    >>> import pandas as pd
    >>> time_span(pd.DataFrame({"t": [0.5, 0.1, 2.0]}))
    (0.1, 2.0)
    """
    _check_frame(df, ("t",))
    t = df["t"].to_numpy(dtype=np.float64)
    if t.size == 0:
        raise ValueError("no localizations: the time span of an empty data set is undefined")
    if not np.all(np.isfinite(t)):
        row = int(np.flatnonzero(~np.isfinite(t))[0])
        raise ValueError(f"time t={t[row]} at row {row} is not finite")
    return float(t.min()), float(t.max())


def crop_time(df: pd.DataFrame, t_start: float, t_end: float) -> pd.DataFrame:
    """Keep the localizations in the time window ``[t_start, t_end)``.

    Parameters
    ----------
    df : pandas.DataFrame
        Trajectories with columns ``n, x, y[, z], t`` (µm, s). Other columns are kept.
    t_start, t_end : float
        Window (s), half-open: a localization at ``t_end`` is not kept (it belongs to the
        next window). Infinite bounds are allowed (an open-ended window).

    Returns
    -------
    pandas.DataFrame
        A copy with the localizations ``t_start <= t < t_end``, index ``0..K-1``, rows grouped
        by trajectory and time-sorted. Trajectories keep their ids ``n``. ``attrs`` are the
        input's plus ``time_window = [t_start, t_end]``.

    Raises
    ------
    TypeError
        If ``df`` is not a DataFrame or a bound is not a real number.
    ValueError
        If a column ``n`` or ``t`` is missing, a bound is NaN, or ``t_start >= t_end``.

    Notes
    -----
    A translocation never spans the cut: the rows are first grouped by trajectory and sorted
    by time (a stable sort by ``(n, t)``, done only if the input is not already so ordered, as
    :func:`~tramway_jupyter.analysis.read_trajectories` returns it), so the kept points of each
    trajectory are one run of consecutive rows; the points before and after the window are
    removed, so the first translocation of a trajectory in the window starts at its first
    point in the window.

    Trajectories left with a single localization in the window are dropped: they make no
    translocation. A trajectory can thus be in two overlapping windows, or in neither of two
    adjacent windows if it has one point in each.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"n": [1, 1, 1, 2, 2], "x": [0., 1., 2., 5., 6.],
    ...                    "y": [0., 0., 0., 1., 1.], "t": [0.0, 0.1, 0.2, 0.1, 0.2]})
    >>> crop_time(df, 0.0, 0.2)[["n", "t"]].to_numpy().tolist()
    [[1.0, 0.0], [1.0, 0.1]]
    """
    _check_frame(df, ("n", "t"))
    t_start = _real(t_start, "t_start")
    t_end = _real(t_end, "t_end")
    if not t_start < t_end:
        raise ValueError(f"time window [{t_start}, {t_end}): t_start must be before t_end")
    n = df["n"].to_numpy()
    t = df["t"].to_numpy(dtype=np.float64)
    order = None
    if n.size > 1:
        change = np.flatnonzero(n[1:] != n[:-1]) + 1
        heads = n[np.r_[0, change]]
        same = n[1:] == n[:-1]
        grouped = np.unique(heads).size == heads.size
        if not grouped or np.any(same & (t[1:] < t[:-1])):
            order = np.lexsort((t, n))  # stable: by n, then t
            n, t = n[order], t[order]
    inside = (t >= t_start) & (t < t_end)
    ids, inverse, counts = np.unique(n[inside], return_inverse=True, return_counts=True)
    keep = np.zeros_like(inside)
    keep[np.flatnonzero(inside)] = counts[inverse.ravel()] > 1
    rows = np.flatnonzero(keep) if order is None else order[keep]
    out = df.iloc[rows].copy().reset_index(drop=True)
    out.attrs = {**df.attrs, "time_window": [t_start, t_end]}
    return out
