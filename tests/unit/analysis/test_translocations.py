"""Translocations never cross trajectories and match a per-trajectory loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tramway_jupyter.analysis import translocations


def test_never_across_trajectories(small_df):
    tr = translocations(small_df)
    assert len(tr) == len(small_df) - small_df["n"].nunique()
    expected = []
    for _, g in small_df.groupby("n", sort=False):
        v = g[["x", "y", "t"]].to_numpy()
        expected.append(np.diff(v, axis=0))
    np.testing.assert_allclose(tr[["dx", "dy", "dt"]].to_numpy(), np.vstack(expected))
    assert list(tr.columns) == ["n", "x", "y", "dx", "dy", "dt"]
    # start points are the first point of each pair
    np.testing.assert_allclose(tr["x"].iloc[0], small_df["x"].iloc[0])


def test_3d_and_no_mutation(small_df):
    df = small_df.assign(z=np.arange(len(small_df), dtype=float))
    before = df.copy()
    tr = translocations(df)
    assert list(tr.columns) == ["n", "x", "y", "z", "dx", "dy", "dz", "dt"]
    assert np.all(tr["dz"] == 1.0)
    pd.testing.assert_frame_equal(df, before)


def test_single_point_trajectories_and_errors():
    df = pd.DataFrame({"n": [1, 2, 3], "x": [0.0, 1, 2], "y": [0.0, 0, 0], "t": [0.0, 0, 0]})
    assert len(translocations(df)) == 0
    bad = pd.DataFrame({"n": [1, 1], "x": [0.0, 1], "y": [0.0, 0], "t": [0.1, 0.0]})
    with pytest.raises(ValueError, match="time does not increase"):
        translocations(bad)
    with pytest.raises(ValueError, match="lacks column 't'"):
        translocations(bad.drop(columns="t"))
