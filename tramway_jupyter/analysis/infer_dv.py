"""The ``dv`` mode: joint MAP of diffusivity and effective potential over all cells.

Objective (TRamWAy ``inference/dv.py::dv_neg_posterior``, Masson et al. 2009)::

    sum_i sum_j [ log(4 pi (D_i dt_j + s2)) + |dr_j + D_i dt_j grad V_i|^2 / (4 (D_i dt_j + s2)) ]
      + lam_V V' L V + lam_D D' L D  [+ 2 sum_i (log(D_i dtmean_i + s2) - log D_i)]

with ``grad V = (Gx V, Gy V)`` and ``L`` from :mod:`.gradient`. Unlike TRamWAy, the gradient of
the objective is analytic (sparse transposes), so one evaluation costs O(cells + groups) instead of
2m + 1 evaluations of an O(m) Python loop.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize, sparse
from scipy.sparse.linalg import spsolve

from .infer_d import CellStats, solve_dd

Objective = Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray, np.ndarray]]


def dv_objective(st: CellStats, gx: sparse.spmatrix, gy: sparse.spmatrix, smooth: sparse.spmatrix,
                 sigma2: float, lam_v: float, lam_d: float, jeffreys: bool = False) -> Objective:
    """Return ``f(D, V) -> (value, dvalue/dD, dvalue/dV)`` for the dv objective above.

    ``D`` in µm²/s, ``V`` in kT, both of shape (m,); ``log pi`` constants are dropped.
    """
    gxt, gyt = gx.T.tocsr(), gy.T.tocsr()
    c, n, dt, vx, vy = st.cell, st.n, st.dt, st.vx, st.vy

    def f(d: np.ndarray, v: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        gvx, gvy = gx @ v, gy @ v
        dk, ax, ay = d[c], gvx[c], gvy[c]
        u = dk * dt + sigma2
        gv = ax * vx + ay * vy
        g2 = ax * ax + ay * ay
        q = st.S + 2.0 * dk * dt * gv + n * dk * dk * dt * dt * g2
        val = float(np.sum(n * np.log(4.0 * u) + q / (4.0 * u)))
        dq_dd = 2.0 * dt * gv + 2.0 * n * dk * dt * dt * g2
        grad_d = st.per_cell(n * dt / u - q * dt / (4.0 * u * u) + dq_dd / (4.0 * u))
        coef = 2.0 * n * dk * dk * dt * dt
        dgx = st.per_cell((2.0 * dk * dt * vx + coef * ax) / (4.0 * u))
        dgy = st.per_cell((2.0 * dk * dt * vy + coef * ay) / (4.0 * u))
        grad_v = gxt @ dgx + gyt @ dgy
        if lam_v:
            lv = smooth @ v
            val += lam_v * float(v @ lv)
            grad_v = grad_v + 2.0 * lam_v * lv
        if lam_d:
            ld = smooth @ d
            val += lam_d * float(d @ ld)
            grad_d = grad_d + 2.0 * lam_d * ld
        if jeffreys:
            w = d * st.dt_mean + sigma2
            val += float(np.sum(2.0 * (np.log(w) - np.log(d))))
            grad_d = grad_d + 2.0 * (st.dt_mean / w - 1.0 / d)
        return val, grad_d, grad_v

    return f


def initial_potential(st: CellStats, gx: sparse.spmatrix, gy: sparse.spmatrix,
                      smooth: sparse.spmatrix, d: np.ndarray, ax: np.ndarray,
                      ay: np.ndarray) -> np.ndarray:
    """Potential whose gradient best matches the per-cell ``df`` forces (least squares).

    Solves ``(Gx'Gx + Gy'Gy + eps L + delta I) V = -(Gx' Fx + Gy' Fy)`` with ``F = a / D``,
    a better start than TRamWAy's density-based ``V0 = -log(density)``, which assumes equilibrium.
    """
    dsafe = np.maximum(d, 1e-3 * max(float(np.median(d)), 1e-12))
    fx, fy = ax / dsafe, ay / dsafe
    gtg = (gx.T @ gx + gy.T @ gy).tocsr()
    scale = float(gtg.diagonal().mean()) or 1.0
    lhs = gtg + 1e-2 * scale * smooth / max(float(smooth.diagonal().mean()), 1e-300) \
        + 1e-8 * scale * sparse.identity(st.m)
    v = spsolve(lhs.tocsc(), -(gx.T @ fx + gy.T @ fy))
    return np.asarray(v) - np.min(v)


def solve_dv(st: CellStats, gx: sparse.spmatrix, gy: sparse.spmatrix, smooth: sparse.spmatrix,
             sigma2: float, lam_v: float, lam_d: float, jeffreys: bool = False,
             max_iter: int = 3000) -> tuple[np.ndarray, np.ndarray, dict]:
    """Minimise the dv objective with L-BFGS-B and its analytic gradient.

    Returns
    -------
    d : numpy.ndarray
        Diffusivity (µm²/s), bounded below by a tiny positive value.
    v : numpy.ndarray
        Potential (kT), shifted so that ``min(v) == 0``.
    info : dict
        Optimizer iterations, evaluations, success flag and message.
    """
    d0, ax, ay = solve_dd(st, sigma2, jeffreys)
    scale = max(float(np.median(d0)), 1e-12)
    d_min = 1e-6 * scale
    d0 = np.maximum(d0, 10 * d_min)
    v0 = initial_potential(st, gx, gy, smooth, d0, ax, ay)
    f = dv_objective(st, gx, gy, smooth, sigma2, lam_v, lam_d, jeffreys)
    total = max(float(st.count.sum()), 1.0)
    m = st.m

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        val, gd, gv = f(x[:m] * scale, x[m:])
        return val / total, np.concatenate([gd * scale, gv]) / total

    bounds = [(d_min / scale, None)] * m + [(None, None)] * m
    res = optimize.minimize(fun, np.concatenate([d0 / scale, v0]), jac=True, method="L-BFGS-B",
                            bounds=bounds, options={"maxiter": max_iter, "maxcor": 30,
                                                    "ftol": 1e-13, "gtol": 1e-10})
    d, v = res.x[:m] * scale, res.x[m:]
    info = {"iterations": int(res.nit), "evaluations": int(res.nfev),
            "success": bool(res.success), "message": str(res.message)}
    return d, v - np.min(v), info
