"""Per-cell credible intervals: the conjugate posterior of D (mode ``d``) and a Laplace
approximation of the joint posteriors (``dd``, ``df``, ``dv``, smoothed ``d``).

Conjugate posterior of D (one duration ``dt`` per cell)
--------------------------------------------------------
Each translocation of a cell is ``dr ~ N(0, 2 u I)`` in 2-D with ``u = D dt + sigma^2`` (the
localization error adds ``sigma^2`` per axis and per position to the variance of a step, as in
TRamWAy's likelihood). With ``n`` translocations and ``S = sum |dr|^2`` the likelihood is
``u^-n exp(-S / (4 u))``, which is an inverse-gamma kernel in ``u``. With the prior flat in D
(so flat in u) the posterior of ``u`` is ``InvGamma(alpha = n - 1, beta = S / 4)``, whose mode
``S / (4 n)`` is the maximum-likelihood estimate (``D = S/(4 n dt) - sigma^2/dt``); TRamWAy's
Jeffreys term ``2 log(D dt + sigma^2)`` (prior ``u^-2``) gives ``alpha = n + 1`` and the mode
``S / (4 (n + 2))``, again the point estimate. ``D >= 0`` truncates the posterior to
``u >= sigma^2``; the interval at credibility ``c`` is the pair of quantiles
``F^-1(F(sigma^2) + (1 -+ c)/2 (1 - F(sigma^2)))`` mapped back by ``D = (u - sigma^2) / dt``,
with ``F(u) = Q(alpha, beta / u)`` (regularized upper incomplete gamma function).

When a cell mixes durations (missing frames) the posterior is no longer inverse-gamma; the same
form is used with ``dt`` the cell's mean duration and ``beta = (alpha + 1)(D_hat dt + sigma^2)``,
so that its mode is still the point estimate ``D_hat`` (an approximation).

Laplace approximation
---------------------
In the joint modes the posterior is approximated by a Gaussian centred at the MAP, with covariance
the inverse of the analytic Hessian of the negative log-posterior (likelihood blocks from
:func:`.infer_dd.local_hessian`, priors ``2 lambda L``). The marginal standard deviation of a
variable is the square root of the diagonal of that inverse (not ``1/H_ii``, which ignores the
coupling through the priors); the interval is ``estimate -+ z s`` with ``z`` the normal quantile
of ``(1 + c)/2``; D's lower end is clipped at 0. The potential of ``dv`` is defined up to a
constant: its covariance is taken under the gauge ``sum V = const`` (a bordered Hessian), so its
interval is relative to the map's mean. Beyond ``LAPLACE_MAX_SIZE`` parameters the dense inverse
is not attempted; D, drift and force then use each cell's 3x3 block (a conditional variance,
narrower) and the ``dv`` potential and force get no interval; ``params["uncertainty"]`` says
which was used.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse, special, stats

from .infer_d import CellStats
from .infer_dd import local_derivatives, local_hessian

LAPLACE_MAX_SIZE = 4000


def z_score(credibility: float) -> float:
    """Two-sided normal quantile of a central interval of probability ``credibility``."""
    return float(stats.norm.ppf(0.5 + 0.5 * credibility))


def d_conjugate_intervals(st: CellStats, d: np.ndarray, sigma2: float, jeffreys: bool,
                          credibility: float) -> tuple[np.ndarray, np.ndarray]:
    """Central credible interval of D (µm²/s) per cell from its inverse-gamma posterior.

    Parameters
    ----------
    st : CellStats
        Sufficient statistics of the cells' translocations.
    d : numpy.ndarray, shape (m,)
        Point estimates (the posterior modes) from :func:`.infer_d.solve_d`.
    sigma2 : float
        Localization error (µm²).
    jeffreys : bool
        Whether the Jeffreys term was used (``alpha = n + 1`` instead of ``n - 1``).
    credibility : float
        Probability in (0, 1) of the central interval.

    Returns
    -------
    low, high : numpy.ndarray, shape (m,)
        NaN where the posterior is improper (one translocation without Jeffreys).
    """
    n = st.count
    alpha = n + (1.0 if jeffreys else -1.0)
    if st.constant_dt:
        dt = st.dt
        beta = st.S / 4.0
    else:
        dt = st.dt_mean
        beta = (alpha + 1.0) * (d * dt + sigma2)
    ok = (alpha > 0) & (beta > 0)
    a, b = np.where(ok, alpha, 1.0), np.where(ok, beta, 1.0)
    f0 = special.gammaincc(a, b / sigma2) if sigma2 > 0 else np.zeros_like(a)
    out = []
    for p in (0.5 - 0.5 * credibility, 0.5 + 0.5 * credibility):
        q = f0 + p * (1.0 - f0)
        # F(u) = Q(a, b/u) = q  <=>  b/u = gammainccinv(a, q)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = b / special.gammainccinv(a, q)
        out.append(np.where(ok, np.maximum((u - sigma2) / dt, 0.0), np.nan))
    return out[0], out[1]


def _blocks(h: np.ndarray) -> sparse.csr_matrix:
    """Sparse (k m, k m) matrix from per-cell (m, k, k) blocks, variables ordered by kind."""
    k = h.shape[1]
    return sparse.bmat([[sparse.diags(h[:, a, b]) for b in range(k)] for a in range(k)]).tocsr()


def _block_variances(h: np.ndarray) -> np.ndarray:
    """Diagonals of the inverses of per-cell blocks, NaN where a block is not positive definite."""
    out = np.full(h.shape[:2], np.nan)
    ev = np.linalg.eigvalsh(h)
    pd = np.all(ev > 0, axis=1) & np.all(np.isfinite(h), axis=(1, 2))
    if pd.any():
        out[pd] = np.diagonal(np.linalg.inv(h[pd]), axis1=1, axis2=2)
    return out


def _dense_covariance(hess: sparse.spmatrix, gauge: np.ndarray | None = None) -> np.ndarray | None:
    """Inverse of the Hessian (under the linear gauge ``gauge . x = 0`` if given), or None if
    it is not positive definite."""
    h = hess.toarray()
    n = h.shape[0]
    if gauge is not None:
        k = np.zeros((n + 1, n + 1))
        k[:n, :n] = h
        k[:n, n] = k[n, :n] = gauge
        try:
            cov = np.linalg.inv(k)[:n, :n]
        except np.linalg.LinAlgError:
            return None
    else:
        try:
            cov = np.linalg.inv(h)
        except np.linalg.LinAlgError:
            return None
    cov = 0.5 * (cov + cov.T)
    return cov


def _positive(var: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(var) & (var > 0), var, np.nan)


def laplace_d_smooth(st: CellStats, smooth: sparse.spmatrix, sigma2: float, lam_d: float,
                     jeffreys: bool, d: np.ndarray) -> tuple[np.ndarray, str]:
    """Marginal posterior variances of D in smoothed ``d`` (µm⁴/s²) and the method used."""
    zero = np.zeros_like(d)
    loc = local_derivatives(st, d, zero, zero, sigma2, jeffreys)
    hess = sparse.diags(loc.h_dd) + 2.0 * lam_d * smooth
    if st.m <= LAPLACE_MAX_SIZE:
        cov = _dense_covariance(hess)
        if cov is not None:
            return _positive(np.diag(cov)), "laplace"
    return _positive(1.0 / hess.diagonal()), "laplace-conditional"


def laplace_dd(st: CellStats, smooth: sparse.spmatrix | None, sigma2: float, lam_d: float,
               lam_p: float, force: bool, jeffreys: bool, d: np.ndarray, px: np.ndarray,
               py: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Marginal posterior variances of D and of the drift (``dd``) or force (``df``) components.

    Without priors the cells are independent and each 3x3 block is inverted exactly.
    """
    ax, ay = (d * px, d * py) if force else (px, py)
    loc = local_derivatives(st, d, ax, ay, sigma2, jeffreys)
    h = local_hessian(loc, d, px, py, 1.0 if force else 0.0)
    if smooth is None or not (lam_d or lam_p):
        v = _block_variances(h)
        return _positive(v[:, 0]), _positive(v[:, 1]), _positive(v[:, 2]), "laplace"
    m = st.m
    lap = sparse.csr_matrix(smooth)
    prior = sparse.block_diag([2.0 * lam_d * lap, 2.0 * lam_p * lap, 2.0 * lam_p * lap])
    hess = _blocks(h) + prior
    if 3 * m <= LAPLACE_MAX_SIZE:
        cov = _dense_covariance(hess)
        if cov is not None:
            var = np.diag(cov)
            return (_positive(var[:m]), _positive(var[m:2 * m]), _positive(var[2 * m:]),
                    "laplace")
    diag = lap.diagonal()
    h = h.copy()
    h[:, 0, 0] += 2.0 * lam_d * diag
    h[:, 1, 1] += 2.0 * lam_p * diag
    h[:, 2, 2] += 2.0 * lam_p * diag
    v = _block_variances(h)
    return _positive(v[:, 0]), _positive(v[:, 1]), _positive(v[:, 2]), "laplace-conditional"


