"""The live results view (issue 11): the table fills in and the maps redraw while tasks run."""

from __future__ import annotations

from tramway_jupyter import api
from tramway_jupyter.analysis import write_simulation
from tramway_jupyter.capture.pipeline import Pipeline
from tramway_jupyter.widgets import LiveResults, ProgressWidget

from .conftest import wait_for

CELLS = [
    ("parameters", "hold = None"),
    ("setup", "import os, time\nimport tramway_jupyter as tj\n"
              "from tramway_jupyter.analysis import crop, infer, read_trajectories, tessellate,"
              " translocations"),
    ("stage infer --per roi",
     "while hold and roi_index == 3 and os.path.exists(hold):\n"
     "    time.sleep(0.05)\n"
     "df = crop(read_trajectories(source), roi_file, index=roi_index)\n"
     "tj.record('maps', infer(df, tessellate(translocations(df), method='grid',"
     " points_per_cell=100), mode='d', min_count=5))"),
]

PNG = b"\x89PNG\r\n\x1a\n"


def test_live_view_fills_in_while_a_task_still_runs(tmp_path, store):
    paths = write_simulation(tmp_path / "data", n_files=1, n_rois=4, seed=2,
                             n_translocations=4000)
    hold = tmp_path / "hold"
    hold.write_text("")
    batch = api.run(Pipeline.from_cells(CELLS), [str(p) for p in paths], workers=2,
                    tasks_per_job=1, params={"hold": str(hold)}, store=store,
                    batches_root=tmp_path / "batches")
    progress = ProgressWidget(batch, start=False)
    live = progress.show_live()  # the progress widget links to it
    assert live in progress.children and progress.live_button.disabled
    live.every = 0.0  # redraw at every task (the default throttles to one redraw per 2 s)
    wait_for(lambda: len(live.rows) >= 3 and live.image.value, timeout=120)
    assert batch.is_active()  # ROI 3 is held: results came before the batch ended
    assert bytes(live.image.value).startswith(PNG)
    assert "ROI 0" in live.table.value and "running" in live.header.value
    hold.unlink()
    live.wait(120)
    assert len(live.rows) == 4 and len(live.maps) == 4
    assert "finished" in live.header.value and live.n_draws >= 2
    assert all(r.task_id in live.table.value for r in live.rows)


def test_live_view_of_failures_lists_them(tmp_path, store):
    paths = write_simulation(tmp_path / "data", n_files=1, n_rois=2, seed=2,
                             n_translocations=2000)
    bad = [("setup", "import tramway_jupyter as tj"),
           ("stage s --per roi", "raise ValueError(f'no tracks in ROI {roi_index}')")]
    batch = api.run(Pipeline.from_cells(bad), [str(p) for p in paths], workers=1, store=store,
                    batches_root=tmp_path / "batches")
    live = LiveResults(batch)
    live.wait(120)
    assert "2 task(s) ended (0 done, 2 not done)" in live.header.value
    assert "ValueError: no tracks in ROI 1" in live.table.value
    assert bytes(live.image.value) == b""  # nothing to draw
