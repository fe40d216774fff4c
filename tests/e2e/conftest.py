"""End-to-end fixtures: real kernels, real worker processes, real files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tramway_jupyter.analysis import write_rois
from tramway_jupyter.capture.pipeline import Pipeline

#: A fast pipeline (no scipy import) exercising a per-file stage feeding a per-ROI stage.
TOY_CELLS = [
    ("parameters", "hold = None   # a file: while it exists, the work stage waits"),
    ("setup", "import os, time\nimport tramway_jupyter as tj"),
    ("stage prep --per file",
     "text = open(source).read()\n"
     "open(os.path.join(output_dir, 'prep.txt'), 'w').write(text.upper())\n"
     "tj.record('length', len(text))"),
    ("stage work --per roi",
     "prep = open(os.path.join(output_dir, 'prep.txt')).read()\n"
     "while hold and os.path.exists(hold):\n"
     "    time.sleep(0.05)\n"
     "if 'BAD' in open(source).read():\n"
     "    raise ValueError(f'bad data in {os.path.basename(source)}')\n"
     "tj.record('value', len(prep) * 10 + (roi_index or 0))\n"
     "print('worked on', source, roi_index)"),
]


@pytest.fixture
def toy_pipeline() -> Pipeline:
    return Pipeline.from_cells(TOY_CELLS)


def make_toy_data(root: Path, names: list[str], n_rois: int = 2, bad: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        p = root / f"{name}.rpt.txt"
        p.write_text("BAD\n" if name == bad else f"1 0.0 0.0 0.0\n1 0.1 0.1 0.04 {name}\n")
        if n_rois:
            write_rois([[0, 0, 1 + i, 1 + i] for i in range(n_rois)], root / f"{name}.rpt-roi.txt")
    return root


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
