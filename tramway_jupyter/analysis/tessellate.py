"""Spatial tessellations (hexagonal, square grid, k-means/Voronoi) of SPT data.

Cell sizes follow TRamWAy's standard parameters (``helper/tessellation.py``): a reference distance
``ref_distance`` (default: the mean translocation length) and a target number of points per cell
(default 80 = 4 x ``min_location_count`` 20); the spacing is floored at ``0.8 * ref_distance``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.spatial import cKDTree

from ._voronoi import clipped_voronoi, delaunay_adjacency

__all__ = ["Tessellation", "tessellate", "load_tessellation", "estimate_cells"]

logger = logging.getLogger(__name__)

METHODS = ("hexagon", "grid", "kmeans")
DEFAULT_POINTS_PER_CELL = 80
#: Cells a tessellation may have: a 1e6-cell hexagon lattice takes ~0.2 GB to build and infer
#: on; the 23 GB OOM kill seen was ~1e8 cells (``infer --cell-size 0.001`` on a 10 µm box).
MAX_CELLS = 1_000_000
#: A bounding box more than this many times wider than the box of all but the extreme 0.1%
#: of the points (on either axis) is dominated by outliers.
OUTLIER_SPAN_RATIO = 10.0
SQRT3 = np.sqrt(3.0)


@dataclass
class Tessellation:
    """A partition of the plane into cells, each point belonging to its nearest centre.

    Attributes
    ----------
    method : str
        ``"hexagon"``, ``"grid"`` or ``"kmeans"``.
    centers : numpy.ndarray, shape (m, 2)
        Cell centres (µm).
    adjacency : scipy.sparse.csr_matrix, shape (m, m)
        Symmetric 0/1 neighbour graph.
    areas : numpy.ndarray, shape (m,)
        Cell areas (µm²): hexagon or square area, Voronoi area clipped to ``bounds`` for kmeans.
    cell_size : float
        Distance between neighbouring centres (µm); for kmeans the initial grid spacing.
    bounds : numpy.ndarray, shape (4,)
        ``[x_min, y_min, x_max, y_max]`` of the tessellated region (µm).
    lattice : dict
        Parameters of the hexagon/grid lattice used for O(n) assignment.
    """

    method: str
    centers: np.ndarray
    adjacency: sparse.csr_matrix
    areas: np.ndarray
    cell_size: float
    bounds: np.ndarray
    lattice: dict = field(default_factory=dict)

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return int(self.centers.shape[0])

    def assign(self, xy: np.ndarray | pd.DataFrame) -> np.ndarray:
        """Index of the nearest cell centre for each point.

        Parameters
        ----------
        xy : array_like, shape (n, 2), or DataFrame with ``x``, ``y``
            Positions (µm).

        Returns
        -------
        numpy.ndarray of int64, shape (n,)
            Cell index in ``0..m-1``. Hexagon and grid use lattice arithmetic (O(n));
            kmeans and points off the hexagon lattice use a k-d tree.
        """
        pts = _as_points(xy)
        if self.method == "grid":
            return _grid_assign(pts, self.lattice)
        if self.method == "hexagon":
            idx = _hex_assign(pts, self.lattice)
            off = idx < 0
            if np.any(off):
                idx[off] = cKDTree(self.centers).query(pts[off])[1]
            return idx
        return cKDTree(self.centers).query(pts)[1].astype(np.int64)

    def polygons(self, cells: np.ndarray | None = None) -> list[np.ndarray]:
        """Polygon vertices (µm) of each cell (all cells, or ``cells``)."""
        cells = np.arange(self.n_cells) if cells is None else np.asarray(cells)
        c = self.centers[cells]
        if self.method == "hexagon":
            ang = np.pi / 6 + np.arange(6) * np.pi / 3
            r = self.cell_size / SQRT3
            ring = np.column_stack([np.cos(ang), np.sin(ang)]) * r
            return list(c[:, None, :] + ring[None])
        if self.method == "grid":
            hx, hy = self.lattice["step"] / 2
            ring = np.array([[-hx, -hy], [hx, -hy], [hx, hy], [-hx, hy]])
            return list(c[:, None, :] + ring[None])
        polys, _ = clipped_voronoi(self.centers, self.bounds)
        return [polys[i] for i in cells]

    def save(self, path: str | PathLike[str]) -> Path:
        """Save to a ``.npz`` file, read back by :func:`load_tessellation`."""
        path = Path(path)
        a = self.adjacency.tocsr()
        lat = {f"lattice_{k}": np.asarray(v) for k, v in self.lattice.items()}
        with open(path.with_name(path.name + ".tmp"), "wb") as fh:
            np.savez_compressed(
                fh, method=np.array(self.method), centers=self.centers, areas=self.areas,
                cell_size=np.array(self.cell_size), bounds=self.bounds,
                adj_indices=a.indices, adj_indptr=a.indptr, adj_shape=np.array(a.shape), **lat,
            )
        path.with_name(path.name + ".tmp").replace(path)
        return path


def load_tessellation(path: str | PathLike[str]) -> Tessellation:
    """Load a :class:`Tessellation` saved by :meth:`Tessellation.save`."""
    with np.load(Path(path), allow_pickle=False) as z:
        n = int(z["adj_indices"].size)
        adj = sparse.csr_matrix(
            (np.ones(n), z["adj_indices"], z["adj_indptr"]), shape=tuple(z["adj_shape"])
        )
        lattice = {k[len("lattice_"):]: z[k] for k in z.files if k.startswith("lattice_")}
        return Tessellation(
            method=str(z["method"]), centers=z["centers"], adjacency=adj, areas=z["areas"],
            cell_size=float(z["cell_size"]), bounds=z["bounds"], lattice=lattice,
        )


def _as_points(xy: np.ndarray | pd.DataFrame) -> np.ndarray:
    if isinstance(xy, pd.DataFrame):
        return xy[["x", "y"]].to_numpy(dtype=np.float64)
    pts = np.asarray(xy, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {pts.shape}")
    return pts


def _reference_distance(df: pd.DataFrame) -> float | None:
    from .translocations import is_translocations, translocations

    if not is_translocations(df):
        if not {"n", "t"} <= set(df.columns):
            return None
        df = translocations(df)
    if len(df) == 0:
        return None
    return float(np.mean(np.hypot(df["dx"].to_numpy(), df["dy"].to_numpy())))


def _spacing(method: str, cell_area: float) -> float:
    if method == "hexagon":
        return float(np.sqrt(2.0 * cell_area / SQRT3))
    return float(np.sqrt(cell_area))


def tessellate(
    points: pd.DataFrame | np.ndarray,
    method: str = "hexagon",
    cell_size: float | None = None,
    points_per_cell: float | None = None,
    ref_distance: float | None = None,
    bounds: np.ndarray | None = None,
    seed: int = 0,
    max_cells: int = MAX_CELLS,
    check_outliers: bool = True,
) -> Tessellation:
    """Tessellate the plane over a set of points.

    Parameters
    ----------
    points : pandas.DataFrame or array_like, shape (n, 2)
        Trajectories (``n, x, y, t``: all locations are used), translocations (``x, y, dx, dy``:
        start points are used) or an array of positions (µm).
    method : {"hexagon", "grid", "kmeans"}
        Hexagonal lattice, square grid, or k-means centres (initialised on the grid,
        TRamWAy's ``kmeans``) with a Voronoi partition.
    cell_size : float, optional
        Distance between neighbouring centres (µm). Overrides the two rules below.
    points_per_cell : float, optional
        Target mean number of points per cell; the spacing follows from the point density
        and is floored at ``0.8 * ref_distance`` (TRamWAy's ``min_distance``). Default 80.
    ref_distance : float, optional
        Reference distance (µm). Default: the mean translocation length when ``points`` is a
        trajectory or translocation DataFrame. Given alone (without ``points_per_cell``),
        the spacing is ``2 * ref_distance`` (TRamWAy's ``avg_distance``).
    bounds : array_like, shape (4,), optional
        ``[x_min, y_min, x_max, y_max]`` (µm) to cover; default the points' bounding box.
    seed : int, default 0
        Seed of the subsample used to fit k-means on large data sets.
    max_cells : int, default 1,000,000
        Refuse a tessellation with more cells (it would not fit in memory).
    check_outliers : bool, default True
        Without ``bounds``, refuse points whose bounding box is dominated by a few outliers
        (more than ``OUTLIER_SPAN_RATIO`` times the box of all but the extreme 0.1% of the
        points, on either axis, with at least 100 points): the cells would be sized for the
        outliers' box, not the data's. The message lists the outlying points.

    Returns
    -------
    Tessellation

    Raises
    ------
    ValueError
        For an unknown method, no points, non-finite coordinates, a non-positive size, a
        cell count above ``max_cells`` (the message gives a workable cell size), or a
        bounding box dominated by outliers (see ``check_outliers``).

    References
    ----------
    F. Laurent et al., "TRamWAy: mapping physical properties of individual biomolecule random
    motion in large-scale single-particle tracking experiments", Bioinformatics 38 (2022).
    """
    if method not in METHODS:
        raise ValueError(f"unknown tessellation method {method!r}; choose one of {METHODS}")
    if isinstance(points, pd.DataFrame):
        if ref_distance is None and cell_size is None:
            ref_auto = _reference_distance(points)
        else:
            ref_auto = None
        pts = _as_points(points)
    else:
        pts, ref_auto = _as_points(points), None
    if pts.shape[0] == 0:
        raise ValueError("cannot tessellate an empty set of points")
    finite = np.isfinite(pts).all(axis=1)
    if not finite.all():
        rows = np.flatnonzero(~finite)
        raise ValueError(f"{rows.size} point(s) with non-finite coordinates: "
                         f"{_describe_points(points, rows)}")
    if bounds is None and check_outliers:
        _refuse_outliers(points, pts)
    b = (np.array([*pts.min(axis=0), *pts.max(axis=0)]) if bounds is None
         else np.asarray(bounds, dtype=np.float64).reshape(4))
    if not np.isfinite(b).all():
        raise ValueError(f"bounds must be finite, got {b.tolist()}")
    span = np.maximum(b[2:] - b[:2], 1e-9)
    b = np.r_[b[:2], b[:2] + span]
    if cell_size is None:
        if points_per_cell is None and ref_distance is not None:
            cell_size = 2.0 * float(ref_distance)
        else:
            ppc = DEFAULT_POINTS_PER_CELL if points_per_cell is None else float(points_per_cell)
            if ppc <= 0:
                raise ValueError(f"points_per_cell must be positive, got {ppc}")
            cell_size = _spacing(method, float(np.prod(span)) * ppc / pts.shape[0])
            ref = ref_distance if ref_distance is not None else ref_auto
            if ref is not None:
                cell_size = max(cell_size, 0.8 * float(ref))
    cell_size = float(cell_size)
    if not cell_size > 0 or not np.isfinite(cell_size):
        raise ValueError(f"cell_size must be a positive number, got {cell_size}")
    n_cells = estimate_cells(method, b, cell_size)
    if n_cells > max_cells:
        workable = cell_size
        while estimate_cells(method, b, workable) > max_cells:
            workable *= 1.05 * np.sqrt(estimate_cells(method, b, workable) / max_cells)
        raise ValueError(
            f"cell size {cell_size:.4g} µm over a {b[2] - b[0]:.4g} x {b[3] - b[1]:.4g} µm "
            f"region makes about {n_cells:,} {method} cells, more than the limit of "
            f"{max_cells:,} (it would not fit in memory); use a cell size of at least "
            f"{_round_up(workable)} µm, or fewer points per cell")
    if method == "hexagon":
        return _hexagon(b, cell_size)
    if method == "grid":
        return _grid(b, cell_size)
    return _kmeans(pts, b, cell_size, seed)


def estimate_cells(method: str, bounds: np.ndarray, cell_size: float) -> int:
    """About how many cells a tessellation of ``bounds`` with spacing ``cell_size`` has."""
    b = np.asarray(bounds, dtype=np.float64)
    span = b[2:] - b[:2]
    s = float(cell_size)
    if method == "hexagon":  # the hexagons covering the box grown by one circumradius
        big_r = s / SQRT3
        return int(min((span[0] + 2 * big_r) * (span[1] + 2 * big_r) / (SQRT3 / 2 * s * s)
                       + 1, 1e18))
    return int(min(np.prod(np.maximum(1.0, np.round(span / s))), 1e18))


def _round_up(x: float) -> str:
    """``x`` rounded up to 2 significant digits, as text."""
    exp = int(np.floor(np.log10(x))) - 1
    return f"{np.ceil(x / 10.0 ** exp) * 10.0 ** exp:.2g}"


def _describe_points(points: pd.DataFrame | np.ndarray, rows: np.ndarray, limit: int = 5) -> str:
    """Up to ``limit`` points, as ``n=.. t=.. x=.. y=..`` when the frame has those columns."""
    parts = []
    for i in rows[:limit]:
        if isinstance(points, pd.DataFrame):
            cols = [c for c in ("n", "t", "x", "y") if c in points.columns]
            row = points.iloc[int(i)]
            parts.append("(" + " ".join(f"{c}={row[c]:g}" for c in cols) + ")")
        else:
            x, y = np.asarray(points, dtype=np.float64)[int(i)]
            parts.append(f"(row {int(i)}: x={x:g} y={y:g})")
    more = f" and {rows.size - limit} more" if rows.size > limit else ""
    return ", ".join(parts) + more


def _refuse_outliers(points: pd.DataFrame | np.ndarray, pts: np.ndarray) -> None:
    """Raise ValueError if a few points stretch the bounding box ``OUTLIER_SPAN_RATIO``-fold."""
    n = pts.shape[0]
    if n < 100:
        return
    k = max(1, int(np.ceil(0.001 * n)))
    srt = np.partition(pts, (k, n - 1 - k), axis=0)
    lo, hi = srt[k], srt[n - 1 - k]
    inner = np.maximum(hi - lo, 1e-12)
    full = pts.max(axis=0) - pts.min(axis=0)
    if not np.any(full > OUTLIER_SPAN_RATIO * inner):
        return
    out = np.flatnonzero(((pts < lo - inner) | (pts > hi + inner)).any(axis=1))
    raise ValueError(
        f"{out.size} of {n} point(s) lie far outside the others (x {lo[0]:.4g} to {hi[0]:.4g}, "
        f"y {lo[1]:.4g} to {hi[1]:.4g} µm for 99.8% of them) and would stretch the cells "
        f"{float(np.max(full / inner)):.3g}-fold: {_describe_points(points, out)}; remove them, "
        f"crop to a ROI first, or pass bounds= (CLI: --keep-outliers) to keep them")


def _grid(b: np.ndarray, s: float) -> Tessellation:
    span = b[2:] - b[:2]
    shape = np.maximum(1, np.round(span / s)).astype(np.int64)
    step = span / shape
    ix, iy = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="xy")
    ix, iy = ix.ravel(), iy.ravel()  # cell id = iy * nx + ix
    centers = b[:2] + (np.column_stack([ix, iy]) + 0.5) * step
    nx = shape[0]
    rows, cols = [], []
    right = ix < nx - 1
    rows.append((iy * nx + ix)[right])
    cols.append((iy * nx + ix + 1)[right])
    up = iy < shape[1] - 1
    rows.append((iy * nx + ix)[up])
    cols.append(((iy + 1) * nx + ix)[up])
    adj = _symmetric(np.concatenate(rows), np.concatenate(cols), centers.shape[0])
    areas = np.full(centers.shape[0], float(np.prod(step)))
    lattice = {"origin": b[:2].copy(), "step": step, "shape": shape}
    return Tessellation("grid", centers, adj, areas, float(np.sqrt(np.prod(step))), b, lattice)


def _grid_assign(pts: np.ndarray, lat: dict) -> np.ndarray:
    shape = np.asarray(lat["shape"])
    ij = np.floor((pts - lat["origin"]) / lat["step"]).astype(np.int64)
    ij = np.clip(ij, 0, shape - 1)
    return ij[:, 1] * shape[0] + ij[:, 0]


def _symmetric(rows: np.ndarray, cols: np.ndarray, m: int) -> sparse.csr_matrix:
    a = sparse.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(m, m)).tocsr()
    a = ((a + a.T) > 0).astype(np.float64)
    a.setdiag(0)
    a.eliminate_zeros()
    return a.tocsr()


def _hex_axial(pts: np.ndarray, origin: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray]:
    """Axial coordinates (q, r) of the nearest point of a pointy-top hexagonal lattice."""
    h = s * SQRT3 / 2
    rf = (pts[:, 1] - origin[1]) / h
    qf = (pts[:, 0] - origin[0]) / s - rf / 2
    xf, zf = qf, rf
    yf = -xf - zf
    rx, ry, rz = np.round(xf), np.round(yf), np.round(zf)
    dx, dy, dz = np.abs(rx - xf), np.abs(ry - yf), np.abs(rz - zf)
    fix_x = (dx > dy) & (dx > dz)
    fix_z = ~fix_x & (dz >= dy)
    rx = np.where(fix_x, -ry - rz, rx)
    rz = np.where(fix_z, -rx - ry, rz)
    return rx.astype(np.int64), rz.astype(np.int64)


def _hexagon(b: np.ndarray, s: float) -> Tessellation:
    h = s * SQRT3 / 2
    big_r = s / SQRT3  # circumradius
    origin = b[:2].copy()
    r0 = int(np.floor(-big_r / h)) - 1
    r1 = int(np.ceil((b[3] - b[1] + big_r) / h)) + 1
    q0 = int(np.floor((-big_r - (r1 * s / 2)) / s)) - 1
    q1 = int(np.ceil((b[2] - b[0] + big_r - r0 * s / 2) / s)) + 1
    qq, rr = np.meshgrid(np.arange(q0, q1 + 1), np.arange(r0, r1 + 1), indexing="xy")
    qq, rr = qq.ravel(), rr.ravel()
    cx = origin[0] + qq * s + rr * s / 2
    cy = origin[1] + rr * h
    keep = ((cx >= b[0] - big_r) & (cx <= b[2] + big_r)
            & (cy >= b[1] - big_r) & (cy <= b[3] + big_r))
    qq, rr = qq[keep], rr[keep]
    centers = np.column_stack([cx[keep], cy[keep]])
    m = centers.shape[0]
    table = np.full((r1 - r0 + 1, q1 - q0 + 1), -1, dtype=np.int64)
    table[rr - r0, qq - q0] = np.arange(m)
    rows, cols = [], []
    for dq, dr in ((1, 0), (0, 1), (-1, 1)):
        nq, nr = qq + dq, rr + dr
        ok = (nq >= q0) & (nq <= q1) & (nr >= r0) & (nr <= r1)
        nb = np.full(m, -1)
        nb[ok] = table[nr[ok] - r0, nq[ok] - q0]
        ok = nb >= 0
        rows.append(np.arange(m)[ok])
        cols.append(nb[ok])
    adj = _symmetric(np.concatenate(rows), np.concatenate(cols), m)
    areas = np.full(m, SQRT3 / 2 * s * s)
    lattice = {"origin": origin, "spacing": np.array(s), "offset": np.array([q0, r0]),
               "table": table}
    return Tessellation("hexagon", centers, adj, areas, s, b, lattice)


def _hex_assign(pts: np.ndarray, lat: dict) -> np.ndarray:
    q, r = _hex_axial(pts, np.asarray(lat["origin"]), float(lat["spacing"]))
    table = np.asarray(lat["table"])
    q0, r0 = np.asarray(lat["offset"])
    i, j = r - r0, q - q0
    ok = (i >= 0) & (i < table.shape[0]) & (j >= 0) & (j < table.shape[1])
    idx = np.full(pts.shape[0], -1, dtype=np.int64)
    idx[ok] = table[i[ok], j[ok]]
    return idx


def _kmeans(pts: np.ndarray, b: np.ndarray, s: float, seed: int,
            max_iter: int = 50, max_fit_points: int = 200_000) -> Tessellation:
    rng = np.random.default_rng(seed)
    fit = pts if pts.shape[0] <= max_fit_points else pts[
        rng.choice(pts.shape[0], max_fit_points, replace=False)]
    centers = _grid(b, s).centers
    for _ in range(max_iter):
        label = cKDTree(centers).query(fit)[1]
        counts = np.bincount(label, minlength=centers.shape[0])
        nonempty = counts > 0
        new = np.column_stack([
            np.bincount(label, weights=fit[:, k], minlength=centers.shape[0])
            for k in range(2)])[nonempty] / counts[nonempty, None]
        shift = np.inf if new.shape != centers.shape else np.max(np.abs(new - centers))
        centers = new
        if shift < 1e-4 * s:
            break
    adj = delaunay_adjacency(centers)
    _, areas = clipped_voronoi(centers, b)
    return Tessellation("kmeans", centers, adj, areas, s, b, {})
