"""Browser test: `%tramway live` shows a batch's results as they come (issue 11)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .labpage import LabPage

CELLS = [
    "%load_ext tramway_jupyter",
    "%%tramway parameters\ndelay = 0.5",
    "%%tramway setup\nimport time\nimport tramway_jupyter as tj\n"
    "from tramway_jupyter.analysis import crop, infer, read_trajectories, tessellate,"
    " translocations",
    "%%tramway stage infer --per roi\ntime.sleep(delay)\n"
    "df = crop(read_trajectories(source), roi_file, index=roi_index)\n"
    "tj.record('maps', infer(df, tessellate(translocations(df), method='grid',"
    " points_per_cell=100), mode='d', min_count=5))",
    '%tramway run --data "data/*.rpt.txt" --rois all --workers 2 --name live-run',
    "%tramway live",
]


def test_live_results_fill_in_and_draw_the_maps(page: Page, lab, artifacts):
    lp = LabPage(page, lab)
    lp.open_notebook("live.ipynb", CELLS)
    lp.run_cells(len(CELLS))
    live = lp.cell_output(5).locator(".tramway-live-results")
    expect(live).to_be_visible(timeout=60_000)
    expect(live).to_contain_text(re.compile(r"\d task\(s\) ended"), timeout=60_000)
    expect(live).to_contain_text("batch finished", timeout=90_000)
    expect(live.locator(".tramway-live-table tbody tr")).to_have_count(4)
    image = live.locator("img")
    expect(image).to_be_visible(timeout=30_000)
    box = image.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 100
    live.screenshot(path=str(artifacts / "live-results.png"))
