"""Ensemble mean squared displacement (MSD) and its fit with localization error.

The MSD of a data frame (all trajectories pooled: every pair of localizations of one trajectory
``k`` frames apart counts once) and the fit of ``MSD(tau) = 4 D tau^alpha + 4 sigma^2`` (2D).
A ROI or a time segment is just the data frame passed in (``crop``, ``crop_time``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["msd", "fit_msd", "MSDFit", "plot_msd", "frame_interval"]


def frame_interval(df: pd.DataFrame) -> float:
    """The frame interval (s): the median of the positive time steps within trajectories.

    Raises
    ------
    ValueError
        If no trajectory has two localizations at different times.
    """
    n, t, _, _ = _ordered(df)
    return _frame_interval(n, t)


def _frame_interval(n: np.ndarray, t: np.ndarray) -> float:
    step = (t[1:] - t[:-1])[n[1:] == n[:-1]]
    step = step[step > 0]
    if step.size == 0:
        raise ValueError("cannot infer the frame interval: no trajectory has two localizations; "
                         "pass dt= (s)")
    return float(np.median(step))


def _ordered(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n, t, x, y`` as arrays, grouped by trajectory and time-sorted (copies if needed)."""
    n = df["n"].to_numpy()
    t = df["t"].to_numpy(dtype=np.float64)
    x = df["x"].to_numpy(dtype=np.float64)
    y = df["y"].to_numpy(dtype=np.float64)
    if n.size > 1:
        change = np.flatnonzero(n[1:] != n[:-1]) + 1
        heads = n[np.r_[0, change]]
        unsorted = np.any((n[1:] == n[:-1]) & (t[1:] < t[:-1]))
        if unsorted or np.unique(heads).size != heads.size:
            order = np.lexsort((t, n))
            n, t, x, y = n[order], t[order], x[order], y[order]
    return n, t, x, y


