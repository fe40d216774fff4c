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
    if space_unit is None:
        space_factor = None
    else:
        key = _norm(space_unit)
        if key not in SPACE_UNITS:
            raise DataFormatError(path, f"unknown space unit {space_unit!r} in {where}; known: "
                                  f"{', '.join(sorted(SPACE_UNITS))}")
        space_factor = SPACE_UNITS[key]
        if space_factor is not None and pixel_size is not None:
            raise ValueError(f"{path}: positions are already in {space_unit!r} ({where}); "
                             f"pixel_size applies only to files in pixels: drop it")
    if space_factor is None:
        if pixel_size is None:
            said = (f"positions are in pixels ({where} says {space_unit!r})"
                    if space_unit is not None else "the file does not say the unit of positions")
            raise ValueError(f"{path}: {said}; pass pixel_size= (µm per pixel; --pixel-size on "
                             f"the command line), or units='um,s' if they are in µm and s")
        space_factor = float(pixel_size)
    if time_unit is None:
        time_factor = None
    else:
        key = _norm(time_unit)
        if key not in TIME_UNITS:
            raise DataFormatError(path, f"unknown time unit {time_unit!r} in {where}; known: "
                                  f"{', '.join(sorted(TIME_UNITS))}")
        time_factor = TIME_UNITS[key]
        if time_factor is not None and frame_interval is not None:
            raise ValueError(f"{path}: times are already in {time_unit!r} ({where}); "
                             f"frame_interval applies only to files in frames: drop it")
    if time_factor is None:
        if frame_interval is None:
            said = (f"times are in frames ({where} says {time_unit!r})"
                    if time_unit is not None else "the file does not say the unit of time")
            raise ValueError(f"{path}: {said}; pass frame_interval= (s per frame; "
                             f"--frame-interval on the command line), or units='um,s' if "
                             f"they are in seconds")
        return Calibration(space_factor, float(frame_interval), True)
    return Calibration(space_factor, time_factor, False)


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
