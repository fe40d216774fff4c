"""Bayesian inference of diffusivity, drift, force and potential maps (TRamWAy's modes).

Each translocation belongs to the cell of its initial point (TRamWAy ``inference/base.py``);
the likelihood of a translocation ``dr`` of duration ``dt`` in a cell of diffusivity ``D`` and
drift ``a`` is the 2-D Gaussian ``N(a dt, 2 (D dt + sigma^2) I)``, with ``sigma`` the localization
precision (Masson et al. 2009; Laurent et al. 2022).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from .gradient import gradient_operators, smoothing_operator, subgraph
from .infer_d import cell_stats, solve_d, solve_d_smooth, solve_dd
from .infer_dd import solve_dd_smooth
from .infer_dv import solve_dv
from .maps import Maps
from .tessellate import Tessellation
from .translocations import is_translocations, translocations
from .uncertainty import d_conjugate_intervals, laplace_d_smooth, laplace_dd, laplace_dv, z_score

__all__ = ["infer", "MODES", "DEFAULT_POTENTIAL_PRIOR", "DEFAULT_DV_DIFFUSIVITY_PRIOR"]

logger = logging.getLogger(__name__)

MODES = ("d", "dd", "df", "dv")
DEFAULT_POTENTIAL_PRIOR = 0.1
DEFAULT_DV_DIFFUSIVITY_PRIOR = 0.0


def infer(
    data: pd.DataFrame,
    tessellation: Tessellation,
    mode: str = "d",
    sigma: float = 0.03,
    diffusivity_prior: float | None = None,
    potential_prior: float | None = None,
    min_count: int = 20,
    jeffreys_prior: bool = False,
    max_iter: int = 3000,
    metadata: dict[str, Any] | None = None,
    drift_prior: float | None = None,
    force_prior: float | None = None,
    uncertainty: bool = False,
    credibility: float = 0.9,
) -> Maps:
    """Infer per-cell maps from trajectories or translocations.

    Parameters
    ----------
    data : pandas.DataFrame
        Trajectories (``n, x, y, t``) or translocations (``x, y, dx, dy, dt``), µm and s.
        A ``z``/``dz`` column is ignored (the estimators are 2-D, as in TRamWAy).
    tessellation : Tessellation
        Cells; a translocation belongs to the cell of its initial point.
    mode : {"d", "dd", "df", "dv"}
        ``d``: diffusivity. ``dd``: diffusivity and drift. ``df``: diffusivity and force
        ``F = drift / D``. ``dv``: diffusivity and effective potential ``V`` (force ``-grad V``),
        jointly over all cells.
    sigma : float, default 0.03
        Localization precision (µm); ``sigma**2`` is the localization error (TRamWAy's default).
    diffusivity_prior : float, optional
        Smoothing weight ``lambda_D`` of the prior ``lambda_D sum_i area_i |grad D_i|^2``
        (every mode, as TRamWAy's ``diffusivity_prior``). ``None``: no smoothing in ``d``,
        ``dd``, ``df``, ``0`` in ``dv``.
    potential_prior : float, optional
        Weight ``lambda_V`` of ``lambda_V sum_i area_i |grad V_i|^2`` (mode ``dv`` only).
        Default ``DEFAULT_POTENTIAL_PRIOR`` (0.1): enough to remove the null space of the
        central-difference gradient, small against the likelihood at >= 20 translocations.
    min_count : int, default 20
        Cells with fewer translocations are masked (NaN, ``masked=True``); TRamWAy applies no
        minimum and reports wild values there.
    jeffreys_prior : bool, default False
        Add TRamWAy's Jeffreys prior on D.
    max_iter : int, default 3000
        Iteration cap of L-BFGS-B (``dv`` and smoothed ``d``).
    metadata : dict, optional
        Merged into ``Maps.params`` (e.g. ``{"source": ..., "roi": ...}``); ``data.attrs`` is
        used as well.
    drift_prior : float, optional
        Weight ``lambda_a`` of ``lambda_a sum_i area_i (|grad a_x|^2 + |grad a_y|^2)`` on the
        drift (mode ``dd`` only, TRamWAy's ``drift_prior``). ``None``: no smoothing.
    force_prior : float, optional
        Same on the force components (mode ``df`` only, TRamWAy's ``force_prior``).
        With any prior, ``dd``/``df`` are one joint L-BFGS-B over all cells (analytic gradient).
    uncertainty : bool, default False
        Add the central credible interval of each variable at ``credibility`` as
        ``<variable>_low`` / ``<variable>_high`` (see :mod:`.uncertainty`): the conjugate
        (inverse-gamma) posterior of D in ``d``, a Laplace approximation otherwise
        (D, drift, force, and in ``dv`` the potential, relative to its mean, and the force).
    credibility : float, default 0.9
        Probability of the intervals, in (0, 1).

    Returns
    -------
    Maps
        One row per cell holding at least one translocation.

    Raises
    ------
    ValueError
        For an unknown mode, a negative sigma or prior, a prior the mode does not use,
        ``min_count < 1``, missing columns, or non-positive durations.

    Notes
    -----
    ``d`` and ``dd``/``df`` are solved in closed form when each cell has a single ``dt``
    (e.g. ``D = sum |dr|^2 / (4 n dt) - sigma^2 / dt``) and by a vectorized bisection otherwise;
    D is constrained to be >= 0 (TRamWAy lets it go down to ``-sigma^2/dt``). ``dv`` and smoothed
    ``d`` use L-BFGS-B with analytic gradients. Cells of ``dv`` without a neighbour, and cells of
    ``df`` whose D is 0 (force undefined), are masked.

    References
    ----------
    J.-B. Masson et al., "Inferring maps of forces inside cell membrane microdomains",
    Phys. Rev. Lett. 102, 048103 (2009).
    F. Laurent et al., "TRamWAy: mapping physical properties of individual biomolecule random
    motion in large-scale single-particle tracking experiments", Bioinformatics 38 (2022).
    """
    t_start = time.perf_counter()
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {MODES}")
    sigma = float(sigma)
    if not sigma >= 0:
        raise ValueError(f"sigma (localization precision, µm) must be >= 0, got {sigma}")
    if int(min_count) < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    for name, val in (("diffusivity_prior", diffusivity_prior), ("potential_prior", potential_prior)):
        if val is not None and not float(val) >= 0:
            raise ValueError(f"{name} must be >= 0, got {val}")
    for name, val, only in (("potential_prior", potential_prior, "dv"),
                            ("drift_prior", drift_prior, "dd"), ("force_prior", force_prior, "df")):
        if val is None:
            continue
        if not float(val) >= 0:
            raise ValueError(f"{name} must be >= 0, got {val}")
        if mode != only:
            raise ValueError(f"{name} applies to mode {only!r} only, not {mode!r}")
    credibility = float(credibility)
    if not 0.0 < credibility < 1.0:
        raise ValueError(f"credibility must be in (0, 1), got {credibility}")

    tr = data if is_translocations(data) else translocations(data)
    for c in ("x", "y", "dx", "dy", "dt"):
        if c not in tr.columns:
            raise ValueError(f"translocation DataFrame lacks column {c!r}")
    dt = tr["dt"].to_numpy(dtype=np.float64)
    if dt.size and not np.all(dt > 0):
        raise ValueError("every translocation needs dt > 0")
    xy = tr[["x", "y"]].to_numpy(dtype=np.float64)
    dx = tr["dx"].to_numpy(dtype=np.float64)
    dy = tr["dy"].to_numpy(dtype=np.float64)

    cell = tessellation.assign(xy)
    cells, row = np.unique(cell, return_inverse=True)
    row = row.ravel()
    counts = np.bincount(row, minlength=cells.size)
    m = cells.size
    ok = counts >= int(min_count)
    centers = tessellation.centers[cells]
    sigma2 = sigma * sigma
    params: dict[str, Any] = {
        "mode": mode, "sigma": sigma, "localization_error": sigma2,
        "diffusivity_prior": diffusivity_prior, "potential_prior": potential_prior,
        **({"drift_prior": drift_prior} if mode == "dd" else {}),
        **({"force_prior": force_prior} if mode == "df" else {}),
        "min_count": int(min_count), "jeffreys_prior": bool(jeffreys_prior),
        "tessellation": {"method": tessellation.method, "cell_size": tessellation.cell_size,
                         "n_cells": tessellation.n_cells},
        "n_translocations": int(dt.size),
    }
    params.update({k: v for k, v in data.attrs.items()
                   if isinstance(v, str | int | float | list)})
    params.update(metadata or {})

    variables = {"diffusivity": np.full(m, np.nan)}
    if mode == "dd":
        variables.update(drift_x=np.full(m, np.nan), drift_y=np.full(m, np.nan))
    if mode in ("df", "dv"):
        variables.update(force_x=np.full(m, np.nan), force_y=np.full(m, np.nan))
    if mode == "dv":
        variables["potential"] = np.full(m, np.nan)

    sel_rows = np.flatnonzero(ok)
    if mode == "dv" and sel_rows.size:
        adj = subgraph(tessellation.adjacency, cells[sel_rows])
        connected = np.diff(adj.indptr) > 0
        sel_rows = sel_rows[connected]
    priors = {"d": diffusivity_prior, "v": potential_prior,
              "p": drift_prior if mode == "dd" else force_prior}
    intervals: dict[str, np.ndarray] = {}
    if sel_rows.size:
        sd = _solve(mode, sel_rows, row, dx, dy, dt, m, cells, tessellation, sigma2,
                    priors, jeffreys_prior, max_iter, variables, params,
                    credibility if uncertainty else None)
    masked = np.ones(m, dtype=bool)
    masked[sel_rows] = False
    for v in variables.values():
        masked |= ~np.isfinite(v)
    if uncertainty:
        params["credibility"] = credibility
        intervals = _intervals(variables, sd if sel_rows.size else {}, credibility)
    variables.update(intervals)
    for v in variables.values():
        v[masked] = np.nan
    params["runtime"] = time.perf_counter() - t_start
    logger.info("inferred %s maps on %d cells (%d masked) from %d translocations in %.2f s",
                mode, m, int(masked.sum()), dt.size, params["runtime"])
    return Maps(mode=mode, centers=centers, counts=counts, variables=variables, masked=masked,
                params=params, cells=cells.astype(np.int64))


def _solve(mode: str, sel_rows: np.ndarray, row: np.ndarray, dx: np.ndarray, dy: np.ndarray,
           dt: np.ndarray, m: int, cells: np.ndarray, tess: Tessellation, sigma2: float,
           priors: dict[str, float | None], jeffreys: bool, max_iter: int,
           variables: dict[str, np.ndarray], params: dict[str, Any],
           credibility: float | None) -> dict[str, Any]:
    """Run the mode's kernel on the selected rows and write into ``variables``.

    Returns the uncertainty of the variables (rows of all cells, NaN elsewhere): standard
    deviations ``"sd"`` (Laplace) or ready intervals ``"intervals"`` (conjugate ``d``), empty
    when ``credibility`` is None.
    """
    k = sel_rows.size
    remap = np.full(m, -1)
    remap[sel_rows] = np.arange(k)
    r = remap[row]
    use = r >= 0
    st = cell_stats(r[use], dx[use], dy[use], dt[use], k)
    tcells = cells[sel_rows]
    lam_d, lam_v, lam_p = priors["d"], priors["v"], priors["p"]
    needs_graph = mode == "dv" or bool(lam_d) or bool(lam_p)
    if needs_graph:
        centers = tess.centers[tcells]
        adj = subgraph(tess.adjacency, tcells)
        smooth = smoothing_operator(centers, adj, tess.areas[tcells])
    sd: dict[str, np.ndarray] = {}
    out: dict[str, Any] = {}

    def full(values: np.ndarray) -> np.ndarray:
        x = np.full(m, np.nan)
        x[sel_rows] = values
        return x

    if mode == "d":
        if lam_d:
            d, info = solve_d_smooth(st, sigma2, float(lam_d), smooth, jeffreys, max_iter)
            params["optimizer"] = info
            if credibility is not None:
                var, method = laplace_d_smooth(st, smooth, sigma2, float(lam_d), jeffreys, d)
                sd["diffusivity"] = np.sqrt(var)
                params["uncertainty"] = method
        else:
            d = solve_d(st, sigma2, jeffreys)
            if credibility is not None:
                lo, hi = d_conjugate_intervals(st, d, sigma2, jeffreys, credibility)
                out["intervals"] = {"diffusivity": (full(lo), full(hi))}
                params["uncertainty"] = "conjugate"
        variables["diffusivity"][sel_rows] = d
    elif mode in ("dd", "df"):
        force = mode == "df"
        names = ("force_x", "force_y") if force else ("drift_x", "drift_y")
        ld, lp = float(lam_d or 0.0), float(lam_p or 0.0)
        if ld or lp:
            d, px, py, info = solve_dd_smooth(st, smooth, sigma2, ld, lp, force, jeffreys,
                                              max_iter)
            params["optimizer"] = info
            if not info["success"]:
                logger.warning("%s optimizer did not converge: %s", mode, info["message"])
        else:
            d, px, py = solve_dd(st, sigma2, jeffreys)
            if force:
                with np.errstate(divide="ignore", invalid="ignore"):
                    px = np.where(d > 0, px / d, np.nan)
                    py = np.where(d > 0, py / d, np.nan)
        variables["diffusivity"][sel_rows] = d
        variables[names[0]][sel_rows] = px
        variables[names[1]][sel_rows] = py
        if credibility is not None:
            ok = np.isfinite(px) & np.isfinite(py) & (d > 0 if force else d >= 0)
            dd_ = np.where(ok, d, 1.0)
            vd, vx, vy, method = laplace_dd(st, smooth if (ld or lp) else None, sigma2, ld, lp,
                                            force, jeffreys, dd_, np.where(ok, px, 0.0),
                                            np.where(ok, py, 0.0))
            for name, var in (("diffusivity", vd), (names[0], vx), (names[1], vy)):
                sd[name] = np.where(ok, np.sqrt(var), np.nan)
            params["uncertainty"] = method
    else:
        gx, gy = gradient_operators(centers, adj)
        lv = DEFAULT_POTENTIAL_PRIOR if lam_v is None else float(lam_v)
        ld = DEFAULT_DV_DIFFUSIVITY_PRIOR if lam_d is None else float(lam_d)
        d, v, info = solve_dv(st, gx, gy, smooth, sigma2, lv, ld, jeffreys, max_iter)
        params.update(optimizer=info, potential_prior=lv, diffusivity_prior=ld)
        if not info["success"]:
            logger.warning("dv optimizer did not converge: %s", info["message"])
        variables["diffusivity"][sel_rows] = d
        variables["potential"][sel_rows] = v
        variables["force_x"][sel_rows] = -(gx @ v)
        variables["force_y"][sel_rows] = -(gy @ v)
        if credibility is not None:
            var, method = laplace_dv(st, gx, gy, smooth, sigma2, lv, ld, jeffreys, d, v)
            sd.update({name: np.sqrt(x) for name, x in var.items()})
            params["uncertainty"] = method
    out["sd"] = {name: full(x) for name, x in sd.items()}
    return out


def _intervals(variables: dict[str, np.ndarray], unc: dict[str, Any],
               credibility: float) -> dict[str, np.ndarray]:
    """``<variable>_low``/``_high`` columns from conjugate intervals or Laplace deviations."""
    z = z_score(credibility)
    m = variables["diffusivity"].size
    out: dict[str, np.ndarray] = {}
    for name, (lo, hi) in unc.get("intervals", {}).items():
        out[name + "_low"], out[name + "_high"] = lo, hi
    for name, s in unc.get("sd", {}).items():
        est = variables[name]
        lo, hi = est - z * s, est + z * s
        if name == "diffusivity":
            lo = np.maximum(lo, 0.0)
        out[name + "_low"], out[name + "_high"] = lo, hi
    for name in variables:
        for side in ("_low", "_high"):
            out.setdefault(name + side, np.full(m, np.nan))
    return out