def msd(df: pd.DataFrame, max_lag: int = 20, dt: float | None = None) -> pd.DataFrame:
    """Ensemble MSD of all trajectories of a data frame, per lag (in frames).

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``n, x, y, t`` (µm, s), TRamWAy's layout. Rows need not be sorted; the frame
        of a localization is ``round((t - t.min()) / dt)``, so missed frames (gaps) are
        handled: a pair is counted at the lag its times give, not at its row offset.
    max_lag : int, default 20
        Largest lag, in frames.
    dt : float, optional
        Frame interval (s); default :func:`frame_interval` of ``df``.

    Returns
    -------
    pandas.DataFrame
        One row per lag ``1..max_lag``: ``lag`` (frames), ``tau`` (s), ``msd`` (µm², the mean
        of ``dx² + dy²`` over all pairs of localizations of one trajectory ``lag`` frames
        apart; NaN without pairs), ``msd_x``, ``msd_y`` (µm², per axis) and ``n_pairs``.
        ``attrs`` gets ``dt``.

    Raises
    ------
    ValueError
        If a column is missing, ``max_lag < 1``, ``dt <= 0``, a time is not finite or off the
        frame grid (by more than 10 % of ``dt``), or a trajectory has two localizations in one
        frame.

    Notes
    -----
    Every pair is weighted equally (the pooled mean), so long trajectories weigh more, as in
    TRamWAy. ``trackpy.motion.emsd`` instead averages per-particle MSDs weighted by Qian's
    effective number of independent measurements; the two agree exactly when all trajectories
    have the same length and no gap, and within noise otherwise.

    The cost is ``max_lag`` vectorized passes over the rows (no FFT).

    Examples
    --------
    >>> df = pd.DataFrame({"n": [1, 1, 1], "x": [0., 1., 3.], "y": [0., 0., 0.],
    ...                    "t": [0., .1, .2]})
    >>> msd(df, max_lag=2)[["lag", "msd", "n_pairs"]].to_numpy().tolist()
    [[1.0, 2.5, 2.0], [2.0, 9.0, 1.0]]
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"msd needs a pandas DataFrame, got {type(df).__name__}")
    for c in ("n", "x", "y", "t"):
        if c not in df.columns:
            raise ValueError(f"trajectory DataFrame lacks column {c!r}")
    if int(max_lag) != max_lag or max_lag < 1:
        raise ValueError(f"max_lag must be an integer >= 1 (frames), got {max_lag}")
    max_lag = int(max_lag)
    n, t, x, y = _ordered(df)
    if not np.all(np.isfinite(t)):
        row = int(np.flatnonzero(~np.isfinite(t))[0])
        raise ValueError(f"time t={t[row]} is not finite")
    if dt is None:
        dt = _frame_interval(n, t)
    dt = float(dt)
    if not dt > 0:
        raise ValueError(f"dt (frame interval, s) must be > 0, got {dt}")
    sx = np.zeros(max_lag + 1)
    sy = np.zeros(max_lag + 1)
    count = np.zeros(max_lag + 1, dtype=np.int64)
    if t.size:
        f = (t - t.min()) / dt
        frame = np.rint(f).astype(np.int64)
        off = np.abs(f - frame)
        if np.any(off > 0.1):
            row = int(np.argmax(off))
            raise ValueError(f"time t={t[row]} is off the frame grid of dt={dt} s "
                             f"(by {off[row]:.2f} frame); pass the right dt=")
        for k in range(1, max_lag + 1):
            same = n[k:] == n[:-k]
            if not same.any():
                break  # no trajectory has more than k localizations
            lag = frame[k:] - frame[:-k]
            if k == 1 and np.any(same & (lag <= 0)):
                row = int(np.flatnonzero(same & (lag <= 0))[0])
                raise ValueError(f"trajectory n={n[row]} has two localizations in one frame "
                                 f"(t={t[row]}, t={t[row + 1]})")
            ok = same & (lag <= max_lag)
            lag = lag[ok]
            sx += np.bincount(lag, weights=(x[k:] - x[:-k])[ok] ** 2, minlength=max_lag + 1)
            sy += np.bincount(lag, weights=(y[k:] - y[:-k])[ok] ** 2, minlength=max_lag + 1)
            count += np.bincount(lag, minlength=max_lag + 1)
    lags = np.arange(1, max_lag + 1)
    c = count[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = np.where(c > 0, sx[1:] / c, np.nan)
        my = np.where(c > 0, sy[1:] / c, np.nan)
    out = pd.DataFrame({"lag": lags, "tau": lags * dt, "msd": mx + my, "msd_x": mx,
                        "msd_y": my, "n_pairs": c})
    out.attrs = {"dt": dt}
    return out


@dataclass(frozen=True)
class MSDFit:
    """Result of :func:`fit_msd`: ``MSD(tau) = 4 D tau^alpha + 4 sigma^2``.

    Attributes
    ----------
    diffusivity, alpha, sigma : float
        D (µm²/s^alpha), the anomalous exponent and the localization precision (µm).
    diffusivity_err, alpha_err, sigma_err : float
        Standard errors (0 for a parameter held fixed; see :func:`fit_msd`'s Notes).
    n_lags : int
        Number of lags fitted (the first ones).
    fixed : tuple of str
        Parameters held fixed.
    """

    diffusivity: float
    alpha: float
    sigma: float
    diffusivity_err: float
    alpha_err: float
    sigma_err: float
    n_lags: int
    fixed: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def predict(self, tau: Any) -> np.ndarray:
        """Model MSD (µm²) at lag times ``tau`` (s)."""
        tau = np.asarray(tau, dtype=np.float64)
        return 4 * self.diffusivity * tau ** self.alpha + 4 * self.sigma ** 2


def fit_msd(
    table: pd.DataFrame,
    n_lags: int = 4,
    sigma: float | None = None,
    alpha: float | None = None,
) -> MSDFit:
    """Fit ``MSD(tau) = 4 D tau^alpha + 4 sigma^2`` to the first lags of an MSD table.

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by :func:`msd` (columns ``tau``, ``msd``, ``n_pairs``).
    n_lags : int, default 4
        Number of first lags used (lags without pairs are skipped).
    sigma : float, optional
        Localization precision (µm) held fixed; default: fitted (>= 0).
    alpha : float, optional
        Anomalous exponent held fixed (e.g. 1 for Brownian motion); default: fitted.

    Returns
    -------
    MSDFit

    Raises
    ------
    ValueError
        If the table lacks a column, or has fewer usable lags than free parameters.

    Notes
    -----
    Weighted least squares (``scipy.optimize.curve_fit``, D >= 0, 0 < alpha <= 2, sigma² >= 0)
    with the error of the MSD at each lag taken as ``MSD / sqrt(n_pairs)`` (the squared 2D
    displacement of a Gaussian step is exponential: its std equals its mean). Pairs sharing
    localizations and neighbouring lags are correlated, which this ignores; the covariance is
    scaled by the reduced chi², which absorbs part of it. Fit few lags (Michalet 2010):
    with many, the long, correlated lags dominate. The standard error of sigma is propagated
    from that of sigma² (infinite when sigma = 0). Motion blur (camera exposure) is not modelled.

    References
    ----------
    X. Michalet, "Mean square displacement analysis of single-particle trajectories with
    localization error: Brownian motion in an isotropic medium", Phys. Rev. E 82, 041914 (2010).
    """
    from scipy.optimize import curve_fit

    for c in ("tau", "msd", "n_pairs"):
        if c not in table.columns:
            raise ValueError(f"MSD table lacks column {c!r}; compute it with msd()")
    if int(n_lags) < 1:
        raise ValueError(f"n_lags must be >= 1, got {n_lags}")
    good = (table["n_pairs"].to_numpy() > 0) & np.isfinite(table["msd"].to_numpy())
    sel = table.loc[good].iloc[: int(n_lags)]
    tau = sel["tau"].to_numpy(dtype=np.float64)
    y = sel["msd"].to_numpy(dtype=np.float64)
    npairs = sel["n_pairs"].to_numpy(dtype=np.float64)
    if sigma is not None and not float(sigma) >= 0:
        raise ValueError(f"sigma (µm) must be >= 0, got {sigma}")
    if alpha is not None and not 0 < float(alpha) <= 2:
        raise ValueError(f"alpha must be in (0, 2], got {alpha}")
    free = ["D"] + (["alpha"] if alpha is None else []) + (["s2"] if sigma is None else [])
    if tau.size < len(free):
        raise ValueError(f"{tau.size} usable lag(s) for {len(free)} free parameters "
                         f"({', '.join(free)}); use more lags or fix sigma/alpha")
    fixed = {"alpha": None if alpha is None else float(alpha),
             "s2": None if sigma is None else float(sigma) ** 2}

    def model(tt: np.ndarray, *p: float) -> np.ndarray:
        vals = dict(zip(free, p, strict=True))
        a = vals.get("alpha", fixed["alpha"])
        s2 = vals.get("s2", fixed["s2"])
        return 4 * vals["D"] * tt ** a + 4 * s2

    err = np.maximum(y, 1e-300) / np.sqrt(npairs)
    d0 = max(float(np.polyfit(tau[:2], y[:2], 1)[0]) / 4 if tau.size > 1 else y[0] / (4 * tau[0]),
             1e-6)
    guess = {"D": d0, "alpha": 1.0, "s2": max(float(y[0]) / 4 - d0 * tau[0], 0.0)}
    lo = {"D": 0.0, "alpha": 1e-3, "s2": 0.0}
    hi = {"D": np.inf, "alpha": 2.0, "s2": np.inf}
    p0 = [min(max(guess[k], lo[k]), hi[k] - 1e-9) for k in free]
    if tau.size == len(free):
        popt, pcov = curve_fit(model, tau, y, p0=p0, sigma=err, bounds=([lo[k] for k in free],
                               [hi[k] for k in free]), absolute_sigma=True)
    else:
        popt, pcov = curve_fit(model, tau, y, p0=p0, sigma=err, bounds=([lo[k] for k in free],
                               [hi[k] for k in free]))
    vals = dict(zip(free, popt, strict=True))
    errs = dict(zip(free, np.sqrt(np.clip(np.diag(pcov), 0, None)), strict=True))
    s2 = vals.get("s2", fixed["s2"])
    s = float(np.sqrt(s2))
    if "s2" in errs:
        s_err = float(errs["s2"] / (2 * s)) if s > 0 else float("inf")
    else:
        s_err = 0.0
    return MSDFit(
        diffusivity=float(vals["D"]), alpha=float(vals.get("alpha", fixed["alpha"])), sigma=s,
        diffusivity_err=float(errs["D"]), alpha_err=float(errs.get("alpha", 0.0)),
        sigma_err=s_err, n_lags=int(tau.size),
        fixed=tuple(k for k in ("alpha", "sigma") if (k == "alpha" and alpha is not None)
                    or (k == "sigma" and sigma is not None)),
        extra={"dt": table.attrs.get("dt"), "sigma2": float(s2),
               "sigma2_err": float(errs.get("s2", 0.0))},
    )


def plot_msd(table: pd.DataFrame, fit: MSDFit | None = None, ax: Any = None,
             label: str | None = None) -> Any:
    """Draw an MSD table on log-log axes, with the fit overlaid; return the Axes.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`msd`.
    fit : MSDFit, optional
        Drawn as a line over the whole lag range; the fitted lags are marked.
    ax : matplotlib.axes.Axes, optional
        Default: a new figure.
    label : str, optional
        Legend label of the data.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.5))
    ok = table["n_pairs"].to_numpy() > 0
    tau = table["tau"].to_numpy(dtype=np.float64)[ok]
    y = table["msd"].to_numpy(dtype=np.float64)[ok]
    se = y / np.sqrt(table["n_pairs"].to_numpy(dtype=np.float64)[ok])
    ax.errorbar(tau, y, yerr=se, fmt="o", ms=4, label=label or "MSD")
    if fit is not None:
        tt = np.geomspace(tau.min(), tau.max(), 100) if tau.size else tau
        ax.plot(tt, fit.predict(tt), "-",
                label=(f"fit: D={fit.diffusivity:.3g} µm²/s, α={fit.alpha:.2f}, "
                       f"σ={1000 * fit.sigma:.0f} nm"))
        ax.axvline(tau[min(fit.n_lags, tau.size) - 1], color="0.7", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("lag time τ (s)")
    ax.set_ylabel("MSD (µm²)")
    ax.legend(fontsize="small")
    return ax
