"""Sparse spatial-gradient and smoothing operators on a tessellation's neighbour graph.

Built once per inference, they make the gradient of a map a sparse matrix product, so that the
objective of the ``dv`` mode and its analytic gradient cost O(cells) per evaluation.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = ["gradient_operators", "smoothing_operator", "subgraph"]


def subgraph(adjacency: sparse.spmatrix, cells: np.ndarray) -> sparse.csr_matrix:
    """Adjacency restricted to ``cells`` (rows and columns in the order of ``cells``)."""
    a = sparse.csr_matrix(adjacency)
    return a[cells][:, cells].tocsr()


def _edges(adjacency: sparse.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    a = sparse.coo_matrix(adjacency)
    keep = a.row != a.col
    return a.row[keep].astype(np.int64), a.col[keep].astype(np.int64)


def gradient_operators(
    centers: np.ndarray, adjacency: sparse.spmatrix
) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """Least-squares gradient operators ``(Gx, Gy)`` over each cell's neighbours.

    For cell i with neighbours j, ``g_i = argmin_g sum_j ((X_j - X_i) - g . (x_j - x_i))^2``,
    which is linear in ``X``: ``g_i = ((Gx @ X)_i, (Gy @ X)_i)`` (units of X per µm).

    Parameters
    ----------
    centers : numpy.ndarray, shape (m, 2)
        Cell centres (µm).
    adjacency : scipy.sparse matrix, shape (m, m)
        Symmetric neighbour graph.

    Returns
    -------
    Gx, Gy : scipy.sparse.csr_matrix, shape (m, m)

    Notes
    -----
    On a regular lattice this is the central difference (the value used by TRamWAy's ``grad1``
    with neighbours on both sides). Cells whose neighbours are all aligned get the pseudo-inverse
    (directional derivative only); isolated cells get a zero row.
    """
    i, j = _edges(adjacency)
    m = centers.shape[0]
    d = centers[j] - centers[i]
    a = np.zeros((m, 2, 2))
    for p in range(2):
        for q in range(2):
            a[:, p, q] = np.bincount(i, weights=d[:, p] * d[:, q], minlength=m)
    scale = np.maximum(np.trace(a, axis1=1, axis2=2), 1e-300)
    ainv = np.linalg.pinv(a / scale[:, None, None], rcond=1e-8) / scale[:, None, None]
    coef = np.einsum("epq,eq->ep", ainv[i], d)  # (edges, 2)
    ops = []
    for p in range(2):
        off = sparse.coo_matrix((coef[:, p], (i, j)), shape=(m, m))
        diag = sparse.diags(-np.bincount(i, weights=coef[:, p], minlength=m))
        ops.append((off + diag).tocsr())
    return ops[0], ops[1]


def smoothing_operator(
    centers: np.ndarray, adjacency: sparse.spmatrix, areas: np.ndarray
) -> sparse.csr_matrix:
    """Matrix ``L`` such that ``X @ L @ X ~ sum_i area_i |grad X_i|^2`` (µm² x (X/µm)²).

    Uses TRamWAy's ``delta0`` finite differences along every edge (as in its stochastic ``dv``
    priors): ``sum_i area_i (2/|N_i|) sum_j ((X_j - X_i)/d_ij)^2``; the factor 2 makes it equal to
    ``area_i |grad X|^2`` for an isotropic neighbourhood. Unlike central differences it has no
    checkerboard null space: only constant maps cost nothing. The gradient of the penalty is
    ``2 L X``.

    Parameters
    ----------
    centers : numpy.ndarray, shape (m, 2)
    adjacency : scipy.sparse matrix, shape (m, m)
    areas : numpy.ndarray, shape (m,)
        Cell areas (µm²).

    Returns
    -------
    scipy.sparse.csr_matrix, shape (m, m), symmetric positive semi-definite.
    """
    i, j = _edges(adjacency)
    m = centers.shape[0]
    deg = np.bincount(i, minlength=m).astype(np.float64)
    d2 = np.sum((centers[j] - centers[i]) ** 2, axis=1)
    w = np.asarray(areas, dtype=np.float64)[i] * 2.0 / deg[i] / d2
    wm = sparse.coo_matrix((w, (i, j)), shape=(m, m)).tocsr()
    wm = wm + wm.T
    return (sparse.diags(np.asarray(wm.sum(axis=1)).ravel()) - wm).tocsr()
