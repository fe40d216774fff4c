"""Voronoi cells clipped to a box and Delaunay neighbour graphs (private helpers)."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.spatial import Delaunay, QhullError, Voronoi


def clipped_voronoi(centers: np.ndarray, bounds: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Voronoi polygons of ``centers`` clipped to the box ``bounds``, and their areas (µm²).

    The box is handled exactly by mirroring the centres across its four sides: the Voronoi
    cells of the original centres are then bounded by the box edges.
    """
    b = np.asarray(bounds, dtype=np.float64)
    m = centers.shape[0]
    if m == 1:
        poly = np.array([[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]]])
        return [poly], np.array([float((b[2] - b[0]) * (b[3] - b[1]))])
    eps = 1e-9 * max(b[2] - b[0], b[3] - b[1])
    c = np.column_stack([np.clip(centers[:, 0], b[0] + eps, b[2] - eps),
                         np.clip(centers[:, 1], b[1] + eps, b[3] - eps)])
    mirrors = [c]
    for axis, edge in ((0, b[0]), (0, b[2]), (1, b[1]), (1, b[3])):
        mc = c.copy()
        mc[:, axis] = 2 * edge - mc[:, axis]
        mirrors.append(mc)
    try:
        vor = Voronoi(np.vstack(mirrors))
    except QhullError:
        vor = Voronoi(np.vstack(mirrors), qhull_options="Qbb Qc Qz QJ")
    polys = []
    areas = np.empty(m)
    for i in range(m):
        region = vor.regions[vor.point_region[i]]
        v = vor.vertices[[k for k in region if k >= 0]]
        ang = np.arctan2(v[:, 1] - v[:, 1].mean(), v[:, 0] - v[:, 0].mean())
        v = v[np.argsort(ang)]
        polys.append(v)
        x, y = v[:, 0], v[:, 1]
        areas[i] = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    return polys, areas


def delaunay_adjacency(centers: np.ndarray, max_ratio: float = 2.5) -> sparse.csr_matrix:
    """Delaunay neighbour graph without the edges longer than TRamWAy's cut-off.

    Edges whose squared length exceeds ``max_ratio`` times the median squared edge length
    are removed (TRamWAy ``tessellation/kmeans``).
    """
    m = centers.shape[0]
    if m < 3:
        full = np.ones((m, m)) - np.eye(m)
        return sparse.csr_matrix(full)
    try:
        simplices = Delaunay(centers).simplices
    except QhullError:
        simplices = Delaunay(centers, qhull_options="QJ").simplices
    e = np.vstack([simplices[:, [0, 1]], simplices[:, [1, 2]], simplices[:, [0, 2]]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    d2 = np.sum((centers[e[:, 0]] - centers[e[:, 1]]) ** 2, axis=1)
    e = e[d2 <= max_ratio * np.median(d2)]
    a = sparse.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(m, m)).tocsr()
    return ((a + a.T) > 0).astype(np.float64).tocsr()
