"""The Run form's routes (profiles, glob, notebook-pipeline, run), delete, summary and download,
through a real jupyter_server; ``run`` starts a real local batch."""

from __future__ import annotations

import csv
import inspect
import io
import json
import time

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

from tramway_jupyter.jobs.store import Store

from . import fakes

CELLS = [
    "%%tramway parameters\nscale = 2\nlabel = 'x'",
    "%%tramway setup\nimport tramway_jupyter as tj",
    "%%tramway stage count --per file\n"
    "n = len(open(source).read().splitlines())\n"
    "tj.record('lines', n)\n"
    "tj.record('scaled', n * scale)\n"
    "tj.record('label', label)\n"
    "tj.record('pair', [n, n])",
]


def write_notebook(path, cells=CELLS):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def write_data(root, names=("a", "b", "c")):
    d = root / "data"
    d.mkdir(exist_ok=True)
    for i, n in enumerate(names):
        (d / f"{n}.rpt.txt").write_text("".join(f"{k} 0 0 0\n" for k in range(i + 1)))
    return d


async def fetch(jp_fetch, *path, **kw):
    r = await jp_fetch("tramway", "api", *path, **kw)
    return r


async def get(jp_fetch, *path, **params):
    r = await jp_fetch("tramway", "api", *path, params=params)
    assert r.code == 200
    return json.loads(r.body)


async def error(jp_fetch, *path, **kw):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("tramway", "api", *path, **kw)
    body = json.loads(e.value.response.body) if e.value.response and e.value.response.body else {}
    return e.value.code, body.get("message", "")


async def run(jp_fetch, body):
    r = await jp_fetch("tramway", "api", "run", method="POST", body=json.dumps(body))
    return r.code, json.loads(r.body)


# -- profiles ---------------------------------------------------------------------------------
async def test_profiles_and_check(jp_fetch):
    data = await get(jp_fetch, "profiles")
    names = [p["name"] for p in data["profiles"]]
    assert names[:2] == ["local", "inline"] and data["default"] == "local"
    assert data["check"] is None
    data = await get(jp_fetch, "profiles", check="local")
    assert data["check"]["profile"] == "local" and data["check"]["ok"] is True
    assert "nothing to check" in data["check"]["checks"][0]["detail"]


async def test_profiles_errors(jp_fetch):
    code, msg = await error(jp_fetch, "profiles", params={"check": "nope"})
    assert code == 404 and "no profile named 'nope'" in msg and "local" in msg
    code, msg = await error(jp_fetch, "profiles", params={"chek": "local"})
    assert code == 400 and "unknown query parameter" in msg


# -- glob -------------------------------------------------------------------------------------
async def test_glob_counts_data_files(jp_fetch, jp_root_dir):
    write_data(jp_root_dir)
    (jp_root_dir / "data" / "a.rpt-roi.txt").write_text("roi file, not data\n")
    data = await get(jp_fetch, "glob", pattern="data/*.txt")
    assert data["count"] == 3
    assert data["names"] == ["data/a.rpt.txt", "data/b.rpt.txt", "data/c.rpt.txt"]


async def test_glob_errors(jp_fetch, jp_root_dir):
    write_data(jp_root_dir)
    code, msg = await error(jp_fetch, "glob", params={"pattern": "x/*.txt"})
    assert (code, msg) == (400, "no data file matches 'x/*.txt'")
    code, msg = await error(jp_fetch, "glob", params={"pattern": "../*"})
    assert code == 400 and "outside the server's root directory" in msg
    code, msg = await error(jp_fetch, "glob", params={"pattern": "/etc/*"})
    assert code == 400 and "outside" in msg
    code, msg = await error(jp_fetch, "glob")
    assert code == 400 and "'pattern' is required" in msg


# -- notebook-pipeline ------------------------------------------------------------------------
async def test_notebook_pipeline(jp_fetch, jp_root_dir):
    write_notebook(jp_root_dir / "nbs" / "a.ipynb")
    data = await get(jp_fetch, "notebook-pipeline", path="nbs/a.ipynb")
    assert data == {
        "path": "nbs/a.ipynb",
        "stages": [{"name": "count", "per": "file", "sweep_independent": False}],
        "parameters": ["scale", "label"],
        "setup": 1,
    }


