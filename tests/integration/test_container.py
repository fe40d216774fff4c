"""The container code path with the Apptainer stand-in (bubblewrap), submitted over SSH to Slurm.

The stand-in really isolates: the worker sees only the image (its own Python at /opt/venv, which
does not exist on the host) plus the binds; this test asserts the exact command line that the
sbatch script runs and what the worker saw from inside.
"""

from __future__ import annotations

import os

import pytest

from tramway_jupyter.orchestration.submit import submit

from .helpers import data_files, light_pipeline

pytestmark = [pytest.mark.slurm, pytest.mark.ssh, pytest.mark.container]


def test_worker_runs_inside_the_container(infra, profile, store, tmp_path, scratch):
    image = infra["INFRA_CONTAINER_IMAGE"]
    py = infra["INFRA_CONTAINER_PYTHON"]
    bindir = os.path.dirname(infra["INFRA_CONTAINER_RUNTIME"])
    prof = profile.replace(container=image, python=py, container_runtime="apptainer",
                           remote_dependencies=f"export PATH={bindir}:$PATH")
    data = data_files(tmp_path / "data", ["a.txt"], n_rois=2)
    batch = submit(light_pipeline(), [str(p) for p in data], profile=prof, store=store,
                   batches_root=tmp_path / "batches")
    batch.wait(timeout=180)
    results = batch.results()
    assert results.ok, results
    rdir = f"{scratch}/{batch.batch_id}"
    expected = (
        f"export PATH={bindir}:$PATH && apptainer exec --bind {scratch} --pwd {rdir} {image}"
        f" {py} -m tramway_jupyter.worker {rdir}"
    )
    script = (batch.dir.root / "slurm" / "000-prepare-0.sh").read_text()
    assert script.rstrip("\n").splitlines()[-1] == expected + ' "$TJ_JOB"'
    expected += " 0"  # the job index, read by the script from slurm/000-prepare-0.jobs
    # the runtime was really invoked with exactly these arguments
    _, log, _ = batch.backend.conn.run(["cat", f"{infra['INFRA_REMOTE_HOME']}/.apptainer-shim.log"])
    tail = expected.split(" && ", 1)[1]
    assert any(line.split(" ", 1)[1] == tail for line in log.splitlines()), log[-2000:]
    # and the worker ran inside: its own Python, the image's marker, no host directories
    assert set(results.get("python").values()) == {py}
    assert set(results.get("in_container").values()) == {True}
    assert set(results.get("container_env").values()) == {image}
    assert set(results.get("host_work_visible").values()) == {False}
    assert len(results.get("roi_value")) == 2
    # and that Python does not exist outside the container
    rc, _, _ = batch.backend.conn.run(["test", "-e", py])
    assert rc != 0
