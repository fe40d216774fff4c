"""ROIs drawn in ImageJ/Fiji: single ``.roi`` files and ``RoiSet.zip`` (ROI Manager) files.

Read with the `roifile <https://pypi.org/project/roifile/>`_ package. Rectangles, ovals and
polygons (polygon, freehand and traced ROIs) are kept; any other kind (line, polyline, point,
angle, text, composite...) is refused with an error naming the ROI, as it cannot crop data.
ImageJ stores coordinates in pixels of the image the ROI was drawn on: they become µm with
``pixel_size`` (µm per pixel), which is required unless the caller states ``units="um"``.
"""

from __future__ import annotations

import logging
import math
import zipfile
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tramway_jupyter.exceptions import DataFormatError

from .roi_shapes import RoiShape

if TYPE_CHECKING:  # roifile is imported when an ImageJ file is read, never by a worker that
    from roifile import ImagejRoi  # crops TRamWAy boxes only (lean worker environments)

__all__ = ["read_imagej_rois", "imagej_roi_names", "is_imagej_roi_file"]

logger = logging.getLogger(__name__)

_UM = ("um", "µm", "micron", "microns")
_MAX_ROI_BYTES = 64 << 20


def is_imagej_roi_file(path: str | PathLike[str]) -> bool:
    """Whether ``path`` names an ImageJ ROI file (``*.roi`` or ``*.zip``, any case)."""
    return Path(path).suffix.lower() in (".roi", ".zip")


def _load(path: Path) -> list[tuple[str, ImagejRoi]]:
    """(name, ROI) of every ROI of a ``.roi`` or ``.zip`` file, in the file's order."""
    from roifile import ImagejRoi

    if not path.exists():
        raise FileNotFoundError(f"ROI file not found: {path}")
    if path.suffix.lower() != ".zip":
        data = path.read_bytes()
        try:
            roi = ImagejRoi.frombytes(data)
        except Exception as exc:  # roifile raises ValueError/struct.error on bad bytes
            raise DataFormatError(path, f"not an ImageJ ROI file: {exc}") from None
        return [(roi.name or path.stem, roi)]
    out: list[tuple[str, ImagejRoi]] = []
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                member = info.filename
                if info.is_dir() or not member.lower().endswith(".roi"):
                    logger.debug("%s: skipping zip member %s (not a .roi)", path, member)
                    continue  # ImageJ's ROI Manager reads only the .roi entries too
                try:
                    if info.file_size > _MAX_ROI_BYTES:
                        raise ValueError(f"{info.file_size} bytes, too large for a ROI")
                    roi = ImagejRoi.frombytes(zf.read(info))
                except Exception as exc:  # BadZipFile (CRC), zlib.error, ValueError, struct.error
                    raise DataFormatError(
                        path, f"zip member {member!r}: not a readable ImageJ ROI ({exc})"
                    ) from None
                out.append((roi.name or Path(member).stem, roi))
    except zipfile.BadZipFile as exc:
        raise DataFormatError(path, f"not a readable zip file (an ImageJ RoiSet.zip): {exc}"
                              ) from None
    if not out:
        raise DataFormatError(path, "no ImageJ ROI (.roi member) in the zip file")
    return out


def _kind(path: Path, name: str, roi: ImagejRoi) -> str:
    """``"rectangle"``, ``"oval"`` or ``"polygon"``; any other ROI is refused."""
    from roifile import ROI_SUBTYPE, ROI_TYPE

    what = roi.roitype.name.lower()
    if roi.subtype in (ROI_SUBTYPE.TEXT, ROI_SUBTYPE.ARROW, ROI_SUBTYPE.IMAGE):
        what = f"{roi.subtype.name.lower()} ({what})"
    elif roi.multi_coordinates is not None or roi.shape_roi_size:
        what = f"composite ({what})"
    elif roi.roitype == ROI_TYPE.RECT:
        return "rectangle"
    elif roi.roitype == ROI_TYPE.OVAL:
        return "oval"
    elif roi.roitype in (ROI_TYPE.POLYGON, ROI_TYPE.FREEHAND, ROI_TYPE.TRACED):
        return "polygon"
    raise DataFormatError(
        path, f"ROI {name!r} is a {what} ROI; only rectangles, ovals and polygons (polygon, "
        "freehand, traced) can crop data: delete it in ImageJ's ROI Manager or save the "
        "others to another RoiSet.zip",
    )


def _scale(path: Path, pixel_size: float | None, units: str) -> float:
    if units.lower() in _UM:
        if pixel_size is not None:
            raise ValueError(f"{path}: pixel_size={pixel_size!r} given with units={units!r}: "
                             "ROIs already in µm take no pixel size")
        return 1.0
    if units.lower() not in ("pixel", "pixels", "px"):
        raise ValueError(f"{path}: units={units!r}; expected 'pixel' or 'um'")
    if pixel_size is None:
        raise ValueError(
            f"{path}: ImageJ ROI coordinates are in pixels and no pixel size was given: pass "
            "pixel_size= (µm per pixel, e.g. crop(df, roi_file, index=i, pixel_size=0.16)), "
            "or units='um' if these ROIs were drawn in µm"
        )
    if isinstance(pixel_size, bool) or not isinstance(pixel_size, (int, float, np.floating)) \
            or not math.isfinite(pixel_size) or pixel_size <= 0:
        raise ValueError(f"{path}: pixel_size must be a positive number of µm per pixel, "
                         f"got {pixel_size!r}")
    return float(pixel_size)


