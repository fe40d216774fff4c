"""The sidebar's Run form and batch management in a real JupyterLab: the form starts a batch that
completes (a glob that matches nothing is refused inline first), the finished batch's summary
and downloads, per-job cancel of a running batch. Screenshots go to test-artifacts/."""

from __future__ import annotations

import csv
import io
import json
import re
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .labpage import LabPage, write_notebook

FORM_NB = [
    "%%tramway parameters\ndelay = 0.3\nscale = 1",
    "%%tramway setup\nimport time\nimport tramway_jupyter as tj",
    "%%tramway stage work --per roi\n"
    "time.sleep(delay)\n"
    "tj.record('value', (roi_index or 0) * scale)\n"
    "print('worked on', source, roi_index)",
]


def rest(lab, path, method="GET", body=None):
    req = urllib.request.Request(
        f"{lab['base']}/tramway/api/{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {lab['token']}"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def batch_names(lab):
    return [b["name"] for b in rest(lab, "batches")["batches"]]


@pytest.fixture
def lp(page, lab):
    return LabPage(page, lab)


def test_run_form_starts_a_batch_then_summary_and_downloads(lp, lab, artifacts):
    write_notebook(lab["root"] / "form.ipynb", FORM_NB)
    lp.goto("lab/tree/form.ipynb")
    expect(lp.page.locator(".jp-NotebookPanel")).to_be_visible(timeout=60_000)
    sidebar = lp.open_sidebar()
    sidebar.locator(".jp-TramwayNewBatch").click()
    form = sidebar.locator(".jp-TramwayRunForm")
    expect(form).to_be_visible()
    field = lambda name: form.locator(f'.jp-TramwayField[data-field="{name}"]')  # noqa: E731
    # the current notebook by default, and its stages read by the server
    expect(field("notebook").locator("input")).to_have_value("form.ipynb")
    expect(field("notebook")).to_contain_text("stages: work (per roi)")

    # a glob that matches nothing: the error under the field, and Run refused
    field("data").locator("input").fill("nothing/*.txt")
    expect(field("data").locator(".jp-TramwayField-error")).to_have_text(
        "no data file matches 'nothing/*.txt'")
    before = batch_names(lab)
    form.locator(".jp-mod-run").click()
    expect(field("data").locator(".jp-TramwayField-error")).to_have_text(
        "no data file matches 'nothing/*.txt'")
    time.sleep(1)
    assert batch_names(lab) == before

    # a bad --param is shown under its field
    field("data").locator("input").fill("data/*.rpt.txt")
    expect(field("data")).to_contain_text("2 files")
    field("rois").locator("input").fill("all")
    field("params").locator("textarea").fill("scale=[1,2")
    form.locator(".jp-mod-run").click()
    expect(field("params").locator(".jp-TramwayField-error")).to_contain_text(
        "--param scale=[1,2: not a Python literal")
    field("params").locator("textarea").fill("scale=10\ndelay=0.2")
    field("workers").locator("input").fill("2")
    field("name").locator("input").fill("from the form")
    form.locator(".jp-mod-check").click()
    expect(field("profile").locator(".jp-TramwayCheck")).to_contain_text("nothing to check")
    # the dry run: the plan and an estimate, before Run, and no batch
    before = batch_names(lab)
    form.locator(".jp-mod-dryrun").click()
    estimate = form.locator(".jp-TramwayRunForm-estimate")
    expect(estimate).to_contain_text("4 task", timeout=120_000)
    expect(estimate).to_contain_text("wall")
    assert batch_names(lab) == before
    form.screenshot(path=str(artifacts / "run-form.png"))

    form.locator(".jp-mod-run").click()
    expect(form).to_have_count(0)
    batch = lp.batch("from the form")
    expect(batch).to_have_attribute("data-state", "done", timeout=120_000)
    expect(batch.locator(".jp-TramwayBatch-counts")).to_contain_text("4/4 done")
    # expanded at start: the finished batch's summary
    hist = batch.locator(".jp-TramwayHistogram")
    expect(hist).to_be_visible()
    expect(hist).to_contain_text("durations of 4 done tasks")
    expect(hist.locator("rect")).to_have_count(10)
    batch.screenshot(path=str(artifacts / "run-form-batch-view.png"))

    batch_id = batch.get_attribute("data-batch-id")
    with lp.page.expect_download() as info:
        batch.locator(".jp-mod-download.jp-mod-csv").click()
    dl = info.value
    assert dl.suggested_filename == f"tramway-{batch_id}.csv"
    rows = list(csv.DictReader(io.StringIO(Path(dl.path()).read_text())))
    assert sorted(r["value"] for r in rows) == ["0", "0", "10", "10"]
    assert {r["state"] for r in rows} == {"done"}
    with lp.page.expect_download() as info:
        batch.locator(".jp-mod-download.jp-mod-json").click()
    doc = json.loads(Path(info.value.path()).read_text())
    assert doc["batch_id"] == batch_id and len(doc["tasks"]) == 4

    # filter, then delete with its confirm dialog
    lp.sidebar.locator(".jp-TramwayBatchFilter input").fill("no such batch")
    expect(batch).to_have_count(0)
    lp.sidebar.locator(".jp-TramwayBatchFilter input").fill("state:done form")
    expect(batch).to_have_count(1)
    batch.locator(".jp-mod-delete").click()
    lp.page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
    expect(batch).to_have_count(0)
    assert "from the form" not in batch_names(lab)


SLOW_NB = [
    "%%tramway parameters\ndelay = 120",
    "%%tramway setup\nimport time",
    "%%tramway stage slow --per roi\ntime.sleep(delay)",
]


def test_cancel_one_job_of_a_running_batch(lp, lab, artifacts):
    write_notebook(lab["root"] / "slow.ipynb", SLOW_NB)
    started = rest(lab, "run", "POST", {
        "notebook": "slow.ipynb", "data": "data/*.rpt.txt", "rois": "all", "workers": 2,
        "name": "slow one",
    })
    batch_id = started["batch_id"]
    try:
        lp.goto()
        lp.open_sidebar()
        batch = lp.batch("slow one")
        batch.locator(".jp-TramwayBatch-header").click()
        jobs = batch.locator(".jp-TramwayJob")
        expect(jobs.first).to_have_attribute("data-state", "running", timeout=60_000)
        n_jobs = jobs.count()
        assert n_jobs >= 2
        first = jobs.first
        index = first.get_attribute("data-job-index")
        first.locator(".jp-mod-cancelJob").click()
        expect(batch.locator(f'.jp-TramwayJob[data-job-index="{index}"]')).to_have_attribute(
            "data-state", re.compile("cancelled"), timeout=30_000)
        batch.screenshot(path=str(artifacts / "run-form-job-cancelled.png"))
        jobs_now = rest(lab, f"batches/{batch_id}/jobs")["jobs"]
        states = {str(j["job_index"]): j["state"] for j in jobs_now}
        assert states[index] == "cancelled"
        assert any(s in ("running", "queued", "pending") for k, s in states.items() if k != index)
        expect(batch).to_have_attribute("data-state", re.compile("running|queued"))
    finally:
        rest(lab, f"batches/{batch_id}/cancel", "POST", {})
