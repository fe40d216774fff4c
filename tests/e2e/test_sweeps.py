"""Parameter sweeps end to end (issue 10): tasks = data units x sweep points, sweep-independent
stages once per data unit, results keyed and pivoted by the swept values, resume of new points."""

from __future__ import annotations

import pytest

from tramway_jupyter import api
from tramway_jupyter.capture.pipeline import Pipeline
from tramway_jupyter.exceptions import CaptureError, PlanError
from tramway_jupyter.jobs.results import TaskKey

from .conftest import make_toy_data

CELLS = [
    ("parameters", "sigma = 0.03\nscale = 1\nlabel = 'x'"),
    ("setup", "import os\nimport tramway_jupyter as tj"),
    ("stage prep --per file --sweep-independent",
     "text = open(source).read()\n"
     "open(os.path.join(output_dir, 'prep.txt'), 'w').write(text)\n"
     "tj.record('length', len(text))"),
    ("stage fit --per file",
     "n = len(open(os.path.join(output_dir, 'prep.txt')).read())\n"
     "tj.record('value', round(n * sigma * scale, 6))"),
]


def test_sweep_product_shared_independent_stage_pivot_and_resume(tmp_path, store):
    data = make_toy_data(tmp_path / "data", ["a", "b"], n_rois=0)
    pipe = Pipeline.from_cells(CELLS)
    kw = dict(store=store, batches_root=tmp_path / "batches", workers=2, rois="none")
    batch = api.run(pipe, str(data / "*.rpt.txt"),
                    sweep={"sigma": [0.01, 0.02, 0.03], "scale": [1, 10]}, **kw).wait(120)
    res = batch.results()
    assert res.counts == {"done": 14}, res.table()
    stages = [r.stage for r in res]
    assert stages.count("prep") == 2 and stages.count("fit") == 12  # prep once per file
    values = res.get("value")
    assert all(isinstance(k, TaskKey) for k in values) and len(values) == 12
    sizes = {k.source: v for k, v in res.get("length").items()}
    for k, v in values.items():
        point = dict(k.sweep)
        assert v == pytest.approx(sizes[k.source] * point["sigma"] * point["scale"])
    pivot = res.table("value", stage="fit")
    assert pivot.shape == (2, 6) and list(pivot.columns.names) == ["sigma", "scale"]
    table = res.table()
    assert {"sigma", "scale"} <= set(table.columns)
    doc = res.to_json()
    fit_docs = [t for t in doc["tasks"] if t["stage"] == "fit"]
    assert all(set(t["sweep"]) == {"sigma", "scale"} for t in fit_docs)
    assert all(t["segment_index"] is None and t["t_start"] is None for t in doc["tasks"])
    assert [t["sweep"] for t in doc["tasks"] if t["stage"] == "prep"] == [{}, {}]

    # one more value of sigma: only its 2 x 2 fit tasks run, the rest is resumed
    more = api.run(pipe, str(data / "*.rpt.txt"),
                   sweep={"sigma": [0.01, 0.02, 0.03, 0.04], "scale": [1, 10]}, **kw).wait(120)
    rows = list(more.results())
    ran = [r for r in rows if not r.cached_from]
    assert len(rows) == 18 and len(ran) == 4
    assert {r.sweep["sigma"] for r in ran} == {0.04}


def test_sweep_errors_name_the_fault(tmp_path, store):
    data = make_toy_data(tmp_path / "data", ["a"], n_rois=0)
    kw = dict(store=store, batches_root=tmp_path / "batches", rois="none")
    with pytest.raises(CaptureError, match="--sweep sigmaa: not a parameter"):
        api.run(Pipeline.from_cells(CELLS), str(data / "a.rpt.txt"), sweep={"sigmaa": [1, 2]},
                **kw)
    reads = [*CELLS[:2], ("stage prep --per file --sweep-independent", "x = sigma * 2")]
    with pytest.raises(PlanError, match="reads the swept parameter.*sigma"):
        api.run(Pipeline.from_cells(reads), str(data / "a.rpt.txt"), sweep={"sigma": [1, 2]},
                **kw)
    assert store.list_batches() == []  # nothing created
