"""Browser test: the server's refresher notices that a batch started failing, then ended, with
the notebook and the sidebar closed; JupyterLab shows both as notifications, and "Show in
sidebar" opens the panel on that batch. A reloaded page does not show them again."""

from __future__ import annotations

import re
import subprocess
import sys
import time

from playwright.sync_api import Page, expect

from .labpage import LabPage, write_notebook

NAME = "notified-run"
# ROI 0 of sim0 fails at once; the other three tasks take 3 s each (2 workers): the refresher
# (every 2 s here) sees the batch running with one failure, then ended
PIPELINE = [
    "%load_ext tramway_jupyter",
    "%%tramway stage work --per roi\n"
    "import time\n"
    "if roi_index == 0 and source.endswith('sim0.rpt.txt'):\n"
    "    raise ValueError('ROI 0 of sim0 has no translocations')\n"
    "time.sleep(3)\n",
]


def _events_polled(response) -> bool:
    return "/tramway/api/events" in response.url and response.ok


def test_notifications_on_first_failure_and_end(page: Page, lab, artifacts):
    lp = LabPage(page, lab)
    with page.expect_response(_events_polled, timeout=30_000):  # the notifier's first look
        lp.goto()
    expect(lp.sidebar).to_be_hidden()  # notifications do not need the panel

    nb = lab["root"] / "notified.ipynb"
    write_notebook(nb, PIPELINE)
    t0 = time.monotonic()
    run = subprocess.Popen(
        [sys.executable, "-m", "tramway_jupyter.cli", "run", str(nb), "--data", "data/*.rpt.txt",
         "--rois", "all", "--workers", "2", "--name", NAME],
        cwd=lab["root"], env=lab["env"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        failing = lp.toast(f'Batch "{NAME}": 1 of 4 tasks failed so far', "warning")
        expect(failing).to_be_visible(timeout=60_000)
        print(f"first-failure notification {time.monotonic() - t0:.1f}s after the run started")
        ended = lp.toast(f'Batch "{NAME}" ended: 1 of 4 tasks failed', "error")
        expect(ended).to_be_visible(timeout=60_000)
        print(f"end notification {time.monotonic() - t0:.1f}s after the run started")
        out = run.communicate(timeout=120)[0]
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 1 and "ROI 0 of sim0 has no translocations" in out, out
    page.wait_for_timeout(800)  # the toasts' slide-in
    page.screenshot(path=str(artifacts / "notifications.png"))

    # the action opens the sidebar on that batch, expanded (its failed task listed)
    ended.get_by_role("button", name="Show in sidebar").click()
    expect(lp.sidebar).to_be_visible()
    batch = lp.batch(NAME)
    expect(batch).to_have_class(re.compile(r"\bjp-mod-expanded\b"), timeout=20_000)
    expect(batch).to_have_attribute("data-state", "failed")
    expect(batch.locator(".jp-TramwayTask")).to_have_count(1, timeout=20_000)
    expect(batch.locator(".jp-TramwayTask-error")).to_contain_text("ROI 0 of sim0")
    page.screenshot(path=str(artifacts / "notification-show-in-sidebar.png"))

    # a reload resumes after the last event shown: no second notification of the same events
    with page.expect_response(_events_polled, timeout=30_000):
        page.reload()
    expect(lp.sidebar_tab).to_be_visible(timeout=60_000)
    with page.expect_response(_events_polled, timeout=30_000):
        pass  # one more poll, to be sure
    expect(lp.toast(f'Batch "{NAME}"')).to_have_count(0)


def test_the_setting_turns_notifications_off(page: Page, lab):
    """With ``notifications: false`` (Settings > TRamWAy jobs) the page never asks for events;
    the setting is validated against the extension's schema (an unknown key is refused)."""
    lp = LabPage(page, lab)
    url = f"{lab['base']}/lab/api/settings/tramway-jupyter:sidebar"
    auth = {"Authorization": f"token {lab['token']}"}
    bad = page.request.put(url, data={"raw": '{"notifications": "yes"}'}, headers=auth)
    assert bad.status == 400, bad.status  # not a boolean: the schema is there and checked
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/tramway/api/events" in r.url else None)
    r = page.request.put(url, data={"raw": '{"notifications": false}'}, headers=auth)
    assert r.ok, r.status
    try:
        lp.goto()
        page.wait_for_timeout(7000)  # longer than the notifier's 5 s interval
        assert polls == []
    finally:
        page.request.put(url, data={"raw": "{}"}, headers=auth)
