"""Ensemble MSD: definition, gaps, speed, the fit with localization error, and trackpy."""

from __future__ import annotations

import time

import matplotlib
import numpy as np
import pandas as pd
import pytest

from tramway_jupyter.analysis import simulate
from tramway_jupyter.analysis.msd import fit_msd, msd, plot_msd

matplotlib.use("Agg")

WIDE = (0.0, 0.0, 200.0, 200.0)  # walls far away: free Brownian motion


@pytest.fixture(scope="module")
def brownian():
    """D = 0.5 µm²/s, sigma = 0.03 µm, 1e5 translocations, no wall in reach."""
    return simulate(n_translocations=100_000, bounds=WIDE, sigma=0.03, substeps=1, seed=4)


def test_hand_made_with_a_gap_and_unsorted_rows():
    # trajectory 1 misses frame 2: lags come from t, not from row offsets
    df = pd.DataFrame({"n": [1, 1, 1, 2, 2], "x": [0.0, 1.0, 4.0, 0.0, 0.0],
                       "y": [0.0, 0.0, 0.0, 0.0, 2.0], "t": [0.0, 0.1, 0.3, 0.5, 0.6]})
    tab = msd(df.iloc[::-1], max_lag=4)
    assert tab["lag"].tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(tab["tau"], [0.1, 0.2, 0.3, 0.4])
    assert tab["n_pairs"].tolist() == [2, 1, 1, 0]
    np.testing.assert_allclose(tab["msd"].iloc[:3], [(1 + 4) / 2, 9.0, 16.0])
    np.testing.assert_allclose(tab["msd_x"].iloc[:3], [0.5, 9.0, 16.0])
    assert np.isnan(tab["msd"].iloc[3])


def test_bad_input():
    df = pd.DataFrame({"n": [1, 1], "x": [0.0, 1.0], "y": [0.0, 0.0], "t": [0.0, 0.0]})
    with pytest.raises(ValueError, match="two localizations in one frame"):
        msd(df, dt=0.1)
    with pytest.raises(ValueError, match="lacks column 'y'"):
        msd(df.drop(columns="y"))
    with pytest.raises(ValueError, match="max_lag"):
        msd(df, max_lag=0)
    off = pd.DataFrame({"n": [1, 1, 1], "x": [0.0] * 3, "y": [0.0] * 3, "t": [0.0, 0.1, 0.25]})
    with pytest.raises(ValueError, match="off the frame grid"):
        msd(off, dt=0.1)
    with pytest.raises(ValueError, match="usable lag"):
        fit_msd(msd(off.iloc[:2]), n_lags=4)


def test_fast_on_1e5_localizations(brownian):
    df = brownian.trajectories
    assert len(df) > 100_000
    t0 = time.perf_counter()
    tab = msd(df, max_lag=20)
    assert time.perf_counter() - t0 < 0.5
    assert tab["n_pairs"].iloc[0] == 100_000


def test_fit_recovers_brownian_d_alpha_and_sigma(brownian):
    tab = msd(brownian.trajectories, max_lag=20)
    fit = fit_msd(tab, n_lags=4)
    assert abs(fit.alpha - 1) < 0.05
    assert abs(fit.diffusivity - 0.5) < 0.05 * 0.5
    assert 0.015 < fit.sigma < 0.045  # three free parameters: sigma only roughly
    assert fit.diffusivity_err > 0 and fit.alpha_err > 0
    fixed = fit_msd(tab, n_lags=4, alpha=1.0)  # Brownian: sigma well determined
    assert abs(fixed.sigma - 0.03) < 0.008 and fixed.fixed == ("alpha",)
    assert abs(fixed.diffusivity - 0.5) < 0.025
    np.testing.assert_allclose(fixed.predict(tab["tau"].iloc[:4]), tab["msd"].iloc[:4], rtol=0.03)


def test_no_localization_error_is_seen_as_small_sigma():
    sim = simulate(n_translocations=30_000, bounds=WIDE, sigma=0.0, substeps=1, seed=5)
    fit = fit_msd(msd(sim.trajectories), n_lags=4, alpha=1.0)
    assert fit.sigma < 0.015 and abs(fit.diffusivity - 0.5) < 0.03


