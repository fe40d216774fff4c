"""The batch summary's aggregate queries: durations histogram and failures grouped by error."""

from __future__ import annotations

import pytest


def _batch(store, states, durations, errors):
    n = len(states)
    store.add_batch(
        "b", name="n", batch_dir="/tmp/x", backend="local", profile="local",
        jobs=[{"job_index": 0, "stage": "s", "n_tasks": n}],
        tasks=[{"task_id": f"t{i}", "job_index": 0, "stage": "s", "source": "/d.txt",
                "roi_index": i} for i in range(n)],
    )
    store.update_tasks("b", [{"task_id": f"t{i}", "state": s, "duration": d, "error": e}
                             for i, (s, d, e) in enumerate(zip(states, durations, errors, strict=True))])


def test_histogram_bins_done_tasks_only(store):
    _batch(store, ["done"] * 5 + ["failed"], [0.0, 1.0, 2.5, 9.9, 10.0, 100.0], [None] * 6)
    lo, hi, counts = store.duration_histogram("b", bins=4)
    assert (lo, hi) == (0.0, 10.0)
    assert counts == [2, 1, 0, 2]  # the longest falls in the last bin, not past it


def test_histogram_of_equal_durations_and_of_none(store):
    _batch(store, ["done", "done", "running"], [3.0, 3.0, None], [None] * 3)
    assert store.duration_histogram("b", bins=10) == (3.0, 3.0, [2] + [0] * 9)
    assert store.duration_histogram("other") is None
    with pytest.raises(ValueError, match="bins must be >= 1"):
        store.duration_histogram("b", bins=0)


def test_failures_grouped_most_frequent_first(store):
    states = ["failed", "failed", "lost", "failed", "done", "cancelled"]
    errors = ["E: a", "E: b", "E: a", None, None, "E: c"]
    _batch(store, states, [1.0] * 6, errors)
    groups, total = store.failure_groups("b")
    assert groups == [("E: a", 2), (None, 1), ("E: b", 1)]
    assert total == 4
    assert store.failure_groups("b", limit=1) == ([("E: a", 2)], 4)
