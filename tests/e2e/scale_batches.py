"""Big finished batches written straight into a job store and a batch directory.

What the worker and sync would leave behind for N trivial tasks (rows, records files, the status
files of failed tasks), without running them: the CLI and ``Results`` read them as any batch.
Used by ``test_cli_scale.py`` and by the figures of the report (``python -m
tests.e2e.scale_batches N``).
"""

from __future__ import annotations

import json
import os
import pickle
import time
from pathlib import Path

from tramway_jupyter.jobs.batchdir import BatchDir
from tramway_jupyter.jobs.states import State
from tramway_jupyter.jobs.status import TaskError, TaskStatus
from tramway_jupyter.jobs.store import Store

TASKS_PER_JOB = 100


def insert_batch(store: Store, root: Path, batch_id: str, n_tasks: int, *, n_failed: int = 0,
                 legacy: bool = False, name: str = "scale", n_files: int = 100) -> BatchDir:
    """A finished batch of ``n_tasks`` tasks of stage ``work`` (the last ``n_failed`` failed).

    Each done task recorded ``value`` (its index) and ``xs`` (a short list). ``legacy``: the
    names and records file are only in the status files (a store written before the records
    column), as runs of today leave them.
    """
    bdir = BatchDir(root / batch_id)
    bdir.create()
    res_dir = bdir.root / "results"
    tasks = []
    per_file = max(1, n_tasks // n_files)
    for i in range(n_tasks):
        f, r = divmod(i, per_file)
        tid = f"work-f{f:03d}-r{r:04d}"
        failed = i >= n_tasks - n_failed
        state = State.FAILED if failed else State.DONE
        row = {"task_id": tid, "job_index": i // TASKS_PER_JOB, "stage": "work",
               "source": f"/data/file{f:03d}.rpt.txt", "roi_index": r, "state": state.value,
               "duration": 0.01, "notebook": f"notebooks/{tid}.ipynb"}
        if failed:
            err = {"ename": "ValueError", "evalue": f"bad ROI {r} in file {f}",
                   "traceback": f"Traceback (most recent call last):\n  cell 2\nValueError: "
                                f"bad ROI {r} in file {f}", "cell_index": 2, "source": ""}
            bdir.write_status(tid, TaskStatus(state=state, attempt=1, job_index=row["job_index"],
                                              error=TaskError(**err) if err else None, notebook=row["notebook"]), worker=True)
        else:
            with open(res_dir / f"{tid}.pkl", "wb") as fh:
                pickle.dump({"value": i, "xs": [i, i + 1, i + 2]}, fh)
            rel = f"results/{tid}.pkl"
            if legacy:
                bdir.write_status(tid, TaskStatus(state=state, attempt=1, job_index=row["job_index"],
                                                  records=["value", "xs"], results=rel,
                                                  notebook=row["notebook"]), worker=True)
            else:
                row.update(records=["value", "xs"], results=rel)
        tasks.append(row)
    n_jobs = (n_tasks + TASKS_PER_JOB - 1) // TASKS_PER_JOB
    jobs = [{"job_index": j, "stage": "work", "state": "done",
             "n_tasks": min(TASKS_PER_JOB, n_tasks - j * TASKS_PER_JOB)} for j in range(n_jobs)]
    store.add_batch(batch_id, name=name, batch_dir=str(bdir.root), backend="local",
                    profile="local", meta={"profile": {"name": "local", "backend": "local"}},
                    jobs=jobs, tasks=tasks)
    failed_ids = [t["task_id"] for t in tasks if t["state"] == "failed"]
    if failed_ids:  # the one-line error that sync keeps in the store
        store.update_tasks(batch_id, [{"task_id": tid, "error": "ValueError: bad ROI"}
                                      for tid in failed_ids])
    (bdir.root / "batch.json").write_text(json.dumps({"batch_id": batch_id, "name": name}))
    return bdir


if __name__ == "__main__":  # pragma: no cover - figures for the report
    import sys

    n = int(sys.argv[1])
    home = Path(os.environ["TRAMWAY_JUPYTER_HOME"])
    t0 = time.perf_counter()
    insert_batch(Store(home / "store.sqlite"), home / "batches", f"scale{n}", n,
                 n_failed=n // 1000)
    print(f"inserted {n} tasks in {time.perf_counter() - t0:.1f} s")
