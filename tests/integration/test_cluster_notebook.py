"""notebooks/cluster.ipynb, executed headless against the real test cluster, as a user would."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slurm
@pytest.mark.ssh
def test_cluster_notebook_runs_against_the_test_cluster(infra, tmp_path, monkeypatch):
    import papermill

    monkeypatch.setenv("INFRA_DIR", infra.get("INFRA_DIR") or str(REPO / ".infra"))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "cluster-out.ipynb"
    papermill.execute_notebook(str(REPO / "notebooks" / "cluster.ipynb"), str(out),
                               cwd=str(tmp_path), kernel_name="python3", progress_bar=False,
                               execution_timeout=600)
    nb = nbformat.read(str(out), as_version=4)
    text = "".join(str(o.get("text", o.get("data", {}).get("text/plain", "")))
                   for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "10 done" in text, text[-3000:]
    assert "ok" in text.lower()  # the profile check
