"""Read and write trajectory files: TRamWAy's text format, and dispatch to the other readers.

:func:`read_trajectories` reads TrackMate XML (:mod:`.trackmate`) and CSV files
(:mod:`.csv_tracks`) too, told apart by extension and content (see its Notes).

A trajectory file (``*.rpt.txt``, ``*.txt``, ``*.trxyt``) holds one localization per line,
whitespace-separated: trajectory index ``n``, positions ``x``, ``y`` (optionally ``z``) in µm and
time ``t`` in s. The header is optional and detected as TRamWAy does
(``tramway/core/xyt.py::load_xyt``): a first line containing a letter other than ``e``/``E``
is a header.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tramway_jupyter.exceptions import DataFormatError

__all__ = ["read_trajectories", "write_trajectories", "file_kind", "unit_kwargs"]

logger = logging.getLogger(__name__)

_HEADER_RE = re.compile(r"[a-df-zA-DF-Z_]")
_CERROR_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
DEFAULT_COLUMNS = ("n", "x", "y", "t")
DEFAULT_COLUMNS_3D = ("n", "x", "y", "z", "t")


def _data_line_numbers(path: Path, header: bool) -> np.ndarray:
    """File line numbers (1-based) of the data rows; only called on the error path."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        numbers = [i for i, line in enumerate(fh, start=1) if line.strip()]
    return np.asarray(numbers[1:] if header else numbers, dtype=np.int64)


