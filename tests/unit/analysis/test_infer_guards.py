"""``infer`` and ``tessellate`` refuse bad input with one message (no traceback, no wrong map)."""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import pytest

from tramway_jupyter.analysis import read_trajectories, tessellate, write_simulation
from tramway_jupyter.analysis.cli import add_subcommands
from tramway_jupyter.analysis.tessellate import MAX_CELLS, estimate_cells
from tramway_jupyter.exceptions import DataFormatError


def _run(*argv):
    parser = argparse.ArgumentParser(prog="tramway-jupyter")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    (path,) = write_simulation(out, n_files=1, n_rois=2, seed=3, n_translocations=6000)
    return path


def _edit(src, dst, line, column, value):
    lines = src.read_text().splitlines()
    fields = lines[line - 1].split("\t")
    fields[column] = value
    lines[line - 1] = "\t".join(fields)
    dst.write_text("\n".join(lines) + "\n")
    return dst


def test_one_outlier_is_refused_naming_it(sim, tmp_path, capsys):
    bad = _edit(sim, tmp_path / "out.rpt.txt", 6, 1, "1e5")
    n, t = read_trajectories(bad).query("x > 1000")[["n", "t"]].iloc[0]
    assert _run("infer", bad, "-o", tmp_path / "m.csv") == 2
    err = capsys.readouterr().err
    assert f"1 of {len(read_trajectories(bad))} point(s) lie far outside" in err
    assert f"n={n:g} t={t:g} x=100000" in err and "--keep-outliers" in err
    assert not (tmp_path / "m.csv").exists()
    # the same file without the outlier runs; with the opt-in the outlier is kept
    assert _run("infer", sim, "-o", tmp_path / "m.csv") == 0
    assert _run("infer", bad, "--keep-outliers", "-o", tmp_path / "k.csv") == 0


@pytest.mark.parametrize("value, message", [
    ("inf", "non-finite value inf in column 'y'"), ("-inf", "non-finite value -inf"),
    ("nan", "missing value (or NaN) in column 'y'"),
])
def test_non_finite_coordinates_name_file_and_line(sim, tmp_path, capsys, value, message):
    bad = _edit(sim, tmp_path / "inf.rpt.txt", 8, 2, value)
    assert _run("infer", bad, "-o", tmp_path / "m.csv") == 2
    err = capsys.readouterr().err
    assert f"{bad}, line 8: {message}" in err
    with pytest.raises(DataFormatError, match="line 8"):
        read_trajectories(bad)


def test_output_checks_before_any_work(sim, tmp_path, capsys):
    assert _run("infer", sim, "-o", tmp_path / "no" / "m.csv") == 2
    assert f"the directory {tmp_path / 'no'} does not exist" in capsys.readouterr().err
    assert _run("infer", sim, "-o", tmp_path / "m.xlsx") == 2
    assert "unknown output format '.xlsx'; supported: .csv, .npz" in capsys.readouterr().err
    assert _run("infer", sim, "-o", tmp_path / "m.csv", "--plot", tmp_path / "no" / "p.png") == 2
    assert "--plot" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert _run("infer", sim, "-o", tmp_path / "m.NPZ") == 0
    assert (tmp_path / "m.NPZ").stat().st_size > 0


def test_negative_roi_index_is_refused(sim, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        _run("infer", sim, "--roi-index", "-1", "-o", tmp_path / "m.csv")
    assert exc.value.code == 2
    assert "-1 is negative; ROI indices start at 0" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["hexagon", "grid", "kmeans"])
def test_too_many_cells_refused_with_a_workable_size(method):
    pts = np.array([[0.0, 0.0], [10.0, 10.0]])
    t0 = time.monotonic()
    with pytest.raises(ValueError, match=r"about ([\d,]+) .* cells, more than the limit") as err:
        tessellate(pts, method, cell_size=0.001)
    assert time.monotonic() - t0 < 1.0  # refused before allocating anything
    count = int(str(err.value).split("about ")[1].split()[0].replace(",", ""))
    assert count > 50_000_000
    workable = float(str(err.value).split("at least ")[1].split()[0])
    assert estimate_cells(method, np.array([0, 0, 10, 10.0]), workable) <= MAX_CELLS
    if method != "kmeans":  # the workable size does work (kmeans would be slow to fit)
        assert tessellate(pts, method, cell_size=workable).n_cells <= MAX_CELLS


def test_estimate_matches_real_counts():
    b = np.array([0.0, 0.0, 10.0, 7.0])
    pts = b.reshape(2, 2)
    for method, s in (("hexagon", 0.1), ("grid", 0.1), ("hexagon", 0.5)):
        real = tessellate(pts, method, cell_size=s).n_cells
        assert abs(estimate_cells(method, b, s) - real) <= 0.05 * real + 2


def test_tessellate_refuses_non_finite_points():
    df = pd.DataFrame({"n": [1, 1], "x": [0.0, np.inf], "y": [0.0, 1.0], "t": [0.0, 0.1]})
    with pytest.raises(ValueError, match=r"non-finite coordinates: \(n=1 t=0.1 x=inf y=1\)"):
        tessellate(df, cell_size=0.5)


def test_no_false_outlier_on_clustered_data():
    rng = np.random.default_rng(1)
    pts = np.r_[rng.normal(0, 1, (5000, 2)), rng.normal(40, 1, (200, 2))]  # two clusters
    assert tessellate(pts).n_cells > 1
