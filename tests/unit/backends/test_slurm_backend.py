"""SlurmBackend against fake Slurm commands on a LocalConnection (the real thing: tests/integration)."""

from __future__ import annotations

import pytest

from tramway_jupyter.backends.context import BatchContext
from tramway_jupyter.backends.profiles import Profile
from tramway_jupyter.backends.slurm import SlurmBackend
from tramway_jupyter.exceptions import SubmitError
from tramway_jupyter.jobs.batchdir import BatchDir
from tramway_jupyter.jobs.plan_model import Job, Plan, StageSpec, Task
from tramway_jupyter.jobs.states import State
from tramway_jupyter.jobs.status import TaskStatus, encode
from tramway_jupyter.jobs.store import Store

from .fakes import FakeSlurm, scontrol_line


def make_batch(tmp_path, n_files=2, n_rois=4, profile=None, batch_id="b1"):
    """A two-stage plan: per-file jobs 0..n_files-1, then one per-ROI job per task."""
    stages = (StageSpec("tessellate", "file", "templates/tessellate.ipynb"),
              StageSpec("infer", "roi", "templates/infer.ipynb"))
    tasks, jobs = [], []
    for f in range(n_files):
        tid = f"tess-{f}"
        tasks.append(Task(tid, "tessellate", "file", f"/data/f{f}.txt", f"f{f}", job_index=f))
        jobs.append(Job(f, "tessellate", (tid,)))
    j = n_files
    for f in range(n_files):
        for r in range(n_rois):
            tid = f"infer-{f}-{r}"
            tasks.append(Task(tid, "infer", "roi", f"/data/f{f}.txt", f"f{f}", roi_index=r,
                              depends_on=(f"tess-{f}",), job_index=j))
            jobs.append(Job(j, "infer", (tid,), depends_on=(f,)))
            j += 1
    plan = Plan(batch_id, stages, tuple(tasks), tuple(jobs))
    bd = BatchDir(tmp_path / "batches" / batch_id)
    bd.create()
    bd.write_plan(plan)
    for s in stages:
        bd.template_path(s.name).write_text("{}")
    store = Store(tmp_path / "store.sqlite")
    store.add_batch(batch_id, name="t", batch_dir=str(bd.root), backend="slurm", profile="p",
                    jobs=[{"job_index": jb.job_index, "stage": jb.stage, "n_tasks": 1} for jb in jobs],
                    tasks=[{"task_id": t.task_id, "job_index": t.job_index, "stage": t.stage,
                            "source": t.source, "roi_index": t.roi_index} for t in tasks])
    profile = profile or Profile(name="p", backend="slurm", scratch=str(tmp_path / "remote"),
                                 python="/env/bin/python", walltime="00:05:00", max_running=4)
    return BatchContext(batch_id, bd, store, profile)


@pytest.fixture
def fake(tmp_path):
    return FakeSlurm(tmp_path / "fake")


def test_one_sbatch_per_stage_chained_with_afterany(tmp_path, fake):
    ctx = make_batch(tmp_path)
    be = SlurmBackend(ctx.profile, fake.conn)
    be.submit(ctx, [j.job_index for j in ctx.plan.jobs])
    calls = fake.sbatch_calls()
    assert len(calls) == 2
    assert "--array=0-1%4" in calls[0] and "--array=0-7%4" in calls[1]
    assert "--dependency=afterany:100" in calls[1]
    assert "--time=00:05:00" in calls[0]
    jobs = {r.job_index: r for r in ctx.store.jobs("b1")}
    assert jobs[0].backend_id == "100_0" and jobs[9].backend_id == "101_7"
    assert all(r.state == "queued" for r in jobs.values())
    remote = tmp_path / "remote" / "b1"
    assert (remote / "slurm" / "001-infer-0.jobs").read_text() == "".join(
        f"{j} 1\n" for j in range(2, 10))
    assert (remote / "plan.json").exists() and (remote / "status").is_dir()
    assert fake.conn.round_trips == 1  # staging and both sbatch in one round trip


def test_a_200_task_stage_is_one_sbatch(tmp_path, fake):
    ctx = make_batch(tmp_path, n_files=1, n_rois=200)
    SlurmBackend(ctx.profile, fake.conn).submit(ctx, [j.job_index for j in ctx.plan.jobs])
    calls = fake.sbatch_calls()
    assert len(calls) == 2 and "--array=0-199%4" in calls[1]


def test_split_beyond_max_array_size(tmp_path, fake):
    prof = Profile(name="p", backend="slurm", scratch=str(tmp_path / "remote"), max_array_size=3)
    ctx = make_batch(tmp_path, n_files=1, n_rois=7, profile=prof)
    SlurmBackend(prof, fake.conn).submit(ctx, [j.job_index for j in ctx.plan.jobs])
    arrays = [next(a for a in c if a.startswith("--array=")) for c in fake.sbatch_calls()]
    assert arrays == ["--array=0", "--array=0-2", "--array=0-2", "--array=0"]


