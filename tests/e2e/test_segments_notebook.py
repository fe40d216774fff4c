"""notebooks/segments_and_sweeps.ipynb runs headless, as a user runs it (issue 10)."""

from __future__ import annotations

from pathlib import Path

import nbformat


def test_segments_and_sweeps_notebook_runs_headless(tmp_path):
    import papermill

    repo = Path(__file__).resolve().parents[2]
    out = tmp_path / "segments-out.ipynb"
    papermill.execute_notebook(str(repo / "notebooks" / "segments_and_sweeps.ipynb"), str(out),
                               cwd=str(tmp_path), kernel_name="python3", progress_bar=False)
    nb = nbformat.read(str(out), as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(str(o.get("text", o.get("data", {}).get("text/plain", ""))) for o in outputs)
    assert "[done] 36 done" in text  # 4 tessellations + 2 files x 2 ROIs x 4 windows x 2 sigmas
    assert "(16, [0.04])" in text  # a new sweep value runs its 16 tasks only
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the curve over time and the map series, once each
    assert (tmp_path / "roi0.gif").stat().st_size > 0
