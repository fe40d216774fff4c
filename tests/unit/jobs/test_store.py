import multiprocessing as mp
import sqlite3

import pytest

from tramway_jupyter.exceptions import BatchNotFoundError
from tramway_jupyter.jobs.store import MIGRATIONS, Store


def _add(store, batch_id="b1", n=3):
    store.add_batch(
        batch_id, name="n", batch_dir="/tmp/x", backend="local", profile="local",
        jobs=[{"job_index": 0, "stage": "s", "n_tasks": n}],
        tasks=[{"task_id": f"t{i}", "job_index": 0, "stage": "s", "source": "/d.txt",
                "roi_index": i, "fingerprint": f"fp{i}"} for i in range(n)],
    )


def test_schema_version_and_wal(store):
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_batch_counts_and_transitions(store):
    _add(store)
    store.update_tasks("b1", [{"task_id": "t0", "state": "running", "attempt": 1}])
    store.update_tasks("b1", [{"task_id": "t0", "state": "done", "attempt": 1, "duration": 1.5}])
    row = store.get_batch("b1")
    assert row.counts == {"done": 1, "pending": 2}
    assert row.state.value == "running"
    assert 0.3 < row.progress < 0.34
    states = [t["to_state"] for t in store.transitions("b1", "t0")]
    assert states == ["pending", "running", "done"]
    assert store.attempts("b1", "t0")[0]["state"] == "done"


def test_older_attempt_never_overwrites_newer(store):
    _add(store)
    store.update_tasks("b1", [{"task_id": "t1", "state": "pending", "attempt": 2}])
    store.update_tasks("b1", [{"task_id": "t1", "state": "failed", "attempt": 1}])
    assert store.task("b1", "t1").state == "pending"


def test_prefix_lookup_and_missing(store):
    _add(store, "20260101-abc")
    assert store.get_batch("20260101").batch_id == "20260101-abc"
    with pytest.raises(BatchNotFoundError, match="nope"):
        store.get_batch("nope")


def test_find_done_by_fingerprint(store):
    _add(store)
    store.update_tasks("b1", [{"task_id": "t2", "state": "done"}])
    assert store.find_done(["fp2", "fp1"]) == {"fp2": ("b1", "t2", "/tmp/x")}
    store.delete_batch("b1")
    assert store.find_done(["fp2"]) == {}
    assert store.list_batches() == []


def _writer(path, k):
    s = Store(path)
    for i in range(50):
        s.update_tasks("b1", [{"task_id": f"t{k}", "state": "running" if i % 2 else "queued"}])


def test_concurrent_writers(store):
    _add(store, n=4)
    procs = [mp.get_context("spawn").Process(target=_writer, args=(str(store.path), k))
             for k in range(4)]
    for p in procs:
        p.start()
    for _ in range(100):  # a reader in the meantime
        assert store.get_batch("b1").n_tasks == 4
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(store.transitions("b1")) == 4 + 4 * 50


def _busy_writer(path: str, n: int) -> None:
    st = Store(path)
    for i in range(n):
        st.update_tasks("b", [{"task_id": f"t{i}", "state": "done", "error": "e" * 300}])


def test_opening_while_another_process_checkpoints_is_not_damage(tmp_path):
    # a checkpoint writes page 1 (the new page count) before the file grows: a reader opening
    # the store then must not take it for a truncated file (workers open it once per job)
    import multiprocessing

    path = tmp_path / "s.sqlite"
    n = 4000
    Store(path).add_batch(
        "b", name="b", batch_dir=str(tmp_path), backend="local", profile="local",
        jobs=[{"job_index": 0, "stage": "s", "n_tasks": n}],
        tasks=[{"task_id": f"t{i}", "job_index": 0, "stage": "s", "source": "x" * 200}
               for i in range(n)])
    writer = multiprocessing.get_context("fork").Process(target=_busy_writer, args=(str(path), n))
    writer.start()
    opened = 0
    try:
        while writer.is_alive():
            Store(path).close()
            opened += 1
    finally:
        writer.join()
    assert writer.exitcode == 0 and opened > 10
