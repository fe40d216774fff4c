"""Tessellations: nearest-centre assignment, symmetric adjacency, sizes, save/load."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from tramway_jupyter.analysis import load_tessellation, tessellate, translocations

METHODS = ["hexagon", "grid", "kmeans"]


@pytest.fixture(scope="module")
def points():
    return np.random.default_rng(3).random((40_000, 2)) * [12.0, 7.0] + [-3.0, 1.0]


@pytest.mark.parametrize("method", METHODS)
def test_assign_is_nearest_centre(points, method):
    tess = tessellate(points, method, points_per_cell=80)
    idx = tess.assign(points)
    best = cKDTree(tess.centers).query(points)[0]
    got = np.linalg.norm(points - tess.centers[idx], axis=1)
    np.testing.assert_allclose(got, best, atol=1e-9)
    # also outside the tessellated box
    far = np.array([[-50.0, -50.0], [60.0, 3.0]])
    np.testing.assert_allclose(np.linalg.norm(far - tess.centers[tess.assign(far)], axis=1),
                               cKDTree(tess.centers).query(far)[0])


@pytest.mark.parametrize("method", METHODS)
def test_adjacency_symmetric_and_cell_count(points, method):
    tess = tessellate(points, method, points_per_cell=80)
    a = tess.adjacency
    assert (a != a.T).nnz == 0 and a.diagonal().sum() == 0
    nonempty = np.count_nonzero(np.bincount(tess.assign(points)))
    target = len(points) / 80
    assert 0.75 * target <= nonempty <= 1.3 * target
    deg = np.diff(a.indptr)
    assert np.median(deg) == {"hexagon": 6, "grid": 4, "kmeans": 6}[method]
    assert tess.areas.shape == (tess.n_cells,) and np.all(tess.areas > 0)


def test_kmeans_areas_tile_the_box(points):
    tess = tessellate(points, "kmeans", points_per_cell=200)
    b = tess.bounds
    assert tess.areas.sum() == pytest.approx((b[2] - b[0]) * (b[3] - b[1]), rel=1e-9)


def test_hexagon_neighbours_at_cell_size(points):
    tess = tessellate(points, "hexagon", cell_size=0.5)
    a = tess.adjacency.tocoo()
    d = np.linalg.norm(tess.centers[a.row] - tess.centers[a.col], axis=1)
    np.testing.assert_allclose(d, 0.5)
    assert tess.areas[0] == pytest.approx(np.sqrt(3) / 2 * 0.25)


def test_size_rules(uniform_sim):
    df = uniform_sim.trajectories
    ref = float(np.mean(np.hypot(*translocations(df)[["dx", "dy"]].to_numpy().T)))
    assert tessellate(df, "grid", ref_distance=ref).cell_size == pytest.approx(2 * ref, rel=0.05)
    # a very small target is floored at 0.8 x the mean translocation length (TRamWAy)
    assert tessellate(df, "hexagon", points_per_cell=1).cell_size == pytest.approx(0.8 * ref)
    assert tessellate(df, "hexagon", cell_size=1.25).cell_size == 1.25


@pytest.mark.parametrize("method", METHODS)
def test_save_load_roundtrip(tmp_path, points, method):
    tess = tessellate(points, method, points_per_cell=100)
    back = load_tessellation(tess.save(tmp_path / f"{method}.npz"))
    assert back.method == method and back.cell_size == tess.cell_size
    np.testing.assert_array_equal(back.centers, tess.centers)
    np.testing.assert_array_equal(back.areas, tess.areas)
    assert (back.adjacency != tess.adjacency).nnz == 0
    np.testing.assert_array_equal(back.assign(points), tess.assign(points))


def test_polygons(points):
    for method in METHODS:
        tess = tessellate(points, method, points_per_cell=400)
        polys = tess.polygons([0, 1])
        assert len(polys) == 2 and all(p.shape[1] == 2 for p in polys)


def test_bad_arguments(points):
    with pytest.raises(ValueError, match="unknown tessellation method"):
        tessellate(points, "voronoi")
    with pytest.raises(ValueError, match="empty"):
        tessellate(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="shape"):
        tessellate(np.zeros((5, 3)))
