"""Results as they come (issue 11): as_completed yields a finished task while others still run;
results() of a running batch is partial."""

from __future__ import annotations

import time

from tramway_jupyter import api
from tramway_jupyter.capture.pipeline import Pipeline

from .conftest import make_toy_data

CELLS = [
    ("parameters", "hold = None"),
    ("setup", "import os, time\nimport tramway_jupyter as tj"),
    ("stage work --per file",
     "while hold and 'slow' in source and os.path.exists(hold):\n"
     "    time.sleep(0.05)\n"
     "tj.record('name', os.path.basename(source))"),
]


def test_as_completed_yields_the_first_result_while_a_slow_task_runs(tmp_path, store):
    data = make_toy_data(tmp_path / "data", ["fast1", "fast2", "slow"], n_rois=0)
    hold = tmp_path / "hold"
    hold.write_text("")
    batch = api.run(Pipeline.from_cells(CELLS), str(data / "*.rpt.txt"), workers=2,
                    tasks_per_job=1, params={"hold": str(hold)}, store=store,
                    batches_root=tmp_path / "batches")
    stream = batch.as_completed(timeout=120)
    first = next(stream)
    assert first.state == "done" and first.get("name").startswith("fast")
    assert batch.counts().get("running", 0) + batch.counts().get("queued", 0) >= 1
    partial = batch.results()
    assert partial.partial and "partial" in repr(partial)
    assert {r.state for r in partial if "slow" in r.source} <= {"pending", "queued", "running"}
    second = next(stream)
    assert second.get("name").startswith("fast") and second.task_id != first.task_id
    hold.unlink()  # the slow task ends
    rest = list(stream)
    assert [r.get("name") for r in rest] == ["slow.rpt.txt"]
    assert not batch.results().partial
    # a finished batch: every task at once, in the order they ended, then the end
    again = [r.task_id for r in batch.as_completed(timeout=10)]
    assert again == [first.task_id, second.task_id, rest[0].task_id]


def test_as_completed_times_out(tmp_path, store):
    data = make_toy_data(tmp_path / "data", ["slow"], n_rois=0)
    hold = tmp_path / "hold"
    hold.write_text("")
    batch = api.run(Pipeline.from_cells(CELLS), str(data / "*.rpt.txt"), workers=1,
                    params={"hold": str(hold)}, store=store, batches_root=tmp_path / "batches")
    t0 = time.monotonic()
    try:
        list(batch.as_completed(timeout=1.0))
    except TimeoutError as exc:
        assert batch.batch_id in str(exc)
    else:
        raise AssertionError("no TimeoutError")
    assert time.monotonic() - t0 < 10
    hold.unlink()
    batch.wait(60)
