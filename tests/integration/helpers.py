"""Small pipelines and data for the integration tests (fast stages; the quickstart is the real one)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tramway_jupyter.backends import ssh
from tramway_jupyter.capture.pipeline import Pipeline

SETUP = "import os, sys, time, json\nimport tramway_jupyter as tj"

PER_FILE = '''\
if fail_if_no_flag and "bad" in os.path.basename(source) and not os.path.exists(fail_if_no_flag):
    raise RuntimeError(f"refusing {os.path.basename(source)}: flag file missing")
time.sleep(sleep)
with open(source, "rb") as fh:
    content = fh.read()
with open(os.path.join(output_dir, "prepared.txt"), "w") as fh:
    fh.write(str(len(content)))
tj.record("size", len(content))
tj.record("name", os.path.basename(source))
tj.record("python", sys.executable)
tj.record("in_container", os.path.exists("/.tramway-container"))
tj.record("container_env", os.environ.get("APPTAINER_CONTAINER"))
tj.record("host_work_visible", os.path.exists("/work"))'''

PER_ROI = '''\
with open(os.path.join(output_dir, "prepared.txt")) as fh:
    size = int(fh.read())
tj.record("roi_value", size * 10 + (roi_index or 0))'''

PARAMS = "sleep = 0.0\nfail_if_no_flag = ''"


def light_pipeline(per_roi: bool = True) -> Pipeline:
    cells = [("parameters", PARAMS), ("setup", SETUP), ("stage prepare --per file", PER_FILE)]
    if per_roi:
        cells.append(("stage measure --per roi", PER_ROI))
    return Pipeline.from_cells(cells)


def write_rois(path: Path, n: int) -> Path:
    """A ROI file with ``n`` boxes where the planner looks for it (TRamWAy's ``-roi.txt``)."""
    import numpy as np

    from tramway_jupyter.analysis import write_rois as _write
    from tramway_jupyter.analysis.rois import roi_file_for

    bounds = np.array([[i, 0.0, i + 1.0, 1.0] for i in range(n)])
    return Path(_write(bounds, roi_file_for(str(path))))


def data_files(d: Path, names: list[str], n_rois: int = 0) -> list[Path]:
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for i, name in enumerate(names):
        p = d / name
        p.write_text("t x y\n" + "".join(f"{k} {k * 0.1} {i}\n" for k in range(10 + i)))
        if n_rois:
            write_rois(p, n_rois)
        out.append(p)
    return out


class PollCounter:
    """Wraps a backend's poll to count SSH round trips per poll."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.per_poll: list[int] = []
        self._orig = backend.poll
        backend.poll = self._poll

    def _poll(self, ctx: Any) -> Any:
        before = self.backend.conn.round_trips
        try:
            return self._orig(ctx)
        finally:
            self.per_poll.append(self.backend.conn.round_trips - before)


class CommandRecorder:
    """Record every shell line sent through a connection."""

    def __init__(self, conn: ssh.Connection) -> None:
        self.conn = conn
        self.lines: list[str] = []
        self._orig = conn._exec

        def _exec(line: str, stdin: Any, timeout: Any, retry: bool) -> Any:
            self.lines.append(line)
            return self._orig(line, stdin, timeout, retry)

        conn._exec = _exec  # type: ignore[method-assign]

    def restore(self) -> None:
        self.conn._exec = self._orig  # type: ignore[method-assign]

    def count(self, word: str) -> int:
        return sum(line.count(word) for line in self.lines)


def wait_until(pred: Any, timeout: float = 60.0, step: float = 0.5) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return False
