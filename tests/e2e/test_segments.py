"""Time segments end to end (issue 10): a per-ROI tessellation feeding a per-segment `d` stage,
windows' boundaries exact, results keyed and plotted by window."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tramway_jupyter import api  # noqa: E402
from tramway_jupyter.analysis import (  # noqa: E402
    crop,
    crop_time,
    read_trajectories,
    roi_file_for,
    time_span,
    write_simulation,
)
from tramway_jupyter.capture.pipeline import Pipeline  # noqa: E402
from tramway_jupyter.exceptions import PlanError  # noqa: E402

SETUP = ("import os\nimport numpy as np\nimport tramway_jupyter as tj\n"
         "from tramway_jupyter.analysis import (crop, crop_time, infer, load_tessellation,\n"
         "    read_trajectories, tessellate, translocations)")
CELLS = [
    ("parameters", "sigma = 0.03\nsegments = None"),
    ("setup", SETUP),
    ("stage tess --per roi",  # one tessellation per ROI, reused by every window
     "df = crop(read_trajectories(source), roi_file, index=roi_index)\n"
     "tess = tessellate(translocations(df), method='grid', points_per_cell=150)\n"
     "tess.save(os.path.join(output_dir, f'tess-{roi_index}.npz'))"),
    ("stage d --per segment",
     "df = crop_time(crop(read_trajectories(source), roi_file, index=roi_index), t_start, t_end)\n"
     "tj.record('n', len(df))\n"
     "tj.record('t_range', (float(df.t.min()), float(df.t.max())))\n"
     "tess = load_tessellation(os.path.join(output_dir, f'tess-{roi_index}.npz'))\n"
     "maps = infer(df, tess, mode='d', sigma=sigma, min_count=5)\n"
     "tj.record('maps', maps)\n"
     "tj.record('median_d', float(np.nanmedian(maps.variables['diffusivity'])))"),
]


def test_per_roi_tessellation_feeds_per_segment_inference(tmp_path, store):
    paths = write_simulation(tmp_path / "data", n_files=2, n_rois=3, seed=4,
                             n_translocations=6000)
    t_min, t_max = time_span(read_trajectories(paths[0]))
    duration = (t_max - t_min) / 3.9  # 4 windows, the last one 90 % covered
    batch = api.run(Pipeline.from_cells(CELLS), [str(p) for p in paths], segments=duration,
                    store=store, batches_root=tmp_path / "batches", workers=2).wait(300)
    res = batch.results()
    assert res.counts == {"done": 2 * 3 + 2 * 3 * 4}, res.table()
    rows = [r for r in res if r.stage == "d"]
    assert len(rows) == 24 and {r.segment_index for r in rows} == {0, 1, 2, 3}
    for r in rows:  # every d task waited for its ROI's tessellation only
        unit = r.task_id[len("d-"):].rsplit("-s", 1)[0]  # f000-sim0-r001
        assert batch.dir.read_plan().task(r.task_id).depends_on == (f"tess-{unit}",)
    t_ranges = res.get("t_range")
    counts = res.get("n")
    for key, (lo, hi) in t_ranges.items():
        row = next(r for r in rows if (r.source, r.roi_index, r.segment_index) == key[:3])
        assert row.t_start <= lo and hi < row.t_end
        df = crop(read_trajectories(key.source), roi_file_for(key.source), index=key.roi_index)
        assert counts[key] == len(crop_time(df, row.t_start, row.t_end))
    starts = sorted((r.t_start, r.t_end) for r in rows
                    if r.source == str(paths[0]) and r.roi_index == 0)
    assert len(starts) == 4 and all(a[1] == b[0] for a, b in zip(starts[:-1], starts[1:], strict=True))
    d = np.array(list(res.get("median_d").values()))
    assert np.all((d > 0.3) & (d < 0.8)), d  # the simulated truth: 0.5 µm²/s
    ax = res.plot_over_time("median_d")
    assert len(ax.get_lines()) == 6  # one line per ROI
    grid = res.plot_map_series("maps", "diffusivity")
    assert len(grid.axes) == 4
    gif = res.animate_maps(tmp_path / "roi0.gif")
    assert gif.stat().st_size > 0
    doc = res.to_json()
    seg = [t for t in doc["tasks"] if t["stage"] == "d"]
    assert all(t["t_start"] is not None and t["sweep"] == {} for t in seg)


def _write(path, rows):
    path.write_text("".join(f"{n} {x} {y} {t}\n" for n, x, y, t in rows))


def test_window_boundaries_are_exact(tmp_path, store):
    """A localization at a window's t_end is in the next window only; overlapping windows
    both hold it."""
    data = tmp_path / "a.rpt.txt"
    rows = [(1, 0.1 * i, 0.0, round(0.8 + 0.05 * i, 2)) for i in range(6)]  # 0.8 ... 1.05
    rows += [(2, 0.1 * i, 1.0, round(0.1 * i, 1)) for i in range(40)]  # 0.0 ... 3.9
    _write(data, rows)
    cells = [("setup", "import tramway_jupyter as tj\n"
                       "from tramway_jupyter.analysis import crop_time, read_trajectories"),
             ("stage w --per segment",
              "df = crop_time(read_trajectories(source), t_start, t_end)\n"
              "tj.record('points', sorted((int(n), round(float(t), 2))"
              " for n, t in zip(df.n, df.t)))")]
    kw = dict(store=store, batches_root=tmp_path / "batches", rois="none")
    res = api.run(Pipeline.from_cells(cells), str(data), segments="1", **kw).wait(120).results()
    windows = {(r.t_start, r.t_end): r for r in res}
    assert sorted(windows) == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0)]
    points = {k.segment_index: v for k, v in res.get("points").items()}
    holding = [i for i, pts in points.items() if (1, 1.0) in pts]
    assert holding == [1]  # t = 1.0 is window 1's start, not window 0's end
    res2 = api.run(Pipeline.from_cells(cells), str(data), segments="1:0.5", **kw).wait(120)
    got = {k.segment_index: v for k, v in res2.results().get("points").items()}
    wins = {r.segment_index: (r.t_start, r.t_end) for r in res2.results()}
    holding = sorted(wins[i] for i, pts in got.items() if (1, 1.0) in pts)
    assert holding == [(0.5, 1.5), (1.0, 2.0)]


def test_segment_options_are_checked(tmp_path, store):
    data = tmp_path / "a.rpt.txt"
    _write(data, [(1, 0.0, 0.0, 0.0), (1, 0.1, 0.0, 0.05)])
    kw = dict(store=store, batches_root=tmp_path / "batches", rois="none")
    per_seg = Pipeline.from_cells([("stage w --per segment", "x = 1")])
    with pytest.raises(PlanError, match="no time windows are given"):
        api.run(per_seg, str(data), **kw)
    with pytest.raises(PlanError, match="no stage is --per segment"):
        api.run(Pipeline.from_cells([("stage w", "x = 1")]), str(data), segments="1", **kw)
    with pytest.raises(PlanError, match="DURATION must be a positive"):
        api.run(per_seg, str(data), segments="-1", **kw)
