"""The poll query and Slurm's answers, against golden files (real outputs of the test cluster).

After an intended change, rewrite the golden files with
``UPDATE_GOLDEN=1 pytest tests/unit/backends/test_slurm_query.py`` and review the diff.
"""

from __future__ import annotations

import pytest

from tramway_jupyter.backends import slurm_query as sq
from tramway_jupyter.jobs.states import State

from . import golden


def test_parse_scontrol_failed_array():
    recs = {r.key: r for r in sq.parse_scontrol_jobs(golden.read("scontrol_show_job_failed_array.txt"))}
    assert len(recs) == 3
    states = {k.split("_")[1]: (r.state, r.exit_code) for k, r in recs.items()}
    assert states == {"0": ("COMPLETED", "0:0"), "1": ("FAILED", "3:0"), "2": ("COMPLETED", "0:0")}
    state, reason = next(r for r in recs.values() if r.state == "FAILED").verdict()
    assert state is State.FAILED and "exit code 3" in reason


def test_parse_scontrol_throttled_array_expands_pending_elements():
    recs = {r.key: r for r in sq.parse_scontrol_jobs(golden.read("scontrol_show_job_throttled_array.txt"))}
    by_task = {r.task_id: r.state for r in recs.values()}
    assert by_task["4"] == "PENDING" and by_task["5"] == "PENDING"
    assert by_task["0"] == "CANCELLED"
    assert sorted(by_task) == ["0", "1", "2", "3", "4", "5"]


def test_parse_scontrol_keeps_values_with_spaces():
    d = sq.parse_scontrol_line("JobId=5 JobName=name with spaces JobState=RUNNING Reason=None")
    assert d["JobName"] == "name with spaces" and d["JobState"] == "RUNNING"


def test_parse_sacct_golden():
    recs = {r.key: r for r in sq.parse_sacct(golden.read("sacct.txt"))}
    assert recs["154"].state == "CANCELLED"  # "CANCELLED by 0"
    assert recs["152_2"].exit_code == "6:0"
    assert {"153_3", "153_4", "153_5"} <= set(recs)
    assert recs["152_1"].verdict()[0] is State.FAILED
    assert "walltime" in recs["152_1"].verdict()[1]
    assert recs["155"].verdict()[0] is State.FAILED and "memory" in recs["155"].verdict()[1]


def test_parse_jobcomp_golden():
    recs = sq.parse_jobcomp(golden.read("jobcomp.txt"))
    assert recs and all(r.task_id is not None for r in recs)
    assert {r.state for r in recs} >= {"COMPLETED", "FAILED", "CANCELLED"}
    only = sq.parse_jobcomp(golden.read("jobcomp.txt"), array_ids=[recs[0].array_job_id])
    assert only and all(r.array_job_id == recs[0].array_job_id for r in only)


@pytest.mark.parametrize("slurm,ours", [
    ("COMPLETED", State.LOST), ("FAILED", State.FAILED), ("TIMEOUT", State.FAILED),
    ("CANCELLED", State.CANCELLED), ("OUT_OF_MEMORY", State.FAILED), ("NODE_FAIL", State.LOST),
    ("PREEMPTED", State.LOST), ("BOOT_FAIL", State.LOST), ("WHATEVER", State.LOST),
])
def test_verdicts_of_final_states(slurm, ours):
    state, reason = sq.SlurmRecord("7", "1", slurm, "0:9").verdict()
    assert state is ours
    assert "7_1" in reason


def test_signal_is_reported():
    assert "signal 9" in sq.SlurmRecord("7", None, "CANCELLED", "0:9").verdict()[1]


def test_merge_records_prefers_final_state():
    live = sq.SlurmRecord("1", "0", "RUNNING")
    final = sq.SlurmRecord("1", "0", "COMPLETED", source="sacct")
    assert sq.merge_records([live], [final])["1_0"].state == "COMPLETED"
    assert sq.merge_records([final], [live])["1_0"].state == "COMPLETED"


def test_expand_indices():
    assert sq.expand_indices("0-3,7,9-10%2") == [0, 1, 2, 3, 7, 9, 10]
    assert sq.expand_indices("[4-5%2]") == [4, 5]


def test_poll_line_golden():
    """The exact remote line of one poll (run by /bin/sh -c): every array, then the statuses."""
    line = sq.poll_line("/scratch/u/my batch", ["21", "24", "152"], since=1795449480.25)
    golden.check("poll_line.txt", line + "\n")
    assert sq.poll_line("/s/b", ["7"], None).count("-newermt") == 0


def test_query_line_takes_numeric_ids_only():
    for bad in ("12; touch /tmp/x", "$(id)", "1 2"):
        with pytest.raises(ValueError):
            sq.query_line([bad])


def _render(recs: dict[str, sq.SlurmRecord]) -> str:
    lines = []
    for key in sorted(recs, key=lambda k: [int(x) for x in k.split("_")]):
        r = recs[key]
        state, why = r.verdict() if r.is_final else (sq.SLURM_STATES[r.state], "")
        lines.append(f"{key} {r.source} {r.state} {r.exit_code or '-'} -> {state.value}"
                     + (f": {why}" if why else ""))
    return "\n".join(lines) + "\n"


def test_parse_query_output_golden():
    """A captured answer for arrays 21, 24 and 152: scontrol knows 24 (with pending elements
    not split off), only sacct knows 152, only the jobcomp file knows 21."""
    recs = sq.parse_query_output(golden.read("poll_output.txt"))
    golden.check("poll_records.txt", _render(recs))
    assert {r.source for r in recs.values()} == {"scontrol", "sacct", "jobcomp"}
    assert recs["24_4"].state == "PENDING" and recs["152_1"].state == "TIMEOUT"
    assert recs["21_1"].verdict()[0] is State.FAILED


def test_parse_query_output_reads_only_the_query_section():
    text = "noise JobId=9 JobState=FAILED\n@@TJ scontrol\nSACCT|5_0|COMPLETED|0:0|None\n@@TJ end\nJobId=8\n"
    assert list(sq.parse_query_output(text)) == ["5_0"]
