"""The pure Slurm builders and parsers, against golden files (real outputs of the test cluster)."""

from __future__ import annotations

import pytest

from tramway_jupyter.backends import slurm_commands as sc
from tramway_jupyter.jobs.states import State

from . import golden

SUB = sc.ArraySubmission(
    name="001-infer-0",
    job_name="tj-20261123-infer",
    job_indices=(2, 3, 4, 5),
    attempts=(1, 1, 2, 1),
    remote_dir="/scratch/u/my batch",
    worker_command="/opt/env/bin/python -m tramway_jupyter.worker '/scratch/u/my batch' @slurm/001-infer-0.json",
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
    golden.check("sbatch_script.sh", sc.sbatch_script(SUB))


def test_sbatch_argv_golden():
    golden.check("sbatch_argv.txt", "\n".join(sc.sbatch_argv(SUB)) + "\n")


def test_index_and_map_files():
    assert sc.index_file(SUB) == "[2,3,4,5]\n"
    assert sc.map_file(SUB) == "2 1\n3 1\n4 2\n5 1\n"


def test_submit_line_chains_stages_in_one_shell_line():
    first = sc.ArraySubmission("000-tessellate-0", "tj-x-tessellate", (0, 1), (1, 1),
                               "/scratch/u/b", "python -m tramway_jupyter.worker /scratch/u/b @slurm/000-tessellate-0.json")
    second = sc.ArraySubmission("001-infer-0", "tj-x-infer", tuple(range(2, 10)), (1,) * 8,
                                "/scratch/u/b", "python -m w", max_running=4)
    line = sc.submit_line([first, second], {"001-infer-0": ("000-tessellate-0",)})
    golden.check("submit_line.txt", line + "\n")
    assert line.count("sbatch ") == 2
    assert '"--dependency=afterany:${J0}"' in line


def test_submit_line_rejects_non_ids():
    bad = sc.ArraySubmission("n", "j", (0,), (1,), "/d", "c", depends_on=("1;rm -rf ~",))
    with pytest.raises(ValueError):
        sc.submit_line([bad], {})


def test_parse_submit_output():
    assert sc.parse_submit_output("000-a 12\nnoise\n001-b 13\n") == {"000-a": "12", "001-b": "13"}
    assert sc.parse_sbatch_parsable("42;cluster\n") == "42"
    with pytest.raises(ValueError):
        sc.parse_sbatch_parsable("sbatch: error: invalid partition")


@pytest.mark.parametrize("n,throttle,expected", [(1, None, "0"), (200, None, "0-199"),
                                                 (10, 3, "0-9%3")])
def test_array_spec(n, throttle, expected):
    assert sc.array_spec(n, throttle) == expected


def test_parse_scontrol_failed_array():
    recs = {r.key: r for r in sc.parse_scontrol_jobs(golden.read("scontrol_show_job_failed_array.txt"))}
    assert len(recs) == 3
    states = {k.split("_")[1]: (r.state, r.exit_code) for k, r in recs.items()}
    assert states == {"0": ("COMPLETED", "0:0"), "1": ("FAILED", "3:0"), "2": ("COMPLETED", "0:0")}
    state, reason = next(r for r in recs.values() if r.state == "FAILED").verdict()
    assert state is State.FAILED and "exit code 3" in reason


def test_parse_scontrol_throttled_array_expands_pending_elements():
    recs = {r.key: r for r in sc.parse_scontrol_jobs(golden.read("scontrol_show_job_throttled_array.txt"))}
    by_task = {r.task_id: r.state for r in recs.values()}
    assert by_task["4"] == "PENDING" and by_task["5"] == "PENDING"
    assert by_task["0"] == "CANCELLED"
    assert sorted(by_task) == ["0", "1", "2", "3", "4", "5"]


def test_parse_scontrol_keeps_values_with_spaces():
    d = sc.parse_scontrol_line("JobId=5 JobName=name with spaces JobState=RUNNING Reason=None")
    assert d["JobName"] == "name with spaces" and d["JobState"] == "RUNNING"


def test_parse_squeue_golden():
    recs = {r.key: r.state for r in sc.parse_squeue(golden.read("squeue.txt"))}
    assert len(recs) == 9
    assert list(recs.values()).count("PENDING") == 2
    assert any(k.endswith("_1") and v == "FAILED" for k, v in recs.items())


def test_parse_sacct_golden():
    recs = {r.key: r for r in sc.parse_sacct(golden.read("sacct.txt"))}
    assert recs["154"].state == "CANCELLED"  # "CANCELLED by 0"
    assert recs["152_2"].exit_code == "6:0"
    assert {"153_3", "153_4", "153_5"} <= set(recs)
    assert recs["152_1"].verdict()[0] is State.FAILED
    assert "walltime" in recs["152_1"].verdict()[1]
    assert recs["155"].verdict()[0] is State.FAILED and "memory" in recs["155"].verdict()[1]


def test_parse_jobcomp_golden():
    recs = sc.parse_jobcomp(golden.read("jobcomp.txt"))
    assert recs and all(r.task_id is not None for r in recs)
    assert {r.state for r in recs} >= {"COMPLETED", "FAILED", "CANCELLED"}
    only = sc.parse_jobcomp(golden.read("jobcomp.txt"), array_ids=[recs[0].array_job_id])
    assert only and all(r.array_job_id == recs[0].array_job_id for r in only)


@pytest.mark.parametrize("slurm,ours", [
    ("COMPLETED", State.LOST), ("FAILED", State.FAILED), ("TIMEOUT", State.FAILED),
    ("CANCELLED", State.CANCELLED), ("OUT_OF_MEMORY", State.FAILED), ("NODE_FAIL", State.LOST),
    ("PREEMPTED", State.LOST), ("BOOT_FAIL", State.LOST), ("WHATEVER", State.LOST),
])
def test_verdicts_of_final_states(slurm, ours):
    state, reason = sc.SlurmRecord("7", "1", slurm, "0:9").verdict()
    assert state is ours
    assert "7_1" in reason


def test_signal_is_reported():
    assert "signal 9" in sc.SlurmRecord("7", None, "CANCELLED", "0:9").verdict()[1]


def test_merge_records_prefers_final_state():
    live = sc.SlurmRecord("1", "0", "RUNNING")
    final = sc.SlurmRecord("1", "0", "COMPLETED", source="sacct")
    assert sc.merge_records([live], [final])["1_0"].state == "COMPLETED"
    assert sc.merge_records([final], [live])["1_0"].state == "COMPLETED"


def test_expand_indices():
    assert sc.expand_indices("0-3,7,9-10%2") == [0, 1, 2, 3, 7, 9, 10]
    assert sc.expand_indices("[4-5%2]") == [4, 5]


def test_query_line_and_sections():
    line = sc.query_line(["12", "13"])
    assert "scontrol -o show job" in line and "sacct" in line
    with pytest.raises(ValueError):
        sc.query_line(["12; touch /tmp/x"])
    text = "@@TJ scontrol\nJobId=1\n@@TJ sacct\n1|COMPLETED|0:0\n@@TJ end\n"
    assert sc.split_sections(text) == {"scontrol": "JobId=1", "sacct": "1|COMPLETED|0:0", "end": ""}


def test_scancel_argv_validates_ids():
    assert sc.scancel_argv(["12", "13_4"]) == ["scancel", "12", "13_4"]
    for bad in ("12;reboot", "$(id)", "12 13", "-u root"):
        with pytest.raises(ValueError):
            sc.scancel_argv([bad])
