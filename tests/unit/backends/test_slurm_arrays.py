"""Slurm arrays as pure functions: planning, the files of an array, the sbatch lines.

Golden files sit in tests/golden/; after an intended change, rewrite them with
``UPDATE_GOLDEN=1 pytest tests/unit/backends/test_slurm_arrays.py`` and review the diff.
"""

from __future__ import annotations

import subprocess

import pytest

from tramway_jupyter.backends import slurm_arrays as sa
from tramway_jupyter.backends.profiles import Profile
from tramway_jupyter.exceptions import SubmitError
from tramway_jupyter.jobs.plan_model import Job, Plan, StageSpec, Task

from . import golden

SUB = sa.ArraySubmission(
    name="001-infer-0",
    job_name="tj-20261123-infer",
    job_indices=(2, 3, 4, 5),
    attempts=(1, 1, 2, 1),
    remote_dir="/scratch/u/my batch",
    worker_command="/opt/env/bin/python -m tramway_jupyter.worker '/scratch/u/my batch'",
    partition="debug",
    account="lab",
    walltime="00:30:00",
    cpus_per_task=2,
    mem="4G",
    max_running=8,
    extra_options=("--qos=fast", "--constraint=avx2"),
    depends_on=("41_0", "41_1"),
)


def test_sbatch_script_golden():
    golden.check("sbatch_script.sh", sa.sbatch_script(SUB))


def test_sbatch_argv_golden():
    golden.check("sbatch_argv.txt", "\n".join(sa.sbatch_argv(SUB)) + "\n")


def test_jobs_file_has_one_line_per_element():
    assert sa.jobs_file(SUB) == "2 1\n3 1\n4 2\n5 1\n"


def test_the_script_runs_the_job_of_its_element(tmp_path):
    """The real bash reads line K + 1 of the .jobs file, logs there, passes the job index on."""
    d = tmp_path / "my batch"
    (d / "slurm").mkdir(parents=True)
    (d / "logs").mkdir()
    sub = sa.ArraySubmission("001-infer-0", "tj", (2, 3, 4), (1, 1, 2), str(d),
                             "printf 'worker %s\\n'")
    (d / sub.jobs_path).write_text(sa.jobs_file(sub))
    (d / sub.script_path).write_text(sa.sbatch_script(sub))
    env = {"PATH": "/usr/bin:/bin", "SLURM_ARRAY_JOB_ID": "41", "SLURM_ARRAY_TASK_ID": "2"}
    subprocess.run(["bash", str(d / sub.script_path)], env=env, check=True)
    log = (d / "logs" / "job-4-a2.log").read_text()
    assert "job 4 attempt 2 = Slurm 41_2 on" in log
    assert log.endswith("worker 4\n")
    env["SLURM_ARRAY_TASK_ID"] = "3"  # no such element: fails before running anything
    rc = subprocess.run(["bash", str(d / sub.script_path)], env=env, capture_output=True)
    assert rc.returncode == 98 and b"no job for array element 3" in rc.stdout


def test_submit_line_chains_stages_in_one_shell_line():
    first = sa.ArraySubmission("000-tessellate-0", "tj-x-tessellate", (0, 1), (1, 1),
                               "/scratch/u/b", "python -m tramway_jupyter.worker /scratch/u/b")
    second = sa.ArraySubmission("001-infer-0", "tj-x-infer", tuple(range(2, 10)), (1,) * 8,
                                "/scratch/u/b", "python -m w", max_running=4,
                                after=("000-tessellate-0",))
    line = sa.submit_line([first, second])
    golden.check("submit_line.txt", line + "\n")
    assert line.count("sbatch ") == 2
    assert '"--dependency=afterany:${J0}"' in line


def test_submit_line_rejects_non_ids():
    bad = sa.ArraySubmission("n", "j", (0,), (1,), "/d", "c", depends_on=("1;rm -rf ~",))
    with pytest.raises(ValueError):
        sa.submit_line([bad])


def test_parse_submit_output():
    assert sa.parse_submit_output("000-a 12\nnoise\n001-b 13\n") == {"000-a": "12", "001-b": "13"}


@pytest.mark.parametrize("n,throttle,expected", [(1, None, "0"), (200, None, "0-199"),
                                                 (10, 3, "0-9%3")])
def test_array_spec(n, throttle, expected):
    assert sa.array_spec(n, throttle) == expected


def test_scancel_argv_validates_ids():
    assert sa.scancel_argv(["12", "13_4"]) == ["scancel", "12", "13_4"]
    for bad in ("12;reboot", "$(id)", "12 13", "-u root"):
        with pytest.raises(ValueError):
            sa.scancel_argv([bad])


