"""The demo's figure: each ROI's recovered map, clipped to its ROI on one scale, beside the
recovered-vs-true diffusivity of every cell (the simulation's truth, from ``sim*.truth.json``),
so that one look says whether the numbers can be trusted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .analysis.borders import border_cells
from .analysis.fields import field_from_description
from .analysis.io import read_trajectories
from .analysis.plot import map_values, plot_map


def _truth(source: str) -> dict[str, Any]:
    path = Path(source).with_name(Path(source).name.replace(".rpt.txt", ".truth.json"))
    return json.loads(path.read_text()) if path.exists() else {}


def demo_figure(maps_by_task: dict[tuple[str, int | None], Any]) -> Any:
    """The figure (matplotlib); ``maps_by_task``: ``{(source, roi): Maps}``, as
    ``results.get("maps")`` gives them. One row per file: its ROIs, then the scatter."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    sources = sorted({s for s, _ in maps_by_task})
    rois = sorted({r for _, r in maps_by_task}, key=lambda r: -1 if r is None else r)
    values = np.concatenate([map_values(m, "diffusivity") for m in maps_by_task.values()])
    finite = values[np.isfinite(values)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    ncols = len(rois) + 1
    fig, axes = plt.subplots(len(sources), ncols, figsize=(2.9 * ncols + 0.8, 2.9 * len(sources)),
                             squeeze=False, layout="constrained")
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for i, source in enumerate(sources):
        truth = _truth(source)
        boxes = truth.get("rois") or []
        true_d = field_from_description(truth.get("diffusivity"))
        whole = read_trajectories(source)  # the field of view, for the cells along its walls
        recovered, expected, walls = [], [], []
        for j, roi in enumerate(rois):
            ax = axes[i, j]
            maps = maps_by_task.get((source, roi))
            if maps is None:
                ax.set_visible(False)
                continue
            plot_map(maps, "diffusivity", ax=ax, vmin=vmin, vmax=vmax, colorbar=False,
                     title=f"{Path(source).name.split('.')[0]}"
                           + ("" if roi is None else f" ROI {roi}"))
            if roi is not None and roi < len(boxes):
                x0, y0, x1, y1 = boxes[roi]
                clip = Rectangle((x0, y0), x1 - x0, y1 - y0, transform=ax.transData)
                for artist in (*ax.collections, *ax.patches):
                    artist.set_clip_path(clip)
                ax.set_xlim(x0, x1)
                ax.set_ylim(y0, y1)
                ax.set_aspect("equal")
            if true_d is not None:
                d = map_values(maps, "diffusivity")
                ok = np.isfinite(d)
                recovered.append(d[ok])
                expected.append(true_d(maps.centers[ok, 0], maps.centers[ok, 1]))
                walls.append(border_cells(maps, whole)[ok])
        ax = axes[i, -1]
        if recovered:
            pairs.append((np.concatenate(expected), np.concatenate(recovered)))
            wall = np.concatenate(walls)
            ax.scatter(pairs[-1][0][~wall], pairs[-1][1][~wall], s=8, alpha=0.6,
                       color="tab:blue", label="cells")
            ax.scatter(pairs[-1][0][wall], pairs[-1][1][wall], s=10, facecolors="none",
                       edgecolors="tab:gray", label="cells at the walls (steps cut)")
            ax.set_title("recovered vs true D")
            ax.set_xlabel(f"true D (µm²/s), {truth['diffusivity'].get('name')}")
            ax.set_ylabel("recovered D (µm²/s)")
        else:
            ax.set_title("no ground truth for this file")
    if pairs:  # one scale for every scatter, with the identity line
        lo = min(min(float(t.min()), float(r.min())) for t, r in pairs)
        hi = max(max(float(t.max()), float(r.max())) for t, r in pairs)
        pad = 0.1 * (hi - lo or hi or 1.0)
        for i in range(len(sources)):
            ax = axes[i, -1]
            ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=1, label="identity")
            ax.set_xlim(lo - pad, hi + pad)
            ax.set_ylim(lo - pad, hi + pad)
            ax.set_aspect("equal")
        axes[0, -1].legend(loc="upper left", fontsize="small")
    sm = plt.cm.ScalarMappable(norm=plt.Normalize(vmin, vmax if vmax > vmin else vmin + 1e-12),
                               cmap="viridis")
    fig.colorbar(sm, ax=list(axes[:, :-1].ravel()), label="D (µm²/s)", shrink=0.8)
    return fig
