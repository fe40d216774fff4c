"""Read and write TrackMate XML files, streaming.

Two flavours are read, told apart by their root element:

* the full model file that TrackMate saves (``<TrackMate><Model spatialunits timeunits>``):
  spots in ``AllSpots/SpotsInFrame/Spot`` (``ID``, ``POSITION_X/Y/Z/T``, ``FRAME``), tracks in
  ``AllTracks/Track`` (``TRACK_ID``) as ``Edge`` elements (``SPOT_SOURCE_ID``,
  ``SPOT_TARGET_ID``), the tracks kept by TrackMate's filters in ``FilteredTracks/TrackID``, and
  the image calibration in ``Settings/ImageData`` (``pixelwidth``, ``timeinterval``);
* the "export tracks to XML" file (``<Tracks spaceUnits frameInterval timeUnits>``, one
  ``<particle>`` per track holding ``<detection t x y z/>``, ``t`` a frame number).

The file is parsed with :func:`xml.etree.ElementTree.iterparse` and every element is dropped
once read: memory grows with the spots (5 numbers each), not with the XML, whose spots carry
dozens of features.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from array import array
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from tramway_jupyter.exceptions import DataFormatError

from .units import calibrate, finish, linear_segments_by_frame

__all__ = ["read_trackmate_xml", "write_trackmate_xml"]

logger = logging.getLogger(__name__)


def _events(path: Path, source: Any) -> Iterator[tuple[str, ET.Element]]:
    """``iterparse`` events; a parse error becomes one :class:`DataFormatError` with its line."""
    try:
        yield from ET.iterparse(source, events=("start", "end"))
    except ET.ParseError as exc:
        line, column = exc.position
        reason = str(exc).split(":")[0]
        raise DataFormatError(path, f"malformed XML at column {column + 1}: {reason}",
                              line=line) from None


def _describe(elem: ET.Element, *keys: str) -> str:
    attrs = " ".join(f'{k}="{elem.get(k)}"' for k in keys if elem.get(k) is not None)
    return f"<{elem.tag}{' ' + attrs if attrs else ''}>"


def _number(path: Path, elem: ET.Element, key: str, context: str, *keys: str) -> float:
    value = elem.get(key)
    if value is None:
        raise DataFormatError(path, f"{_describe(elem, *keys)}{context} has no {key} attribute")
    try:
        return float(value)
    except ValueError:
        raise DataFormatError(path, f"{_describe(elem, *keys)}{context}: {key}={value!r} is not "
                              f"a number") from None


def _integer(path: Path, elem: ET.Element, key: str, context: str, *keys: str) -> int:
    value = _number(path, elem, key, context, *keys)
    if value != int(value):
        raise DataFormatError(path, f"{_describe(elem, *keys)}{context}: {key}={value!r} is not "
                              f"an integer")
    return int(value)


def read_trackmate_xml(
    path: str | PathLike[str], *, pixel_size: float | None = None,
    frame_interval: float | None = None, all_tracks: bool = False,
) -> pd.DataFrame:
    """Read a TrackMate XML file (model file or "export tracks to XML") as trajectories.

    Parameters
    ----------
    path : str or path-like
        ``.xml`` file written by TrackMate.
    pixel_size : float, optional
        µm per pixel; required when the file's positions are in pixels, refused otherwise.
    frame_interval : float, optional
        s per frame; required when the file's times are in frames, refused otherwise.
    all_tracks : bool, default False
        Read every track of a model file, not only those in ``FilteredTracks`` (TrackMate's
        track filters).

    Returns
    -------
    pandas.DataFrame
        Columns ``n``, ``x``, ``y`` [, ``z`` if not all zero] (µm), ``t`` (s), sorted by
        (``n``, ``t``). Spots in no track are dropped. A branching track (a spot with two
        outgoing or two incoming edges) is cut into linear segments at its branch points, each
        with its own ``n``: no step crosses a split or a merge. ``df.attrs`` holds ``source``
        and, when the file gives them, ``frame_interval`` (s) and ``pixel_size`` (µm).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is in pixels or frames and ``pixel_size``/``frame_interval`` is not given
        (or given for a calibrated file).
    tramway_jupyter.exceptions.DataFormatError
        If the XML is malformed (the message gives the line) or an element lacks what it
        needs: a ``Spot`` without ``POSITION_X``, an ``Edge`` to a spot not in ``AllSpots``,
        a ``TrackID`` of no track, ... (the message names the element).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"trajectory file not found: {path}")
    with open(path, "rb") as fh:
        events = _events(path, fh)
        first = next(events, None)
        if first is None:
            raise DataFormatError(path, "empty XML file", line=1)
        root = first[1]
        if root.tag == "TrackMate":
            return _read_model(path, root, events, pixel_size, frame_interval, all_tracks)
        if root.tag == "Tracks":
            if all_tracks:
                logger.info("%s: an 'export tracks' file holds only the filtered tracks", path)
            return _read_tracks(path, root, events, pixel_size, frame_interval)
    raise DataFormatError(path, f"root element <{root.tag}> is neither <TrackMate> (a TrackMate "
                          f"model file) nor <Tracks> (TrackMate's 'export tracks to XML')",
                          line=1)


