"""Vectorized kernels of the ``d``, ``dd`` and ``df`` modes (all cells at once).

Translocations are summarised per (cell, dt) group: ``n_k`` translocations of duration
``dt_k`` with ``S_k = sum |dr|^2`` and ``v_k = sum dr``. These are sufficient statistics of the
Gaussian likelihood, so a cell's objective costs O(number of distinct dt) instead of O(n).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, sparse

N_BISECT = 64


@dataclass(frozen=True)
class CellStats:
    """Sufficient statistics of translocations grouped by (cell, dt).

    ``cell`` indexes rows ``0..m-1``; ``n, dt, S, vx, vy`` are per group; ``count`` and
    ``dt_mean`` per cell.
    """

    m: int
    cell: np.ndarray
    n: np.ndarray
    dt: np.ndarray
    S: np.ndarray
    vx: np.ndarray
    vy: np.ndarray
    count: np.ndarray
    dt_mean: np.ndarray

    @property
    def constant_dt(self) -> bool:
        """True if every cell has a single duration (closed forms apply)."""
        return self.cell.size == self.m

    def per_cell(self, values: np.ndarray) -> np.ndarray:
        """Sum group values into cells."""
        return np.bincount(self.cell, weights=values, minlength=self.m)


def cell_stats(cell: np.ndarray, dx: np.ndarray, dy: np.ndarray, dt: np.ndarray, m: int) -> CellStats:
    """Group translocations by (cell row, dt) with dt matched to 1e-6 relative precision."""
    unit = float(np.median(dt))
    dt_values, dt_id = np.unique(np.round(dt / unit * 1e6).astype(np.int64), return_inverse=True)
    n_dt = dt_values.size
    uniq, inv = np.unique(cell.astype(np.int64) * n_dt + dt_id.ravel(), return_inverse=True)
    inv = inv.ravel()
    g = uniq.size
    n = np.bincount(inv, minlength=g).astype(np.float64)

    def s(w: np.ndarray) -> np.ndarray:
        return np.bincount(inv, weights=w, minlength=g)

    gdt = s(dt) / n
    count = np.bincount(cell, minlength=m).astype(np.float64)
    dt_mean = np.bincount(cell, weights=dt, minlength=m) / np.maximum(count, 1)
    return CellStats(m, uniq // n_dt, n, gdt, s(dx * dx + dy * dy), s(dx), s(dy), count, dt_mean)


def _d_derivative(st: CellStats, d: np.ndarray, S: np.ndarray, sigma2: float,
                  jeffreys: bool) -> np.ndarray:
    u = d[st.cell] * st.dt + sigma2
    g = st.per_cell(st.dt * (st.n / u - S / (4.0 * u * u)))
    if jeffreys:
        g += 2.0 * st.dt_mean / (d * st.dt_mean + sigma2)
    return g


def solve_d(st: CellStats, sigma2: float, jeffreys: bool = False,
            S: np.ndarray | None = None) -> np.ndarray:
    """Maximum-likelihood (or Jeffreys MAP) diffusivity of every cell, D >= 0 (µm²/s).

    Minimises ``sum_j log(4(D dt_j + sigma2)) + |dr_j|^2 / (4(D dt_j + sigma2))`` per cell
    [+ ``2 log(D dt_mean + sigma2)``]. With one dt per cell the optimum is
    ``D = S/(4 n' dt) - sigma2/dt`` (n' = n, or n + 2 with Jeffreys); otherwise a vectorized
    bisection on the derivative over all cells at once. ``S`` replaces the groups' sum of
    squares (residuals in ``dd``).
    """
    S = st.S if S is None else S
    if st.constant_dt:
        dt = st.dt  # groups are cells, in order
        nn = st.n + (2.0 if jeffreys else 0.0)
        return np.maximum(S / (4.0 * nn * dt) - sigma2 / dt, 0.0)
    lo = np.zeros(st.m)
    hi_g = np.maximum((S / (4.0 * st.n) - sigma2) / st.dt, 0.0)
    hi = np.zeros(st.m)
    np.maximum.at(hi, st.cell, hi_g)
    hi = hi * 1.01 + 1e-12
    if sigma2 > 0:
        at_zero = _d_derivative(st, lo, S, sigma2, jeffreys) >= 0
    else:  # the likelihood is singular at D = 0: search (0, hi]
        at_zero = np.zeros(st.m, dtype=bool)
        lo = hi * 1e-12
    for _ in range(N_BISECT):
        mid = 0.5 * (lo + hi)
        pos = _d_derivative(st, mid, S, sigma2, jeffreys) > 0
        hi = np.where(pos, mid, hi)
        lo = np.where(pos, lo, mid)
    return np.where(at_zero, 0.0, 0.5 * (lo + hi))


def solve_dd(st: CellStats, sigma2: float, jeffreys: bool = False,
             n_alternations: int = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Diffusivity (µm²/s) and drift ``(ax, ay)`` (µm/s) of every cell (joint MLE).

    Model ``dr_j ~ N(a dt_j, 2 (D dt_j + sigma2) I)``. With one dt per cell:
    ``a = mean(dr)/dt`` and D from the residuals; otherwise alternate the weighted
    least-squares drift and the bisection for D (each step decreases the objective).
    """
    d = np.zeros(st.m)
    ax = st.per_cell(st.vx) / st.per_cell(st.n * st.dt)
    ay = st.per_cell(st.vy) / st.per_cell(st.n * st.dt)
    for _ in range(1 if st.constant_dt else n_alternations):
        if not st.constant_dt:
            w = 1.0 / (d[st.cell] * st.dt + sigma2)
            den = st.per_cell(w * st.n * st.dt**2)
            ax = st.per_cell(w * st.dt * st.vx) / den
            ay = st.per_cell(w * st.dt * st.vy) / den
        a_x, a_y = ax[st.cell], ay[st.cell]
        res = (st.S - 2.0 * st.dt * (a_x * st.vx + a_y * st.vy)
               + st.n * st.dt**2 * (a_x**2 + a_y**2))
        d = solve_d(st, sigma2, jeffreys, S=np.maximum(res, 0.0))
    return d, ax, ay


