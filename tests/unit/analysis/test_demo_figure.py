"""The demo's figure (issue 14): panels clipped to their ROI on one scale, and the truth."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tramway_jupyter.analysis import (  # noqa: E402
    crop,
    infer,
    read_trajectories,
    tessellate,
    translocations,
    write_simulation,
)
from tramway_jupyter.analysis.fields import LinearGradient, field_from_description  # noqa: E402
from tramway_jupyter.analysis.rois import roi_file_for  # noqa: E402
from tramway_jupyter.demo_figure import demo_figure  # noqa: E402


def test_panels_are_clipped_to_their_roi_and_the_truth_is_shown(tmp_path):
    paths = write_simulation(tmp_path, n_files=1, n_rois=2, seed=1, n_translocations=4000,
                             diffusivity="gradient")
    source = str(paths[0])
    df = read_trajectories(source)
    tess = tessellate(translocations(df), method="hexagon", points_per_cell=200)
    found = {(source, r): infer(crop(df, roi_file_for(source), index=r), tess, mode="d",
                                min_count=10) for r in range(2)}
    fig = demo_figure(found)
    boxes = json.loads(paths[0].with_name("sim0.truth.json").read_text())["rois"]
    maps_axes = fig.axes[:2]
    for ax, (x0, y0, x1, y1) in zip(maps_axes, boxes, strict=True):
        assert ax.get_xlim() == (x0, x1) and ax.get_ylim() == (y0, y1)
        for c in ax.collections:  # drawn only inside the ROI (a clip box in data units)
            clip = ax.transData.inverted().transform_bbox(c.get_clip_box())
            assert np.allclose(clip.extents, (x0, y0, x1, y1))
    scatter = fig.axes[2]
    assert scatter.get_xlabel().startswith("true D") and scatter.get_legend_handles_labels()[1]
    true_x = scatter.collections[0].get_offsets()[:, 0]
    assert np.ptp(true_x) > 0.1  # a gradient: the truth varies from cell to cell
    plt.close(fig)


def test_field_from_description_round_trips():
    g = LinearGradient(0.2, 1.0, 0.0, 10.0, axis=1)
    back = field_from_description(g.describe())
    assert back == g and field_from_description({"name": "callable"}) is None