def _shape(path: Path, name: str, roi: ImagejRoi, scale: float) -> RoiShape:
    kind = _kind(path, name, roi)
    try:
        if kind == "polygon":
            return RoiShape.polygon(name, np.asarray(roi.coordinates(), np.float64) * scale)
        if roi.subpixelrect and roi.widthd > 0 and roi.heightd > 0:
            x0, y0, w, h = roi.xd, roi.yd, roi.widthd, roi.heightd
        else:
            x0, y0 = roi.left, roi.top
            w, h = roi.right - roi.left, roi.bottom - roi.top
        bounds = np.array([x0, y0, x0 + w, y0 + h], dtype=np.float64) * scale
        return RoiShape.rectangle(name, bounds) if kind == "rectangle" \
            else RoiShape.oval(name, bounds)
    except ValueError as exc:  # an empty rectangle, a polygon of fewer than 3 vertices
        raise DataFormatError(path, str(exc)) from None


def imagej_roi_names(path: str | PathLike[str]) -> list[str]:
    """The names of the ROIs of an ImageJ ``.roi`` or ``RoiSet.zip`` file, in the file's order.

    Checks every ROI's kind (no pixel size needed), so that a plan fails before any task runs.

    Parameters
    ----------
    path : str or path-like
        A ``.roi`` or ``.zip`` file.

    Returns
    -------
    list of str
        ``ImagejRoi.name``, else the zip member's name without ``.roi``, else (a single
        ``.roi`` file) the file's name without ``.roi``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    tramway_jupyter.exceptions.DataFormatError
        If the file or one zip member cannot be read (the message names both), the zip holds
        no ``.roi``, or a ROI is not a rectangle, an oval or a polygon.
    """
    path = Path(path)
    rois = _load(path)
    for name, roi in rois:
        _kind(path, name, roi)
    return [name for name, _ in rois]


def read_imagej_rois(
    path: str | PathLike[str], *, pixel_size: float | None = None, units: str = "pixel"
) -> list[RoiShape]:
    """Read the ROIs of an ImageJ/Fiji ``.roi`` or ``RoiSet.zip`` file as shapes in µm.

    Parameters
    ----------
    path : str or path-like
        A single-ROI ``.roi`` file or a ROI Manager ``.zip`` (``More >> Save...``).
    pixel_size : float, optional
        µm per pixel of the image the ROIs were drawn on. Required unless ``units="um"``:
        the file does not say, and a wrong guess silently crops the wrong region.
    units : {"pixel", "um"}, default "pixel"
        ``"um"`` when the ROI coordinates are already in µm (e.g. drawn on a calibrated
        rendering whose pixel is 1 µm, or written by a script in µm); then ``pixel_size``
        must not be given.

    Returns
    -------
    list of RoiShape
        One per ROI, in the file's order: ``kind`` ``"rectangle"``, ``"oval"`` or
        ``"polygon"``, vertices and bounds in µm, ``name`` as in :func:`imagej_roi_names`.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If ``pixel_size`` is missing (the message names the file and the keyword), not
        positive, or given with ``units="um"``.
    tramway_jupyter.exceptions.DataFormatError
        As :func:`imagej_roi_names`, and for an empty rectangle/oval or a polygon of fewer
        than 3 vertices.

    Notes
    -----
    Coordinates are ImageJ's: x to the right and y downwards from the image's top-left
    corner, a pixel (i, j) covering [i, i+1) x [j, j+1), so vertex (i, j) is at
    ``(i * pixel_size, j * pixel_size)`` µm with no half-pixel shift; TrackMate's positions
    use the same axes. Sub-pixel coordinates are used where the file has them. The stack
    position (channel, slice, frame) a ROI may carry is ignored: the ROI applies at all times.
    A spline-fit polygon is read as its control polygon. Rotated rectangles and ellipses
    (ImageJ stores them as polygons) are polygons here.

    Examples
    --------
    >>> from roifile import ImagejRoi
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> ImagejRoi.frompoints([[0, 0], [10, 0], [0, 10]], name="cell").tofile(
    ...     os.path.join(d, "X.roi"))
    >>> [(s.name, s.kind, s.bounds) for s in read_imagej_rois(os.path.join(d, "X.roi"),
    ...                                                        pixel_size=0.1)]
    [('cell', 'polygon', (0.0, 0.0, 1.0, 1.0))]
    """
    path = Path(path)
    rois = _load(path)
    scale = _scale(path, pixel_size, units)
    return [_shape(path, name, roi, scale) for name, roi in rois]