def test_resubmitting_a_subset_depends_on_live_upstream(tmp_path, fake):
    ctx = make_batch(tmp_path)
    be = SlurmBackend(ctx.profile, fake.conn)
    be.submit(ctx, [0, 1])
    be.submit(ctx, [2, 3])
    calls = fake.sbatch_calls()
    assert len(calls) == 2
    assert "--dependency=afterany:100_0" in calls[1]
    assert (ctx.dir.root / "slurm" / "001-infer-0.sh").exists()


def test_statuses_decided_here_go_to_the_cluster_with_the_batch(tmp_path, fake):
    # e.g. a per-file task resumed from an earlier batch: the per-ROI workers check it there
    ctx = make_batch(tmp_path, n_files=1, n_rois=1)
    ctx.dir.write_status("tess-0", TaskStatus(state=State.DONE, attempt=1, job_index=-1))
    SlurmBackend(ctx.profile, fake.conn).submit(ctx, [1])
    remote = BatchDir(tmp_path / "remote" / "b1")
    assert remote.read_status("tess-0", -1).state == "done"


def test_poll_is_one_round_trip_and_explains_dead_jobs(tmp_path, fake):
    ctx = make_batch(tmp_path, n_files=2, n_rois=1)
    be = SlurmBackend(ctx.profile, fake.conn)
    be.submit(ctx, [0, 1, 2, 3])
    remote = tmp_path / "remote" / "b1"
    # tess-0 wrote its final status; tess-1 was killed at its walltime; infer jobs still pending
    st = TaskStatus(state=State.DONE, attempt=1, job_index=0)
    (remote / "status" / "job-0.jsonl").write_text(encode(st.replace(task_id="tess-0")).decode() + "\n")
    fake.set_job("100", [scontrol_line("100", 0, "COMPLETED"),
                         scontrol_line("100", 1, "TIMEOUT", "0:15", "TimeLimit")])
    fake.set_job("101", ["JobId=101 ArrayJobId=101 ArrayTaskId=0-1 JobState=PENDING"
                         " Reason=Dependency ExitCode=0:0"])
    before = fake.conn.round_trips
    verdicts = be.poll(ctx)
    assert fake.conn.round_trips == before + 1
    assert set(verdicts) == {1}
    state, reason = verdicts[1]
    assert state is State.FAILED and "walltime" in reason and "100_1" in reason
    assert ctx.dir.read_status("tess-0").state == "done"


def test_completed_without_status_is_lost_and_unknown_jobs_too(tmp_path, fake):
    ctx = make_batch(tmp_path, n_files=1, n_rois=1)
    be = SlurmBackend(ctx.profile, fake.conn)
    be.submit(ctx, [0, 1])
    fake.set_job("100", [scontrol_line("100", 0, "COMPLETED")])
    ctx.store.update_job("b1", 1, submitted=0.0)  # long ago, and Slurm forgot array 101
    verdicts = be.poll(ctx)
    assert verdicts[0][0] is State.LOST and "COMPLETED" in verdicts[0][1]
    assert verdicts[1][0] is State.LOST and "unknown" in verdicts[1][1]


def test_cancel_scancels_whole_arrays_and_marks_tasks(tmp_path, fake):
    ctx = make_batch(tmp_path)
    be = SlurmBackend(ctx.profile, fake.conn)
    be.submit(ctx, [j.job_index for j in ctx.plan.jobs])
    be.cancel(ctx)
    assert sorted(fake.scancel_calls()[0]) == ["100", "101"]
    assert {t.state for t in ctx.store.tasks("b1")} == {"cancelled"}
    assert {j.state for j in ctx.store.jobs("b1")} == {"cancelled"}


def test_cancel_some_elements_only(tmp_path, fake):
    ctx = make_batch(tmp_path)
    be = SlurmBackend(ctx.profile, fake.conn)
    be.submit(ctx, [j.job_index for j in ctx.plan.jobs])
    be.cancel(ctx, [2, 3])
    assert fake.scancel_calls()[0] == ["101_0", "101_1"]


def test_fetch_brings_results_back_incrementally(tmp_path, fake):
    ctx = make_batch(tmp_path, n_files=1, n_rois=1)
    be = SlurmBackend(ctx.profile, fake.conn)
    be.submit(ctx, [0, 1])
    remote = tmp_path / "remote" / "b1"
    (remote / "results" / "tess-0.pkl").write_bytes(b"x")
    (remote / "logs" / "job-0-a1.log").write_text("log")
    be.fetch(ctx)
    assert (ctx.dir.root / "results" / "tess-0.pkl").read_bytes() == b"x"
    assert (ctx.dir.root / "logs" / "job-0-a1.log").exists()


def test_final_local_status_is_not_undone_by_a_stale_remote_one(tmp_path, fake):
    ctx = make_batch(tmp_path, n_files=1, n_rois=1)
    be = SlurmBackend(ctx.profile, fake.conn)
    be.submit(ctx, [0, 1])
    ctx.dir.write_status("tess-0", TaskStatus(state=State.CANCELLED, attempt=1, job_index=0))
    remote = tmp_path / "remote" / "b1"
    (remote / "status" / "job-0.jsonl").write_text(
        encode(TaskStatus(state=State.RUNNING, attempt=1, job_index=0, task_id="tess-0")).decode() + "\n")
    be.fetch(ctx)
    assert ctx.dir.read_status("tess-0").state == "cancelled"


