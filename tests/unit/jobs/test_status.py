"""The one status model: records, the supersedes rule, the store update, journal validation."""

from __future__ import annotations

import logging

import msgspec
import pytest

from tramway_jupyter.jobs.batchdir import BatchDir
from tramway_jupyter.jobs.states import State, job_outcome
from tramway_jupyter.jobs.status import TaskError, TaskStatus, decode, encode, supersedes


def test_round_trip_and_enum_state():
    st = TaskStatus(state=State.FAILED, attempt=2, job_index=3, task_id="t1",
                    error=TaskError(ename="ValueError", evalue="bad", cell_index=4),
                    records=["d"])
    back = decode(encode(st))
    assert back == st and back.state is State.FAILED and back.error.cell_index == 4


@pytest.mark.parametrize("line, where", [
    (b'{"task_id": "t", "state": "exploded"}', "$.state"),
    (b'{"task_id": "t", "state": "done", "attempt": "two"}', "$.attempt"),
    (b'{"task_id": "t", "state": "failed", "error": {"evalue": "no ename"}}', "ename"),
])
def test_invalid_record_names_the_field(line, where):
    with pytest.raises(msgspec.ValidationError, match=r"\$|ename") as exc:
        decode(line)
    assert where in str(exc.value)


def test_ended_and_supersedes():
    running1 = TaskStatus(state=State.RUNNING, attempt=1)
    done1 = TaskStatus(state=State.DONE, attempt=1)
    running2 = TaskStatus(state=State.RUNNING, attempt=2)
    assert not running1.ended(1) and done1.ended(1) and not done1.ended(2)
    assert running2.ended(1)  # a newer attempt owns the task
    worker, verdict = done1.rank(from_worker=True), done1.rank(from_worker=False)
    assert supersedes(worker, verdict) and not supersedes(verdict, worker)
    assert supersedes(running2.rank(from_worker=False), worker)  # a retry beats the old end
    assert not supersedes(running1.rank(from_worker=True), worker)  # a straggler never undoes


def test_store_update_and_summary():
    err = TaskError(ename="KeyError", evalue="x" * 400, cell_index=2)
    u = TaskStatus(state=State.FAILED, attempt=1, job_index=0, error=err).store_update("t9")
    assert u["task_id"] == "t9" and u["state"] == "failed" and u["job_index"] == 0
    assert u["error"].startswith("KeyError: xxx") and u["error"].endswith("… (cell 2)")
    assert TaskError.job_ended(State.FAILED, "TIMEOUT").ename == "JobFailed"
    assert TaskError.job_ended(State.LOST, "killed").ename == "Lost"


def test_job_outcome():
    assert job_outcome(["done", "done"]) is State.DONE
    assert job_outcome(["cancelled"]) is State.CANCELLED
    assert job_outcome(["done", "cancelled"]) is State.FAILED


def test_journal_skips_an_invalid_line_and_names_it(tmp_path, caplog):
    bd = BatchDir(tmp_path / "b")
    bd.create()
    bd.write_status("t1", TaskStatus(state=State.DONE, job_index=0), worker=True)
    path = bd.journal_path(0)
    with open(path, "ab") as fh:
        fh.write(b'{"task_id": "t2", "state": "done", "attempt": "x"}\n')
    bd.write_status("t3", TaskStatus(state=State.FAILED, job_index=0), worker=True)
    with caplog.at_level(logging.WARNING, logger="tramway_jupyter.jobs.journal"):
        got = bd.read_statuses()
    assert set(got) == {"t1", "t3"}
    assert f"{path}, line 2" in caplog.text and "$.attempt" in caplog.text
