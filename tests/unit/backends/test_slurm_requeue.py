"""Jobs lost to the cluster (PREEMPTED, NODE_FAIL) are resubmitted up to ``max_requeue``; TIMEOUT
and OUT_OF_MEMORY are not, and say which profile key to raise.

Real parsing of Slurm's text, the real SlurmBackend, Batch and store; Slurm's commands are the
fakes of the other backend unit tests (the real cluster: tests/integration).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tramway_jupyter.backends import slurm_query as sq
from tramway_jupyter.backends.profiles import Profile
from tramway_jupyter.backends.slurm import SlurmBackend
from tramway_jupyter.exceptions import ProfileError
from tramway_jupyter.orchestration.batch import Batch

from .fakes import FakeSlurm, scontrol_line
from .test_slurm_backend import make_batch

GOLDEN = Path(__file__).resolve().parents[2] / "golden"


@pytest.fixture
def fake(tmp_path):
    return FakeSlurm(tmp_path / "fake")


def test_decisions_from_parsed_sacct_and_scontrol_text():
    recs = {r.key: r for r in sq.parse_sacct((GOLDEN / "sacct.txt").read_text())}
    recs.update({r.key: r for r in sq.parse_sacct(
        "300_0|NODE_FAIL|0:0|None\n300_1|PREEMPTED|0:0|None\n")})
    recs.update({r.key: r for r in sq.parse_scontrol_jobs(
        scontrol_line("301", 0, "NODE_FAIL", "0:0", "NodeDown"))})
    assert recs["300_0"].requeueable and recs["300_1"].requeueable and recs["301_0"].requeueable
    assert sq.requeue_decision(recs["300_0"].state, 0, 1) == "requeued after NODE_FAIL (1/1)"
    assert sq.requeue_decision(recs["300_1"].state, 1, 3) == "requeued after PREEMPTED (2/3)"
    assert sq.requeue_decision(recs["301_0"].state, 1, 1) is None  # max_requeue reached
    assert sq.requeue_decision("NODE_FAIL", 0, 0) is None  # max_requeue = 0: never
    for key, limit in (("152_1", "walltime"), ("155", "mem")):  # TIMEOUT, OUT_OF_MEMORY
        rec = recs[key]
        assert not rec.requeueable and sq.requeue_decision(rec.state, 0, 5) is None
        state, reason = rec.verdict()
        assert state.value == "failed"
        assert f"not retried automatically: raise the profile's {limit}" in reason
    assert not recs["152_2"].requeueable  # FAILED: the job's own fault


def test_max_requeue_is_a_profile_key():
    assert Profile(name="p", backend="slurm").max_requeue == 1
    assert Profile.from_dict("p", {"backend": "slurm", "max_requeue": 3}).max_requeue == 3
    with pytest.raises(ProfileError, match="max_requeue must be >= 0"):
        Profile(name="p", backend="slurm", max_requeue=-1)


def _batch(tmp_path, fake, **profile):
    ctx = make_batch(tmp_path, n_files=1, n_rois=1)
    prof = Profile(name="p", backend="slurm", scratch=str(tmp_path / "remote"),
                   python="/env/bin/python", walltime="00:05:00", **profile)
    ctx.store.update_batch_meta(ctx.batch_id, profile=prof.to_dict(), workers=1)
    batch = Batch(ctx.batch_id, ctx.store)
    batch._backend = SlurmBackend(batch.profile, fake.conn)
    batch.backend.submit(batch.ctx, [0, 1])  # arrays 100 (tess-0) and 101 (infer-0-0)
    return batch


def test_node_fail_is_requeued_once_then_reported(tmp_path, fake):
    batch = _batch(tmp_path, fake)
    assert len(fake.sbatch_calls()) == 2
    fake.set_job("100", [scontrol_line("100", 0, "NODE_FAIL", "0:0", "NodeDown")])
    fake.set_job("101", ["JobId=101 ArrayJobId=101 ArrayTaskId=0 JobState=PENDING"
                         " Reason=Dependency ExitCode=0:0"])
    batch.refresh()
    calls = fake.sbatch_calls()
    assert len(calls) == 3  # tess-0 resubmitted as array 102
    row = batch.store.task(batch.batch_id, "tess-0")
    assert row.state == "pending" and row.attempt == 2
    assert row.error.startswith("requeued after NODE_FAIL (1/1): Slurm job 100_0 its node failed")
    assert batch.task_status("tess-0")["requeued"] == [row.error]
    # the lost attempt keeps its reason, which says it was requeued
    assert "requeued after NODE_FAIL (1/1)" in batch.dir.read_status("tess-0").error.evalue

    fake.set_job("102", [scontrol_line("102", 0, "NODE_FAIL", "0:0", "NodeDown")])
    batch.refresh()
    assert len(fake.sbatch_calls()) == 3  # max_requeue = 1: not again
    row = batch.store.task(batch.batch_id, "tess-0")
    assert row.state == "lost" and row.attempt == 2
    assert "not requeued again (max_requeue = 1)" in row.error


def test_preempted_with_max_requeue_0_is_not_requeued(tmp_path, fake):
    batch = _batch(tmp_path, fake, max_requeue=0)
    fake.set_job("100", [scontrol_line("100", 0, "PREEMPTED")])
    batch.refresh()
    assert len(fake.sbatch_calls()) == 2
    assert batch.store.task(batch.batch_id, "tess-0").state == "lost"


def test_timeout_and_out_of_memory_are_not_retried(tmp_path, fake):
    batch = _batch(tmp_path, fake)
    fake.set_job("100", [scontrol_line("100", 0, "TIMEOUT", "0:15", "TimeLimit")])
    fake.set_job("101", [scontrol_line("101", 0, "OUT_OF_MEMORY", "0:125", "OutOfMemory")])
    batch.refresh()
    assert len(fake.sbatch_calls()) == 2
    tess = batch.store.task(batch.batch_id, "tess-0")
    infer = batch.store.task(batch.batch_id, "infer-0-0")
    assert tess.state == infer.state == "failed"
    assert "raise the profile's walltime" in tess.error
    assert "raise the profile's mem" in infer.error
    assert batch.task_status("tess-0")["requeued"] == []