# -- planning -------------------------------------------------------------------------------
def _plan() -> Plan:
    """2 files x 3 ROIs: per-file jobs 0-1 feed per-ROI jobs 2-7; then retries appended:
    job 8 = per-file job 1 again (attempt 2), 9 = its ROI job 5 again, 10 = ROI job 2 again."""
    stages = (StageSpec("tessellate", "file", "templates/tessellate.ipynb"),
              StageSpec("infer map", "roi", "templates/infer.ipynb"))
    tasks, jobs = [], []
    for f in range(2):
        tasks.append(Task(f"tess-{f}", "tessellate", "file", f"/data/f{f}.txt", f"f{f}", job_index=f))
        jobs.append(Job(f, "tessellate", (f"tess-{f}",)))
    for f in range(2):
        for r in range(3):
            j = 2 + 3 * f + r
            tid = f"infer-{f}-{r}"
            tasks.append(Task(tid, "infer map", "roi", f"/data/f{f}.txt", f"f{f}", roi_index=r,
                              depends_on=(f"tess-{f}",), job_index=j))
            jobs.append(Job(j, "infer map", (tid,), depends_on=(f,)))
    jobs += [Job(8, "tessellate", ("tess-1",), attempt=2),
             Job(9, "infer map", ("infer-1-0",), depends_on=(8,), attempt=2),
             Job(10, "infer map", ("infer-0-0",), depends_on=(0,), attempt=2)]
    return Plan("20261123-b", stages, tuple(tasks), tuple(jobs))


PROFILE = Profile(name="p", backend="slurm", partition="debug", walltime="00:30:00", mem="2G",
                  max_running=4, max_array_size=4, sbatch_options=["--qos=fast"])
RDIR = "/scratch/u/20261123-b"
WORKER = f"/env/bin/python -m tramway_jupyter.worker {RDIR}"


def _render(subs: list[sa.ArraySubmission]) -> str:
    out = []
    for s in subs:
        out.append(f"== {s.name}: jobs {list(s.job_indices)} after {list(s.after)}")
        out.append(f"-- {s.jobs_path}\n{sa.jobs_file(s)}-- argv\n" + "\n".join(sa.sbatch_argv(s)))
        out.append(f"-- {s.script_path}\n{sa.sbatch_script(s)}")
    out.append("== submit line\n" + sa.submit_line(subs) + "\n")
    return "\n".join(out)


def test_plan_arrays_golden():
    plan = _plan()
    first = sa.plan_arrays(plan, range(8), PROFILE, remote_dir=RDIR, worker_command=WORKER)
    # per-file stage first (one array), per-ROI chunked at max_array_size = 4
    assert [s.job_indices for s in first] == [(0, 1), (2, 3, 4, 5), (6, 7)]
    assert [s.after for s in first] == [(), ("000-tessellate-0",), ("000-tessellate-0",)]
    # the retry: job 0's array is still live, job 8 runs again in this submission
    retry = sa.plan_arrays(plan, [10, 9, 8], PROFILE, remote_dir=RDIR, worker_command=WORKER,
                           first_seq=3, live_ids={0: "100_0", 2: "101_0"})
    assert [(s.name, s.job_indices, s.attempts) for s in retry] == [
        ("003-tessellate-0", (8,), (2,)), ("004-infer_map-0", (9, 10), (2, 2))]
    assert retry[1].after == ("003-tessellate-0",) and retry[1].depends_on == ("100_0",)
    golden.check("slurm_plan.txt", _render(first) + "\n" + _render(retry))


def test_plan_arrays_refuses_jobs_not_in_the_plan():
    with pytest.raises(SubmitError, match=r"batch 20261123-b: jobs \[42\] are not in plan.json"):
        sa.plan_arrays(_plan(), [1, 42], PROFILE, remote_dir=RDIR, worker_command=WORKER)


def test_slurm_mail_from_the_profile_golden():
    """``mail_type``/``mail_user`` of the profile reach every sbatch line (here per stage)."""
    profile = PROFILE.replace(mail_type="end, fail", mail_user="jane.doe+tj@pasteur.fr")
    subs = sa.plan_arrays(_plan(), range(8), profile, remote_dir=RDIR, worker_command=WORKER)
    for s in subs:
        argv = sa.sbatch_argv(s)
        assert argv[-4:-1] == ["--mail-type=END,FAIL", "--mail-user=jane.doe+tj@pasteur.fr",
                               "--qos=fast"]
    assert sa.submit_line(subs).count(" --mail-type=END,FAIL --mail-user=") == 3
    golden.check("slurm_plan_mail.txt", _render(subs[:2]))
    no_mail = sa.plan_arrays(_plan(), range(2), PROFILE, remote_dir=RDIR, worker_command=WORKER)
    assert not any(a.startswith("--mail") for a in sa.sbatch_argv(no_mail[0]))
