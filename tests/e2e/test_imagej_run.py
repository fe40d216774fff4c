"""A run over a data file with an ImageJ RoiSet beside it: one task per named ROI, cropped by
its shape, the names in the results (issue 12)."""

from __future__ import annotations

from roifile import ImagejRoi, roiwrite

from tramway_jupyter import api
from tramway_jupyter.capture.pipeline import Pipeline

CELLS = [
    ("parameters", "pixel_size = 0.5"),
    ("setup", "import tramway_jupyter as tj\n"
              "from tramway_jupyter.analysis import crop, read_trajectories"),
    ("stage count --per roi",
     "df = crop(read_trajectories(source), roi_file, index=roi_index, pixel_size=pixel_size)\n"
     "tj.record('n', len(df))"),
]


def test_run_with_an_imagej_roiset(tmp_path, store):
    data = tmp_path / "cells.rpt.txt"
    data.write_text("".join(f"{i} {x} {y} 0.0\n" for i, (x, y) in enumerate(
        [(1, 1), (2, 2), (6, 6), (7, 7), (8, 8)])))
    rois = tmp_path / "cells.rpt_RoiSet.zip"
    low = ImagejRoi.frompoints([[0, 0], [6, 0], [6, 6], [0, 6]])  # pixels: 0-3 µm
    low.name = "lower-left"
    high = ImagejRoi.frompoints([[10, 10], [20, 10], [20, 20], [10, 20]])  # 5-10 µm
    high.name = "upper-right"
    roiwrite(rois, [low, high], mode="w")
    batch = api.run(Pipeline.from_cells(CELLS), str(data), rois="_RoiSet.zip", store=store,
                    batches_root=tmp_path / "batches", workers=1).wait(120)
    res = batch.results()
    assert res.ok, res.table()
    table = res.table().set_index("roi_name")
    assert table.loc["lower-left", "roi_index"] == 0 and table.loc["upper-right", "roi_index"] == 1
    counts = {k[1]: v for k, v in res.get("n").items()}
    assert counts == {0: 2, 1: 3}
