"""The ETA of a running batch, from the store's per-stage aggregates."""

from __future__ import annotations

import pytest

from tramway_jupyter.jobs.eta import StageProgress, eta_seconds
from tramway_jupyter.jobs.store import Store


def _task(tid: str, stage: str, state: str, duration: float | None = None,
          cached_from: str | None = None) -> dict[str, object]:
    return {"task_id": tid, "job_index": 0, "stage": stage, "source": "/d/a.txt",
            "state": state, "duration": duration, "cached_from": cached_from}


def test_eta_from_store_rows(store: Store, tmp_path) -> None:
    tasks = [
        _task("p0", "prep", "done", 2.0), _task("p1", "prep", "done", 4.0),
        _task("p2", "prep", "done", 100.0, cached_from="old/p2"),  # reused: not timed here
        _task("p3", "prep", "running"), _task("p4", "prep", "pending"),
        _task("w0", "work", "done", 10.0), _task("w1", "work", "running"),
        _task("w2", "work", "queued"), _task("w3", "work", "failed", 1.0),
    ]
    store.add_batch("b1", name="b", batch_dir=str(tmp_path), backend="local", profile="local",
                    jobs=[{"job_index": 0, "stage": "prep", "n_tasks": len(tasks)}], tasks=tasks)
    rows = {r.stage: r for r in store.stage_progress("b1")}
    assert rows["prep"] == StageProgress("prep", done=2, mean_duration=3.0, remaining=2,
                                         running=1)
    assert rows["work"] == StageProgress("work", done=1, mean_duration=10.0, remaining=2,
                                         running=1)
    # prep: 2 left x 3 s, work: 2 left x 10 s, over the 2 tasks running now
    assert store.eta("b1") == pytest.approx((2 * 3 + 2 * 10) / 2)


def test_eta_none_before_the_first_task_and_after_the_last(store: Store, tmp_path) -> None:
    store.add_batch("b2", name="b", batch_dir=str(tmp_path), backend="local", profile="local",
                    jobs=[{"job_index": 0, "stage": "s", "n_tasks": 2}],
                    tasks=[_task("a", "s", "running"), _task("b", "s", "queued")])
    assert store.eta("b2") is None
    store.add_batch("b3", name="b", batch_dir=str(tmp_path), backend="local", profile="local",
                    jobs=[{"job_index": 0, "stage": "s", "n_tasks": 1}],
                    tasks=[_task("a", "s", "done", 1.0)])
    assert store.eta("b3") is None
    assert store.eta("no-such-batch") is None


def test_a_stage_not_started_borrows_the_mean_of_the_others() -> None:
    rows = [StageProgress("a", done=2, mean_duration=4.0, remaining=0, running=0),
            StageProgress("b", done=0, mean_duration=None, remaining=3, running=0)]
    assert eta_seconds(rows) == pytest.approx(12.0)  # 3 x 4 s, one at a time (none running)