def test_subdiffusion_is_seen():
    # a walk confined to a 1 µm reflecting box: the MSD bends down (apparent alpha < 1)
    sim = simulate(n_translocations=30_000, bounds=(0, 0, 1.0, 1.0), sigma=0.0, seed=6)
    assert fit_msd(msd(sim.trajectories), n_lags=8).alpha < 0.8


def test_plot_returns_axes(brownian):
    tab = msd(brownian.trajectories.iloc[:5000], max_lag=10)
    ax = plot_msd(tab, fit_msd(tab))
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert len(ax.lines) >= 2
    matplotlib.pyplot.close(ax.figure)


# --- trackpy --------------------------------------------------------------------------------

def _to_trackpy(df: pd.DataFrame, dt: float) -> pd.DataFrame:
    return pd.DataFrame({"particle": df["n"].to_numpy(), "x": df["x"].to_numpy(),
                         "y": df["y"].to_numpy(),
                         "frame": np.rint(df["t"].to_numpy() / dt).astype(int)})


def test_trackpy_emsd_agrees_exactly_on_equal_length_gap_free_tracks():
    tp = pytest.importorskip("trackpy")
    rng = np.random.default_rng(7)
    n_traj, length, dt = 200, 15, 0.05
    steps = rng.normal(0, np.sqrt(2 * 0.5 * dt), (n_traj, length, 2))
    pos = np.cumsum(steps, axis=1) + 0.03 * rng.standard_normal((n_traj, length, 2))
    start = rng.integers(0, 500, n_traj)
    df = pd.DataFrame({"n": np.repeat(np.arange(n_traj) + 1, length),
                       "x": pos[..., 0].ravel(), "y": pos[..., 1].ravel(),
                       "t": (start[:, None] + np.arange(length)).ravel() * dt})
    ours = msd(df, max_lag=12, dt=dt)
    theirs = tp.motion.emsd(_to_trackpy(df, dt), mpp=1.0, fps=1 / dt, max_lagtime=12)
    np.testing.assert_allclose(theirs.index.to_numpy(), ours["tau"], rtol=1e-12)
    np.testing.assert_allclose(theirs.to_numpy(), ours["msd"], rtol=1e-10)


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore:Starting with pandas")
def test_trackpy_msd_agrees_per_trajectory_with_gaps():
    tp = pytest.importorskip("trackpy")
    sim = simulate(n_translocations=2000, sigma=0.03, seed=8)
    df = sim.trajectories
    longest = df["n"].value_counts().index[0]
    one = df[df["n"] == longest]
    one = one.drop(index=one.index[[2, 5, 6]])  # gaps: trackpy goes through _msd_gaps
    ours = msd(one, max_lag=8, dt=0.05)
    theirs = tp.motion.msd(_to_trackpy(one, 0.05), mpp=1.0, fps=20.0, max_lagtime=8)
    np.testing.assert_allclose(theirs["msd"].to_numpy(), ours["msd"].to_numpy()[: len(theirs)],
                               rtol=1e-10)


def test_trackpy_emsd_on_simulated_tracks_of_varied_length():
    # trackpy weights each particle's MSD by Qian's effective count N (= pairs at lag 1 only);
    # we pool the pairs: equal at lag 1, within noise beyond
    tp = pytest.importorskip("trackpy")
    sim = simulate(n_translocations=8000, bounds=WIDE, sigma=0.03, substeps=1, seed=9)
    df = sim.trajectories
    ours = msd(df, max_lag=10, dt=0.05)
    theirs = tp.motion.emsd(_to_trackpy(df, 0.05), mpp=1.0, fps=20.0, max_lagtime=10)
    np.testing.assert_allclose(theirs.to_numpy()[0], ours["msd"].iloc[0], rtol=1e-10)
    np.testing.assert_allclose(theirs.to_numpy(), ours["msd"], rtol=0.03)
