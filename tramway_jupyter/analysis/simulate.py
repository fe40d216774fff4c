"""Ground-truth simulations: overdamped Langevin walks with space-dependent D and V.

The position obeys the Itô equation (kT = 1)::

    dr = (D F + grad D) dt + sqrt(2 D) dW,     F = -grad V,

whose stationary density is ``exp(-V)``; the ``grad D`` term is the Itô (noise-induced) drift.
An estimator that models ``dr ~ N(D F dt, 2 D dt)`` (TRamWAy's df/dv) therefore recovers the
*effective* force ``F + grad ln D`` and potential ``V - ln D``; both are given as truth.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .fields import Field, diffusivity_field, potential_field
from .io import write_trajectories
from .rois import roi_file_for, write_rois

__all__ = ["Simulation", "simulate", "write_simulation", "tile_rois"]

logger = logging.getLogger(__name__)


@dataclass
class Simulation:
    """A simulated data set and its ground truth.

    Attributes
    ----------
    trajectories : pandas.DataFrame
        Columns ``n, x, y, t`` (µm, s) with localization noise, TRamWAy's layout.
    diffusivity : Field
        True D(x, y) in µm²/s.
    potential : Field or None
        True V(x, y) in kT.
    bounds : numpy.ndarray, shape (4,)
        Simulation box ``[x_min, y_min, x_max, y_max]`` (µm), reflecting walls.
    params : dict
        Simulation parameters (dt, sigma, seed, ...), JSON-able.
    """

    trajectories: pd.DataFrame
    diffusivity: Field
    potential: Field | None
    bounds: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    def truth(self) -> dict[str, Any]:
        """JSON-able description of the ground truth and the parameters."""
        return {
            "diffusivity": self.diffusivity.describe(),
            "potential": None if self.potential is None else self.potential.describe(),
            "bounds": [float(b) for b in self.bounds],
            "units": {"x": "µm", "t": "s", "diffusivity": "µm²/s", "potential": "kT",
                      "force": "kT/µm"},
            "dynamics": "Itô: dr = (D F + grad D) dt + sqrt(2 D) dW, F = -grad V",
            **self.params,
        }

    def true_maps(self, centers: np.ndarray) -> dict[str, np.ndarray]:
        """True values at ``centers`` (m, 2): diffusivity, force, effective force/potential."""
        x, y = centers[:, 0], centers[:, 1]
        d = self.diffusivity(x, y)
        gdx, gdy = self.diffusivity.gradient(x, y)
        if self.potential is None:
            v, fx, fy = np.zeros_like(d), np.zeros_like(d), np.zeros_like(d)
        else:
            v = self.potential(x, y)
            gvx, gvy = self.potential.gradient(x, y)
            fx, fy = -gvx, -gvy
        return {"diffusivity": d, "potential": v, "force_x": fx, "force_y": fy,
                "effective_potential": v - np.log(d),
                "effective_force_x": fx + gdx / d, "effective_force_y": fy + gdy / d,
                "drift_x": d * fx + gdx, "drift_y": d * fy + gdy}


def _lengths(rng: np.random.Generator, n_translocations: int, mean_length: float) -> np.ndarray:
    """Trajectory lengths (points >= 2): 1 + geometric, summing to ``n_translocations`` steps."""
    p = 1.0 / (mean_length - 1.0)
    steps = rng.geometric(p, size=int(1.5 * n_translocations * p) + 16)
    while steps.sum() < n_translocations:
        steps = np.concatenate([steps, rng.geometric(p, size=steps.size)])
    cum = np.cumsum(steps)
    k = int(np.searchsorted(cum, n_translocations))
    steps = steps[: k + 1].copy()
    steps[-1] -= cum[k] - n_translocations
    return steps[steps > 0] + 1


def _reflect(pos: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    pos = np.where(pos < lo, 2 * lo - pos, pos)
    pos = np.where(pos > hi, 2 * hi - pos, pos)
    return np.clip(pos, lo, hi)


def simulate(
    n_translocations: int = 20_000,
    bounds: tuple[float, float, float, float] = (0.0, 0.0, 10.0, 10.0),
    diffusivity: Any = "uniform",
    potential: Any = None,
    dt: float = 0.05,
    sigma: float = 0.03,
    mean_length: float = 10.0,
    substeps: int = 10,
    seed: int = 0,
) -> Simulation:
    """Simulate 2-D overdamped Langevin trajectories in a box.

    Parameters
    ----------
    n_translocations : int, default 20000
        Total number of translocations (consecutive pairs) over all trajectories.
    bounds : tuple of 4 float, default (0, 0, 10, 10)
        Box ``[x_min, y_min, x_max, y_max]`` (µm) with reflecting walls.
    diffusivity : str, float, Field or callable, default "uniform"
        D(x, y) in µm²/s: ``"uniform"`` (0.5), ``"gradient"`` (0.2 -> 1.0 along x), a number,
        or ``f(x, y)``.
    potential : None, str, Field or callable, default None
        V(x, y) in kT: ``None``, ``"harmonic"`` (1 kT/µm², centred) or ``f(x, y)``.
    dt : float, default 0.05
        Frame interval (s).
    sigma : float, default 0.03
        Localization precision (µm): Gaussian noise of this std per axis on recorded positions.
    mean_length : float, default 10
        Mean number of points per trajectory (1 + geometric number of steps, >= 2 points).
    substeps : int, default 10
        Euler-Maruyama integration steps per frame.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``; same seed, same data.

    Returns
    -------
    Simulation
        Trajectories (``n`` from 1, start times on a random frame) and the ground truth.

    Raises
    ------
    ValueError
        For non-positive sizes, dt, or an empty box.

    Examples
    --------
    >>> sim = simulate(n_translocations=1000, diffusivity="gradient", seed=1)
    >>> int((sim.trajectories.groupby("n").size() - 1).sum())
    1000
    """
    b = np.asarray(bounds, dtype=np.float64).reshape(4)
    if not (b[2] > b[0] and b[3] > b[1]):
        raise ValueError(f"empty simulation box {b.tolist()}")
    if n_translocations < 1 or dt <= 0 or sigma < 0 or mean_length <= 1 or substeps < 1:
        raise ValueError("need n_translocations >= 1, dt > 0, sigma >= 0, mean_length > 1, "
                         "substeps >= 1")
    dfield = diffusivity_field(diffusivity, b)
    vfield = potential_field(potential, b)
    rng = np.random.default_rng(seed)
    lengths = np.sort(_lengths(rng, int(n_translocations), float(mean_length)))[::-1]
    n_traj = lengths.size
    lo, hi = b[:2], b[2:]
    pos = lo + rng.random((n_traj, 2)) * (hi - lo)
    offsets = np.r_[0, np.cumsum(lengths)[:-1]]
    out = np.empty((int(lengths.sum()), 2))
    out[offsets] = pos
    n_active = np.searchsorted(-lengths, -np.arange(lengths[0] + 1), side="right")
    h = dt / substeps
    for k in range(1, int(lengths[0])):
        na = int(n_active[k + 1])  # trajectories with more than k points
        p = pos[:na]
        for _ in range(substeps):
            x, y = p[:, 0], p[:, 1]
            d = np.maximum(dfield(x, y), 0.0)
            gdx, gdy = dfield.gradient(x, y)
            drift = np.column_stack([gdx, gdy])
            if vfield is not None:
                gvx, gvy = vfield.gradient(x, y)
                drift -= d[:, None] * np.column_stack([gvx, gvy])
            p = p + drift * h + np.sqrt(2 * d * h)[:, None] * rng.standard_normal(p.shape)
            p = _reflect(p, lo, hi)
        pos[:na] = p
        out[offsets[:na] + k] = p
    out += sigma * rng.standard_normal(out.shape)
    ids = rng.permutation(n_traj) + 1
    start = rng.integers(0, 2000, size=n_traj)
    n = np.repeat(ids, lengths)
    frame = np.arange(out.shape[0]) - np.repeat(offsets, lengths) + np.repeat(start, lengths)
    df = pd.DataFrame({"n": n, "x": out[:, 0], "y": out[:, 1], "t": frame * dt})
    order = np.argsort(n, kind="stable")
    df = df.iloc[order].reset_index(drop=True)
    params = {"n_translocations": int(n_translocations), "n_trajectories": int(n_traj),
              "dt": float(dt), "sigma": float(sigma), "mean_length": float(mean_length),
              "substeps": int(substeps), "seed": int(seed)}
    return Simulation(df, dfield, vfield, b, params)


def tile_rois(bounds: np.ndarray, n_rois: int) -> np.ndarray:
    """``n_rois`` boxes tiling ``bounds`` on a near-square grid (row-major from the bottom-left)."""
    b = np.asarray(bounds, dtype=np.float64)
    nx = int(np.ceil(np.sqrt(n_rois)))
    ny = int(np.ceil(n_rois / nx))
    wx, wy = (b[2] - b[0]) / nx, (b[3] - b[1]) / ny
    tiles = [[b[0] + i * wx, b[1] + j * wy, b[0] + (i + 1) * wx, b[1] + (j + 1) * wy]
             for j in range(ny) for i in range(nx)]
    return np.array(tiles[:n_rois])


def write_simulation(
    out_dir: str | PathLike[str], n_files: int = 2, n_rois: int = 4, seed: int = 0,
    **kwargs: Any,
) -> list[Path]:
    """Write a simulated data set: per file ``sim{i}.rpt.txt``, ``sim{i}.rpt-roi.txt``,
    ``sim{i}.truth.json``.

    Parameters
    ----------
    out_dir : str or path-like
        Created if missing.
    n_files : int, default 2
        Number of trajectory files (seeds ``seed``, ``seed + 1``, ...).
    n_rois : int, default 4
        ROIs per file, tiling the box (see :func:`tile_rois`).
    seed : int, default 0
    **kwargs
        Passed to :func:`simulate` (e.g. ``diffusivity="gradient"``, ``potential="harmonic"``,
        ``n_translocations``). The defaults give 2e4 translocations per file, which infer in
        well under a second per ROI.

    Returns
    -------
    list of pathlib.Path
        The trajectory files; the ROI file of each is :func:`roi_file_for` of it and the truth
        is ``sim{i}.truth.json`` beside it.
    """
    if n_files < 1 or n_rois < 1:
        raise ValueError("n_files and n_rois must be >= 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_files):
        sim = simulate(seed=seed + i, **kwargs)
        path = write_trajectories(sim.trajectories, out / f"sim{i}.rpt.txt")
        rois = tile_rois(sim.bounds, n_rois)
        write_rois(rois, roi_file_for(path))
        truth = sim.truth()
        truth["rois"] = rois.tolist()
        tmp = out / f"sim{i}.truth.json.tmp"
        tmp.write_text(json.dumps(truth, indent=2, ensure_ascii=False), encoding="utf-8")
        tmp.replace(out / f"sim{i}.truth.json")
        paths.append(path)
        logger.info("wrote %s (%d localizations, %d ROIs)", path, len(sim.trajectories), n_rois)
    return paths
