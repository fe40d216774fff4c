"""Simulation: determinism, trajectory layout, truth files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tramway_jupyter.analysis import (
    read_rois,
    read_trajectories,
    roi_file_for,
    simulate,
    translocations,
    write_simulation,
)


def test_seeded_and_exact_size():
    a = simulate(n_translocations=3000, diffusivity="gradient", potential="harmonic", seed=4)
    b = simulate(n_translocations=3000, diffusivity="gradient", potential="harmonic", seed=4)
    c = simulate(n_translocations=3000, seed=5)
    assert a.trajectories.equals(b.trajectories)
    assert not a.trajectories.equals(c.trajectories)
    tr = translocations(a.trajectories)
    assert len(tr) == 3000
    np.testing.assert_allclose(tr["dt"], 0.05)
    assert a.trajectories.groupby("n").size().min() >= 2
    b0 = a.bounds
    assert a.trajectories["x"].between(b0[0] - 0.2, b0[2] + 0.2).all()


def test_harmonic_relaxes_towards_centre():
    sim = simulate(n_translocations=30_000, potential="harmonic", mean_length=40, seed=2)
    tr = translocations(sim.trajectories)
    r0 = np.hypot(tr["x"] - 5, tr["y"] - 5)
    r1 = np.hypot(tr["x"] + tr["dx"] - 5, tr["y"] + tr["dy"] - 5)
    assert np.mean(r1 - r0) < 0  # drift points inwards


def test_truth_and_callables():
    sim = simulate(n_translocations=500, diffusivity=lambda x, y: 0.3 + 0.0 * x,
                   potential=lambda x, y: x, seed=0)
    truth = sim.true_maps(np.array([[1.0, 1.0]]))
    assert truth["diffusivity"][0] == pytest.approx(0.3)
    assert truth["force_x"][0] == pytest.approx(-1.0, rel=1e-6)
    json.dumps(sim.truth())
    with pytest.raises(ValueError, match="unknown diffusivity"):
        simulate(diffusivity="nope")
    with pytest.raises(ValueError, match="unknown potential"):
        simulate(potential="nope")


def test_write_simulation(tmp_path):
    paths = write_simulation(tmp_path / "sim", n_files=2, n_rois=3, seed=1,
                             n_translocations=2000, diffusivity="gradient")
    assert [p.name for p in paths] == ["sim0.rpt.txt", "sim1.rpt.txt"]
    for p in paths:
        df = read_trajectories(p)
        assert len(translocations(df)) == 2000
        rois = read_rois(roi_file_for(p))
        assert rois.shape == (3, 4)
        truth = json.loads((p.parent / p.name.replace(".rpt.txt", ".truth.json")).read_text())
        assert truth["diffusivity"]["name"] == "gradient" and len(truth["rois"]) == 3