def _first_line(path: Path) -> tuple[str, int]:
    """First non-blank line and its 1-based number (``("", 0)`` if none)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                return line, number
    return "", 0


def _is_index_column(col: np.ndarray) -> bool:
    """True if ``col`` is 0..N-1 or 1..N: a written DataFrame index, not trajectory numbers."""
    if col.size < 2 or not np.issubdtype(np.asarray(col).dtype, np.number):
        return False
    d = np.diff(col)
    return bool(np.all(d == 1) and col[0] in (0, 1))


def file_kind(path: str | PathLike[str]) -> str:
    """What reader a trajectory file needs: ``"xml"``, ``"csv"`` or ``"text"`` (TRamWAy's).

    By extension (``.xml``, ``.csv``), else by content: a file starting with ``<`` is XML, one
    whose first line has a comma is CSV, anything else TRamWAy's whitespace-separated text.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".xml":
        return "xml"
    if suffix == ".csv":
        return "csv"
    first, _ = _first_line(path) if path.exists() else ("", 0)
    if first.lstrip().startswith("<"):
        return "xml"
    if "," in first:
        return "csv"
    return "text"


#: Parameters of a run that say how to read files in pixels and frames (``--pixel-size``...).
UNIT_PARAMETERS = ("pixel_size", "frame_interval", "units")


def unit_kwargs(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The keyword arguments of :func:`read_trajectories` among a run's parameters."""
    return {k: params[k] for k in UNIT_PARAMETERS if params and params.get(k) is not None}


def read_trajectories(
    path: str | PathLike[str], columns: Sequence[str] | Mapping[str, str] | None = None, *,
    pixel_size: float | None = None, frame_interval: float | None = None,
    units: str | None = None, all_tracks: bool = False,
) -> pd.DataFrame:
    """Read a trajectory file: TRamWAy text, TrackMate XML or CSV, or long-format CSV.

    Parameters
    ----------
    path : str or path-like
        A TRamWAy text file (whitespace-separated, one localization per line), a TrackMate XML
        file (model file or "export tracks to XML"), a TrackMate spots-table CSV or a
        long-format CSV (trackpy, saSPT); see Notes for how the format is told.
    columns : sequence of str or mapping, optional
        Text files: column names, overriding the header and the defaults. Must contain ``n``,
        ``x``, ``y`` and ``t`` (and may contain ``z``). An extra leading column is read as an
        index and dropped. CSV files: a mapping from ``n``, ``x``, ``y``, ``z``, ``t``,
        ``frame`` to the file's column names (see :func:`.csv_tracks.read_tracks_csv`).
    pixel_size : float, optional
        µm per pixel, for XML/CSV files in pixels (required then, refused otherwise).
    frame_interval : float, optional
        s per frame, for XML/CSV files whose time is in frames (required then, refused
        otherwise).
    units : str, optional
        CSV files that do not state their units: ``"um,s"``, ``"um"`` (with
        ``frame_interval``), ``"nm,ms"``, ... (see :func:`.csv_tracks.read_tracks_csv`).
    all_tracks : bool, default False
        TrackMate model files: every track, not only the filtered ones.

    Returns
    -------
    pandas.DataFrame
        Columns ``n`` (int64), ``x``, ``y`` [, ``z``] (µm) and ``t`` (s), float64, index
        ``0..N-1``, rows grouped by trajectory (in order of first appearance) and time-sorted;
        ``df.attrs["source"]`` is the path (carried into the maps' provenance).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If an XML/CSV file is in pixels or frames (or a CSV does not state its units) and
        ``pixel_size``/``frame_interval``/``units`` do not say how to convert; or if they are
        given for a file already in µm and s (TRamWAy text files always are).
    tramway_jupyter.exceptions.DataFormatError
        If the file is malformed; for XML the message names the element (or the line of a
        syntax error). For text files: the file is empty, a line has the wrong number of columns, a cell is not a number
        or not finite (``nan``, ``inf``), required columns are missing, or time does not increase strictly inside a trajectory.
        The message names the file and the line.

    Notes
    -----
    Header detection follows TRamWAy: if the first non-blank line contains a letter other than
    ``e``/``E`` its tokens are the column names; otherwise the names are ``n x y t`` (4 columns)
    or, for 5 columns, ``index n x y t`` if the first column counts rows (0..N-1 or 1..N, as written
    by ``DataFrame.to_csv``) and ``n x y z t`` otherwise; 6 columns are ``index n x y z t``.

    A trajectory whose rows are not contiguous is regrouped (stable sort on ``n``, a warning is
    logged), since TRamWAy would otherwise make one translocation jump between the two blocks.

    The format is told by the extension (``.xml``: TrackMate XML, its flavour by the root
    element; ``.csv``: TrackMate's spots table if the header has ``TRACK_ID`` and
    ``POSITION_X``, else long-format), else by content: a file starting with ``<`` is XML, a
    first line with a comma is CSV, anything else is TRamWAy text (see :func:`file_kind`).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"trajectory file not found: {path}")
    kind = file_kind(path)
    if kind == "xml":
        if columns is not None or units is not None:
            raise ValueError(f"{path}: columns= and units= apply to text and CSV files, not "
                             f"TrackMate XML (whose units are in the file)")
        from .trackmate import read_trackmate_xml

        return read_trackmate_xml(path, pixel_size=pixel_size, frame_interval=frame_interval,
                                  all_tracks=all_tracks)
    if kind == "csv":
        from .csv_tracks import read_tracks_csv

        return read_tracks_csv(path, columns=columns,  # type: ignore[arg-type]
                               pixel_size=pixel_size, frame_interval=frame_interval, units=units)
    if pixel_size is not None or frame_interval is not None or units not in (None, "um,s"):
        raise ValueError(f"{path}: a TRamWAy text file is in µm and s; pixel_size=, "
                         f"frame_interval= and units= apply to TrackMate XML and CSV files")
    if isinstance(columns, Mapping):
        raise TypeError(f"{path}: columns= of a TRamWAy text file is a sequence of names like "
                        f"['n', 'x', 'y', 't'], not a mapping")
    first, first_number = _first_line(path)
    if not first:
        raise DataFormatError(path, "empty file, expected columns n x y t", line=1)
    has_header = columns is None and bool(_HEADER_RE.search(first))
    try:
        raw = pd.read_csv(path, sep=r"\s+", header=None, skiprows=first_number if has_header
                          else None, engine="c")
    except pd.errors.ParserError as exc:
        m = _CERROR_RE.search(str(exc))
        if m:
            expected, line, saw = m.groups()
            raise DataFormatError(
                path, f"expected {expected} columns, found {saw}", line=int(line)
            ) from None
        raise DataFormatError(path, f"cannot parse: {exc}") from None
    except pd.errors.EmptyDataError:
        raise DataFormatError(path, "no data rows after the header", line=first_number + 1
                              ) from None
    if raw.shape[0] == 0:
        raise DataFormatError(path, "no data rows after the header", line=2)

    if has_header:
        names = first.split()
        if len(names) == raw.shape[1] - 1:
            names = ["index", *names]
        elif len(names) != raw.shape[1]:
            raise DataFormatError(path, f"header has {len(names)} names for {raw.shape[1]} columns", 1)
    elif columns is not None:
        names = list(columns)
        if len(names) == raw.shape[1] - 1:
            names = ["index", *names]
    else:
        ncol = raw.shape[1]
        if ncol == 4:
            names = list(DEFAULT_COLUMNS)
        elif ncol == 5:
            idx = _is_index_column(raw.iloc[:, 0].to_numpy())
            names = ["index", *DEFAULT_COLUMNS] if idx else list(DEFAULT_COLUMNS_3D)
        elif ncol == 6:
            names = ["index", *DEFAULT_COLUMNS_3D]
        else:
            raise DataFormatError(path, f"expected 4 or 5 columns (n x y [z] t), found {ncol}", 1)
    if len(names) != raw.shape[1]:
        raise DataFormatError(path, f"{len(names)} column names given for {raw.shape[1]} columns")
    raw.columns = names
    missing = [c for c in ("n", "x", "y", "t") if c not in names]
    if missing:
        raise DataFormatError(path, f"missing column(s) {missing}; found {names}", line=1)
    keep = ["n", "x", "y", "z", "t"] if "z" in names else ["n", "x", "y", "t"]
    df = _validate(raw[keep], path, has_header)
    df.attrs["source"] = str(path)
    return df


def _validate(raw: pd.DataFrame, path: Path, has_header: bool) -> pd.DataFrame:
    """Check types, missing cells and time order; return a clean float/int frame."""
    cols = {}
    for name in raw.columns:
        col = raw[name]
        if not pd.api.types.is_numeric_dtype(col.dtype):
            num = pd.to_numeric(col, errors="coerce")
            bad = np.flatnonzero(num.isna().to_numpy() & col.notna().to_numpy())
            row = int(bad[0]) if bad.size else int(np.flatnonzero(num.isna().to_numpy())[0])
            line = int(_data_line_numbers(path, has_header)[row])
            raise DataFormatError(
                path, f"non-numeric value {col.iloc[row]!r} in column {name!r}", line=line
            )
        cols[name] = col.to_numpy(dtype=np.float64)
    values = np.column_stack(list(cols.values()))
    bad_cells = ~np.isfinite(values)
    bad_rows = np.flatnonzero(bad_cells.any(axis=1))
    if bad_rows.size:
        row = int(bad_rows[0])
        line = int(_data_line_numbers(path, has_header)[row])
        name = list(cols)[int(np.flatnonzero(bad_cells[row])[0])]
        value = values[row, list(cols).index(name)]
        if np.isnan(value):
            what = (f"missing value (or NaN) in column {name!r}: expected {len(cols)} finite "
                    f"numbers ({' '.join(cols)})")
        else:
            what = f"non-finite value {value} in column {name!r}: coordinates must be finite"
        more = f" ({bad_rows.size} such rows in all)" if bad_rows.size > 1 else ""
        raise DataFormatError(path, what + more, line=line)
    n = cols["n"]
    if np.any(n != np.round(n)):
        row = int(np.flatnonzero(n != np.round(n))[0])
        line = int(_data_line_numbers(path, has_header)[row])
        raise DataFormatError(path, f"trajectory index n={n[row]} is not an integer", line=line)
    n = n.astype(np.int64)
    order = np.arange(n.size)
    change = np.flatnonzero(n[1:] != n[:-1]) + 1
    starts = n[np.r_[0, change]]
    if np.unique(starts).size != starts.size:
        # rows of a trajectory are split in several blocks: regroup, keeping file order within.
        logger.warning(
            "%s: rows of some trajectories are not contiguous; regrouping them by n", path
        )
        _, first_pos, inv = np.unique(n, return_index=True, return_inverse=True)
        rank = np.argsort(np.argsort(first_pos))  # order of first appearance
        order = np.argsort(rank[inv.ravel()], kind="stable")
    t = cols["t"][order]
    ns = n[order]
    same = ns[1:] == ns[:-1]
    bad = np.flatnonzero(same & (np.diff(t) <= 0))
    if bad.size:
        row = int(order[bad[0] + 1])
        line = int(_data_line_numbers(path, has_header)[row])
        raise DataFormatError(
            path,
            f"time does not increase within trajectory n={ns[bad[0] + 1]} "
            f"(t={t[bad[0]]:g} then t={t[bad[0] + 1]:g})",
            line=line,
        )
    out = {"n": ns}
    for name in cols:
        if name != "n":
            out[name] = cols[name][order]
    return pd.DataFrame(out)


def write_trajectories(
    df: pd.DataFrame, path: str | PathLike[str], header: bool = False
) -> Path:
    """Write trajectories in TRamWAy's text format (tab-separated, no index column).

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``n``, ``x``, ``y`` [, ``z``], ``t`` (µm, s). Other columns are ignored.
    path : str or path-like
        Output file; its parent directory must exist.
    header : bool, default False
        Write the column names as a first line (``n x y t``), which TRamWAy detects.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        If a required column is missing.
    """
    cols = ["n", "x", "y", "z", "t"] if "z" in df.columns else ["n", "x", "y", "t"]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"trajectory DataFrame lacks column(s) {missing}")
    path = Path(path)
    n = df["n"].to_numpy().astype(np.int64)
    values = df[cols[1:]].to_numpy(dtype=np.float64)
    body = np.column_stack([n.astype(np.float64), values])
    fmt = "\t".join(["%d"] + ["%.9g"] * (len(cols) - 1))
    tmp = path.with_name(path.name + ".tmp")
    np.savetxt(tmp, body, fmt=fmt, delimiter="\t", header="\t".join(cols) if header else "",
               comments="")
    tmp.replace(path)
    return path