async def test_notebook_pipeline_errors(jp_fetch, jp_root_dir, tmp_path):
    write_notebook(jp_root_dir / "plain.ipynb", ["print(1)"])
    code, msg = await error(jp_fetch, "notebook-pipeline", params={"path": "plain.ipynb"})
    assert code == 400 and "no `%%tramway stage NAME` cell" in msg
    assert str(jp_root_dir) not in msg  # the path as the user gave it
    code, msg = await error(jp_fetch, "notebook-pipeline", params={"path": "missing.ipynb"})
    assert code == 404 and "no notebook 'missing.ipynb'" in msg
    write_notebook(tmp_path / "outside.ipynb")
    code, msg = await error(jp_fetch, "notebook-pipeline",
                            params={"path": "../outside.ipynb"})
    assert code == 404 and "outside" in msg
    code, msg = await error(jp_fetch, "notebook-pipeline", params={"path": "data.txt"})
    assert code == 400 and "not a notebook" in msg


# -- run --------------------------------------------------------------------------------------
def wait_done(store_path, batch_id, timeout=120.0):
    store = Store(store_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = store.get_batch(batch_id)
        if not row.state.is_active:
            return row
        time.sleep(0.3)
    raise AssertionError(f"batch {batch_id} still {row.state} after {timeout} s")


async def test_run_starts_a_batch_then_summary_and_download(jp_fetch, jp_root_dir,
                                                            tramway_store, tmp_path,
                                                            monkeypatch):
    monkeypatch.setenv("TRAMWAY_JUPYTER_BATCHES", str(jp_root_dir / "batches"))
    write_data(jp_root_dir)
    write_notebook(jp_root_dir / "a.ipynb")
    code, data = await run(jp_fetch, {
        "notebook": "a.ipynb", "data": "data/*.rpt.txt", "workers": 2,
        "params": {"scale": "3"}, "sweep": {"label": "'p','q'"}, "name": "from the form",
    })
    assert code == 201 and data["name"] == "from the form"
    batch_id = data["batch_id"]
    listed = await get(jp_fetch, "batches")
    assert batch_id in [b["batch_id"] for b in listed["batches"]]
    row = wait_done(tramway_store.path, batch_id)
    assert row.state == "done" and row.n_tasks == 6  # 3 files x 2 sweep points

    summary = await get(jp_fetch, "batches", batch_id, "summary")
    assert summary["n_failed"] == 0 and summary["failures"] == []
    assert sum(summary["durations"]["counts"]) == 6 and len(summary["durations"]["counts"]) == 10

    r = await fetch(jp_fetch, "batches", batch_id, "download", params={"format": "csv"})
    assert r.headers["Content-Disposition"] == f'attachment; filename="tramway-{batch_id}.csv"'
    rows = list(csv.DictReader(io.StringIO(r.body.decode())))
    assert len(rows) == 6
    assert list(rows[0])[:7] == ["task_id", "stage", "source", "roi_index", "segment_index",
                                 "t_start", "t_end"]
    assert "pair" not in rows[0]  # a list is not a scalar record
    got = sorted((r["source"].rsplit("/", 1)[-1], r["label"], r["lines"], r["scaled"],
                  r["state"]) for r in rows)
    assert got[:2] == [("a.rpt.txt", "p", "1", "3", "done"), ("a.rpt.txt", "q", "1", "3", "done")]
    assert got[-1] == ("c.rpt.txt", "q", "3", "9", "done")

    r = await fetch(jp_fetch, "batches", batch_id, "download")
    assert r.headers["Content-Disposition"].endswith(f'tramway-{batch_id}.json"')
    doc = json.loads(r.body)
    assert doc["batch_id"] == batch_id and len(doc["tasks"]) == 6
    assert {t["records"]["scaled"] for t in doc["tasks"]} == {3, 6, 9}


async def test_run_errors(jp_fetch, jp_root_dir):
    write_data(jp_root_dir)
    write_notebook(jp_root_dir / "a.ipynb")
    base = {"notebook": "a.ipynb", "data": "data/*.rpt.txt"}
    cases = [
        ({**base, "data": "x/*.txt"}, 400, "no data file matches 'x/*.txt'"),
        ({**base, "notebook": "nope.ipynb"}, 404, "no notebook 'nope.ipynb'"),
        ({**base, "params": {"scale": "[1,2"}}, 400, "--param scale=[1,2: not a Python literal"),
        ({**base, "params": {"nope": "1"}}, 400, "nope"),
        ({**base, "sweep": {"scale": ""}}, 400, "no value"),
        ({**base, "segments": "abc"}, 400, "segments"),
        ({**base, "profile": "nope"}, 400, "no profile named 'nope'"),
        ({**base, "workers": 0}, 400, "'workers' must be an integer >= 1"),
        ({**base, "rois": "../x"}, 400, "not a path"),
        ({**base, "colour": "red"}, 400, "unknown fields in the body: ['colour']"),
        ({"data": "data/*.rpt.txt"}, 400, "'notebook' is required"),
    ]
    for body, code, needle in cases:
        got, msg = await error(jp_fetch, "run", method="POST", body=json.dumps(body))
        assert got == code and needle in msg, (body, got, msg)
    assert (await get(jp_fetch, "batches"))["batches"][-1]["batch_id"] == "b-outside"


def _has_dry_run() -> bool:
    from tramway_jupyter.orchestration.submit import submit

    return "dry_run" in inspect.signature(submit).parameters


@pytest.mark.skipif(not _has_dry_run(), reason="api.run(dry_run=True) is not merged yet")
async def test_dry_run_returns_the_estimate_and_creates_nothing(jp_fetch, jp_root_dir):
    write_data(jp_root_dir)
    write_notebook(jp_root_dir / "a.ipynb")
    before = await get(jp_fetch, "batches")
    code, data = await run(jp_fetch, {"notebook": "a.ipynb", "data": "data/*.rpt.txt",
                                      "dry_run": True})
    assert code == 200 and data["text"].strip()
    assert await get(jp_fetch, "batches") == before


# -- delete, cancel, summary, download of the fixture batches --------------------------------
async def test_delete(jp_fetch):
    fakes.CALLS.clear()
    r = await fetch(jp_fetch, "batches", "b-done", method="DELETE")
    assert json.loads(r.body) == {"batch_id": "b-done", "deleted": True}
    assert fakes.CALLS == [("delete", "b-done", None)]
    ids = [b["batch_id"] for b in (await get(jp_fetch, "batches"))["batches"]]
    assert "b-done" not in ids
    code, msg = await error(jp_fetch, "batches", "nope", method="DELETE")
    assert code == 404 and "no batch 'nope'" in msg


async def test_cancel_some_jobs(jp_fetch):
    fakes.CALLS.clear()
    r = await fetch(jp_fetch, "batches", "b-mixed", "cancel", method="POST",
                    body=json.dumps({"jobs": [1]}))
    assert json.loads(r.body)["cancelled"] == [1]
    assert fakes.CALLS == [("cancel", "b-mixed", [1])]
    code, msg = await error(jp_fetch, "batches", "b-mixed", "cancel", method="POST",
                            body=json.dumps({"jobs": [7]}))
    assert code == 404 and "no job(s) [7]" in msg


async def test_summary_groups_failures_and_bins_durations(jp_fetch, tramway_store):
    store = Store(tramway_store.path)
    done = store.tasks("b-done")
    store.update_tasks("b-done", [{"task_id": t.task_id, "duration": float(i + 1)}
                                  for i, t in enumerate(done)])
    data = await get(jp_fetch, "batches", "b-done", "summary")
    assert data["durations"] == {"shortest": 1.0, "longest": 4.0,
                                 "counts": [1, 0, 0, 1, 0, 0, 1, 0, 0, 1]}
    assert data["failures"] == [] and data["n_failed"] == 0

    mixed = {t.state: t for t in store.tasks("b-mixed")}
    store.update_tasks("b-mixed", [
        {"task_id": mixed["done"].task_id, "state": "failed",
         "error": mixed["failed"].error},
        {"task_id": mixed["running"].task_id, "state": "lost", "error": None},
    ])
    data = await get(jp_fetch, "batches", "b-mixed", "summary")
    assert data["failures"] == [
        {"error": "ValueError: ROI 1 of sim has no translocations", "count": 2},
        {"error": None, "count": 1},
    ]
    assert data["n_failed"] == 3 and data["durations"] is None
    code, msg = await error(jp_fetch, "batches", "nope", "summary")
    assert code == 404 and "no batch 'nope'" in msg


async def test_download_errors(jp_fetch):
    code, msg = await error(jp_fetch, "batches", "b-done", "download",
                            params={"format": "xls"})
    assert code == 400 and "'format' must be json or csv" in msg
    code, msg = await error(jp_fetch, "batches", "nope", "download")
    assert code == 404 and "no batch 'nope'" in msg
