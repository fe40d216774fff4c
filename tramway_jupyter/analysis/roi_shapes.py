"""ROI shapes (rectangles, ovals, polygons) in µm and the test of which points lie inside.

One :class:`RoiShape` per ROI, whatever the file it came from (TRamWAy's ``-roi.txt`` boxes,
ImageJ's ``.roi`` / ``RoiSet.zip``), so that :func:`~tramway_jupyter.analysis.rois.crop` has one
rule per kind of shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RoiShape", "OVAL_VERTICES"]

#: Number of vertices of the polygon that draws an oval (the test itself is the exact ellipse).
OVAL_VERTICES = 64

KINDS = ("rectangle", "oval", "polygon")


@dataclass(frozen=True, eq=False)
class RoiShape:
    """One region of interest, in µm.

    Attributes
    ----------
    name : str
        The ROI's name: ImageJ's ROI name (else the zip member's, else the file's), or the
        index as a string (``"0"``, ``"1"``...) for TRamWAy's ``-roi.txt`` files.
    kind : {"rectangle", "oval", "polygon"}
        The shape. ImageJ's polygon, freehand and traced ROIs are all ``"polygon"``.
    vertices : numpy.ndarray, shape (k, 2)
        The outline (x, y) in µm, not repeating the first vertex; an oval's is a polygon of
        :data:`OVAL_VERTICES` vertices (for drawing only: the test is the exact ellipse).
    bounds : tuple of 4 floats
        ``(x_min, y_min, x_max, y_max)`` in µm; for an oval, the rectangle it is inscribed in.
    time_bounds : tuple of 2 floats, optional
        ``(t_min, t_max)`` in s (TRamWAy's ``t min``/``t max`` columns), closed; None: any time.
    closed : bool, default False
        Whether a point on a rectangle's edge is inside (True: TRamWAy's closed boxes). False
        is ImageJ's rule (see :meth:`contains`).

    Notes
    -----
    Boundary points (:meth:`contains`):

    * TRamWAy boxes (``closed=True``): every edge belongs to the box, as in TRamWAy's crop.
    * ImageJ rectangles and polygons: Java's (and so ImageJ's) insideness rule: a point on
      the outline is inside when the interior lies immediately to its right (+x) or below it
      (+y; image rows grow downwards): left and top edges are in, right and bottom edges out.
      ROIs that tile a plane therefore share no point. Polygons use the even-odd rule (a
      self-intersecting outline has holes, as in ImageJ).
    * Ovals: the exact ellipse inscribed in ``bounds``, its outline included.
    """

    name: str
    kind: str
    vertices: np.ndarray
    bounds: tuple[float, float, float, float]
    time_bounds: tuple[float, float] | None = None
    closed: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"ROI {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        x0, y0, x1, y1 = self.bounds
        if not (x0 < x1 and y0 < y1):
            raise ValueError(f"ROI {self.name!r} ({self.kind}) is empty: bounds {self.bounds}")

    @classmethod
    def rectangle(cls, name: str, bounds: tuple[float, float, float, float] | np.ndarray,
                  time_bounds: tuple[float, float] | None = None,
                  closed: bool = False) -> RoiShape:
        """A rectangle ``(x_min, y_min, x_max, y_max)`` (µm)."""
        x0, y0, x1, y1 = (float(v) for v in bounds)
        vertices = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
        return cls(name, "rectangle", vertices, (x0, y0, x1, y1), time_bounds, closed)

    @classmethod
    def oval(cls, name: str, bounds: tuple[float, float, float, float] | np.ndarray) -> RoiShape:
        """The axis-aligned ellipse inscribed in ``(x_min, y_min, x_max, y_max)`` (µm)."""
        x0, y0, x1, y1 = (float(v) for v in bounds)
        a = np.linspace(0.0, 2.0 * np.pi, OVAL_VERTICES, endpoint=False)
        cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
        vertices = np.column_stack([cx + rx * np.cos(a), cy + ry * np.sin(a)])
        return cls(name, "oval", vertices, (x0, y0, x1, y1))

    @classmethod
    def polygon(cls, name: str, vertices: np.ndarray) -> RoiShape:
        """A polygon of vertices (k, 2) in µm (a repeated closing vertex is dropped)."""
        v = np.array(vertices, dtype=np.float64, ndmin=2)
        if v.ndim != 2 or v.shape[1] != 2:
            raise ValueError(f"ROI {name!r}: polygon vertices must have shape (k, 2), "
                             f"got {v.shape}")
        if len(v) > 1 and np.array_equal(v[0], v[-1]):
            v = v[:-1]
        if len(v) < 3 or not np.all(np.isfinite(v)):
            raise ValueError(f"ROI {name!r}: a polygon needs at least 3 finite vertices, "
                             f"got {len(v)}")
        lo, hi = v.min(axis=0), v.max(axis=0)
        return cls(name, "polygon", v, (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])))

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Which points (x, y) (µm, same shapes) lie inside; boundary rules in the class Notes."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        x0, y0, x1, y1 = self.bounds
        if self.kind == "rectangle":
            if self.closed:
                return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
            return (x >= x0) & (x < x1) & (y >= y0) & (y < y1)
        if self.kind == "oval":
            rx, ry = (x1 - x0) / 2, (y1 - y0) / 2
            u = (x - (x0 + x1) / 2) / rx
            w = (y - (y0 + y1) / 2) / ry
            return u * u + w * w <= 1.0
        inside = np.zeros(x.shape, dtype=bool)
        box = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)  # only these can be inside
        if box.any():
            inside[box] = _even_odd(x[box], y[box], self.vertices)
        return inside


def _even_odd(x: np.ndarray, y: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Crossing-number test (Java's insideness rule), one pass per edge: O(n) memory."""
    inside = np.zeros(x.shape, dtype=bool)
    xj, yj = vertices[-1]
    for xi, yi in vertices:
        if yi != yj:  # horizontal edges never cross the ray
            straddle = (yi > y) != (yj > y)
            xcross = xi + (y - yi) * (xj - xi) / (yj - yi)
            inside ^= straddle & (x < xcross)
        xj, yj = xi, yi
    return inside
