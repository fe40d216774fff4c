"""The Slurm-over-SSH backend against the real single-node Slurm and the loopback sshd (as hpcuser)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tramway_jupyter.backends import ssh
from tramway_jupyter.backends.slurm_query import parse_scontrol_jobs
from tramway_jupyter.demo import demo_pipeline
from tramway_jupyter.exceptions import HostKeyError
from tramway_jupyter.orchestration.submit import submit

from .helpers import CommandRecorder, PollCounter, data_files, light_pipeline, wait_until

pytestmark = [pytest.mark.slurm, pytest.mark.ssh]


def _run(pipeline, data, profile, store, tmp_path, **kw):
    return submit(pipeline, [str(p) for p in data], profile=profile, store=store,
                  batches_root=tmp_path / "batches", **kw)


def test_quickstart_pipeline_over_ssh(infra, profile, store, tmp_path):
    """2 files x 4 ROIs: tessellate per file, then infer per ROI, on Slurm as hpcuser."""
    from tramway_jupyter.analysis import write_simulation

    paths = write_simulation(tmp_path / "data", n_files=2, n_rois=4, seed=0)
    prof = profile.replace(stage_data=True)  # the data are uploaded (content-addressed)
    t0 = time.perf_counter()
    batch = _run(demo_pipeline(), paths, prof, store, tmp_path)
    submit_s = time.perf_counter() - t0
    counter = PollCounter(batch.backend)
    batch.wait(timeout=240)
    results = batch.results()
    assert results.ok, results
    assert len(results) == 10
    assert len(results.get("median_diffusivity")) == 8
    assert len(results.get("n_cells")) == 2
    assert all(0.1 < v < 2.0 for v in results.get("median_diffusivity").values())
    # one SSH round trip per poll, whatever the number of jobs (none once nothing is active)
    assert counter.per_poll.count(1) >= 2 and set(counter.per_poll) <= {0, 1}, counter.per_poll
    # the cluster side ran its own Python environment, as hpcuser, through Slurm
    jobs = batch.jobs()
    assert all(j.backend_id and "_" in j.backend_id for j in jobs)
    log = (batch.dir.root / "logs" / "job-0-a1.log").read_text()
    assert f"= Slurm {jobs[0].backend_id} on " in log
    assert all(batch.dir.notebook_path(t.task_id).exists() for t in batch.tasks())
    rc, out, _ = batch.backend.conn.run(["stat", "-c", "%U", f"{batch.backend.remote_dir(batch.ctx)}/status"])
    assert out.strip() == infra["INFRA_SSH_USER"]
    assert submit_s < 10


def test_200_task_stage_is_one_sbatch_and_cancel_leaves_nothing(infra, profile, store, tmp_path):
    data = data_files(tmp_path / "data", [f"f{i:03d}.txt" for i in range(200)])
    prof = profile.replace(max_running=2)
    conn = ssh.get_connection(prof)
    rec = CommandRecorder(conn)
    try:
        batch = _run(light_pipeline(per_roi=False), data, prof, store, tmp_path,
                     params={"sleep": 30.0})
    finally:
        rec.restore()
    assert rec.count("sbatch --parsable") == 1
    jobs = batch.jobs()
    assert len(jobs) == 200 and len({j.backend_id.split("_")[0] for j in jobs}) == 1
    array = jobs[0].backend_id.split("_")[0]
    rc, out, _ = conn.run(["scontrol", "-o", "show", "job", array])
    recs = parse_scontrol_jobs(out)
    assert {int(r.task_id) for r in recs} == set(range(200))
    assert wait_until(lambda: batch.refresh().get("running", 0) > 0, 60)
    batch.cancel()
    counts = batch.counts()
    assert counts == {"cancelled": 200}, counts
    # nothing queued or running on the cluster any more
    assert wait_until(lambda: conn.run(["squeue", "-h", "-j", array, "-t", "PD,R,CG"])[1].strip() == "", 30)


def test_failing_task_then_retry(infra, profile, store, tmp_path, scratch):
    data = data_files(tmp_path / "data", ["good.txt", "bad.txt"], n_rois=2)
    flag = f"{scratch}/flag"
    batch = _run(light_pipeline(), data, profile, store, tmp_path, params={"fail_if_no_flag": flag})
    batch.wait(timeout=180)
    states = {t.task_id: t.state for t in batch.tasks()}
    bad = {k: v for k, v in states.items() if "bad" in k}
    good = {k: v for k, v in states.items() if "good" in k}
    assert set(good.values()) == {"done"} and len(good) == 3
    assert set(bad.values()) == {"failed"} and len(bad) == 3
    failures = {f.task_id: f for f in batch.results().failures()}
    prep = next(f for k, f in failures.items() if k.startswith("prepare"))
    assert prep.ename == "RuntimeError" and "flag file missing" in prep.evalue
    assert any(f.ename == "UpstreamFailed" for f in failures.values())
    # fix the cause on the cluster, retry the failed tasks only: a second array for each stage
    batch.backend.conn.check(["touch", flag])
    assert batch.retry() == 3
    batch.wait(timeout=180)
    results = batch.results()
    assert results.ok, results
    assert all(t.attempt == 2 for t in batch.tasks() if "bad" in t.task_id)
    assert len(results.get("roi_value")) == 4


@pytest.mark.slow
def test_task_over_its_walltime_ends_failed_with_timeout(infra, profile, store, tmp_path):
    data = data_files(tmp_path / "data", ["slow.txt"])
    prof = profile.replace(walltime="1")  # --time=1: one minute, enforced every 30 s
    batch = _run(light_pipeline(per_roi=False), data, prof, store, tmp_path,
                 params={"sleep": 600.0})
    batch.wait(timeout=200)
    (task,) = batch.tasks()
    assert task.state == "failed"
    st = batch.task_status(task.task_id)
    assert "TIMEOUT" in json.dumps(st) or "walltime" in json.dumps(st)


def test_cancelled_batch(infra, profile, store, tmp_path):
    data = data_files(tmp_path / "data", ["a.txt", "b.txt"], n_rois=2)
    batch = _run(light_pipeline(), data, profile, store, tmp_path, params={"sleep": 120.0})
    assert wait_until(lambda: batch.refresh().get("running", 0) >= 1, 60)
    batch.cancel()
    assert set(batch.counts()) == {"cancelled"}
    arrays = sorted({j.backend_id.split("_")[0] for j in batch.jobs()})
    conn = batch.backend.conn
    assert wait_until(lambda: conn.run(["squeue", "-h", "-t", "PD,R,CG", "-j", ",".join(arrays)])[1].strip() == "", 30)
    # no worker of this batch survives on the node
    assert wait_until(lambda: batch.batch_id not in conn.run(["ps", "-u", infra["INFRA_SSH_USER"], "-o", "args"])[1], 30)


def test_sshd_restart_mid_batch(infra, profile, store, tmp_path):
    data = data_files(tmp_path / "data", ["a.txt", "b.txt"], n_rois=2)
    batch = _run(light_pipeline(), data, profile, store, tmp_path, params={"sleep": 6.0})
    conn = batch.backend.conn
    connects = conn.connects
    batch.refresh()
    # the server goes away with our session, stays down 3 s, comes back
    subprocess.run(["bash", infra["INFRA_SSHD_CTL"], "restart", "--kill-sessions", "--down", "3"],
                   check=True, env={**os.environ, "INFRA_DIR": infra["INFRA_DIR"]},
                   capture_output=True)
    batch.wait(timeout=180)
    assert conn.connects > connects  # polling reconnected
    results = batch.results()
    assert results.ok, results
    assert len(results.get("roi_value")) == 4 and len(results.get("size")) == 2


def test_unknown_host_key_is_refused_with_its_fingerprint(infra, scratch, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    conn = ssh.SSHConnection(infra["INFRA_SSH_HOST"], int(infra["INFRA_SSH_PORT"]),
                             infra["INFRA_SSH_USER"], infra["INFRA_SSH_KEY"], str(empty))
    with pytest.raises(HostKeyError) as exc:
        conn.run(["true"])
    msg = str(exc.value)
    assert infra["INFRA_SSH_HOSTKEY_SHA256"] in msg
    assert "unknown" in msg and "ssh-keyscan -p 2222" in msg
    assert empty.read_text() == ""  # nothing was added behind the user's back


def test_changed_host_key_is_refused(infra, tmp_path):
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kh = tmp_path / "known_hosts"
    pub = " ".join(Path(f"{other}.pub").read_text().split()[:2])
    kh.write_text(f"[127.0.0.1]:{infra['INFRA_SSH_PORT']} {pub}\n")
    conn = ssh.SSHConnection(infra["INFRA_SSH_HOST"], int(infra["INFRA_SSH_PORT"]),
                             infra["INFRA_SSH_USER"], infra["INFRA_SSH_KEY"], str(kh))
    with pytest.raises(HostKeyError) as exc:
        conn.run(["true"])
    msg = str(exc.value)
    assert "CHANGED" in msg and infra["INFRA_SSH_HOSTKEY_SHA256"] in msg
    assert "ssh-keygen -R" in msg


def test_data_file_name_with_spaces_quotes_and_command_substitution(infra, profile, store,
                                                                    tmp_path, scratch):
    name = """it's a "test" $(touch PWNED) `touch PWNED2`; x.txt"""
    local_dir = tmp_path / "lab data"
    data = data_files(local_dir, [name], n_rois=2)
    conn = ssh.get_connection(profile)
    remote_data = f"{scratch}/shared data"
    conn.put_tar(local_dir, remote_data)  # the cluster's copy of the lab share
    prof = profile.replace(path_map={str(local_dir): remote_data}, stage_data=False)
    batch = _run(light_pipeline(), data, prof, store, tmp_path)
    batch.wait(timeout=120)
    results = batch.results()
    assert results.ok, results
    assert list(results.get("name").values()) == [name]
    assert list(results.get("size").values()) == [data[0].stat().st_size]
    assert len(results.get("roi_value")) == 2
    rc, out, _ = conn.run('find "$HOME" /tmp -name "PWNED*" 2>/dev/null; true')
    assert out.strip() == "", f"a command in a file name was executed: {out}"
    assert not list(Path.cwd().glob("PWNED*")) and not list(tmp_path.rglob("PWNED*"))


