"""Browser tests: a batch started from notebook cells shows in the TRamWAy sidebar, live, with
its errors and logs; cancel works from the sidebar; the progress widget renders and updates."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
from playwright.sync_api import Page, expect

from .labpage import LabPage

PIPELINE = [
    "%load_ext tramway_jupyter",
    "%%tramway parameters\ndelay = 0.3\nfail_roi = None",
    "%%tramway setup\nimport time",
    "%%tramway stage work --per roi\n"
    "time.sleep(delay)\n"
    "if fail_roi is not None and roi_index == fail_roi and source.endswith('sim1.rpt.txt'):\n"
    "    raise ValueError(f'ROI {roi_index} of sim1 has no translocations')\n"
    "print('worked on', source, roi_index)",
]
RUN = '%tramway run --data "data/*.rpt.txt" --rois all --workers 2'


# Each test makes the batches it looks at (none relies on another test having run first).
@pytest.fixture
def no_batches(lab):
    """Hide every batch of the lab's store (other tests' batches), as a fresh user would see."""
    from tramway_jupyter.jobs.store import Store

    store = Store(lab["env"]["TRAMWAY_JUPYTER_STORE"])
    for row in store.list_batches():
        store.delete_batch(row.batch_id)
    store.close()


@pytest.fixture
def failed_batch(lab, request):
    """A finished batch of 4 tasks, one failed (ROI 1 of sim1), run with the CLI in the lab's
    store; its name is unique to the test."""
    name = f"failing-{request.node.originalname.removeprefix('test_').replace('_', '-')}"
    from .labpage import write_notebook

    nb = lab["root"] / f"{name}.ipynb"
    write_notebook(nb, PIPELINE)
    p = subprocess.run(
        [sys.executable, "-m", "tramway_jupyter.cli", "run", str(nb), "--data", "data/*.rpt.txt",
         "--rois", "all", "--workers", "2", "--name", name, "--param", "fail_roi=1",
         "--param", "delay=0.0"],
        cwd=lab["root"], env=lab["env"], capture_output=True, text=True, timeout=180)
    assert p.returncode == 1 and "ROI 1 of sim1 has no translocations" in p.stdout, (
        p.stdout + p.stderr)
    return name


def test_empty_sidebar_says_how_to_start(page: Page, lab, artifacts, no_batches):
    t0 = time.monotonic()
    lp = LabPage(page, lab)
    lp.goto()
    assert lp.sidebar_tab.get_attribute("title") == "TRamWAy jobs"
    sidebar = lp.open_sidebar()
    expect(sidebar.locator(".jp-TramwayEmpty")).to_contain_text("No batches yet")
    expect(sidebar.locator(".jp-TramwayEmpty")).to_contain_text("%tramway run")
    sidebar.screenshot(path=str(artifacts / "sidebar-empty.png"))
    print(f"lab ready + empty sidebar in {time.monotonic() - t0:.1f}s")


def test_run_from_notebook_widget_and_sidebar(page: Page, lab, artifacts):
    lp = LabPage(page, lab)
    cells = [
        *PIPELINE,
        f"{RUN} --name good-run",
        f"{RUN} --name failing-run --param fail_roi=1",
    ]
    lp.open_notebook("analysis.ipynb", cells)
    t0 = time.monotonic()
    lp.run_cells(len(cells))

    # the progress widget renders in the output of the run cells and updates to the end
    good = lp.cell_output(4).locator(".tramway-progress-widget")
    expect(good).to_be_visible(timeout=30_000)
    expect(good.locator(".tramway-bar")).to_be_visible()
    expect(good.locator(".tramway-summary, .tramway-note").last).to_contain_text(
        "Finished: 4/4 tasks done", timeout=60_000
    )
    # the bar filled up with done tasks
    expect(good.locator(".tramway-seg-done")).to_have_attribute(
        "style", re.compile(r"width:\s*100(\.0+)?%")
    )
    expect(good.locator(".tramway-counts")).to_have_text("4/4 done")
    failing = lp.cell_output(5).locator(".tramway-progress-widget")
    expect(failing.locator(".tramway-summary")).to_contain_text(
        "3/4 done, 1 failed", timeout=60_000
    )
    expect(failing.locator(".tramway-summary")).to_contain_text(
        "ROI 1 of sim1 has no translocations"
    )
    print(f"both batches finished {time.monotonic() - t0:.1f}s after run")
    failing.screenshot(path=str(artifacts / "progress-widget.png"))

    # the sidebar shows both batches, finished, with their progress bars
    sidebar = lp.open_sidebar()
    done = lp.batch("good-run")
    expect(done).to_have_attribute("data-state", "done", timeout=20_000)
    expect(done.locator(".jp-TramwayProgress-segment.jp-mod-done")).to_be_visible()
    bad = lp.batch("failing-run")
    expect(bad).to_have_attribute("data-state", "failed", timeout=20_000)
    expect(bad.locator(".jp-TramwayBatch-counts")).to_have_text("3/4 done · 1 failed")
    expect(bad.locator(".jp-TramwayProgress-segment.jp-mod-failed")).to_be_visible()

    # expand: the failed task (filter preset to failed) shows its error, traceback and log
    bad.locator(".jp-TramwayBatch-header").click()
    task = bad.locator(".jp-TramwayTask")
    expect(task).to_have_count(1)
    expect(task).to_have_attribute("data-state", "failed")
    expect(task.locator(".jp-TramwayTask-error")).to_contain_text("ROI 1 of sim1")
    task.locator(".jp-TramwayTask-row").click()
    expect(task.locator(".jp-TramwayError-summary")).to_contain_text(
        "ValueError: ROI 1 of sim1 has no translocations"
    )
    expect(task.locator(".jp-TramwayError-traceback")).to_contain_text("ValueError")
    task.get_by_role("button", name="Log").click()
    expect(task.locator(".jp-TramwayLog-text")).not_to_be_empty()
    sidebar.screenshot(path=str(artifacts / "sidebar-failed-task.png"))

    # the state filter shows all tasks
    bad.locator(".jp-TramwayFilter select").select_option("")
    expect(bad.locator(".jp-TramwayTask")).to_have_count(4)
    bad.locator(".jp-TramwayFilter select").select_option("failed")
    expect(bad.locator(".jp-TramwayTask")).to_have_count(1)

    # open the failed task's output notebook in a Lab tab
    task = bad.locator(".jp-TramwayTask")
    if not task.locator(".jp-TramwayTaskDetail").is_visible():
        task.locator(".jp-TramwayTask-row").click()
    task.get_by_role("button", name="Open notebook").click()
    expect(
        page.locator(
            ".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=re.compile(r"work-.*sim1.*\.ipynb")
        )
    ).to_be_visible(timeout=20_000)
    opened = page.locator(".jp-NotebookPanel:visible")
    expect(opened.locator(".jp-OutputArea-output", has_text="ROI 1 of sim1").first).to_be_visible(
        timeout=20_000
    )
    page.screenshot(path=str(artifacts / "lab-sidebar.png"))


def test_cancel_from_sidebar(page: Page, lab, artifacts):
    lp = LabPage(page, lab)
    cells = [*PIPELINE, f"{RUN} --name slow-run --param delay=120"]
    lp.open_notebook("slow.ipynb", cells)
    lp.run_cells(len(cells))
    widget = lp.cell_output(4).locator(".tramway-progress-widget")
    expect(widget).to_be_visible(timeout=30_000)
    expect(widget.locator(".tramway-seg-running")).to_be_visible(timeout=30_000)
    expect(widget.locator(".tramway-counts")).to_contain_text("running")
    widget.screenshot(path=str(artifacts / "progress-widget-running.png"))

    sidebar = lp.open_sidebar()
    slow = lp.batch("slow-run")
    expect(slow).to_have_attribute(
        "data-state", re.compile("running|queued|pending"), timeout=30_000
    )
    expect(slow.locator(".jp-TramwayProgress")).to_be_visible()
    sidebar.screenshot(path=str(artifacts / "sidebar-running.png"))
    slow.get_by_role("button", name="Cancel").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Cancel jobs").click()
    expect(slow).to_have_attribute("data-state", "cancelled", timeout=30_000)
    expect(slow.locator(".jp-TramwayBatch-counts")).to_contain_text("4 cancelled")
    # the notebook's widget sees it too, and offers a retry
    expect(widget.locator(".tramway-summary, .tramway-note").last).to_contain_text(
        "cancelled", timeout=30_000
    )
    sidebar.screenshot(path=str(artifacts / "sidebar-cancelled.png"))


def test_retry_failed_from_sidebar(page: Page, lab, failed_batch):
    lp = LabPage(page, lab)
    lp.goto()
    lp.open_sidebar()
    bad = lp.batch(failed_batch)
    expect(bad).to_have_attribute("data-state", "failed")
    bad.get_by_role("button", name="Retry 1 failed").click()
    # the task runs again (attempt 2) and, with the same parameters, fails again
    bad.locator(".jp-TramwayBatch-header").click()
    task = bad.locator(".jp-TramwayTask", has_text="sim1.rpt.txt · ROI 1")
    expect(task).to_have_count(1, timeout=30_000)
    task.locator(".jp-TramwayTask-row").click()
    expect(task.locator(".jp-TramwayTaskDetail-meta")).to_contain_text("attempt 2", timeout=30_000)
    expect(bad).to_have_attribute("data-state", "failed", timeout=60_000)
    expect(task).to_have_attribute("data-state", "failed")
    expect(task.locator(".jp-TramwayError-summary")).to_contain_text("ROI 1 of sim1")


def test_dark_theme(page: Page, lab, artifacts, failed_batch):
    """The sidebar uses JupyterLab's CSS variables: switch to the dark theme and look."""
    lp = LabPage(page, lab)
    lp.set_theme("JupyterLab Dark")
    try:
        lp.goto()
        expect(page.locator("body[data-jp-theme-light='false']")).to_have_count(1, timeout=20_000)
        sidebar = lp.open_sidebar()
        batch = lp.batch(failed_batch)
        batch.locator(".jp-TramwayBatch-header").click()
        batch.locator(".jp-TramwayTask-row").first.click()
        expect(batch.locator(".jp-TramwayError-summary")).to_be_visible()
        # light text on a dark panel: colours come from --jp-ui-font-color1 / --jp-layout-color1
        colour = batch.locator(".jp-TramwayBatch-name").evaluate("e => getComputedStyle(e).color")
        background = sidebar.evaluate("e => getComputedStyle(e).backgroundColor")
        assert sum(int(x) for x in re.findall(r"\d+", colour)[:3]) > 3 * 150, colour
        assert sum(int(x) for x in re.findall(r"\d+", background)[:3]) < 3 * 100, background
        sidebar.screenshot(path=str(artifacts / "sidebar-dark.png"))
    finally:
        lp.set_theme("JupyterLab Light")
