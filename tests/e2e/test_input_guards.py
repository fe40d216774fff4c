"""Bad run inputs: one clear message (exit 2), and nothing left behind (no batch dir, no row).

Real ``tramway-jupyter run`` processes with their own data home; the good run at the end
proves the same setup does create a batch, so the "nothing left" checks can fail.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from .conftest import TOY_CELLS, make_toy_data


def _notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"%%tramway {line}\n{src}") for line, src in TOY_CELLS]
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def setup(tmp_path):
    nb = _notebook(tmp_path / "toy.ipynb")
    data = make_toy_data(tmp_path / "data", ["a", "b"], n_rois=3)
    home = tmp_path / "home"
    env = {**os.environ, "TRAMWAY_JUPYTER_HOME": str(home)}
    env.pop("TRAMWAY_JUPYTER_STORE", None)
    env.pop("TRAMWAY_JUPYTER_BATCHES", None)

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tramway_jupyter.cli", "run", str(nb), "--data",
             str(data / "*.rpt.txt"), "--workers", "1", *extra],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    return run, home, data


def _left_behind(home: Path) -> tuple[list[str], int]:
    batches = home / "batches"
    dirs = sorted(p.name for p in batches.iterdir()) if batches.exists() else []
    rows = 0
    if (home / "store.sqlite").exists():
        with sqlite3.connect(home / "store.sqlite") as db:
            rows = db.execute("SELECT COUNT(*) FROM batches").fetchone()[0]
    return dirs, rows


@pytest.mark.parametrize("args, message", [
    (["--rois", "2-0"], r"--rois 2-0: the range 2-0 is empty"),
    (["--rois", "-1"], r"--rois -1: '-1' is a negative index"),
    (["--rois", "0,,1"], r"--rois 0,,1: an empty item"),
    (["--rois", "7"], r"--rois 7: ROI index\(es\) \[7\] out of range for .*a\.rpt-roi\.txt, "
                      r"which holds 3 ROI\(s\)"),
    (["--param", "hold=[1,2"], r"--param hold=\[1,2: not a Python literal"),
    (["--param", "holdd=1"], r"--param holdd: not a parameter of this pipeline \(the "
                             r"parameters cell defines hold\).*--new-param"),
    (["--param", "source=1"], r"--param source: set for each task"),
])
def test_bad_input_one_message_nothing_left(setup, args, message):
    import re

    run, home, _data = setup
    p = run(*args, "--no-wait")
    assert p.returncode == 2, p.stdout + p.stderr
    assert "Traceback" not in p.stderr
    assert re.search(message, p.stderr), p.stderr
    assert _left_behind(home) == ([], 0)


def test_repeated_rois_are_deduplicated_and_new_param_opt_in(setup):
    run, home, _data = setup
    p = run("--rois", "0,0,0", "--param", "extra='x'", "--new-param")
    assert p.returncode == 0, p.stdout + p.stderr
    # 2 files: 1 prep task each + ROI 0 once each
    assert "4 task(s)" in p.stdout
    dirs, rows = _left_behind(home)
    assert len(dirs) == 1 and rows == 1


def test_empty_roi_file_is_refused(setup):
    run, home, data = setup
    (data / "b.rpt-roi.txt").write_text("")
    p = run("--rois", "all", "--no-wait")
    assert p.returncode == 2, p.stderr
    assert "b.rpt-roi.txt" in p.stderr and "Traceback" not in p.stderr
    assert _left_behind(home) == ([], 0)


def test_too_many_workers_is_one_plain_warning_line(setup):
    run, _home, _data = setup
    p = run("--workers", "1000", "--rois", "0")
    assert p.returncode == 0, p.stderr
    line = next(x for x in p.stderr.splitlines() if "--workers 1000" in x)
    assert line.startswith("tramway-jupyter: warning: --workers 1000 is more than the"), line
    assert "--oversubscribe" in line and ".py:" not in p.stderr
