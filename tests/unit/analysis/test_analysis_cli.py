"""The simulate/infer subcommands and the demo analysis."""

from __future__ import annotations

import argparse

import pandas as pd
import pytest

from tramway_jupyter.analysis.cli import add_subcommands, demo_analysis


def _parser():
    parser = argparse.ArgumentParser(prog="tramway-jupyter")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    return parser


def _run(*argv):
    args = _parser().parse_args([str(a) for a in argv])
    return args.func(args)


def test_simulate_then_infer_each_mode(tmp_path, capsys):
    out = tmp_path / "data"
    assert _run("simulate", out, "--files", 1, "--rois", 2, "--translocations", 6000,
                "--potential", "harmonic") == 0
    assert (out / "sim0.rpt-roi.txt").exists() and (out / "sim0.truth.json").exists()
    cols = {"d": [], "dd": ["drift_x", "drift_y"], "df": ["force_x", "force_y"],
            "dv": ["force_x", "force_y", "potential"]}
    for mode, extra in cols.items():
        csv = tmp_path / f"{mode}.csv"
        rc = _run("infer", out / "sim0.rpt.txt", "--roi-index", 1, "--tessellation", "grid",
                  "--points-per-cell", 60, "--mode", mode, "-o", csv, "--plot",
                  tmp_path / f"{mode}.png", "--save-tessellation", tmp_path / "t.npz")
        assert rc == 0
        df = pd.read_csv(csv)
        assert list(df.columns) == ["cell", "x", "y", "count", "diffusivity", *extra]
        assert (tmp_path / f"{mode}.png").stat().st_size > 1000
        assert df["x"].min() > 4.0  # ROI 1 is the right half of the box
    assert "translocations" in capsys.readouterr().out
    rc = _run("infer", out / "sim0.rpt.txt", "--tessellation-file", tmp_path / "t.npz",
              "-o", tmp_path / "m.npz")
    assert rc == 0 and (tmp_path / "m.npz").exists()


def test_infer_reports_bad_roi_index(tmp_path, capsys):
    _run("simulate", tmp_path, "--files", 1, "--rois", 2, "--translocations", 500)
    rc = _run("infer", tmp_path / "sim0.rpt.txt", "--roi-index", 7, "-o", tmp_path / "m.csv")
    assert rc == 2
    err = capsys.readouterr().err
    assert "sim0.rpt-roi.txt" in err and "2 ROI" in err


def test_help_texts():
    with pytest.raises(SystemExit):
        _parser().parse_args(["infer", "--help"])


def test_demo_analysis(tmp_path):
    text = demo_analysis(tmp_path)
    assert "median relative error" in text
    assert (tmp_path / "demo-d.csv").exists() and (tmp_path / "demo-d.png").exists()
    rel = float(text.split("median relative error:")[1].split("%")[0])
    assert rel < 10


@pytest.mark.parametrize("command", ["infer", "simulate", "demo"])
def test_every_option_says_what_it_does_and_its_default_once(command, capsys):
    import re

    from tramway_jupyter.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser([command]).parse_args([command, "--help"])
    text = capsys.readouterr().out
    assert "(default: None)" not in text
    options = re.split(r"\n  (?=-)", text.split("options:", 1)[1])[1:]
    assert options
    for block in options:
        name = block.split()[0]
        if name in ("-h,", "--help"):
            continue
        words = block.split(None, 1)
        assert len(words) == 2 and len(words[1].split()) >= 2, f"{name} has no help: {block!r}"
        assert block.lower().count("default") <= 1, block
