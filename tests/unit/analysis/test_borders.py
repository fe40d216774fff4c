"""Truncated displacements: steps leaving a ROI (crop keep_exits) and cells at the walls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tramway_jupyter.analysis import crop, infer, simulate, tessellate, translocations
from tramway_jupyter.analysis.borders import border_cells, data_bounds


@pytest.fixture(scope="module")
def sim():
    return simulate(n_translocations=60_000, diffusivity="uniform", seed=21)


def test_keep_exits_keeps_the_step_that_leaves():
    x = [0.5, 1.0, 3.0, 3.5, 1.5, 1.6, 0.1, 0.2]
    df = pd.DataFrame({"n": [7] * 6 + [9] * 2, "x": x, "y": [1.0] * 8,
                       "t": [0, .1, .2, .3, .4, .5, 0, .1]})
    out = crop(df, [0, 0, 2, 2], keep_exits=True)
    assert out["n"].tolist() == [1, 1, 1, 2, 2, 3, 3]
    assert out["x"].tolist() == [0.5, 1.0, 3.0, 1.5, 1.6, 0.1, 0.2]
    assert translocations(out)["dx"].tolist() == pytest.approx([0.5, 2.0, 0.1, 0.1])
    assert crop(df, [0, 0, 2, 2])["x"].max() < 2  # default unchanged


def test_keep_exits_gives_every_translocation_starting_in_the_roi(sim):
    df = sim.trajectories
    box = [2.0, 3.0, 6.0, 8.0]
    tr = translocations(df)
    start_in = ((tr["x"] >= box[0]) & (tr["x"] <= box[2]) & (tr["y"] >= box[1])
                & (tr["y"] <= box[3]))
    kept = translocations(crop(df, box, keep_exits=True))
    np.testing.assert_array_equal(np.sort(kept["dx"].to_numpy()),
                                  np.sort(tr.loc[start_in, "dx"].to_numpy()))
    assert len(translocations(crop(df, box))) < len(kept)  # without: the exits are lost


def test_roi_border_cells_no_longer_read_low(sim):
    df = sim.trajectories
    tess = tessellate(translocations(df), method="hexagon", points_per_cell=200)
    box = [0.0, 0.0, 5.0, 5.0]
    full = infer(df, tess, mode="d")
    roi = infer(crop(df, box, keep_exits=True), tess, mode="d")
    common, i, j = np.intersect1d(full.cells, roi.cells, return_indices=True)
    c = roi.centers[j]
    band = (c[:, 0] < 5) & (c[:, 1] < 5) & ((c[:, 0] > 4) | (c[:, 1] > 4))  # along the border
    assert band.sum() >= 10
    whole = roi.counts[j] == full.counts[i]  # cells lying inside the ROI
    assert (whole & band).sum() >= band.sum() / 3
    # they get the same translocations as without a ROI, so the same D
    np.testing.assert_allclose(roi.variables["diffusivity"][j][whole],
                               full.variables["diffusivity"][i][whole])
    ratio = roi.variables["diffusivity"][j][band] / full.variables["diffusivity"][i][band]
    assert np.nanmedian(ratio) > 0.99  # without keep_exits: 0.94 on these data
    lost = infer(crop(df, box), tess, mode="d")
    _, i2, j2 = np.intersect1d(full.cells, lost.cells, return_indices=True)
    c2 = lost.centers[j2]
    band2 = (c2[:, 0] < 5) & (c2[:, 1] < 5) & ((c2[:, 0] > 4) | (c2[:, 1] > 4))
    ratio2 = lost.variables["diffusivity"][j2][band2] / full.variables["diffusivity"][i2][band2]
    assert np.nanmedian(ratio2) < 0.97  # the bias keep_exits removes


def test_wall_cells_are_flagged_and_read_low(sim):
    df = sim.trajectories
    maps = infer(df, tessellate(df, method="hexagon", points_per_cell=200), mode="d")
    wall = border_cells(maps, df)  # distance 2 sqrt(4 D dt) ~ 0.63 µm
    assert wall.any() and (~wall).any()
    d = maps.variables["diffusivity"]
    assert np.nanmedian(d[wall]) < 0.95 * np.nanmedian(d[~wall])
    assert abs(np.nanmedian(d[~wall]) - 0.5) < 0.02
    c = maps.centers[wall]
    b = data_bounds(df)
    assert np.all(np.minimum.reduce([c[:, 0] - b[0], c[:, 1] - b[1], b[2] - c[:, 0],
                                     b[3] - c[:, 1]]) < 0.7)
    assert not border_cells(maps, [-100, -100, 100, 100], distance=1.0).any()


def test_border_cells_bad_input(sim):
    maps = infer(sim.trajectories.iloc[:3000], tessellate(sim.trajectories.iloc[:3000]),
                 mode="d")
    with pytest.raises(ValueError, match="pass dt"):
        border_cells(maps, [0, 0, 10, 10])
    with pytest.raises(ValueError, match="x_min"):
        border_cells(maps, [0, 0, 10], distance=1)
    with pytest.raises(ValueError, match="empty box"):
        border_cells(maps, [0, 0, 0, 10], distance=1)
