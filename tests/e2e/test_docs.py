"""The README's notebook example, executed as written in a real kernel (papermill).

Its cells are taken from the README's "In a notebook" section, unchanged, and run on simulated
data laid out as the example says: ``data/cell1.rpt.txt`` with a TRamWAy ROI file beside it and
``data/cell2.rpt.txt`` without one (a whole-file task, ``roi_file`` and ``roi_index`` None).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]


def readme_notebook_cells() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## In a notebook", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_example_runs_as_written(tmp_path):
    import papermill

    from tramway_jupyter.analysis.simulate import write_simulation

    cells = readme_notebook_cells()
    assert len(cells) >= 6 and any("%%tramway stage" in c for c in cells)
    sim = write_simulation(tmp_path / "sim", n_files=2, n_rois=2, seed=5,
                           n_translocations=4000)
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(sim[0], data / "cell1.rpt.txt")
    shutil.copy(Path(str(sim[0]).replace(".rpt.txt", ".rpt-roi.txt")), data / "cell1.rpt-roi.txt")
    shutil.copy(sim[1], data / "cell2.rpt.txt")  # no ROI file: one whole-file task
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c.rstrip("\n")) for c in cells]
    src, out = tmp_path / "readme.ipynb", tmp_path / "readme-out.ipynb"
    nbformat.write(nb, str(src))
    papermill.execute_notebook(str(src), str(out), cwd=str(tmp_path), kernel_name="python3",
                               progress_bar=False)
    done = nbformat.read(str(out), as_version=4)
    outputs = [o for c in done.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    from tramway_jupyter.jobs.store import Store  # the kernel shares this test's data home

    batch = max(Store().list_batches(), key=lambda b: b.created)
    # cell1: tessellate + 2 ROIs; cell2, without ROI file: tessellate + the whole file
    assert batch.counts == {"done": 5}, batch.counts
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1, f"the maps figure is shown {len(images)} times, not once"
