"""A dry run on the test cluster: sbatch --test-only gives the expected start; nothing created."""

from __future__ import annotations

import shlex

import pytest

from tramway_jupyter.backends import ssh
from tramway_jupyter.orchestration.estimate import DryRun
from tramway_jupyter.orchestration.submit import submit

from .conftest import make_profile
from .helpers import data_files, light_pipeline

pytestmark = [pytest.mark.slurm, pytest.mark.ssh]


def test_slurm_dry_run_shows_the_test_only_start_time(infra, scratch, store, tmp_path):
    profile = make_profile(infra, scratch, walltime=None, mem=None, max_running=2)
    data = data_files(tmp_path / "data", ["a.txt", "b.txt", "c.txt"], n_rois=2)
    dry = submit(light_pipeline(), [str(p) for p in data], profile=profile, store=store,
                 batches_root=tmp_path / "batches", dry_run=True, pilot=1)
    assert isinstance(dry, DryRun)
    assert [(a.stage, a.size) for a in dry.arrays] == [("prepare", 3), ("measure", 6)]
    assert dry.arrays[1].after == (dry.arrays[0].name,)
    assert dry.parallelism == 2 and "max_running" in dry.parallelism_source
    assert dry.start_time, dry.text  # from sbatch --test-only on the cluster
    assert f"Slurm expects it to start at {dry.start_time}" in dry.text
    assert dry.suggested_walltime and dry.suggested_mem  # the profile sets neither
    assert f"--time {dry.suggested_walltime}" in dry.text
    # nothing created: no batch directory, no store row, no remote directory, no Slurm job
    assert not (tmp_path / "batches").exists()
    assert store.list_batches() == []
    conn = ssh.get_connection(profile)
    rc, _, _ = conn.run(f"test -e {shlex.quote(scratch)}")
    assert rc != 0
    rc, out, _ = conn.run("squeue -h -n tj-dry-run -o %i")
    assert rc == 0 and out.strip() == ""


def test_slurm_run_with_a_pilot_applies_the_suggestions(infra, profile, store, tmp_path):
    """A real run with --pilot: the walltime and memory the profile leaves unset come from the
    pilot (said in the batch's meta), and the batch completes with them."""
    prof = profile.replace(walltime=None, mem=None)
    data = data_files(tmp_path / "data", ["a.txt", "b.txt"])
    batch = submit(light_pipeline(per_roi=False), [str(p) for p in data], profile=prof,
                   store=store, batches_root=tmp_path / "batches", pilot=1)
    suggested = batch.info().meta["suggested"]
    assert set(suggested) == {"walltime", "mem"}
    record = batch.info().meta["profile"]
    assert record["walltime"] == suggested["walltime"] and record["mem"] == suggested["mem"]
    batch.wait(timeout=180)
    assert batch.counts() == {"done": 2}
