"""Read and write trajectory CSV files: TrackMate's spots table and long-format CSV.

* TrackMate's "Spots" table export: a header of feature keys (``LABEL, ID, TRACK_ID, QUALITY,
  POSITION_X, POSITION_Y, POSITION_Z, POSITION_T, FRAME, ...``); recent versions (7+) add three
  rows under it, the feature names, short names and units (``(micron)``, ``(sec)``), which are
  detected, skipped and read for the units.
* Long-format CSV as trackpy and saSPT write it: one row per localization with a trajectory id
  (``particle``, ``trajectory``, ``track`` or ``n``), ``frame``, ``x``, ``y`` [, ``z``] [, ``t``].
  It says nothing of its units, so the caller does (see :func:`read_tracks_csv`).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from tramway_jupyter.exceptions import DataFormatError

from .units import calibrate, finish, linear_segments_by_frame

__all__ = ["read_tracks_csv", "write_tracks_csv", "is_trackmate_csv"]

logger = logging.getLogger(__name__)

_TRACKMATE = {"n": "TRACK_ID", "x": "POSITION_X", "y": "POSITION_Y", "z": "POSITION_Z",
              "t": "POSITION_T", "frame": "FRAME"}
#: Accepted names (lower case) of each column of a long-format CSV, first match wins.
_LONG = {"n": ("n", "particle", "trajectory", "track", "track_id", "traj"),
         "x": ("x",), "y": ("y",), "z": ("z",), "t": ("t", "time"), "frame": ("frame",)}
_KEYS = ("n", "x", "y", "z", "t", "frame")


def _rows(path: Path, count: int) -> list[list[str]]:
    out: list[list[str]] = []
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        for row in csv.reader(fh):
            out.append([c.strip() for c in row])
            if len(out) >= count:
                break
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def is_trackmate_csv(header: list[str]) -> bool:
    """True if a CSV header is TrackMate's spots table (``TRACK_ID`` and ``POSITION_X``)."""
    return "TRACK_ID" in header and "POSITION_X" in header


def _parse_units(units: str) -> tuple[str, str | None]:
    parts = [p.strip() for p in units.split(",")]
    if len(parts) not in (1, 2) or not parts[0]:
        raise ValueError(f"units={units!r}: expected 'SPACE' or 'SPACE,TIME', like 'um,s', "
                         f"'nm,ms' or 'pixel,frame'")
    return parts[0], parts[1] if len(parts) == 2 and parts[1] else None


