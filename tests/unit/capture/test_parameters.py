"""The template, the worker and the preview agree on the standard task parameters."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tramway_jupyter.analysis import write_rois
from tramway_jupyter.capture.parameters import (
    PREVIEW_DIR,
    STANDARD_PARAMETERS,
    preview_values,
    task_values,
)
from tramway_jupyter.capture.pipeline import Pipeline
from tramway_jupyter.capture.template import build_template
from tramway_jupyter.jobs.batchdir import OUTPUTS_DIR, BatchDir
from tramway_jupyter.jobs.plan import make_plan
from tramway_jupyter.jobs.worker import JobRunner

PIPE = Pipeline.from_cells([("parameters", "sigma = 1.0"), ("stage work --per roi", "pass")])
NAMES = ["source", "roi_index", "roi_file", "output_dir", "task_id", "segment_index", "t_start",
         "t_end"]


def _template_namespace() -> dict:
    nb = build_template(PIPE, "work")
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    ns: dict = {}
    exec(cell.source, ns)
    return ns


def _worker_parameters(tmp_path: Path, source: Path):
    plan = make_plan("b1", PIPE, str(source), params={"sigma": 2.0})
    bd = BatchDir(tmp_path / "batch")
    bd.create()
    bd.write_plan(plan)
    task = next(t for t in plan.tasks if t.roi_index == 1)
    job = next(j for j in plan.jobs if task.task_id in j.task_ids)
    return task, JobRunner(bd, job.job_index).parameters(task)


def _preview_namespace(tmp_path: Path, source: Path, monkeypatch) -> dict:
    from IPython.core.interactiveshell import InteractiveShell

    from tramway_jupyter.magics import TramwayMagics

    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    try:
        magics = TramwayMagics(shell)
        magics.tramway("parameters", f"source = {str(source)!r}\nroi_index = 1\n")
        return {k: shell.user_ns.get(k) for k in NAMES}
    finally:
        InteractiveShell.clear_instance()


@pytest.fixture
def source(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    src = data / "cell 1.rpt.txt"
    src.write_text("1 0 0 0\n1 1 1 1\n")
    write_rois([[0, 0, 1, 1], [1, 1, 2, 2]], data / "cell 1.rpt-roi.txt")
    return src


def test_template_worker_and_preview_agree(tmp_path, source, monkeypatch):
    template = _template_namespace()
    task, worker = _worker_parameters(tmp_path, source)
    preview = _preview_namespace(tmp_path, source, monkeypatch)

    # the same names: the template's defaults, the worker's values, the preview's values
    assert list(STANDARD_PARAMETERS) == NAMES
    assert {k: template[k] for k in NAMES} == STANDARD_PARAMETERS
    assert template["sigma"] == 1.0  # the notebook's own parameters follow the defaults
    assert set(NAMES) <= set(worker) and worker["sigma"] == 2.0
    # the same values for the same data file and ROI
    for k in ("source", "roi_index", "roi_file"):
        assert worker[k] == preview[k], k
    assert worker["roi_file"] == str(source.parent / "cell 1.rpt-roi.txt")
    # one output_dir rule: <outputs root>/<file key>, the key of a one-file batch
    w_out, p_out = Path(worker["output_dir"]), Path(preview["output_dir"])
    assert w_out.parent == tmp_path / "batch" / OUTPUTS_DIR
    assert p_out.parent == tmp_path / PREVIEW_DIR
    assert w_out.name == p_out.name == task.file_key == "f000-cell_1"
    assert w_out.is_dir() and p_out.is_dir()
    assert worker["task_id"] == task.task_id and preview["task_id"] is None


def test_preview_keeps_what_the_cell_sets(tmp_path):
    ns = {"source": None, "output_dir": str(tmp_path / "mine"), "roi_index": None}
    assert preview_values(ns, tmp_path)["output_dir"] == str(tmp_path / "mine")
    assert preview_values({}, tmp_path)["output_dir"] == os.path.join(
        str(tmp_path), PREVIEW_DIR, "preview")


def test_task_values_are_type_checked():
    ok = task_values(source="/d/a.txt", roi_index=0, roi_file=None, output_dir=Path("/o"),
                     task_id="t")
    assert ok["output_dir"] == "/o" and list(ok) == NAMES
    with pytest.raises(TypeError, match="roi_index"):
        task_values(source="/d/a.txt", roi_index="0", roi_file=None, output_dir="/o",
                    task_id="t")
