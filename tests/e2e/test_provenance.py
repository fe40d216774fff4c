"""Provenance in every result (issue 10): the record of each task, `rerun`, the RO-Crate.

Real batches (the inline backend: the one worker, in this process), real CLI processes.
"""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tramway_jupyter import api
from tramway_jupyter._version import __version__
from tramway_jupyter.capture.pipeline import Pipeline
from tramway_jupyter.jobs import nbjson
from tramway_jupyter.jobs.plan import hash_file
from tramway_jupyter.jobs.provenance import template_digest

from .conftest import make_toy_data


@pytest.fixture
def cli(capsys):
    """The CLI's main, in this process (a CLI process next to this one's open store meets a
    sqlite 'disk I/O error' of main's store, independent of provenance): (exit, out, err)."""
    from tramway_jupyter.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = main(list(args))
        out, err = capsys.readouterr()
        return rc, out, err

    return run


def _git_notebook(root: Path) -> tuple[Path, str]:
    """A notebook in a git repository, committed, then edited (the tree is dirty)."""
    root.mkdir()
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@e"]
    subprocess.run([*git, "init", "-q"], check=True)
    nb = root / "analysis.ipynb"
    nb.write_text("{}")
    subprocess.run([*git, "add", nb.name], check=True)
    subprocess.run([*git, "commit", "-qm", "analysis"], check=True)
    nb.write_text('{"edited": true}')
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    return nb, head.stdout.strip()


CELLS = [
    ("parameters", "scale = 10"),
    ("setup", "import os\nimport numpy as np\nimport msgspec\nimport tramway_jupyter as tj"),
    ("stage prep --per file",
     "text = open(source).read()\n"
     "open(os.path.join(output_dir, 'prep.txt'), 'w').write(text.upper())\n"
     "tj.record('length', len(text))"),
    ("stage work --per roi",
     "prep = open(os.path.join(output_dir, 'prep.txt')).read()\n"
     "tj.record('value', len(prep) * scale + (roi_index or 0))\n"
     "tj.record('array', np.arange(5) * scale / 3)"),
]


