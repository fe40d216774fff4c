"""Shared, seeded simulations for the analysis tests (computed once per session)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from tramway_jupyter.analysis import simulate, translocations

matplotlib.use("Agg")


@pytest.fixture(scope="session")
def uniform_sim():
    """D = 0.5 µm²/s everywhere, no potential, 1.2e5 translocations."""
    return simulate(n_translocations=120_000, diffusivity="uniform", seed=11)


@pytest.fixture(scope="session")
def gradient_sim():
    """D rising linearly from 0.2 to 1.0 µm²/s along x."""
    return simulate(n_translocations=120_000, diffusivity="gradient", seed=12)


@pytest.fixture(scope="session")
def harmonic_sim():
    """Uniform D, harmonic well of 1 kT/µm² at the box centre."""
    return simulate(n_translocations=120_000, diffusivity="uniform", potential="harmonic", seed=13)


@pytest.fixture(scope="session")
def harmonic_translocations(harmonic_sim):
    return translocations(harmonic_sim.trajectories)


@pytest.fixture
def small_df():
    """Three short trajectories, n = 1, 2, 3 (µm, s)."""
    import pandas as pd

    rng = np.random.default_rng(0)
    n = np.repeat([1, 2, 3], [4, 3, 5])
    t = np.concatenate([np.arange(4), np.arange(3) + 10, np.arange(5) + 2]) * 0.05
    return pd.DataFrame({"n": n, "x": rng.random(12) * 5, "y": rng.random(12) * 5, "t": t})


def inner(centers, bounds=(0, 0, 10, 10), margin=1.0):
    """Cells farther than ``margin`` µm from the reflecting walls."""
    c = np.asarray(centers)
    return ((c[:, 0] > bounds[0] + margin) & (c[:, 0] < bounds[2] - margin)
            & (c[:, 1] > bounds[1] + margin) & (c[:, 1] < bounds[3] - margin))
