"""Smoothed ``dd`` and ``df`` modes: joint MAP over all cells with spatial priors.

Objective (TRamWAy ``standard_ddrift``/``standard_df``, with the ``delta0`` smoothing operator
``L`` of :mod:`.gradient`)::

    sum_i sum_j [ log(4 (D_i dt_j + s2)) + |dr_j - a_i dt_j|^2 / (4 (D_i dt_j + s2)) ]
      + lam_D D' L D + lam_P (Px' L Px + Py' L Py)    [+ 2 sum_i log(D_i dtmean_i + s2)]

with ``a = P`` (drift, µm/s) in ``dd`` and ``a = D P`` (``P`` the force, kT/µm) in ``df``.
The per-cell derivatives (first and second) of the likelihood in ``(D, a)`` are written once in
:func:`local_derivatives`; the gradient used by L-BFGS-B and the Hessians of the Laplace
approximation (:mod:`.uncertainty`) follow by the chain rule, all analytic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, sparse

from .infer_d import CellStats, solve_dd


@dataclass(frozen=True)
class LocalDerivatives:
    """Per-cell derivatives of the likelihood term in ``(D, ax, ay)`` coordinates.

    ``g_*`` first derivatives, ``h_dd``, ``h_dax``, ``h_day`` second derivatives; the
    drift block of the Hessian is ``h_aa * I`` (isotropic). All of shape (m,).
    """

    value: float
    g_d: np.ndarray
    g_ax: np.ndarray
    g_ay: np.ndarray
    h_dd: np.ndarray
    h_dax: np.ndarray
    h_day: np.ndarray
    h_aa: np.ndarray


def local_derivatives(st: CellStats, d: np.ndarray, ax: np.ndarray, ay: np.ndarray,
                      sigma2: float, jeffreys: bool = False) -> LocalDerivatives:
    """Value, gradient and Hessian blocks of the ``dd`` likelihood per cell (``log pi`` dropped).

    With ``u = D dt + s2`` and ``Q = S - 2 dt a.v + n dt^2 |a|^2`` per (cell, dt) group, the
    term is ``n log(4u) + Q/(4u)``; Jeffreys adds ``2 log(D dtmean + s2)`` per cell.
    """
    c, n, dt = st.cell, st.n, st.dt
    dk, a_x, a_y = d[c], ax[c], ay[c]
    u = dk * dt + sigma2
    q = st.S - 2.0 * dt * (a_x * st.vx + a_y * st.vy) + n * dt * dt * (a_x * a_x + a_y * a_y)
    value = float(np.sum(n * np.log(4.0 * u) + q / (4.0 * u)))
    rx = n * dt * dt * a_x - dt * st.vx  # d Q / d ax = 2 rx
    ry = n * dt * dt * a_y - dt * st.vy
    pc = st.per_cell
    g_d = pc(dt * (n / u - q / (4.0 * u * u)))
    h_dd = pc(dt * dt * (-n / (u * u) + q / (2.0 * u ** 3)))
    if jeffreys:
        w = d * st.dt_mean + sigma2
        value += float(np.sum(2.0 * np.log(w)))
        g_d = g_d + 2.0 * st.dt_mean / w
        h_dd = h_dd - 2.0 * (st.dt_mean / w) ** 2
    return LocalDerivatives(
        value=value, g_d=g_d, g_ax=pc(rx / (2.0 * u)), g_ay=pc(ry / (2.0 * u)), h_dd=h_dd,
        h_dax=pc(-dt * rx / (2.0 * u * u)), h_day=pc(-dt * ry / (2.0 * u * u)),
        h_aa=pc(n * dt * dt / (2.0 * u)),
    )


def local_hessian(loc: LocalDerivatives, d: np.ndarray, px: np.ndarray, py: np.ndarray,
                  scale: float) -> np.ndarray:
    """Per-cell 3x3 Hessians, shape (m, 3, 3), in ``(D, Px, Py)`` where ``a = scale * D * P``.

    ``scale = 0`` means ``a = P`` (``dd``); ``1`` is ``df``; ``-1`` is ``dv`` with ``P = grad V``.
    """
    m = d.size
    h = np.zeros((m, 3, 3))
    if scale == 0:
        h[:, 0, 0] = loc.h_dd
        h[:, 0, 1] = h[:, 1, 0] = loc.h_dax
        h[:, 0, 2] = h[:, 2, 0] = loc.h_day
        h[:, 1, 1] = h[:, 2, 2] = loc.h_aa
        return h
    s = float(scale)
    h[:, 0, 0] = (loc.h_dd + 2.0 * s * (px * loc.h_dax + py * loc.h_day)
                  + loc.h_aa * (px * px + py * py))
    h[:, 0, 1] = h[:, 1, 0] = s * d * loc.h_dax + d * loc.h_aa * px + s * loc.g_ax
    h[:, 0, 2] = h[:, 2, 0] = s * d * loc.h_day + d * loc.h_aa * py + s * loc.g_ay
    h[:, 1, 1] = h[:, 2, 2] = d * d * loc.h_aa
    return h


def dd_objective(st: CellStats, smooth: sparse.spmatrix, sigma2: float, lam_d: float,
                 lam_p: float, force: bool, jeffreys: bool = False):
    """Return ``f(D, Px, Py) -> (value, (dD, dPx, dPy))`` of the smoothed dd/df posterior."""

    def f(d: np.ndarray, px: np.ndarray, py: np.ndarray):
        ax, ay = (d * px, d * py) if force else (px, py)
        loc = local_derivatives(st, d, ax, ay, sigma2, jeffreys)
        val = loc.value
        if force:
            gd = loc.g_d + loc.g_ax * px + loc.g_ay * py
            gx, gy = d * loc.g_ax, d * loc.g_ay
        else:
            gd, gx, gy = loc.g_d, loc.g_ax, loc.g_ay
        if lam_d:
            ld = smooth @ d
            val += lam_d * float(d @ ld)
            gd = gd + 2.0 * lam_d * ld
        if lam_p:
            lx, ly = smooth @ px, smooth @ py
            val += lam_p * float(px @ lx + py @ ly)
            gx = gx + 2.0 * lam_p * lx
            gy = gy + 2.0 * lam_p * ly
        return val, (gd, gx, gy)

    return f


def solve_dd_smooth(st: CellStats, smooth: sparse.spmatrix, sigma2: float, lam_d: float,
                    lam_p: float, force: bool, jeffreys: bool = False, max_iter: int = 3000,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Joint MAP of D (µm²/s) and drift (µm/s, ``dd``) or force (kT/µm, ``df``) of all cells.

    L-BFGS-B with the analytic gradient, started at the unsmoothed per-cell solution.
    D >= 0 in ``dd``; D >= 1e-6 median(D) in ``df`` (the force needs D > 0).

    Returns
    -------
    d, px, py : numpy.ndarray
        Diffusivity and the drift or force components.
    info : dict
        Optimizer iterations, evaluations, success flag and message.
    """
    d0, ax0, ay0 = solve_dd(st, sigma2, jeffreys)
    dscale = max(float(np.median(d0)), 1e-12)
    d_min = 1e-6 * dscale if force else 0.0
    d0 = np.maximum(d0, 10 * d_min)
    if force:
        px0, py0 = ax0 / d0, ay0 / d0
    else:
        px0, py0 = ax0, ay0
    pscale = max(float(np.median(np.hypot(px0, py0))), 1e-12)
    f = dd_objective(st, smooth, sigma2, lam_d, lam_p, force, jeffreys)
    total = max(float(st.count.sum()), 1.0)
    m = st.m

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        val, (gd, gx, gy) = f(x[:m] * dscale, x[m:2 * m] * pscale, x[2 * m:] * pscale)
        return val / total, np.concatenate([gd * dscale, gx * pscale, gy * pscale]) / total

    x0 = np.concatenate([d0 / dscale, px0 / pscale, py0 / pscale])
    bounds = [(d_min / dscale, None)] * m + [(None, None)] * (2 * m)
    res = optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"maxiter": max_iter, "maxcor": 30, "ftol": 1e-13,
                                     "gtol": 1e-10})
    info = {"iterations": int(res.nit), "evaluations": int(res.nfev),
            "success": bool(res.success), "message": str(res.message)}
    x = res.x
    return x[:m] * dscale, x[m:2 * m] * pscale, x[2 * m:] * pscale, info
