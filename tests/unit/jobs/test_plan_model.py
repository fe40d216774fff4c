"""plan.json: typed, validated when read, compatible with the files written before msgspec."""

from __future__ import annotations

import json

import msgspec
import pytest

from tramway_jupyter.exceptions import PlanFileError
from tramway_jupyter.jobs.batchdir import BatchDir
from tramway_jupyter.jobs.plan_model import PLAN_VERSION, Job, Plan, StageSpec, Task


def _plan() -> Plan:
    t1 = Task("a-0", "s", "roi", "/d/a.txt", "a", roi_index=0, roi_file="/d/a-roi.txt",
              params={"x": 1.5}, fingerprint="f0", job_index=0)
    t2 = Task("b-0", "t", "file", "/d/a.txt", "a", depends_on=("a-0",), job_index=1)
    return Plan("b1", (StageSpec("s", "roi", "templates/s.ipynb"),
                       StageSpec("t", "file", "templates/t.ipynb")), (t1, t2),
                (Job(0, "s", ("a-0",)), Job(1, "t", ("b-0",), depends_on=(0,), attempt=2)),
                task_timeout=30.0)


# what the dataclass version wrote (json.dumps(plan.to_json(), indent=1)), verbatim keys
OLD_PLAN = {
    "version": 1, "batch_id": "b1",
    "stages": [{"name": "s", "per": "roi", "template": "templates/s.ipynb"},
               {"name": "t", "per": "file", "template": "templates/t.ipynb"}],
    "tasks": [{"task_id": "a-0", "stage": "s", "per": "roi", "source": "/d/a.txt",
               "file_key": "a", "roi_index": 0, "roi_file": "/d/a-roi.txt", "params": {"x": 1.5},
               "depends_on": [], "fingerprint": "f0", "job_index": 0},
              {"task_id": "b-0", "stage": "t", "per": "file", "source": "/d/a.txt",
               "file_key": "a", "roi_index": None, "roi_file": None, "params": {},
               "depends_on": ["a-0"], "fingerprint": "", "job_index": 1}],
    "jobs": [{"job_index": 0, "stage": "s", "task_ids": ["a-0"], "depends_on": [], "attempt": 1},
             {"job_index": 1, "stage": "t", "task_ids": ["b-0"], "depends_on": [0],
              "attempt": 2}],
    "isolate": False, "engine": "shell", "kernel_name": "python3", "task_timeout": 30,
    "keep_notebooks": "auto", "max_output_bytes": 262144, "max_rich_outputs": 20,
    "max_rich_bytes": 2097152,
}


def test_round_trip_and_the_old_files(tmp_path):
    bd = BatchDir(tmp_path)
    plan = _plan()
    bd.write_plan(plan)
    assert bd.read_plan() == plan
    assert bd.read_plan().task("b-0").depends_on == ("a-0",)
    assert bd.read_plan().job(1).attempt == 2
    # the keys written are those written before (older readers use json.load)
    written = json.loads(bd.plan_path.read_text())
    # ... plus, with their defaults, the fields of time segments and sweeps (issue 10)
    new_task = {"segment_index": None, "t_start": None, "t_end": None, "sweep": {}}
    assert written == {**OLD_PLAN, "task_timeout": 30.0,
                       "max_rich_outputs": written["max_rich_outputs"],
                       "max_rich_bytes": written["max_rich_bytes"],
                       "stages": [{**st, "swept": True} for st in OLD_PLAN["stages"]],
                       "tasks": [{**t, **new_task} for t in OLD_PLAN["tasks"]],
                       "sweep_names": [], "segments": None}
    # a plan.json written by the dataclass version reads as the same plan
    bd.plan_path.write_text(json.dumps({**OLD_PLAN, "max_rich_outputs": plan.max_rich_outputs,
                                        "max_rich_bytes": plan.max_rich_bytes}, indent=1))
    assert bd.read_plan() == plan


def test_replace_keeps_frozen_and_resets_the_task_index():
    plan = _plan()
    assert plan.task("a-0").roi_index == 0
    with pytest.raises(AttributeError):
        plan.batch_id = "x"  # type: ignore[misc]
    moved = plan.with_jobs((), tuple(msgspec.structs.replace(t, job_index=-1) for t in plan.tasks))
    assert moved.task("a-0").job_index == -1 and plan.task("a-0").job_index == 0
    assert moved.jobs == () and "_idx" not in msgspec.to_builtins(moved)


@pytest.mark.parametrize("content, says", [
    (b"{not json", "not a valid plan.json: JSON is malformed"),
    (b"[]", "Expected `object`, got `array`"),
    (json.dumps({**OLD_PLAN, "tasks": [{**OLD_PLAN["tasks"][0], "roi_index": "3"}]}).encode(),
     "Expected `int | null`, got `str` - at `$.tasks[0].roi_index`"),
    (json.dumps({**OLD_PLAN, "stages": [{"name": "s", "per": "cell", "template": "x"}]}).encode(),
     "Invalid enum value 'cell' - at `$.stages[0].per`"),
    (json.dumps({k: v for k, v in OLD_PLAN.items() if k != "jobs"}).encode(),
     "missing required field `jobs`"),
])
def test_a_corrupt_plan_is_a_clear_error_naming_the_file(tmp_path, content, says):
    bd = BatchDir(tmp_path)
    bd.plan_path.write_bytes(content)
    with pytest.raises(PlanFileError) as info:
        bd.read_plan()
    assert str(bd.plan_path) in str(info.value) and says in str(info.value)


def test_a_plan_of_another_format_says_so(tmp_path):
    bd = BatchDir(tmp_path)
    # a future format whose fields no longer fit is still said to be another format
    bd.plan_path.write_text(json.dumps({**OLD_PLAN, "version": PLAN_VERSION + 1, "tasks": {}}))
    with pytest.raises(PlanFileError, match=rf"format {PLAN_VERSION + 1}.*reads format "
                                            rf"{PLAN_VERSION}: use the same tramway-jupyter"):
        bd.read_plan()
    bd.plan_path.write_text(json.dumps({**OLD_PLAN, "version": PLAN_VERSION + 1}))
    with pytest.raises(PlanFileError, match=str(bd.plan_path)):
        bd.read_plan()


def test_a_missing_plan_is_still_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no plan.json"):
        BatchDir(tmp_path).read_plan()
