"""Write trajectories as TrackMate XML (model file or "export tracks to XML"), as TrackMate does.

Both flavours are read back by :func:`.trackmate.read_trackmate_xml`; the positions and times of
a model file are written exactly (shortest round-trip decimals), so a data set written as
``.rpt.txt``, TrackMate XML and CSV gives the same maps.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

__all__ = ["write_trackmate_xml"]

_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _frame_interval(df: pd.DataFrame) -> float:
    n, t = df["n"].to_numpy(), df["t"].to_numpy(dtype=np.float64)
    dt = np.diff(t)[n[1:] == n[:-1]]
    dt = dt[dt > 0]
    if dt.size == 0:
        raise ValueError("cannot tell the frame interval (no trajectory has 2 points): pass "
                         "frame_interval=")
    return float(f"{np.median(dt):.12g}")  # 0.05, not 0.04999999999999716


def write_trackmate_xml(
    df: pd.DataFrame, path: str | PathLike[str], *, flavour: str = "model",
    frame_interval: float | None = None, pixel_size: float = 1.0,
) -> Path:
    """Write trajectories as a TrackMate XML file (µm and s), as TrackMate writes them.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``n``, ``x``, ``y`` [, ``z``] (µm), ``t`` (s), rows of a trajectory contiguous.
    path : str or path-like
        Output file.
    flavour : {"model", "tracks"}, default "model"
        ``"model"``: the full model file (``<TrackMate><Model>``, with feature declarations,
        ``AllSpots``, ``AllTracks``, ``FilteredTracks`` and ``Settings/ImageData``); positions
        and ``POSITION_T`` are written exactly (shortest round-trip decimals).
        ``"tracks"``: the "export tracks to XML" file; ``t`` is the frame number
        ``round(t / frame_interval)``.
    frame_interval : float, optional
        s per frame (default: the median time step within trajectories).
    pixel_size : float, default 1.0
        µm per pixel, written in ``ImageData`` (informative: positions stay in µm).

    Returns
    -------
    pathlib.Path
        The path written (atomically: a temporary file, then a rename).
    """
    if flavour not in ("model", "tracks"):
        raise ValueError(f"flavour must be 'model' or 'tracks', got {flavour!r}")
    missing = [c for c in ("n", "x", "y", "t") if c not in df.columns]
    if missing:
        raise ValueError(f"trajectory DataFrame lacks column(s) {missing}")
    fi = float(frame_interval) if frame_interval is not None else _frame_interval(df)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(_HEADER)
        if flavour == "model":
            _write_model(fh, df, fi, pixel_size, path.name)
        else:
            _write_tracks(fh, df, fi)
    tmp.replace(path)
    return path


def _columns(df: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """``n, x, y, z, t`` sorted by (n, t), as numpy arrays."""
    n = df["n"].to_numpy().astype(np.int64)
    t = df["t"].to_numpy(dtype=np.float64)
    order = np.lexsort((t, n))
    x, y = df["x"].to_numpy(dtype=np.float64), df["y"].to_numpy(dtype=np.float64)
    z = df["z"].to_numpy(dtype=np.float64) if "z" in df.columns else np.zeros(n.size)
    return n[order], x[order], y[order], z[order], t[order]


_SPOT_FEATURES = (
    ("QUALITY", "Quality", "Quality", "QUALITY"), ("POSITION_X", "X", "X", "POSITION"),
    ("POSITION_Y", "Y", "Y", "POSITION"), ("POSITION_Z", "Z", "Z", "POSITION"),
    ("POSITION_T", "T", "T", "TIME"), ("FRAME", "Frame", "Frame", "NONE"),
    ("RADIUS", "Radius", "R", "LENGTH"), ("VISIBILITY", "Visibility", "Visibility", "NONE"),
    ("MEAN_INTENSITY_CH1", "Mean intensity ch1", "Mean ch1", "INTENSITY"),
    ("TOTAL_INTENSITY_CH1", "Sum intensity ch1", "Sum ch1", "INTENSITY"),
    ("SNR_CH1", "Signal/Noise ratio ch1", "SNR ch1", "NONE"),
)


def _write_model(fh: IO[str], df: pd.DataFrame, fi: float, pixel_size: float,
                 name: str) -> None:
    n, xa, ya, za, ta = _columns(df)
    frame = np.rint(ta / fi).astype(np.int64)
    x, y, z, t = xa.tolist(), ya.tolist(), za.tolist(), ta.tolist()  # repr: shortest exact
    frames = frame.tolist()
    fh.write('<TrackMate version="7.11.1">\n  <Log>written by tramway-jupyter</Log>\n'
             '  <Model spatialunits="micron" timeunits="sec">\n    <FeatureDeclarations>\n'
             '      <SpotFeatures>\n')
    for key, long, short, dim in _SPOT_FEATURES:
        isint = "true" if key in ("FRAME", "VISIBILITY") else "false"
        fh.write(f'        <Feature feature="{key}" name="{long}" shortname="{short}" '
                 f'dimension="{dim}" isint="{isint}" />\n')
    fh.write('      </SpotFeatures>\n      <EdgeFeatures>\n'
             '        <Feature feature="SPOT_SOURCE_ID" name="Source spot ID" shortname="Source'
             ' ID" dimension="NONE" isint="true" />\n'
             '        <Feature feature="SPOT_TARGET_ID" name="Target spot ID" shortname="Target'
             ' ID" dimension="NONE" isint="true" />\n'
             '        <Feature feature="LINK_COST" name="Edge cost" shortname="Cost" '
             'dimension="COST" isint="false" />\n      </EdgeFeatures>\n      <TrackFeatures>\n'
             '        <Feature feature="TRACK_ID" name="Track ID" shortname="ID" '
             'dimension="NONE" isint="true" />\n'
             '        <Feature feature="NUMBER_SPOTS" name="Number of spots in track" '
             'shortname="N spots" dimension="NONE" isint="true" />\n'
             '      </TrackFeatures>\n    </FeatureDeclarations>\n')
    fh.write(f'    <AllSpots nspots="{n.size}">\n')
    by_frame = np.argsort(frame, kind="stable")
    bounds = np.flatnonzero(np.diff(frame[by_frame])) + 1
    for chunk in np.split(by_frame, bounds):
        if chunk.size == 0:
            continue
        fh.write(f'      <SpotsInFrame frame="{frames[chunk[0]]}">\n')
        fh.write("".join(
            f'        <Spot ID="{i}" name="ID{i}" QUALITY="1.0" POSITION_X="{x[i]!r}" '
            f'POSITION_Y="{y[i]!r}" POSITION_Z="{z[i]!r}" POSITION_T="{t[i]!r}" '
            f'FRAME="{frames[i]}" RADIUS="0.1" VISIBILITY="1" MEAN_INTENSITY_CH1="100.0" '
            f'TOTAL_INTENSITY_CH1="1300.0" SNR_CH1="5.0" />\n' for i in chunk.tolist()))
        fh.write("      </SpotsInFrame>\n")
    fh.write("    </AllSpots>\n    <AllTracks>\n")
    starts = np.r_[0, np.flatnonzero(n[1:] != n[:-1]) + 1, n.size]
    kept = []
    for k, (lo, hi) in enumerate(zip(starts[:-1], starts[1:], strict=True)):
        if hi - lo < 2:
            continue
        kept.append(k)
        fh.write(f'      <Track name="Track_{k}" TRACK_ID="{k}" TRACK_INDEX="{k}" '
                 f'NUMBER_SPOTS="{hi - lo}" NUMBER_GAPS="0" NUMBER_SPLITS="0" '
                 f'NUMBER_MERGES="0">\n')
        fh.write("".join(f'        <Edge SPOT_SOURCE_ID="{i}" SPOT_TARGET_ID="{i + 1}" '
                         f'LINK_COST="0.0" />\n' for i in range(int(lo), int(hi) - 1)))
        fh.write("      </Track>\n")
    fh.write("    </AllTracks>\n    <FilteredTracks>\n")
    fh.write("".join(f'      <TrackID TRACK_ID="{k}" />\n' for k in kept))
    fh.write("    </FilteredTracks>\n  </Model>\n  <Settings>\n")
    fh.write(f'    <ImageData filename="{name}.tif" folder="" width="0" height="0" '
             f'nslices="1" nframes="{int(frame.max()) + 1 if frame.size else 0}" '
             f'pixelwidth="{pixel_size!r}" pixelheight="{pixel_size!r}" voxeldepth="1.0" '
             f'timeinterval="{fi!r}" />\n')
    fh.write('    <BasicSettings xstart="0" xend="0" ystart="0" yend="0" zstart="0" zend="0" '
             'tstart="0" tend="0" />\n  </Settings>\n  <GUIState state="ConfigureViews" />\n'
             "</TrackMate>\n")


def _write_tracks(fh: IO[str], df: pd.DataFrame, fi: float) -> None:
    n, xa, ya, za, ta = _columns(df)
    frame = np.rint(ta / fi).astype(np.int64).tolist()
    x, y, z = xa.tolist(), ya.tolist(), za.tolist()
    starts = np.r_[0, np.flatnonzero(n[1:] != n[:-1]) + 1, n.size]
    fh.write(f'<Tracks nTracks="{starts.size - 1}" spaceUnits="micron" frameInterval="{fi!r}" '
             f'timeUnits="sec" generationDateTime="Mon, 30 Nov 2026 00:00:00" '
             f'from="TrackMate v7.11.1">\n')
    for lo, hi in zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True):
        fh.write(f'  <particle nSpots="{hi - lo}">\n')
        fh.write("".join(f'    <detection t="{frame[i]}" x="{x[i]!r}" y="{y[i]!r}" '
                         f'z="{z[i]!r}" />\n' for i in range(lo, hi)))
        fh.write("  </particle>\n")
    fh.write("</Tracks>\n")