def test_reattach_from_the_store_after_a_restart(infra, profile, store, tmp_path):
    """A new Batch handle and a new backend (as after a kernel restart) pick the batch up."""
    from tramway_jupyter.orchestration.batch import Batch

    data = data_files(tmp_path / "data", ["a.txt"], n_rois=2)
    batch = _run(light_pipeline(), data, profile, store, tmp_path, params={"sleep": 3.0})
    batch_id = batch.batch_id
    del batch
    ssh.close_connections()
    again = Batch(batch_id, store)
    again.wait(timeout=120)
    assert again.results().ok


def test_ssh_config_alias_is_enough(infra, tmp_path, monkeypatch):
    """A profile naming only a ~/.ssh/config alias: HostName, Port, User, IdentityFile and
    UserKnownHostsFile all come from the config."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(
        "Host tj-test-cluster\n"
        f"  HostName {infra['INFRA_SSH_HOST']}\n  Port {infra['INFRA_SSH_PORT']}\n"
        f"  User {infra['INFRA_SSH_USER']}\n  IdentityFile {infra['INFRA_SSH_KEY']}\n"
        f"  UserKnownHostsFile {infra['INFRA_SSH_KNOWN_HOSTS']}\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    conn = ssh.SSHConnection("tj-test-cluster")
    try:
        assert conn.check(["id", "-un"]).strip() == infra["INFRA_SSH_USER"]
        assert conn.where == f"{infra['INFRA_SSH_USER']}@{infra['INFRA_SSH_HOST']}:{infra['INFRA_SSH_PORT']}"
    finally:
        conn.close()


def test_staged_data_are_not_uploaded_twice(infra, profile, store, tmp_path, monkeypatch):
    from tramway_jupyter.backends import slurm_staging

    sent: list[dict[str, str]] = []
    orig = slurm_staging.stage_data

    def recording(conn, batch, scratch):  # type: ignore[no-untyped-def]
        out = orig(conn, batch, scratch)
        sent.append(out)
        return out

    monkeypatch.setattr(slurm_staging, "stage_data", recording)
    data = data_files(tmp_path / "data", ["a.txt", "b.txt"])
    first = _run(light_pipeline(per_roi=False), data, profile, store, tmp_path)
    first.wait(timeout=120)
    assert first.results().ok
    second = _run(light_pipeline(per_roi=False), data, profile, store, tmp_path, force=True)
    second.wait(timeout=120)
    assert second.results().ok
    assert len(sent[0]) == 2 and sent[1] == {}  # same content hashes: nothing sent again
    data_map = json.loads((second.dir.root / "data_map.json").read_text())
    assert sorted(data_map) == sorted(str(p) for p in data)
    assert all("/.data/" in v for v in data_map.values())


def test_time_segments_and_a_sweep_on_slurm(infra, profile, store, tmp_path):
    """Issue 10 on Slurm: a sweep-independent per-file stage, then a per-segment stage over a
    sweep of 2 values: 2 + 2 files x 4 windows x 2 points tasks, still one array per stage."""
    from tramway_jupyter.capture.pipeline import Pipeline

    data = []
    for name in ("a", "b"):
        p = tmp_path / "data" / f"{name}.rpt.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("".join(f"1 {0.01 * i} 0.0 {0.1 * i:.1f}\n" for i in range(40)))  # 0-3.9 s
        data.append(p)
    pipe = Pipeline.from_cells([
        ("parameters", "scale = 1"),
        ("setup", "import os\nimport tramway_jupyter as tj\n"
                  "from tramway_jupyter.analysis import crop_time, read_trajectories"),
        ("stage prep --per file --sweep-independent",
         "open(os.path.join(output_dir, 'prep.txt'), 'w').write('ok')"),
        ("stage win --per segment",
         "assert open(os.path.join(output_dir, 'prep.txt')).read() == 'ok'\n"
         "tj.record('n', len(crop_time(read_trajectories(source), t_start, t_end)) * scale)"),
    ])
    conn = ssh.get_connection(profile)
    rec = CommandRecorder(conn)
    try:
        batch = _run(pipe, data, profile, store, tmp_path, rois="none", segments="1",
                     sweep={"scale": [1, 2]})
    finally:
        rec.restore()
    assert rec.count("sbatch --parsable") == 2  # one array per stage
    batch.wait(timeout=240)
    res = batch.results()
    assert res.ok and len(res) == 2 + 2 * 4 * 2, res
    n = res.get("n")
    for key, value in n.items():
        assert value == 10 * dict(key.sweep)["scale"], (key, value)  # 10 points per 1-s window
    assert {key.segment_index for key in n} == {0, 1, 2, 3}


def test_as_completed_brings_results_back_as_tasks_end_on_slurm(infra, profile, store, tmp_path):
    """Issue 11 on Slurm: the first task's records are fetched and readable while a slower task
    of the same batch still runs (an incremental tar of what ended, not one fetch at the end)."""
    from tramway_jupyter.capture.pipeline import Pipeline

    data = data_files(tmp_path / "data", ["fast.txt", "slow.txt"])
    pipe = Pipeline.from_cells([
        ("setup", "import os, time\nimport tramway_jupyter as tj"),
        ("stage s --per file",
         "time.sleep(25 if 'slow' in source else 0)\n"
         "tj.record('who', os.path.basename(source))"),
    ])
    batch = _run(pipe, data, profile, store, tmp_path, rois="none", tasks_per_job=1)
    stream = batch.as_completed(timeout=240)
    first = next(stream)
    assert first.get("who") == "fast.txt"  # its results file came back already
    assert batch.is_active()
    rest = list(stream)
    assert [r.get("who") for r in rest] == ["slow.txt"]