def read_tracks_csv(
    path: str | PathLike[str], *, columns: Mapping[str, str] | None = None,
    pixel_size: float | None = None, frame_interval: float | None = None,
    units: str | None = None,
) -> pd.DataFrame:
    """Read a TrackMate spots-table CSV or a long-format (trackpy, saSPT) CSV.

    Parameters
    ----------
    path : str or path-like
        Comma-separated file with a header row.
    columns : mapping, optional
        Our column name -> the file's, for any of ``n`` (trajectory id), ``x``, ``y``, ``z``,
        ``t`` and ``frame``, e.g. ``{"n": "track", "x": "X (um)", "y": "Y (um)"}``; the others
        keep their default (TrackMate's keys, or ``particle``/``trajectory``/``track``/``n``,
        ``frame``, ``x``, ``y``, ``z``, ``t``/``time``, case-insensitive).
    pixel_size : float, optional
        µm per pixel: the positions are in pixels. Refused when the file or ``units`` says
        they are in a length unit.
    frame_interval : float, optional
        s per frame: time is ``frame * frame_interval`` (the ``frame`` column, else ``t`` in
        frames). Refused when the file or ``units`` gives a time unit.
    units : str, optional
        Units of a file that does not state them (a long-format CSV, or a TrackMate CSV
        without its unit rows): ``"SPACE,TIME"`` or ``"SPACE"``, SPACE one of ``um``
        (``micron``, ``µm``), ``nm``, ``mm``, ``pixel`` and TIME one of ``s`` (``sec``), ``ms``,
        ``min``, ``frame``. ``"um,s"`` reads ``x``, ``y`` in µm and ``t`` in s as they are;
        ``"um"`` with ``frame_interval`` reads time from ``frame``.

    Returns
    -------
    pandas.DataFrame
        Columns ``n``, ``x``, ``y`` [, ``z`` if not all zero] (µm), ``t`` (s), sorted by
        (``n``, ``t``). TrackMate rows without a track (empty or ``None`` ``TRACK_ID``) are
        dropped; a branching TrackMate track (two spots of one track in a frame) is cut into
        linear segments at its branch points, renumbering the trajectories.

    Raises
    ------
    ValueError
        If the units are neither stated by the file nor given (they are never guessed), or
        conflict with ``pixel_size``/``frame_interval``.
    tramway_jupyter.exceptions.DataFormatError
        If a needed column is missing, a cell is not a number, or a trajectory has two rows at
        one time; the message names the file, the column and the line.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"trajectory file not found: {path}")
    head = _rows(path, 5)
    if not head or not any(head[0]):
        raise DataFormatError(path, "empty file, expected a CSV header row", line=1)
    header = head[0]
    trackmate = is_trackmate_csv(header)
    names = _column_names(path, header, trackmate, columns)
    extra = 0
    if trackmate:  # TrackMate 7+: name, short name and units rows under the header
        xi = header.index(names["x"])
        while extra < 3 and 1 + extra < len(head) and xi < len(head[1 + extra]) \
                and not _is_number(head[1 + extra][xi]):
            extra += 1
    space_unit = time_unit = None
    if extra:
        unit_row = head[extra]
        space_unit = unit_row[header.index(names["x"])] or None
        if "t" in names and header.index(names["t"]) < len(unit_row):
            time_unit = unit_row[header.index(names["t"])] or None
        if units is not None:
            raise ValueError(f"{path}: the file states its units ({space_unit}, {time_unit}) "
                             f"in its header rows: drop units=")
    elif units is not None:
        space_unit, time_unit = _parse_units(units)
    elif pixel_size is None:
        kind = "a TrackMate CSV without unit rows" if trackmate else "a long-format CSV"
        raise ValueError(f"{path}: {kind} does not say its units; pass units='um,s' (or "
                         f"'um' with frame_interval=, 'nm,ms', ...), or pixel_size= and "
                         f"frame_interval= if it is in pixels and frames")
    if time_unit is not None and "t" not in names:
        raise DataFormatError(path, f"times are said to be in {time_unit!r} but there is no "
                              f"time column ({_LONG['t']}); give the space unit only "
                              f"(units='um') and frame_interval=", line=1)
    cal = calibrate(path, space_unit, time_unit, pixel_size, frame_interval,
                    where="its unit row" if extra else "units=")
    time_col = ("frame" if "frame" in names else "t") if cal.time_from_frames else "t"
    if time_col not in names:
        raise DataFormatError(path, f"no time column: expected {names.get('t', 't')!r} or "
                              f"'frame' among {header}; pass columns={{'t': ...}}", line=1)
    wanted = ["n", "x", "y", *(["z"] if "z" in names else []), time_col]
    usecols = [names[k] for k in wanted]
    first_data_line = 2 + extra
    try:
        raw = pd.read_csv(path, usecols=usecols, skiprows=range(1, 1 + extra), dtype=str,
                          keep_default_na=False, encoding="utf-8-sig", skip_blank_lines=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataFormatError(path, f"cannot parse as CSV: {exc}") from None
    if trackmate:  # spots in no track
        ids = raw[names["n"]].str.strip()
        raw = raw[(ids != "") & (ids.str.lower() != "none")]
    lines = raw.index.to_numpy() + first_data_line
    values: dict[str, np.ndarray] = {}
    for key in wanted:
        col = raw[names[key]].str.strip()
        num = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(num))
        if bad.size:
            k = int(bad[0])
            raise DataFormatError(path, f"column {names[key]!r}: {col.iloc[k]!r} is not a "
                                  f"finite number", line=int(lines[k]))
        values[key] = num
    n = values["n"]
    if np.any(n != np.round(n)):
        k = int(np.flatnonzero(n != np.round(n))[0])
        raise DataFormatError(path, f"trajectory id {names['n']}={n[k]:g} is not an integer",
                              line=int(lines[k]))
    if n.size == 0:
        raise DataFormatError(path, "no data rows (with a trajectory id)", line=first_data_line)
    n = n.astype(np.int64)
    t = values[time_col] * cal.time
    if trackmate:
        order = np.lexsort((t, n))
        seg = linear_segments_by_frame(n[order], t[order])
        if seg[-1] + 1 > np.unique(n).size:
            logger.warning("%s: branching tracks (two spots of a track in one frame) cut into "
                           "linear segments at their branch points", path)
            n = np.empty_like(seg)
            n[order] = seg
    xyz = {k: values[k] * cal.space for k in ("x", "y", "z") if k in values}
    df = finish(path, n, xyz, t, lines)
    if cal.time_from_frames:
        df.attrs["frame_interval"] = cal.time
    return df


def _column_names(path: Path, header: list[str], trackmate: bool,
                  columns: Mapping[str, str] | None) -> dict[str, str]:
    """Our key -> the file's column name, for the columns present."""
    if columns is not None and not isinstance(columns, Mapping):
        raise TypeError("columns= of a CSV file is a mapping like {'n': 'track', 'x': 'X'}, "
                        f"got {type(columns).__name__}")
    unknown = sorted(set(columns or {}) - set(_KEYS))
    if unknown:
        raise ValueError(f"columns=: unknown key(s) {unknown}; known: {', '.join(_KEYS)}")
    names: dict[str, str] = {}
    lower = {h.lower(): h for h in header}
    for key in _KEYS:
        if columns and key in columns:
            if columns[key] not in header:
                raise DataFormatError(path, f"columns={{{key!r}: {columns[key]!r}}}: no such "
                                      f"column; the header has {header}", line=1)
            names[key] = columns[key]
        elif trackmate:
            if _TRACKMATE[key] in header:
                names[key] = _TRACKMATE[key]
        else:
            found = next((lower[c] for c in _LONG[key] if c in lower), None)
            if found is not None:
                names[key] = found
    for key, what in (("n", "trajectory id"), ("x", "x position"), ("y", "y position")):
        if key not in names:
            accepted = _TRACKMATE[key] if trackmate else " or ".join(_LONG[key])
            raise DataFormatError(path, f"no {what} column ({accepted}) in the header {header}; "
                                  f"pass columns={{{key!r}: 'NAME'}}", line=1)
    return names