@pytest.fixture(scope="module")
def done_batch(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prov")
    data = make_toy_data(tmp / "data", ["a", "b"], n_rois=2)
    nb, head = _git_notebook(tmp / "repo")
    batch = api.run(Pipeline.from_cells(CELLS), str(data / "*.rpt.txt"), profile="inline",
                    params={"scale": 7}, notebook=str(nb), batches_root=tmp / "batches")
    batch.wait(timeout=120)
    assert batch.counts() == {"done": 6}
    return batch, data, head, tmp


def test_every_task_has_its_provenance_record_right(done_batch):
    batch, data, head, _ = done_batch
    root = batch.dir.root
    plan = batch.dir.read_plan()
    envs = sorted((root / "provenance").glob("env-*.json"))
    assert len(envs) == 1  # one worker process, one environment record
    env = json.loads(envs[0].read_text())
    import msgspec
    import scipy

    assert env["tramway_jupyter"] == __version__ and env["python"] == platform.python_version()
    assert env["packages"]["numpy"] == np.__version__
    assert env["packages"]["scipy"] == scipy.__version__
    assert env["packages"]["msgspec"] == msgspec.__version__  # imported by the setup cell
    assert "os" not in env["packages"]
    assert env["backend"] == "inline" and env["profile"] == "inline"
    assert env["git_commit"] == head and env["git_dirty"] is True
    assert env["slurm_job_id"] is None and env["container_image"] is None
    for t in plan.tasks:
        rec = json.loads((root / "provenance" / f"{t.task_id}.json").read_text())
        assert rec["env"] == envs[0].stem.removeprefix("env-")
        assert rec["fingerprint"] == t.fingerprint and rec["stage"] == t.stage
        tmpl = nbjson.read_notebook(batch.dir.template_path(t.stage))
        assert rec["template_digest"] == template_digest(tmpl)
        inputs = {i["role"]: i for i in rec["inputs"]}
        assert inputs["data"]["path"] == t.source
        assert inputs["data"]["sha256"] == hash_file(t.source)
        assert inputs["rois"]["sha256"] == hash_file(t.roi_file)
        expected = {"scale": 7, "source": t.source, "roi_index": t.roi_index,
                    "roi_file": t.roi_file, "task_id": t.task_id,
                    "output_dir": str(batch.dir.output_dir(t.file_key))}
        assert {k: rec["parameters"][k] for k in expected} == expected
        if t.stage == "work":
            (dep,) = t.depends_on
            up = inputs["upstream"]
            assert up["task_id"] == dep and up["fingerprint"] == plan.task(dep).fingerprint
            assert up["sha256"] == hash_file(str(batch.dir.results_path(dep)))
        else:
            assert "upstream" not in inputs
        # the output notebook carries the same record, with its environment whole
        nb = json.loads(batch.dir.notebook_path(t.task_id).read_text())
        meta = nb["metadata"]["tramway_jupyter"]["provenance"]
        assert meta["inputs"] == rec["inputs"] and meta["parameters"] == rec["parameters"]
        assert meta["environment"] == env
    # never in the status journals
    for journal in (root / "status").glob("*.jsonl"):
        assert "template_digest" not in journal.read_text()


def test_gather_json_carries_each_tasks_provenance(done_batch, cli):
    batch, _, head, tmp = done_batch
    rc, out, err = cli("gather", batch.batch_id, "--json", "-")
    assert rc == 0, err
    doc = json.loads(out)
    by_id = {t["task_id"]: t for t in doc["tasks"]}
    assert len(by_id) == 6
    prov = by_id["work-f001-b-r001"]["provenance"]
    rec = json.loads((batch.dir.root / "provenance" / "work-f001-b-r001.json").read_text())
    assert prov["inputs"] == rec["inputs"] and prov["parameters"]["scale"] == 7
    assert prov["environment"]["git_commit"] == head
    assert prov["environment"]["packages"]["numpy"] == np.__version__


def test_rerun_gives_identical_records_and_never_touches_the_batch(done_batch, cli):
    batch, _, _, tmp = done_batch
    before = {p: p.stat().st_mtime_ns for p in batch.dir.root.rglob("*") if p.is_file()}
    rc, out, err = cli("rerun", batch.batch_id, "work-f000-a-r001")
    assert rc == 0, out + err
    assert "identical" in out
    report = batch.rerun("prep-f001-b")
    assert report.identical and report.scratch is None
    after = {p: p.stat().st_mtime_ns for p in batch.dir.root.rglob("*") if p.is_file()}
    assert after == before


def test_rerun_refuses_when_an_input_changed(tmp_path, toy_pipeline, cli):
    data = make_toy_data(tmp_path / "data", ["a"], n_rois=1)
    batch = api.run(toy_pipeline, str(data / "a.rpt.txt"), profile="inline",
                    batches_root=tmp_path / "batches")
    batch.wait(timeout=120)
    (data / "a.rpt.txt").write_text("1 0 0 0\n1 0.1 0.1 0.04 changed\n")
    rc, _, err = cli("rerun", batch.batch_id, "work-f000-a-r000")
    assert rc == 2
    assert f"its input {data / 'a.rpt.txt'} changed since it ran" in err


def test_rerun_reports_the_records_that_differ(tmp_path, cli):
    cells = [("setup", "import time\nimport tramway_jupyter as tj"),
             ("stage clock --per file", "tj.record('same', 42)\ntj.record('now', time.time())")]
    data = make_toy_data(tmp_path / "data", ["a"], n_rois=0)
    batch = api.run(Pipeline.from_cells(cells), str(data / "a.rpt.txt"), profile="inline",
                    batches_root=tmp_path / "batches")
    batch.wait(timeout=120)
    rc, out, err = cli("rerun", batch.batch_id, "clock-f000-a")
    assert rc == 1, out + err
    assert "NOT identical: records differ: now" in out
    assert "same" not in out.split("records differ:")[1].split("(")[0]


def test_export_writes_an_ro_crate_that_reads_back(done_batch, cli):
    from rocrate.rocrate import ROCrate

    batch, data, head, tmp = done_batch
    dest = tmp / "crate"
    rc, _, err = cli("export", batch.batch_id, str(dest))
    assert rc == 0, err
    crate = ROCrate(str(dest))
    root = crate.root_dataset
    assert root["identifier"] == batch.batch_id and root["dateCreated"]
    assert root["mainEntity"].id == "notebook/analysis.ipynb"
    assert root["version"] == f"{head} (dirty)"
    f = crate.get("data/f000-a/a.rpt.txt")
    assert f is not None and f["sha256"] == hash_file(str(data / "a.rpt.txt"))
    assert (dest / "data/f000-a/a.rpt.txt").read_bytes() == (data / "a.rpt.txt").read_bytes()
    tmpl = crate.get("templates/work.ipynb")
    assert "ComputationalWorkflow" in tmpl.type and "SoftwareSourceCode" in tmpl.type
    action = crate.get("#task-work-f000-a-r001")
    assert action.type == "CreateAction"
    assert action["actionStatus"] == "CompletedActionStatus"
    params = {o["name"]: o["value"] for o in action["object"]
              if o.type == "PropertyValue"}
    assert params["scale"] == 7 and params["roi_index"] == 1
    apps = {i["name"]: i["softwareVersion"] for i in action["instrument"]
            if i.type == "SoftwareApplication"}
    assert apps["numpy"] == np.__version__ and apps["tramway-jupyter"] == __version__
    assert action["instrument"][0].id == "templates/work.ipynb"
    results = {r.id for r in action["result"]}
    assert {"results/work-f000-a-r001.pkl", "notebooks/work-f000-a-r001.ipynb",
            "provenance/work-f000-a-r001.json"} <= results
    inputs = {o.id for o in action["object"] if o.type == "File"}
    assert "results/prep-f000-a.pkl" in inputs and "data/f000-a/a.rpt-roi.txt" in inputs
    assert (dest / "provenance/work-f000-a-r001.json").exists()


def test_a_resumed_task_keeps_the_record_of_the_batch_that_ran_it(done_batch):
    batch, data, _, tmp = done_batch
    again = api.run(Pipeline.from_cells(CELLS), str(data / "*.rpt.txt"), profile="inline",
                    params={"scale": 7}, batches_root=tmp / "batches")
    again.wait(timeout=120)
    assert again.info().meta["n_cached"] == 6
    rec = json.loads((again.dir.root / "provenance" / "work-f000-a-r000.json").read_text())
    assert rec["batch_id"] == batch.batch_id
    assert (again.dir.root / "provenance" / f"env-{rec['env']}.json").exists()
