"""Another process closing the store never deletes the WAL under this process's connection."""

from __future__ import annotations

import os
import subprocess
import sys

from tramway_jupyter.jobs.store import Store

LIST = ("import sys; from tramway_jupyter.jobs.store import Store; "
        "print(' '.join(b.batch_id for b in Store(sys.argv[1]).list_batches()))")


def _add(store: Store, batch_id: str, tmp_path) -> None:
    store.add_batch(batch_id, name=batch_id, batch_dir=str(tmp_path / batch_id),
                    backend="local", profile="local",
                    tasks=[{"task_id": "t", "job_index": 0, "stage": "s", "source": "/d"}])


def _list_in_another_process(path) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", LIST, str(path)], capture_output=True,
                         text=True, check=True, env=env).stdout
    return out.split()


def test_commits_survive_other_processes_and_a_second_store_object(tmp_path):
    path = tmp_path / "store.sqlite"
    store = Store(path)
    _add(store, "b1", tmp_path)
    for i in range(2, 5):
        Store(path)  # another Store object of this process on the same file
        assert f"b{i - 1}" in _list_in_another_process(path)
        assert (tmp_path / "store.sqlite-wal").exists()  # still ours: nobody deleted it
        _add(store, f"b{i}", tmp_path)
    assert sorted(_list_in_another_process(path)) == ["b1", "b2", "b3", "b4"]