def write_tracks_csv(
    df: pd.DataFrame, path: str | PathLike[str], *, flavour: str = "long",
    frame_interval: float | None = None,
) -> Path:
    """Write trajectories (µm, s) as a long-format or TrackMate spots-table CSV.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``n``, ``x``, ``y`` [, ``z``] (µm), ``t`` (s).
    path : str or path-like
        Output file.
    flavour : {"long", "trackmate"}, default "long"
        ``"long"``: ``particle,frame,x,y[,z],t`` as trackpy writes (read it back with
        ``units="um,s"``). ``"trackmate"``: TrackMate 7's spots table with its three name,
        short name and unit rows (``(micron)``, ``(sec)``).
    frame_interval : float, optional
        s per frame, for the ``frame`` column (default: the median step within trajectories).

    Returns
    -------
    pathlib.Path
        The path written (atomically).
    """
    from .trackmate_write import _columns, _frame_interval

    if flavour not in ("long", "trackmate"):
        raise ValueError(f"flavour must be 'long' or 'trackmate', got {flavour!r}")
    fi = float(frame_interval) if frame_interval is not None else _frame_interval(df)
    n, x, y, z, t = _columns(df)
    frame = np.rint(t / fi).astype(np.int64)
    has_z = "z" in df.columns
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    if flavour == "long":
        out = {"particle": n, "frame": frame, "x": x, "y": y, **({"z": z} if has_z else {}),
               "t": t}
        pd.DataFrame(out).to_csv(tmp, index=False, float_format="%.17g")
    else:
        rows = [["LABEL", "ID", "TRACK_ID", "QUALITY", "POSITION_X", "POSITION_Y", "POSITION_Z",
                 "POSITION_T", "FRAME", "RADIUS", "VISIBILITY"],
                ["Label", "Spot ID", "Track ID", "Quality", "X", "Y", "Z", "T", "Frame",
                 "Radius", "Visibility"],
                ["Label", "Spot ID", "Track ID", "Quality", "X", "Y", "Z", "T", "Frame", "R",
                 "Visibility"],
                ["", "", "", "(quality)", "(micron)", "(micron)", "(micron)", "(sec)", "",
                 "(micron)", ""]]
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerows(rows)
            w.writerows([f"ID{i}", i, k, 1.0, xi, yi, zi, ti, fr, 0.1, 1] for i, (
                k, xi, yi, zi, ti, fr) in enumerate(zip(n.tolist(), x.tolist(), y.tolist(),
                                                        z.tolist(), t.tolist(), frame.tolist(),
                                                        strict=True)))
    tmp.replace(path)
    return path
