"""Maps: table, CSV and NPZ round trips, plots with the Agg backend."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from tramway_jupyter.analysis import Maps, infer, load_maps, tessellate, translocations
from tramway_jupyter.analysis.plot import plot_maps


@pytest.fixture(scope="module")
def dv_maps(harmonic_sim):
    tr = translocations(harmonic_sim.trajectories.iloc[:40_000])
    tess = tessellate(tr, "hexagon", points_per_cell=150)
    return infer(tr, tess, mode="dv", metadata={"source": "sim.rpt.txt", "roi": 0}), tess


def test_dataframe_columns(dv_maps):
    maps, _ = dv_maps
    df = maps.to_dataframe()
    assert list(df.columns) == ["cell", "x", "y", "count", "diffusivity", "force_x", "force_y",
                                "potential"]
    assert len(df) == maps.n_cells


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_roundtrip(tmp_path, dv_maps, suffix):
    maps, _ = dv_maps
    path = tmp_path / f"maps{suffix}"
    maps.to_csv(path) if suffix == ".csv" else maps.save(path)
    back = load_maps(path)
    assert back.mode == "dv"
    np.testing.assert_array_equal(back.cells, maps.cells)
    np.testing.assert_array_equal(back.counts, maps.counts)
    np.testing.assert_array_equal(back.masked, maps.masked)
    for k, v in maps.variables.items():
        np.testing.assert_allclose(back.variables[k], v, rtol=1e-7, equal_nan=True)
    if suffix == ".npz":
        assert back.params["source"] == "sim.rpt.txt" and back.params["roi"] == 0
        assert back.params["optimizer"]["success"]


def test_csv_header_per_mode(tmp_path, uniform_sim):
    tr = translocations(uniform_sim.trajectories.iloc[:5000])
    tess = tessellate(tr, "grid")
    heads = {}
    for mode in ("d", "dd", "df"):
        path = infer(tr, tess, mode=mode).to_csv(tmp_path / f"{mode}.csv")
        heads[mode] = path.read_text().splitlines()[0]
        assert load_maps(path).mode == mode
    assert heads == {"d": "cell,x,y,count,diffusivity",
                     "dd": "cell,x,y,count,diffusivity,drift_x,drift_y",
                     "df": "cell,x,y,count,diffusivity,force_x,force_y"}


def test_load_maps_errors(tmp_path):
    bad = tmp_path / "m.txt"
    bad.write_text("x")
    with pytest.raises(ValueError, match=".csv or .npz"):
        load_maps(bad)
    csv = tmp_path / "m.csv"
    csv.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="needs columns"):
        load_maps(csv)


@pytest.mark.parametrize("variable", ["diffusivity", "potential", "force"])
def test_plot_agg(tmp_path, dv_maps, variable):
    maps, tess = dv_maps
    for t in (tess, None):
        ax = maps.plot(variable, tessellation=t)
        ax.figure.savefig(tmp_path / f"{variable}.png")
        assert "µm" in ax.figure.axes[-1].get_ylabel() or variable == "potential"
        plt.close(ax.figure)
    with pytest.raises(ValueError, match="no 'drift_x'"):
        maps.plot("drift_x")


def test_plot_maps_shared_scale(tmp_path, dv_maps):
    maps, _ = dv_maps
    half = Maps(maps.mode, maps.centers, maps.counts,
                {k: v * 2 for k, v in maps.variables.items()}, maps.masked, {}, maps.cells)
    fig = plot_maps([maps, half, maps], "diffusivity", titles=["a", "b", "c"])
    lims = {tuple(np.round(ax.collections[0].get_clim(), 9)) for ax in fig.axes[:3]}
    assert len(lims) == 1
    fig.savefig(tmp_path / "all.png")
    assert len(fig.axes) == 3 and repr(fig) == "<MapGrid: diffusivity, 3 map(s)>"
    assert not hasattr(fig, "_repr_html_")  # the figure is shown once, by pyplot
    plt.close(fig.figure)
    with pytest.raises(ValueError):
        plot_maps([], "diffusivity")
