"""Read and write TrackMate XML files, streaming.

Two flavours are read, told apart by their root element:

* the full model file that TrackMate saves (``<TrackMate><Model spatialunits timeunits>``):
  spots in ``AllSpots/SpotsInFrame/Spot`` (``ID``, ``POSITION_X/Y/Z/T``, ``FRAME``), tracks in
  ``AllTracks/Track`` (``TRACK_ID``) as ``Edge`` elements (``SPOT_SOURCE_ID``,
  ``SPOT_TARGET_ID``), the tracks kept by TrackMate's filters in ``FilteredTracks/TrackID``, and
  the image calibration in ``Settings/ImageData`` (``pixelwidth``, ``timeinterval``);
* the "export tracks to XML" file (``<Tracks spaceUnits frameInterval timeUnits>``, one
  ``<particle>`` per track holding ``<detection t x y z/>``, ``t`` a frame number).

The writer, :func:`write_trackmate_xml`, lives in :mod:`.trackmate_write`. The file is parsed with :func:`xml.etree.ElementTree.iterparse` and every element is dropped
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
from typing import Any

import numpy as np
import pandas as pd

from tramway_jupyter.exceptions import DataFormatError

from .trackmate_write import write_trackmate_xml  # re-exported: readers and writer in one place
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