def d_objective(st: CellStats, sigma2: float, jeffreys: bool = False):
    """Negative log-likelihood of the cells' D and its gradient, as ``f(D) -> (value, grad)``."""

    def f(d: np.ndarray) -> tuple[float, np.ndarray]:
        u = d[st.cell] * st.dt + sigma2
        val = float(np.sum(st.n * np.log(4.0 * u) + st.S / (4.0 * u)))
        grad = st.per_cell(st.dt * (st.n / u - st.S / (4.0 * u * u)))
        if jeffreys:
            w = d * st.dt_mean + sigma2
            val += float(np.sum(2.0 * np.log(w)))
            grad = grad + 2.0 * st.dt_mean / w
        return val, grad

    return f


def solve_d_smooth(st: CellStats, sigma2: float, lam: float, smooth: sparse.spmatrix,
                   jeffreys: bool = False, max_iter: int = 1000) -> tuple[np.ndarray, dict]:
    """Joint MAP of D over all cells with the prior ``lam * D' L D`` (L from ``smooth``).

    L-BFGS-B with the analytic gradient, started at the per-cell MLE, D >= 0
    (TRamWAy ``standard_d.infer_smooth_D``, which uses finite differences).
    """
    nll = d_objective(st, sigma2, jeffreys)
    d0 = solve_d(st, sigma2, jeffreys)
    scale = max(float(np.median(d0)), 1e-12)
    total = max(float(st.count.sum()), 1.0)

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        d = x * scale
        val, grad = nll(d)
        ld = smooth @ d
        val += lam * float(d @ ld)
        grad = grad + 2.0 * lam * ld
        return val / total, grad * scale / total

    res = optimize.minimize(fun, d0 / scale, jac=True, method="L-BFGS-B",
                            bounds=[(0.0, None)] * st.m,
                            options={"maxiter": max_iter, "ftol": 1e-12, "gtol": 1e-9})
    info = {"iterations": int(res.nit), "success": bool(res.success), "message": str(res.message)}
    return res.x * scale, info
