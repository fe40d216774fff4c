"""The quickstart pipeline, embedded so that ``tramway-jupyter demo`` runs without the notebooks/.

``notebooks/quickstart.ipynb`` holds the same cells as ``%%tramway`` cells (a test checks
they agree): simulate 2 files x 4 ROIs, tessellate per file, infer per ROI, plot the maps.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from .capture.pipeline import Pipeline

PARAMETERS = '''\
mode = "d"                # TRamWAy inference mode: d, dd, df or dv
sigma = 0.03              # localization precision (µm)
method = "hexagon"        # tessellation: hexagon, grid or kmeans
points_per_cell = 200     # target translocations per cell (sets the cell size)
min_count = 20            # cells with fewer translocations are masked'''

SETUP = '''\
import os
import numpy as np
import tramway_jupyter as tj
from tramway_jupyter.analysis import (border_cells, crop, infer, load_tessellation,
                                      read_trajectories, tessellate, translocations)'''

TESSELLATE = '''\
# one tessellation per data file, shared by its ROIs (TRamWAy's tessellate-then-infer)
df = read_trajectories(source)
tess = tessellate(translocations(df), method=method, points_per_cell=points_per_cell)
tess.save(os.path.join(output_dir, "tessellation.npz"))
tj.record("n_cells", len(tess.centers))
print(f"{os.path.basename(source)}: {len(df)} points, {len(tess.centers)} cells")'''

INFER = '''\
tess = load_tessellation(os.path.join(output_dir, "tessellation.npz"))
whole = read_trajectories(source)
# keep_exits: the steps that start in the ROI and end outside it count (no bias at its border)
df = crop(whole, roi_file, index=roi_index, keep_exits=True) if roi_index is not None else whole
maps = infer(df, tess, mode=mode, sigma=sigma, min_count=min_count)
tj.record("maps", maps)
# cells along the field of view's walls read low (steps cut by the wall): leave them out
interior = ~border_cells(maps, whole)
tj.record("median_diffusivity", float(np.nanmedian(maps.variables["diffusivity"][interior])))
maps.plot("diffusivity")'''

CELLS: list[tuple[str, str]] = [
    ("parameters", PARAMETERS),
    ("setup", SETUP),
    ("stage tessellate --per file", TESSELLATE),
    ("stage infer --per roi", INFER),
]


def demo_pipeline() -> Pipeline:
    return Pipeline.from_cells(CELLS)


def run_demo(out_dir: str | os.PathLike[str], *, files: int = 2, rois: int = 4, seed: int = 0,
             workers: int | None = None, profile: str = "local", echo: Any = print) -> int:
    """Simulate a data set, run the quickstart pipeline on it, gather, print and plot."""
    import matplotlib

    matplotlib.use("Agg")
    from .analysis import write_simulation
    from .orchestration.submit import submit

    out = Path(out_dir).resolve()
    data_dir = out / "data"
    t0 = time.perf_counter()
    paths = write_simulation(data_dir, n_files=files, n_rois=rois, seed=seed)
    echo(f"simulated {len(paths)} file(s) x {rois} ROI(s) in {data_dir} "
         f"({time.perf_counter() - t0:.1f} s)")
    batch = submit(demo_pipeline(), [str(p) for p in paths], profile=profile, workers=workers,
                   batches_root=out / "batches", name="demo: tessellate + infer")
    echo(f"batch {batch.batch_id} submitted ({batch.info().n_tasks} tasks, profile {profile})")
    from .cli_progress import wait_with_progress

    wait_with_progress(batch)
    results = batch.results()
    echo(repr(results))
    results.to_json(out / "results.json")
    ok = results.ok
    if "maps" in results.names():
        import matplotlib.pyplot as plt

        from .demo_figure import demo_figure

        fig = demo_figure(results.get("maps"))
        fig.savefig(out / "maps_diffusivity.png", dpi=110)
        plt.close(fig)
        echo(f"maps and recovered-vs-true diffusivity plotted: {out / 'maps_diffusivity.png'}")
        echo(_truth_summary(results, paths))
    for f in results.failures():
        echo(f"FAILED {f}")
    echo(f"done in {time.perf_counter() - t0:.1f} s; batch directory {batch.dir.root}")
    return 0 if ok else 1


def _truth_summary(results: Any, paths: list[Path]) -> str:
    lines = ["recovered median diffusivity per ROI (cells away from the box's reflecting walls) "
             "vs the simulated truth:"]
    for (source, roi), value in sorted(results.get("median_diffusivity").items(),
                                       key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        truth_file = Path(source).with_name(Path(source).name.replace(".rpt.txt", ".truth.json"))
        truth = ""
        if truth_file.exists():
            desc = json.loads(truth_file.read_text())
            d = desc.get("diffusivity", {})
            if isinstance(d, dict) and "value" in d:
                truth = f" (truth {d['value']:.3f})"
        lines.append(f"  {Path(source).name} ROI {roi}: D = {value:.3f} µm²/s{truth}")
    return "\n".join(lines)