def test_worker_command_with_container_and_path_map(tmp_path, fake):
    prof = Profile(name="p", backend="slurm", scratch=str(tmp_path / "remote"), python="/opt/venv/bin/python",
                   container="/images/tj.sif", container_options=["--cleanenv"],
                   remote_dependencies="module load apptainer", path_map={"/data": "/cluster/data"})
    ctx = make_batch(tmp_path, n_files=1, n_rois=1, profile=prof)
    be = SlurmBackend(prof, fake.conn)
    line = be.worker_command(ctx)
    remote = str(tmp_path / "remote")
    assert line == (  # the batch script appends the job index
        f"module load apptainer && apptainer exec --cleanenv --bind {remote} --bind /cluster/data"
        f" --pwd {remote}/b1 /images/tj.sif /opt/venv/bin/python -m tramway_jupyter.worker"
        f" --path-map /data=/cluster/data {remote}/b1"
    )


def test_cleanup_removes_the_remote_copy(tmp_path, fake):
    ctx = make_batch(tmp_path, n_files=1, n_rois=1)
    be = SlurmBackend(ctx.profile, fake.conn)
    be.submit(ctx, [0, 1])
    be.cleanup(ctx)
    assert not (tmp_path / "remote" / "b1").exists()
    assert fake.scancel_calls()  # what could still run was cancelled first


def test_jobs_forgotten_by_scontrol_are_found_in_the_jobcomp_file(tmp_path, fake):
    ctx = make_batch(tmp_path, n_files=2, n_rois=1)
    be = SlurmBackend(ctx.profile, fake.conn)
    be.submit(ctx, [0, 1, 2, 3])
    # after MinJobAge, no accounting: only jobcomp/filetxt remembers array 100
    (fake.root / "jobcomp.txt").write_text(
        "JobId=103 UserId=u(1) Name=tj JobState=TIMEOUT ArrayJobId=100 ArrayTaskId=1 ExitCode=0:0\n"
        "JobId=100 UserId=u(1) Name=tj JobState=COMPLETED ArrayJobId=100 ArrayTaskId=0 ExitCode=0:0\n"
        "JobId=1000 UserId=u(1) Name=other JobState=FAILED ExitCode=1:0\n")
    fake.set_job("101", ["JobId=101 ArrayJobId=101 ArrayTaskId=0-1 JobState=PENDING ExitCode=0:0"])
    verdicts = be.poll(ctx)
    assert verdicts[1][0] is State.FAILED and "walltime" in verdicts[1][1]
    assert verdicts[0][0] is State.LOST  # COMPLETED without a status file
    assert set(verdicts) == {0, 1}


def test_refused_submission_fails_the_jobs_and_names_the_host(tmp_path, fake):
    prof = Profile(name="p", backend="slurm", scratch=str(tmp_path / "remote"),
                   sbatch_options=["--refuse-me"])
    (fake.bin / "sbatch").write_text("#!/bin/sh\necho 'sbatch: error: invalid partition' >&2\nexit 1\n")
    ctx = make_batch(tmp_path, n_files=1, n_rois=1, profile=prof)
    with pytest.raises(SubmitError, match="sbatch failed on localhost for batch b1 .*invalid partition"):
        SlurmBackend(prof, fake.conn).submit(ctx, [0, 1])
    assert {t.state for t in ctx.store.tasks("b1")} == {"failed"}
    assert {j.state for j in ctx.store.jobs("b1")} == {"failed"}


def _round_trips_per_operation(tmp_path, n_files, n_rois):
    """SSH round trips of submit, poll, fetch, cancel of some jobs, a retry of those, cancel."""
    fake = FakeSlurm(tmp_path / "fake")
    ctx = make_batch(tmp_path, n_files=n_files, n_rois=n_rois)
    be = SlurmBackend(ctx.profile, fake.conn)
    counts = {}

    def count(name, fn, *args):
        before = fake.conn.round_trips
        fn(*args)
        counts[name] = fake.conn.round_trips - before

    jobs = [j.job_index for j in ctx.plan.jobs]
    some = jobs[n_files::2]  # every other per-ROI job
    count("submit", be.submit, ctx, jobs)
    count("poll", be.poll, ctx)
    count("fetch", be.fetch, ctx)
    count("cancel some", be.cancel, ctx, some)
    count("retry", be.submit, ctx, some)
    count("cancel", be.cancel, ctx)
    return counts


def test_round_trips_do_not_grow_with_the_number_of_tasks(tmp_path):
    """Over an 80 ms link a round trip costs 80 ms: no operation may take one per task."""
    small = _round_trips_per_operation(tmp_path / "small", 2, 2)
    large = _round_trips_per_operation(tmp_path / "large", 10, 100)  # 1,010 tasks
    assert large == small, (small, large)
    assert all(n <= 2 for n in large.values()), large