def laplace_dv(st: CellStats, gx: sparse.spmatrix, gy: sparse.spmatrix, smooth: sparse.spmatrix,
               sigma2: float, lam_v: float, lam_d: float, jeffreys: bool, d: np.ndarray,
               v: np.ndarray) -> tuple[dict[str, np.ndarray], str]:
    """Marginal posterior variances of D, V (gauge ``sum V = const``) and ``F = -grad V``."""
    m = st.m
    gvx, gvy = gx @ v, gy @ v
    loc = local_derivatives(st, d, -d * gvx, -d * gvy, sigma2, jeffreys)
    h = local_hessian(loc, d, gvx, gvy, -1.0)
    if jeffreys:  # dv's Jeffreys term also has -2 log D
        h[:, 0, 0] += 2.0 / (d * d)
    lap = sparse.csr_matrix(smooth)
    if 2 * m <= LAPLACE_MAX_SIZE:
        gxs, gys = sparse.csr_matrix(gx), sparse.csr_matrix(gy)
        dg = sparse.diags
        h_dd = dg(h[:, 0, 0]) + 2.0 * lam_d * lap
        h_dv = dg(h[:, 0, 1]) @ gxs + dg(h[:, 0, 2]) @ gys
        h_vv = (gxs.T @ dg(h[:, 1, 1]) @ gxs + gys.T @ dg(h[:, 2, 2]) @ gys
                + gxs.T @ dg(h[:, 1, 2]) @ gys + gys.T @ dg(h[:, 1, 2]) @ gxs + 2.0 * lam_v * lap)
        hess = sparse.bmat([[h_dd, h_dv], [h_dv.T, h_vv]]).tocsr()
        gauge = np.r_[np.zeros(m), np.ones(m)]
        cov = _dense_covariance(hess, gauge)
        if cov is not None:
            cvv = cov[m:, m:]
            gxd, gyd = gxs.toarray(), gys.toarray()
            return {
                "diffusivity": _positive(np.diag(cov)[:m]),
                "potential": _positive(np.diag(cvv)),
                "force_x": _positive(np.einsum("ij,jk,ik->i", gxd, cvv, gxd)),
                "force_y": _positive(np.einsum("ij,jk,ik->i", gyd, cvv, gyd)),
            }, "laplace"
    hd = h[:, 0, 0] + 2.0 * lam_d * lap.diagonal()
    nan = np.full(m, np.nan)
    return {"diffusivity": _positive(1.0 / hd), "potential": nan, "force_x": nan,
            "force_y": nan}, "laplace-conditional"