def _read_model(path: Path, root: ET.Element, events: Iterator[tuple[str, ET.Element]],
                pixel_size: float | None, frame_interval: float | None,
                all_tracks: bool) -> pd.DataFrame:
    ids, frames = array("q"), array("q")
    xs, ys, zs, ts = array("d"), array("d"), array("d"), array("d")
    src, tgt, edge_track = array("q"), array("q"), array("q")
    track_ids: list[int] = []
    filtered: list[int] | None = None
    model: dict[str, str] | None = None
    image: dict[str, str] = {}
    stack: list[ET.Element] = [root]
    track = -1
    frame_ctx = ""
    nan = float("nan")
    for event, elem in events:
        tag = elem.tag
        if event == "start":
            stack.append(elem)
            if tag == "Model":
                model = dict(elem.attrib)
            elif tag == "SpotsInFrame":
                frame_ctx = f" in <SpotsInFrame frame=\"{elem.get('frame')}\">"
            elif tag == "Track":
                track = _integer(path, elem, "TRACK_ID", "", "name")
                track_ids.append(track)
            elif tag == "FilteredTracks":
                filtered = []
            elif tag == "ImageData":
                image = dict(elem.attrib)
            continue
        stack.pop()
        if tag == "Spot":
            ids.append(_integer(path, elem, "ID", frame_ctx, "name"))
            xs.append(_number(path, elem, "POSITION_X", frame_ctx, "ID"))
            ys.append(_number(path, elem, "POSITION_Y", frame_ctx, "ID"))
            z = elem.get("POSITION_Z")
            zs.append(float(z) if z is not None else 0.0)
            t = elem.get("POSITION_T")
            ts.append(_number(path, elem, "POSITION_T", frame_ctx, "ID") if t is not None
                      else nan)
            f = elem.get("FRAME")
            frames.append(_integer(path, elem, "FRAME", frame_ctx, "ID") if f is not None
                          else -1)
        elif tag == "Edge":
            ctx = f' in <Track TRACK_ID="{track}">'
            src.append(_integer(path, elem, "SPOT_SOURCE_ID", ctx))
            tgt.append(_integer(path, elem, "SPOT_TARGET_ID", ctx))
            edge_track.append(track)
        elif tag == "TrackID" and filtered is not None:
            filtered.append(_integer(path, elem, "TRACK_ID", " in <FilteredTracks>"))
        elem.clear()
        if stack:
            del stack[-1][:]  # drop read children: memory stays bounded by the spots kept
    if model is None:
        raise DataFormatError(path, "<TrackMate> has no <Model> element")
    cal = calibrate(path, model.get("spatialunits"), model.get("timeunits"), pixel_size,
                    frame_interval, where='<Model spatialunits="{}" timeunits="{}">'.format(
                        model.get("spatialunits"), model.get("timeunits")))
    spot_id = np.frombuffer(ids, dtype=np.int64)
    order: np.ndarray | None = None  # TrackMate's IDs usually come sorted: no copy then
    sorted_ids = spot_id
    if spot_id.size > 1 and not np.all(spot_id[1:] > spot_id[:-1]):
        order = np.argsort(spot_id, kind="stable")
        sorted_ids = spot_id[order]
    if sorted_ids.size > 1 and np.any(sorted_ids[1:] == sorted_ids[:-1]):
        dup = sorted_ids[1:][sorted_ids[1:] == sorted_ids[:-1]][0]
        raise DataFormatError(path, f'two <Spot ID="{dup}"> elements in <AllSpots>')
    s_id, t_id = np.frombuffer(src, dtype=np.int64), np.frombuffer(tgt, dtype=np.int64)
    e_track = np.frombuffer(edge_track, dtype=np.int64)
    known = set(track_ids)
    if filtered is not None and not all_tracks:
        missing = [k for k in filtered if k not in known]
        if missing:
            raise DataFormatError(path, f'<TrackID TRACK_ID="{missing[0]}"> in <FilteredTracks> '
                                  f"names no <Track> of <AllTracks>")
        keep = np.isin(e_track, np.asarray(filtered, dtype=np.int64))
        if not keep.all():
            s_id, t_id, e_track = s_id[keep], t_id[keep], e_track[keep]
        del keep
    elif filtered is None and not all_tracks:
        logger.info("%s: no <FilteredTracks>; reading every track", path)

    def index_of(edge_ids: np.ndarray, which: str) -> np.ndarray:
        pos = np.searchsorted(sorted_ids, edge_ids)
        np.minimum(pos, max(sorted_ids.size - 1, 0), out=pos)
        if sorted_ids.size:
            bad = sorted_ids[pos] != edge_ids
        else:
            bad = np.ones(edge_ids.size, dtype=bool)
        if np.any(bad):
            k = int(np.flatnonzero(bad)[0])
            raise DataFormatError(
                path, f'<Edge SPOT_SOURCE_ID="{s_id[k]}" SPOT_TARGET_ID="{t_id[k]}"> in '
                f'<Track TRACK_ID="{e_track[k]}">: its {which} spot {edge_ids[k]} is not in '
                f"<AllSpots>")
        return pos if order is None else order[pos]

    a, b = index_of(s_id, "source"), index_of(t_id, "target")
    x, y, z = (np.frombuffer(v, dtype=np.float64) for v in (xs, ys, zs))
    frame = np.frombuffer(frames, dtype=np.int64)
    if cal.time_from_frames:
        if np.any(frame < 0):
            k = int(np.flatnonzero(frame < 0)[0])
            raise DataFormatError(path, f'<Spot ID="{spot_id[k]}"> has no FRAME attribute')
        t = frame * cal.time
    else:
        t = np.frombuffer(ts, dtype=np.float64)  # writable: scaled in place
        if cal.time != 1.0:
            t *= cal.time
        if np.any(np.isnan(t)):
            k = int(np.flatnonzero(np.isnan(t))[0])
            raise DataFormatError(path, f'<Spot ID="{spot_id[k]}"> has no POSITION_T attribute')
    if s_id.size == 0:
        raise DataFormatError(path, f"no track to read ({len(track_ids)} tracks in <AllTracks>, "
                              f"{len(filtered or [])} in <FilteredTracks>; all_tracks=True "
                              f"reads every track)")
    # orient every edge forward in time (TrackMate usually does, but does not promise)
    back = np.flatnonzero(t[b] < t[a])
    a[back], b[back] = b[back], a[back]
    flat = np.flatnonzero(t[a] == t[b])
    if flat.size:
        k = int(flat[0])
        raise DataFormatError(path, f'<Edge SPOT_SOURCE_ID="{s_id[k]}" SPOT_TARGET_ID='
                              f'"{t_id[k]}"> in <Track TRACK_ID="{e_track[k]}"> links two spots '
                              f"at the same time")
    n = _segments(a, b, e_track, t, spot_id.size)
    del a, b
    spots = np.flatnonzero(n >= 0)
    spots = spots[np.lexsort((t[spots], n[spots]))]  # one gather per column, already sorted
    xyz = {}
    for name, col in (("x", x), ("y", y), ("z", z)):
        xyz[name] = col[spots]
        if cal.space != 1.0:
            xyz[name] *= cal.space
    df = finish(path, n[spots], xyz, t[spots])
    _attrs(df, image, cal)
    return df


