"""Automatic requeue decisions against the real single-node Slurm (as hpcuser over SSH).

A real TIMEOUT is not requeued and names the profile key to raise. (NODE_FAIL / PREEMPTED
cannot be produced here without taking the shared test node down: the resubmission path is
covered by tests/unit/backends/test_slurm_requeue.py with parsed Slurm text.)
"""

from __future__ import annotations

import pytest

from tramway_jupyter.orchestration.submit import submit

from .helpers import data_files, light_pipeline

pytestmark = [pytest.mark.slurm, pytest.mark.ssh]


@pytest.mark.slow
def test_real_timeout_is_not_requeued_and_names_walltime(infra, profile, store, tmp_path):
    data = data_files(tmp_path / "data", ["slow.txt"])
    prof = profile.replace(walltime="1", max_requeue=3)  # one minute, enforced every 30 s
    batch = submit(light_pipeline(per_roi=False), [str(p) for p in data], profile=prof,
                   store=store, batches_root=tmp_path / "batches", params={"sleep": 600.0})
    batch.wait(timeout=200)
    (task,) = batch.tasks()
    assert task.state == "failed" and task.attempt == 1
    assert "TIMEOUT" in task.error and "raise the profile's walltime" in task.error
    assert len(batch.jobs()) == 1  # no resubmission
    assert batch.task_status(task.task_id)["requeued"] == []
