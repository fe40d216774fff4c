"""Browser tests: the sidebar narrowed to ~260 px still shows everything: a long batch name wraps
(with its full text in a tooltip), a task's traceback wraps inside its box, and "Open in a tab"
shows the whole error and the task's log in a main-area tab (once per task)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from playwright.sync_api import Page, expect

from .labpage import LabPage, write_notebook

WIDTH = 260
LONG_NAME = "calibration-of-the-long-trajectories-of-march-narrow-sidebar-run"
# one unbreakable 400-character word: longer than the listing's 300-character cut
LONG_WORD = "/".join(["a-very-long-directory-name"] * 15)
PIPELINE = [
    "%load_ext tramway_jupyter",
    "%%tramway parameters\nfail_roi = 1",
    "%%tramway stage work --per roi\n"
    "import sys\n"
    "print('log line of ROI', roi_index, file=sys.stderr)\n"
    "if roi_index == fail_roi and source.endswith('sim1.rpt.txt'):\n"
    f"    raise ValueError('no translocations under {LONG_WORD} (end of evalue)')\n",
]
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@pytest.fixture(scope="module")
def long_batch(lab):
    """A finished batch with a long name: 4 tasks, one failed with a long unbreakable evalue."""
    nb = lab["root"] / "narrow.ipynb"
    write_notebook(nb, PIPELINE)
    p = subprocess.run(
        [sys.executable, "-m", "tramway_jupyter.cli", "run", str(nb), "--data", "data/*.rpt.txt",
         "--rois", "all", "--workers", "2", "--name", LONG_NAME],
        cwd=lab["root"], env=lab["env"], capture_output=True, text=True, timeout=180)
    assert p.returncode == 1 and "(end of evalue)" in p.stdout, p.stdout + p.stderr
    return LONG_NAME


def narrow_sidebar(lp: LabPage):
    lp.goto()
    sidebar = lp.open_sidebar()
    lp.set_sidebar_width(WIDTH)
    return sidebar


def test_narrow_sidebar_long_batch_name(page: Page, lab, artifacts, long_batch):
    lp = LabPage(page, lab)
    sidebar = narrow_sidebar(lp)
    batch = lp.batch(long_batch)
    expect(batch).to_have_attribute("data-state", "failed", timeout=20_000)
    name = batch.locator(".jp-TramwayBatch-name")
    # the full name in the native tooltip (first line; the batch id may follow)
    assert (name.get_attribute("title") or "").split("\n")[0] == long_batch
    # the name wraps (two lines) instead of being cut on one line, and nothing overflows
    line = name.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
    assert name.bounding_box()["height"] >= 1.8 * line, (name.bounding_box(), line)
    assert lp.overflow_x(name) <= 0
    assert lp.overflow_x(batch) <= 0
    assert lp.overflow_x(sidebar.locator(".jp-TramwaySidebar-content")) <= 0
    right = sidebar.bounding_box()["x"] + sidebar.bounding_box()["width"]
    header = batch.locator(".jp-TramwayBatch-header").bounding_box()
    assert header["x"] + header["width"] <= right + 0.5
    # the other cut texts have tooltips too: the counts and the failed task's error line
    counts = batch.locator(".jp-TramwayBatch-counts")
    expect(counts).to_have_attribute("title", "3/4 done · 1 failed")
    batch.locator(".jp-TramwayBatch-header").click()
    task = batch.locator(".jp-TramwayTask")
    expect(task).to_have_count(1)
    expect(task.locator(".jp-TramwayTask-name")).to_have_attribute(
        "title", re.compile(r"sim1\.rpt\.txt.*\n.*work-f001-sim1-r001", re.S)
    )
    expect(task.locator(".jp-TramwayTask-error")).to_have_attribute(
        "title", re.compile("^ValueError: no translocations under a-very")
    )
    sidebar.screenshot(path=str(artifacts / "sidebar-narrow-long-name.png"))


def test_narrow_sidebar_traceback_wraps_and_opens_in_a_tab(
    page: Page, lab, artifacts, long_batch
):
    lp = LabPage(page, lab)
    sidebar = narrow_sidebar(lp)
    batch = lp.batch(long_batch)
    expect(batch).to_have_attribute("data-state", "failed", timeout=20_000)
    batch.locator(".jp-TramwayBatch-header").click()
    task = batch.locator(".jp-TramwayTask")
    expect(task).to_have_count(1)
    task.locator(".jp-TramwayTask-row").click()
    traceback = task.locator(".jp-TramwayError-traceback")
    expect(traceback).to_contain_text("(end of evalue)")
    # the traceback wraps inside its box: no horizontal overflow, the box stays in the panel
    assert lp.overflow_x(traceback) <= 0
    assert lp.overflow_x(sidebar.locator(".jp-TramwaySidebar-content")) <= 0
    right = sidebar.bounding_box()["x"] + sidebar.bounding_box()["width"]
    box = task.locator(".jp-TramwayError").bounding_box()
    assert box["x"] + box["width"] <= right + 0.5, (box, right)
    task.get_by_role("button", name="Log").click()
    log_box = task.locator(".jp-TramwayLog-text")
    expect(log_box).to_contain_text("log line of ROI 1")
    assert lp.overflow_x(log_box) <= 0
    sidebar.screenshot(path=str(artifacts / "sidebar-narrow-traceback.png"))

    # what the server has for this task: the whole error and the log
    task_id = task.get_attribute("data-task-id")
    batch_id = batch.get_attribute("data-batch-id")
    api = f"{lab['base']}/tramway/api/batches/{batch_id}/tasks/{task_id}"
    auth = {"Authorization": f"token {lab['token']}"}
    error = page.request.get(api, headers=auth).json()["status"]["error"]
    log = page.request.get(f"{api}/log", headers=auth).json()["log"]
    assert len(error["evalue"]) > 300  # longer than the listing's one line

    # "Open in a tab": a main-area tab with the whole error, the cell's source and the log
    task.get_by_role("button", name="Open in a tab").click()
    label = page.locator(".lm-TabBar-tabLabel", has_text=re.compile(f"^{re.escape(task_id)}$"))
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab").filter(has=label)
    expect(tab).to_have_count(1, timeout=10_000)
    content = page.locator("#jp-main-dock-panel .jp-TramwayErrorTab:visible")
    expect(content).to_contain_text("(end of evalue)", timeout=10_000)
    expect(content.locator(".jp-TramwayErrorTab-log")).to_contain_text("log line of ROI 1")
    text = re.sub(r"\s+", " ", content.inner_text())
    expected = [f"{error['ename']}: {error['evalue']}", *error["source"].splitlines(),
                *ANSI.sub("", error["traceback"]).splitlines(), *log.splitlines()]
    for line in expected:
        line = re.sub(r"\s+", " ", line).strip()
        assert line in text, line
    page.screenshot(path=str(artifacts / "error-tab.png"))

    # another tab on top (the task's output notebook), then opening it again activates the
    # same tab (no second one)
    task.get_by_role("button", name="Open notebook").click()
    expect(page.locator(".jp-NotebookPanel:visible")).to_have_count(1, timeout=20_000)
    expect(content).to_have_count(0)
    task.get_by_role("button", name="Open in a tab").click()
    expect(tab).to_have_count(1)
    expect(tab).to_have_class(re.compile(r"\blm-mod-current\b"))
    expect(content).to_contain_text("(end of evalue)")
