"""``record()`` inside real worker tasks: unpicklable objects fail the cell; values are snapshots."""

from __future__ import annotations

import os
import stat

from tramway_jupyter import api
from tramway_jupyter.capture.pipeline import Pipeline

from .conftest import make_toy_data

CELLS = [
    ("parameters", "bad = False"),
    ("setup", "import threading\nimport tramway_jupyter as tj"),
    ("stage s --per file",
     "values = [1, 2]\n"
     "tj.record('values', values)\n"
     "values.append(3)   # after record(): not part of the record\n"
     "if bad:\n"
     "    tj.record('lock', threading.Lock())\n"
     "tj.record('after', 'reached')"),
]


def test_unpicklable_record_fails_the_task_at_record_time(tmp_path, store):
    data = make_toy_data(tmp_path / "data", ["a"], n_rois=0)
    batch = api.run(Pipeline.from_cells(CELLS), str(data / "a.rpt.txt"), workers=1,
                    params={"bad": True}, store=store, batches_root=tmp_path / "batches")
    batch.wait(timeout=120)
    res = batch.results()
    assert res.counts == {"failed": 1}, res
    (err,) = res.failures()
    assert err.ename == "TypeError"
    assert "record('lock', ...): a _thread.lock cannot be pickled" in err.evalue
    # the records made before the failing cell line are kept, the snapshot value included
    assert res.records(err.task_id) == {"values": [1, 2]}


def test_records_are_snapshots_and_files_follow_the_umask(tmp_path, store):
    data = make_toy_data(tmp_path / "data", ["a"], n_rois=0)
    old = os.umask(0o022)  # the worker processes inherit it
    try:
        batch = api.run(Pipeline.from_cells(CELLS), str(data / "a.rpt.txt"), workers=1,
                        store=store, batches_root=tmp_path / "batches")
        batch.wait(timeout=120)
    finally:
        os.umask(old)
    res = batch.results()
    assert res.counts == {"done": 1}, res
    (row,) = list(res)
    assert res.records(row.task_id) == {"values": [1, 2], "after": "reached"}
    # written by the worker with umask 022: readable by others, as the logs are
    for path in (row.results_path, row.notebook, batch.dir.journal_path(row.job_index)):
        assert stat.S_IMODE(path.stat().st_mode) & stat.S_IROTH, path
