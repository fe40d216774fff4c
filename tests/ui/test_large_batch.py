"""Browser test: an expanded batch of thousands of tasks shows its counts, keeps a bounded
number of task rows in the DOM (a windowed list fetched page by page), scrolls to its last
task and filters by state; every poll of it is a small request."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Page, expect

from tramway_jupyter.jobs.batchdir import BatchDir
from tramway_jupyter.jobs.store import Store

from .labpage import LabPage

N = 3000
CYCLE = ["done"] * 8 + ["failed", "cancelled"]


def state_of(i: int) -> str:
    return "done" if i < N // 5 else CYCLE[i % len(CYCLE)]


def task_id(i: int) -> str:
    stage = "tessellate" if i < N // 5 else "infer"
    return f"{stage}-f{i // 100:03d}-r{i % 100:02d}"


def make_large_batch(lab: dict, name: str) -> str:
    """A finished batch of N tasks (two stages) written straight into the lab's store."""
    store = Store(lab["env"]["TRAMWAY_JUPYTER_STORE"])
    batch_id = f"large-{uuid.uuid4().hex[:8]}"
    bd = BatchDir(Path(lab["env"]["TRAMWAY_JUPYTER_BATCHES"]) / batch_id)
    bd.create()
    per_job = 50
    tasks = [
        {
            "task_id": task_id(i),
            "job_index": i // per_job,
            "stage": "tessellate" if i < N // 5 else "infer",
            "source": f"data/file{i // 100:03d}.rpt.txt",
            "roi_index": i % 100,
            "state": state_of(i),
            "duration": 0.5 + (i % 7),
        }
        for i in range(N)
    ]
    jobs = [
        {"job_index": j, "stage": tasks[j * per_job]["stage"], "n_tasks": per_job, "state": "done"}
        for j in range(N // per_job)
    ]
    store.add_batch(
        batch_id,
        name=name,
        batch_dir=str(bd.root),
        backend="local",
        profile="local",
        jobs=jobs,
        tasks=tasks,
        created=time.time(),
    )
    store.update_tasks(
        batch_id,
        [
            {"task_id": t["task_id"], "error": f"ValueError: ROI {t['roi_index']} is empty"}
            for t in tasks
            if t["state"] == "failed"
        ],
    )
    return batch_id


def test_large_batch_is_windowed_paged_and_filterable(page: Page, lab, artifacts):
    name = f"large-run-{uuid.uuid4().hex[:6]}"
    batch_id = make_large_batch(lab, name)
    n_failed = sum(state_of(i) == "failed" for i in range(N))
    n_cancelled = sum(state_of(i) == "cancelled" for i in range(N))

    polls: list[tuple[dict, int]] = []

    def on_response(response) -> None:
        url = urlparse(response.url)
        if url.path.endswith(f"/tramway/api/batches/{batch_id}"):
            size = int(response.headers.get("content-length", "-1"))
            polls.append((parse_qs(url.query), size))

    page.on("response", on_response)
    lp = LabPage(page, lab)
    lp.goto()
    sidebar = lp.open_sidebar()
    batch = lp.batch(name)
    expect(batch).to_have_attribute("data-state", "failed", timeout=20_000)
    batch.locator(".jp-TramwayBatch-header").click()

    # a finished batch with failures opens on its failed tasks
    tasks = batch.locator(".jp-TramwayTask")
    count_text = batch.locator(".jp-TramwayTasks-count")
    expect(count_text).to_contain_text(f"{n_failed:,} tasks")
    expect(tasks.first).to_have_attribute("data-state", "failed")

    # per-state counts and the stage x state table
    chips = batch.locator(".jp-TramwayCount")
    expect(chips.locator(".jp-TramwayCount-label")).to_have_text(["done", "failed", "cancelled"])
    expect(batch.locator('.jp-TramwayCount[data-state="failed"] .jp-TramwayCount-n')).to_have_text(
        f"{n_failed:,}"
    )
    stages = batch.locator(".jp-TramwayStages tbody tr")
    expect(stages).to_have_count(2)
    expect(stages.first).to_have_attribute("data-stage", "tessellate")

    # clicking the active state count shows every task; only a window of rows is in the DOM
    batch.locator('.jp-TramwayCount[data-state="failed"]').click()
    expect(count_text).to_contain_text(f"{N:,} tasks")
    expect(tasks.first).to_have_attribute("data-task-id", task_id(0))
    n_rows = tasks.count()
    assert 5 <= n_rows <= 80, n_rows
    sidebar.screenshot(path=str(artifacts / "sidebar-large-batch.png"))

    # scroll to the end: the last tasks are fetched and shown, the DOM stays bounded
    viewport = batch.locator(".jp-TramwayTasks-viewport")
    viewport.evaluate("e => { e.scrollTop = e.scrollHeight; }")
    last = batch.locator(f'.jp-TramwayTask[data-task-id="{task_id(N - 1)}"]')
    expect(last).to_be_visible(timeout=10_000)
    assert tasks.count() <= 80
    expect(batch.locator(f'.jp-TramwayTask[data-task-id="{task_id(0)}"]')).to_have_count(0)
    # and the middle
    viewport.evaluate("e => { e.scrollTop = e.scrollHeight / 2; }")
    expect(batch.locator(".jp-TramwayTask", has_text=re.compile(r"file01[45]"))).not_to_have_count(
        0, timeout=10_000
    )
    assert tasks.count() <= 80

    # filter by a state: every row shown is cancelled, and the total says how many
    batch.locator('.jp-TramwayCount[data-state="cancelled"]').click()
    expect(count_text).to_contain_text(f"{n_cancelled:,} tasks")
    expect(tasks.first).to_have_attribute("data-state", "cancelled")
    states = set(tasks.evaluate_all("els => els.map(e => e.dataset.state)"))
    assert states == {"cancelled"}, states
    expect(batch.locator(".jp-TramwayFilter select")).to_have_value("cancelled")
    # a stage x state cell filters by both
    batch.locator(
        '.jp-TramwayStages tr[data-stage="tessellate"] td[data-state="done"] button'
    ).click()
    expect(count_text).to_contain_text(f"{N // 5:,} tasks")
    expect(tasks.first).to_have_attribute("data-state", "done")
    sidebar.screenshot(path=str(artifacts / "sidebar-large-batch-filtered.png"))

    # every request of this batch was one small page (counts + rows in view), no job list
    page.wait_for_timeout(500)
    assert polls, "no request of the batch was seen"
    for query, size in polls:
        assert int(query["limit"][0]) <= 200 and query["jobs_limit"] == ["0"], query
        assert size < 100_000, (query, size)