def _segments(a: np.ndarray, b: np.ndarray, track: np.ndarray, t: np.ndarray,
              n_spots: int) -> np.ndarray:
    """Trajectory id of each spot (-1: in no kept track): the linear segments of the tracks.

    An edge a->b stays inside a segment iff a has one outgoing and b one incoming edge; the
    segments are the connected components of those edges, numbered by (track, start time).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    out_deg = np.bincount(a, minlength=n_spots)
    inside = out_deg[a] == 1
    del out_deg
    in_deg = np.bincount(b, minlength=n_spots)
    inside &= in_deg[b] == 1
    del in_deg
    graph = coo_matrix((np.ones(int(inside.sum()), dtype=np.int8), (a[inside], b[inside])),
                       shape=(n_spots, n_spots)).tocsr()
    del inside
    _, label = connected_components(graph, directed=False)
    del graph
    spot_track = np.full(n_spots, -1, dtype=np.int64)
    spot_track[a] = track
    spot_track[b] = track
    kept = np.flatnonzero(spot_track >= 0)
    lab = label[kept]
    # segment start = earliest time of its spots; number segments by (track, start)
    start = np.full(n_spots, np.inf)
    np.minimum.at(start, lab, t[kept])
    seg, first = np.unique(lab, return_index=True)
    rank = np.lexsort((start[seg], spot_track[kept][first]))
    number = np.empty(seg.size, dtype=np.int64)
    number[rank] = np.arange(seg.size)
    n = np.full(n_spots, -1, dtype=np.int64)
    n[kept] = number[np.searchsorted(seg, lab)]
    return n


def _attrs(df: pd.DataFrame, image: dict[str, str], cal: Any) -> None:
    """Record the frame interval (s) the file states, for information."""
    if cal.time_from_frames:
        df.attrs["frame_interval"] = cal.time
    elif "timeinterval" in image:
        try:
            df.attrs["frame_interval"] = float(image["timeinterval"]) * cal.time
        except ValueError:
            pass


def _read_tracks(path: Path, root: ET.Element, events: Iterator[tuple[str, ET.Element]],
                 pixel_size: float | None, frame_interval: float | None) -> pd.DataFrame:
    attrs = dict(root.attrib)
    where = "<Tracks {}>".format(" ".join(f'{k}="{attrs.get(k)}"' for k in
                                          ("spaceUnits", "frameInterval", "timeUnits")))
    interval = attrs.get("frameInterval")
    time_unit = attrs.get("timeUnits") if interval is not None else None
    cal = calibrate(path, attrs.get("spaceUnits"), time_unit, pixel_size, frame_interval, where)
    if cal.time_from_frames:
        seconds_per_frame = cal.time
    else:
        try:
            seconds_per_frame = float(interval) * cal.time  # type: ignore[arg-type]
        except ValueError:
            raise DataFormatError(path, f"{where}: frameInterval is not a number") from None
    pid, frames = array("q"), array("d")
    xs, ys, zs = array("d"), array("d"), array("d")
    particle = -1
    stack: list[ET.Element] = [root]
    for event, elem in events:
        if event == "start":
            stack.append(elem)
            if elem.tag == "particle":
                particle += 1
            continue
        stack.pop()
        if elem.tag == "detection":
            if particle < 0:
                raise DataFormatError(path, "<detection> outside any <particle>")
            ctx = f" in <particle> #{particle + 1}"
            frames.append(_number(path, elem, "t", ctx, "t"))
            xs.append(_number(path, elem, "x", ctx, "t"))
            ys.append(_number(path, elem, "y", ctx, "t"))
            z = elem.get("z")
            zs.append(float(z) if z is not None else 0.0)
            pid.append(particle)
        elem.clear()
        if stack:
            del stack[-1][:]
    p = np.frombuffer(pid, dtype=np.int64)
    if p.size == 0:
        raise DataFormatError(path, f"{where} holds no <particle><detection> element")
    f = np.frombuffer(frames, dtype=np.float64)
    order = np.lexsort((f, p))
    seg = linear_segments_by_frame(p[order], f[order])
    n = np.empty_like(seg)
    n[order] = seg
    split = int(seg[-1] + 1 - np.unique(p).size)
    if split:
        logger.warning("%s: branching particles (several detections in one frame) cut into "
                       "linear segments at their branch points (+%d segments)", path, split)
    x, y, z = (np.frombuffer(v, dtype=np.float64) * cal.space for v in (xs, ys, zs))
    df = finish(path, n, {"x": x, "y": y, "z": z}, f * seconds_per_frame)
    df.attrs["frame_interval"] = seconds_per_frame
    return df


# -- writers ---------------------------------------------------------------------------------

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
