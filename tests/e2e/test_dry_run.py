"""Dry runs: nothing created, and an estimate within a factor of 2 of the real wall time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from tramway_jupyter import api
from tramway_jupyter.capture.pipeline import Pipeline
from tramway_jupyter.orchestration.estimate import DryRun

#: One stage whose time grows with the translocation count (10 ms a row).
CELLS = [
    ("parameters", "rate = 0.01"),
    ("setup", "import time"),
    ("stage slow --per file",
     "n = sum(1 for line in open(source) if line.strip())\n"
     "time.sleep(rate * n)"),
]


def write_data(root: Path, sizes: list[int]) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for i, n in enumerate(sizes):
        p = root / f"f{i}-{n}.rpt.txt"
        p.write_text("".join(f"{k // 5 + 1} {0.01 * k:.3f} {0.02 * k:.3f} {0.04 * (k % 5):.2f}\n"
                             for k in range(n)))
        out.append(str(p))
    return out


def test_dry_run_creates_nothing_and_estimates_the_wall_time(tmp_path: Path, store) -> None:
    data = write_data(tmp_path / "data", [20, 80, 320])  # 0.2 s, 0.8 s, 3.2 s
    batches = tmp_path / "batches"
    pipeline = Pipeline.from_cells(CELLS)
    kw = dict(rois="none", profile="local", workers=1, tasks_per_job=1, store=store,
              batches_root=batches)
    dry = api.run(pipeline, data, dry_run=True, pilot=2, **kw)
    assert isinstance(dry, DryRun)
    assert not batches.exists() or not any(batches.iterdir())
    assert store.list_batches() == []
    assert dry.tasks == 3 and dry.jobs == 3 and dry.reused == 0
    assert [s.stage for s in dry.stages] == ["slow"]
    assert dry.stages[0].pilot_tasks == 2
    assert dry.stages[0].fit_b is not None and dry.stages[0].fit_b > 0.005
    assert dry.wall_seconds is not None and dry.core_hours is not None
    assert "Assumptions:" in dry.text and "parallelism 1" in dry.text

    t0 = time.monotonic()
    batch = api.run(pipeline, data, **kw)
    batch.wait(timeout=120)
    real = time.monotonic() - t0
    assert batch.counts().get("done") == 3
    ratio = dry.wall_seconds / real
    assert 0.5 <= ratio <= 2.0, (dry.wall_seconds, real, dry.text)

    # the same run again: every task would be reused, nothing to run
    again = api.run(pipeline, data, dry_run=True, **kw)
    assert again.reused == 3 and again.jobs == 0 and again.wall_seconds == 0.0
    assert len(store.list_batches()) == 1


def test_cli_dry_run_prints_the_plan_and_exits_0(tmp_path: Path) -> None:
    write_data(tmp_path / "data", [10, 40])
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"%%tramway {role}\n{src}") for role, src in CELLS]
    path = tmp_path / "pipe.ipynb"
    nbformat.write(nb, path)
    home = tmp_path / "home"
    env = {**os.environ, "TRAMWAY_JUPYTER_HOME": str(home)}
    env.pop("TRAMWAY_JUPYTER_STORE", None)
    env.pop("TRAMWAY_JUPYTER_BATCHES", None)
    proc = subprocess.run(
        [sys.executable, "-m", "tramway_jupyter.cli", "run", str(path), "--data", str(tmp_path / "data" / "*.rpt.txt"), "--rois", "none",
         "--workers", "1", "--dry-run", "--pilot", "1"],
        capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Dry run (nothing submitted)" in proc.stdout
    assert "stage slow (per file): 2 task(s)" in proc.stdout
    assert "Estimate: wall time" in proc.stdout
    assert not (home / "batches").exists() and not (home / "store.sqlite").exists()


def test_magic_dry_run_uses_the_preview_timing(tmp_path: Path, monkeypatch, capsys) -> None:
    """``%%tramway stage`` records its preview's time; ``%tramway run --dry-run`` uses it."""
    from IPython.core.interactiveshell import InteractiveShell

    from tramway_jupyter.magics import TramwayMagics

    data = write_data(tmp_path / "data", [20, 80, 320])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRAMWAY_JUPYTER_BATCHES", str(tmp_path / "batches"))
    shell = InteractiveShell.instance()
    try:
        magics = TramwayMagics(shell)
        magics.tramway("parameters", f"rate = 0.005\nsource = {data[1]!r}")
        magics.tramway("setup", CELLS[1][1])
        magics.tramway(CELLS[2][0], CELLS[2][1])  # the preview: 80 rows x 5 ms
        timing = magics.pipeline.preview_timing["slow"]
        assert 0.4 <= float(timing["seconds"]) < 5 and timing["source"] == data[1]
        capsys.readouterr()
        t0 = time.monotonic()
        magics.tramway(f"run --data {tmp_path / 'data' / '*.rpt.txt'} --rois none --workers 1 "
                       "--dry-run", None)
        elapsed = time.monotonic() - t0
    finally:
        InteractiveShell.clear_instance()
    out = capsys.readouterr().out
    assert "Dry run (nothing submitted)" in out, out
    assert "preview cells' timing" in out and "pilot:" not in out
    assert "stage slow (per file): 3 task(s)" in out
    assert elapsed < 3  # no pilot ran (it would take 2 x 0.1-1.6 s at least)
    assert not (tmp_path / "batches").exists() or not any((tmp_path / "batches").iterdir())
