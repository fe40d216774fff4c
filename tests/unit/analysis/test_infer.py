"""Inference accuracy against simulated ground truth, analytic gradients, masking."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from tramway_jupyter.analysis import crop, infer, tessellate, translocations
from tramway_jupyter.analysis.gradient import gradient_operators, smoothing_operator
from tramway_jupyter.analysis.infer_d import cell_stats, d_objective, solve_d, solve_dd
from tramway_jupyter.analysis.infer_dv import dv_objective

from .conftest import inner

SIGMA = 0.03


def _rel(est, true):
    return np.abs(est / true - 1.0)


def test_d_uniform_within_5_percent(uniform_sim):
    tr = translocations(uniform_sim.trajectories)
    tess = tessellate(tr, "hexagon", points_per_cell=450)
    maps = infer(tr, tess, mode="d", sigma=SIGMA)
    sel = (maps.counts >= 200) & ~maps.masked & inner(maps.centers)
    assert sel.sum() >= 100
    d = maps.variables["diffusivity"][sel]
    assert np.median(_rel(d, 0.5)) < 0.05
    assert abs(np.median(d) / 0.5 - 1) < 0.02


def test_d_gradient_cell_by_cell(gradient_sim):
    tr = translocations(gradient_sim.trajectories)
    tess = tessellate(tr, "grid", points_per_cell=450)
    maps = infer(tr, tess, mode="d")
    sel = (maps.counts >= 200) & ~maps.masked & inner(maps.centers)
    truth = gradient_sim.true_maps(maps.centers)["diffusivity"]
    assert np.median(_rel(maps.variables["diffusivity"][sel], truth[sel])) < 0.10
    # the slope is recovered: D(x) regression within 10%
    slope = np.polyfit(maps.centers[sel, 0], maps.variables["diffusivity"][sel], 1)[0]
    assert slope == pytest.approx(0.08, rel=0.1)


def _angles_ok(maps, truth, sel):
    fx, fy = maps.variables["force_x"][sel], maps.variables["force_y"][sel]
    tx, ty = truth["effective_force_x"][sel], truth["effective_force_y"][sel]
    cos = (fx * tx + fy * ty) / np.hypot(fx, fy) / np.hypot(tx, ty)
    return cos > np.cos(np.pi / 4)  # within 45 degrees


def test_df_force_direction_in_harmonic_well(harmonic_sim, harmonic_translocations):
    tess = tessellate(harmonic_translocations, "hexagon", points_per_cell=400)
    maps = infer(harmonic_translocations, tess, mode="df")
    sel = (maps.counts >= 200) & ~maps.masked
    assert sel.sum() >= 100
    ok = _angles_ok(maps, harmonic_sim.true_maps(maps.centers), sel)
    assert ok.mean() >= 0.9
    dd = infer(harmonic_translocations, tess, mode="dd")
    np.testing.assert_allclose(dd.variables["diffusivity"], maps.variables["diffusivity"])
    np.testing.assert_allclose(dd.variables["drift_x"][sel],
                               (maps.variables["force_x"] * maps.variables["diffusivity"])[sel])


def test_dv_potential_correlates_with_truth(harmonic_sim, harmonic_translocations):
    tess = tessellate(harmonic_translocations, "hexagon", points_per_cell=200)
    maps = infer(harmonic_translocations, tess, mode="dv")
    assert maps.params["optimizer"]["success"]
    sel = ~maps.masked
    truth = harmonic_sim.true_maps(maps.centers)
    v = maps.variables["potential"]
    assert np.nanmin(v) == 0.0
    r = np.corrcoef(v[sel], truth["effective_potential"][sel])[0, 1]
    assert r >= 0.9
    good = sel & (maps.counts >= 200)
    assert _angles_ok(maps, truth, good).mean() >= 0.9
    assert np.median(_rel(maps.variables["diffusivity"][sel & inner(maps.centers)], 0.5)) < 0.1


def _stats(tr, tess, drop_every=None):
    cell = tess.assign(tr[["x", "y"]].to_numpy())
    cells, row = np.unique(cell, return_inverse=True)
    return cell_stats(row.ravel(), tr["dx"].to_numpy(), tr["dy"].to_numpy(),
                      tr["dt"].to_numpy(), cells.size), cells


@pytest.fixture(scope="module")
def gappy(uniform_sim):
    """Trajectories with ~20% of localizations missing: dt takes several values per cell."""
    df = uniform_sim.trajectories.iloc[:30_000]
    keep = np.random.default_rng(5).random(len(df)) > 0.2
    tr = translocations(df[keep])
    tess = tessellate(tr, "hexagon", cell_size=1.5)
    return tr, tess


def test_variable_dt_matches_per_cell_scipy(gappy):
    tr, tess = gappy
    st, _ = _stats(tr, tess)
    assert not st.constant_dt
    for jeffreys in (False, True):
        d = solve_d(st, SIGMA**2, jeffreys)
        f = d_objective(st, SIGMA**2, jeffreys)
        for i in np.flatnonzero(st.count >= 20)[:15]:
            def fi(x, i=i, d=d, f=f):
                dd = d.copy()
                dd[i] = x
                return f(dd)[0]
            ref = optimize.minimize_scalar(fi, bounds=(0, 5), method="bounded",
                                           options={"xatol": 1e-10}).x
            assert d[i] == pytest.approx(ref, rel=1e-5, abs=1e-8)


def test_dd_variable_dt_is_a_stationary_point(gappy):
    tr, tess = gappy
    st, _ = _stats(tr, tess)
    d, ax, ay = solve_dd(st, SIGMA**2)
    i = int(np.argmax(st.count))
    sel = st.cell == i

    def nll(p):
        u = p[0] * st.dt[sel] + SIGMA**2
        q = (st.S[sel] - 2 * st.dt[sel] * (p[1] * st.vx[sel] + p[2] * st.vy[sel])
             + st.n[sel] * st.dt[sel] ** 2 * (p[1] ** 2 + p[2] ** 2))
        return np.sum(st.n[sel] * np.log(4 * u) + q / (4 * u))

    ref = optimize.minimize(nll, [d[i] * 1.2, 0.0, 0.0], method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 5000}).x
    np.testing.assert_allclose([d[i], ax[i], ay[i]], ref, rtol=1e-4, atol=1e-5)


def test_closed_form_d(uniform_sim):
    tr = translocations(uniform_sim.trajectories.iloc[:5000])
    tess = tessellate(tr, "grid", cell_size=100.0)  # one cell
    maps = infer(tr, tess, mode="d", min_count=1)
    s = np.sum(tr["dx"] ** 2 + tr["dy"] ** 2)
    assert maps.variables["diffusivity"][0] == pytest.approx(
        s / (4 * len(tr) * 0.05) - SIGMA**2 / 0.05)
    j = infer(tr, tess, mode="d", min_count=1, jeffreys_prior=True)
    assert j.variables["diffusivity"][0] == pytest.approx(
        s / (4 * (len(tr) + 2) * 0.05) - SIGMA**2 / 0.05)


def test_dv_gradient_matches_finite_differences(gappy):
    tr, tess = gappy
    st, cells = _stats(tr, tess)
    adj = tess.adjacency[cells][:, cells]
    gx, gy = gradient_operators(tess.centers[cells], adj)
    lap = smoothing_operator(tess.centers[cells], adj, tess.areas[cells])
    rng = np.random.default_rng(0)
    m = st.m
    for jeffreys in (False, True):
        f = dv_objective(st, gx, gy, lap, SIGMA**2, 0.3, 0.2, jeffreys)
        x0 = np.concatenate([0.3 + rng.random(m) * 0.4, rng.random(m) * 3])

        def fun(x, f=f):
            return f(x[:m], x[m:])[0]

        def jac(x, f=f):
            _, gd, gv = f(x[:m], x[m:])
            return np.concatenate([gd, gv])

        err = optimize.check_grad(fun, jac, x0, epsilon=1e-7)
        assert err < 1e-4 * max(1.0, np.linalg.norm(jac(x0)))


def test_smooth_d_gradient_and_effect(gappy):
    tr, tess = gappy
    st, cells = _stats(tr, tess)
    f = d_objective(st, SIGMA**2, True)
    x0 = 0.3 + np.random.default_rng(1).random(st.m) * 0.4
    err = optimize.check_grad(lambda x: f(x)[0], lambda x: f(x)[1], x0, epsilon=1e-7)
    assert err < 1e-5 * np.linalg.norm(f(x0)[1])
    raw = infer(tr, tess, mode="d")
    smooth = infer(tr, tess, mode="d", diffusivity_prior=50.0)
    ok = ~raw.masked & ~smooth.masked
    assert np.std(smooth.variables["diffusivity"][ok]) < np.std(raw.variables["diffusivity"][ok])
    assert smooth.params["optimizer"]["success"]


def test_gradient_operator_exact_on_linear_fields():
    pts = np.random.default_rng(2).random((3000, 2)) * 10
    for method in ("hexagon", "grid", "kmeans"):
        tess = tessellate(pts, method, points_per_cell=30)
        gx, gy = gradient_operators(tess.centers, tess.adjacency)
        v = 2.0 * tess.centers[:, 0] - 3.0 * tess.centers[:, 1] + 7
        np.testing.assert_allclose(gx @ v, 2.0, atol=1e-8)
        np.testing.assert_allclose(gy @ v, -3.0, atol=1e-8)
        lap = smoothing_operator(tess.centers, tess.adjacency, tess.areas)
        np.testing.assert_allclose(lap @ np.ones(tess.n_cells), 0, atol=1e-9)


def test_masking_of_undersampled_cells(uniform_sim):
    tr = translocations(uniform_sim.trajectories.iloc[:20_000])
    tess = tessellate(tr, "hexagon", points_per_cell=40)
    for mode in ("d", "dd", "df", "dv"):
        maps = infer(tr, tess, mode=mode, min_count=30)
        low = maps.counts < 30
        assert low.any() and (~low).any()
        assert np.all(maps.masked[low])
        for v in maps.variables.values():
            assert np.all(np.isnan(v[maps.masked])) and np.all(np.isfinite(v[~maps.masked]))
        assert maps.counts.sum() == len(tr)


def test_roi_flow_uses_file_tessellation(uniform_sim):
    df = uniform_sim.trajectories.iloc[:40_000]
    tess = tessellate(df, "hexagon")
    roi = crop(df, [[0, 0, 5, 5], [5, 0, 10, 5]], index=1)
    maps = infer(roi, tess, mode="d", metadata={"roi": 1})
    assert set(maps.cells) <= set(range(tess.n_cells))
    np.testing.assert_allclose(maps.centers, tess.centers[maps.cells])
    assert maps.params["roi"] == 1 and maps.params["tessellation"]["method"] == "hexagon"
    assert np.all(maps.centers[:, 0] > 4.0)


def test_bad_arguments(uniform_sim):
    df = uniform_sim.trajectories.iloc[:1000]
    tess = tessellate(df, "grid")
    with pytest.raises(ValueError, match="unknown mode"):
        infer(df, tess, mode="dx")
    with pytest.raises(ValueError, match="potential_prior applies"):
        infer(df, tess, mode="d", potential_prior=1.0)
    with pytest.raises(ValueError, match="sigma"):
        infer(df, tess, sigma=-1)
    with pytest.raises(ValueError, match="min_count"):
        infer(df, tess, min_count=0)


def test_provenance_from_files(tmp_path, uniform_sim):
    from tramway_jupyter.analysis import read_trajectories, write_rois, write_trajectories

    path = write_trajectories(uniform_sim.trajectories.iloc[:20_000], tmp_path / "X.rpt.txt")
    rois = write_rois([[0, 0, 5, 5], [5, 5, 10, 10]], tmp_path / "X.rpt-roi.txt")
    df = read_trajectories(path)
    maps = infer(crop(df, rois, index=1), tessellate(df), mode="d")
    assert maps.params["source"] == str(path) and maps.params["roi"] == 1
    assert maps.params["roi_bounds"] == [5.0, 5.0, 10.0, 10.0]


def test_zero_sigma_variable_dt(gappy):
    tr, tess = gappy
    a = infer(tr, tess, mode="d", sigma=0.0)
    b = infer(tr, tess, mode="d", sigma=0.03)
    ok = ~a.masked
    assert np.all(np.isfinite(a.variables["diffusivity"][ok]))
    assert np.all(a.variables["diffusivity"][ok] > b.variables["diffusivity"][ok])
