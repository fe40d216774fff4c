"""Units of tracking exports (TrackMate XML/CSV, long-format CSV) and their conversion to µm and s.

Shared by :mod:`.trackmate` and :mod:`.csv_tracks`. A file in pixels or frames is converted
only with an explicit ``pixel_size`` (µm per pixel) or ``frame_interval`` (s per frame): units
are never guessed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tramway_jupyter.exceptions import DataFormatError

__all__ = ["SPACE_UNITS", "TIME_UNITS", "Calibration", "linear_segments_by_frame", "finish"]

logger = logging.getLogger(__name__)

#: µm per unit of length; ``None``: pixels (``pixel_size`` needed).
SPACE_UNITS: dict[str, float | None] = {
    "micron": 1.0, "microns": 1.0, "µm": 1.0, "μm": 1.0, "um": 1.0, "micrometer": 1.0,
    "nm": 1e-3, "nanometer": 1e-3, "mm": 1e3, "pixel": None, "pixels": None, "px": None,
}
#: s per unit of time; ``None``: frames (``frame_interval`` needed).
TIME_UNITS: dict[str, float | None] = {
    "sec": 1.0, "s": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3, "msec": 1e-3,
    "min": 60.0, "frame": None, "frames": None,
}


def _norm(unit: str) -> str:
    return unit.strip().strip("()").strip().lower()


@dataclass(frozen=True)
class Calibration:
    """µm per space unit and s per time unit of a file, and whether time is read from frames."""

    space: float
    time: float
    time_from_frames: bool


def calibrate(path: Path, space_unit: str | None, time_unit: str | None,
              pixel_size: float | None, frame_interval: float | None,
              where: str = "the file") -> Calibration:
    """Resolve the units of ``path`` into factors to µm and s, refusing to guess.

    ``space_unit``/``time_unit`` are what the file (or the caller's ``units=``) declares, ``None``
    when nothing does; a declared ``pixel``/``frame`` needs ``pixel_size``/``frame_interval``, and
    so does an undeclared unit. ``pixel_size`` on a calibrated file is refused (conflicting).
    """
    for name, value in (("pixel_size", pixel_size), ("frame_interval", frame_interval)):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    space = _factor(path, where, space_unit, pixel_size, _SPACE)
    time = _factor(path, where, time_unit, frame_interval, _TIME)
    return Calibration(space, time, time_from_frames=frame_interval is not None)


@dataclass(frozen=True)
class _Axis:
    """How one kind of unit is declared, looked up and supplied (space, or time)."""

    units: dict[str, float | None]
    what: str  # "positions" / "times"
    raw: str  # "pixels" / "frames"
    given: str  # "pixel_size" / "frame_interval"
    per: str  # "µm per pixel" / "s per frame"
    option: str  # "--pixel-size" / "--frame-interval"
    calibrated: str  # "µm and s" / "seconds"


_SPACE = _Axis(SPACE_UNITS, "positions", "pixels", "pixel_size", "µm per pixel", "--pixel-size",
               "µm and s")
_TIME = _Axis(TIME_UNITS, "times", "frames", "frame_interval", "s per frame", "--frame-interval",
              "seconds")


def _factor(path: Path, where: str, unit: str | None, given: float | None, axis: _Axis) -> float:
    """The factor to µm (or s) of one axis: the declared unit's, else the ``given`` pixel size
    (frame interval), which a calibrated unit refuses and an uncalibrated one requires."""
    factor: float | None = None
    if unit is not None:
        key = _norm(unit)
        if key not in axis.units:
            kind = "space" if axis is _SPACE else "time"
            raise DataFormatError(path, f"unknown {kind} unit {unit!r} in {where}; known: "
                                  f"{', '.join(sorted(axis.units))}")
        factor = axis.units[key]
        if factor is not None and given is not None:
            raise ValueError(f"{path}: {axis.what} are already in {unit!r} ({where}); "
                             f"{axis.given} applies only to files in {axis.raw}: drop it")
    if factor is not None:
        return factor
    if given is None:
        said = (f"{axis.what} are in {axis.raw} ({where} says {unit!r})" if unit is not None
                else f"the file does not say the unit of {axis.what}")
        raise ValueError(f"{path}: {said}; pass {axis.given}= ({axis.per}; {axis.option} on "
                         f"the command line), or units='um,s' if they are in {axis.calibrated}")
    return float(given)


def linear_segments_by_frame(track: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Split tracks without link information at their branch points.

    Rows of one track sharing a frame (a split or a merge, as TrackMate writes a branching
    track in its spots table and "export tracks" XML) cannot be linked; each such spot becomes
    a one-spot segment and the runs of frames with one spot between them become segments.
    So no step ever crosses a branch point or joins two sibling branches.

    Parameters
    ----------
    track, frame : numpy.ndarray, shape (N,)
        Track id and frame (or time) of each spot, sorted by (track, frame).

    Returns
    -------
    numpy.ndarray of int64, shape (N,)
        Segment number of each spot (0, 1, ... in row order).
    """
    n = track.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    same_track = np.r_[False, track[1:] == track[:-1]]
    dup = np.zeros(n, dtype=bool)
    tie = same_track[1:] & (frame[1:] == frame[:-1])
    dup[1:] |= tie
    dup[:-1] |= tie
    start = ~same_track | dup | np.r_[False, dup[:-1]]
    return np.cumsum(start).astype(np.int64) - 1


def finish(path: Path, n: np.ndarray, xyz: dict[str, np.ndarray], t: np.ndarray,
           lines: np.ndarray | None = None) -> pd.DataFrame:
    """A trajectory frame (``n``, ``x``, ``y`` [, ``z``], ``t``) sorted by (n, t), checked.

    ``lines`` gives each row's file line, named when two rows of a trajectory share a time.
    ``z`` is kept only if it is not all zero (TrackMate writes ``z=0`` for 2D data).
    """
    dn = np.diff(n)
    if np.all((dn > 0) | ((dn == 0) & (np.diff(t) > 0))):
        order = None  # already sorted by (n, t): no copy
    else:
        order = np.lexsort((t, n))
        n, t = n[order], t[order]
        if lines is not None:
            lines = lines[order]
    del dn
    same = n[1:] == n[:-1]
    bad = np.flatnonzero(same & (np.diff(t) <= 0))
    if bad.size:
        k = bad[0] + 1
        raise DataFormatError(path, f"two localizations of trajectory {n[k]} at the same time "
                              f"t={t[k]:g} s", line=None if lines is None
                              else int(lines[k]))
    out: dict[str, np.ndarray] = {"n": n.astype(np.int64)}
    for name in ("x", "y", "z"):
        if name in xyz and (name != "z" or np.any(xyz[name] != 0)):
            col = np.asarray(xyz[name], dtype=np.float64)
            out[name] = col if order is None else col[order]
    out["t"] = t.astype(np.float64)
    df = pd.DataFrame(out)
    df.attrs["source"] = str(path)
    return df
