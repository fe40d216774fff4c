"""A job store filled by hand: three batches with status files, logs and output notebooks."""

from __future__ import annotations

import json
from pathlib import Path

from tramway_jupyter.jobs.batchdir import BatchDir
from tramway_jupyter.jobs.states import State
from tramway_jupyter.jobs.status import TaskError, TaskStatus
from tramway_jupyter.jobs.store import Store

TRACEBACK = (
    'Traceback (most recent call last):\n  File "<cell 3>", line 2\n'
    "ValueError: ROI 1 of sim1 has no translocations"
)
NB = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}


def add_batch(
    store: Store, batch_id: str, root: Path, states: list[str], *, name: str, created: float
) -> BatchDir:
    """One stage, one job per two tasks; failed tasks get an error, done ones a notebook."""
    bd = BatchDir(root / batch_id)
    bd.create()
    tasks = []
    for i, st in enumerate(states):
        tid = f"infer-sim{i // 2}-r{i % 2}"
        tasks.append(
            {
                "task_id": tid,
                "job_index": i // 2,
                "stage": "infer",
                "source": f"sim{i // 2}.rpt.txt",
                "roi_index": i % 2,
                "state": st,
                "notebook": f"notebooks/{tid}.ipynb" if st in ("done", "failed") else None,
            }
        )
    jobs = [
        {
            "job_index": j,
            "stage": "infer",
            "n_tasks": 2,
            "state": "running"
            if any(s in ("running", "queued") for s in states[2 * j : 2 * j + 2])
            else "done",
        }
        for j in range((len(states) + 1) // 2)
    ]
    store.add_batch(
        batch_id,
        name=name,
        batch_dir=str(bd.root),
        backend="local",
        profile="local",
        notebook="analysis.ipynb",
        jobs=jobs,
        tasks=tasks,
        created=created,
    )
    updates = []
    for t in tasks:
        st = State(t["state"])
        err = None
        if st is State.FAILED:
            err = {
                "cell_index": 3,
                "ename": "ValueError",
                "evalue": f"ROI {t['roi_index']} of sim has no translocations",
                "traceback": TRACEBACK,
                "source": "maps = infer(cells)",
            }
            updates.append(
                {"task_id": t["task_id"], "error": f"ValueError: {err['evalue']}", "duration": 1.5}
            )
            bd.task_log_path(t["task_id"]).write_text(f"printed by {t['task_id']}\n")
        elif st is State.DONE:
            updates.append({"task_id": t["task_id"], "duration": 2.0})
        if st.is_final or st is State.RUNNING:
            bd.write_status(
                t["task_id"],
                TaskStatus(state=st,
                    attempt=1,
                    job_index=t["job_index"],
                    error=TaskError(**err) if err else None,
                    notebook=t["notebook"],
                    host="localhost",
                ),
            )
        if t["notebook"]:
            bd.notebook_path(t["task_id"]).write_text(json.dumps(NB))
        log = bd.job_log_path(t["job_index"], 1)
        if not log.exists():
            log.write_text(f"job {t['job_index']} attempt 1 on localhost\nrunning {t['task_id']}\n")
    store.update_tasks(batch_id, updates)
    return bd


def make_store(path: Path, root: Path, outside: Path) -> Store:
    store = Store(path)
    add_batch(
        store, "b-done", root, ["done", "done", "done", "done"], name="all done", created=1000.0
    )
    add_batch(
        store,
        "b-mixed",
        root,
        ["done", "failed", "running", "queued"],
        name="mixed",
        created=2000.0,
    )
    add_batch(
        store, "b-fail", root, ["done", "failed"], name="finished with a failure", created=3000.0
    )
    # a batch whose directory is outside the Jupyter server root
    add_batch(store, "b-outside", outside, ["done", "done"], name="outside", created=500.0)
    return store


#: States of the tasks of the second stage of ``add_large_batch``, cycling (the first is done).
LARGE_CYCLE = ["done"] * 6 + ["failed", "running", "queued", "pending"]


def large_task_state(i: int, n: int) -> tuple[str, str]:
    """(stage, state) of task ``i`` of ``add_large_batch``'s batch of ``n`` tasks."""
    if i < n // 5:
        return "tessellate", "done"
    return "infer", LARGE_CYCLE[i % len(LARGE_CYCLE)]


def add_large_batch(
    store: Store,
    batch_id: str,
    root: Path,
    n: int,
    *,
    name: str | None = None,
    created: float = 5000.0,
    per_job: int = 50,
) -> BatchDir:
    """A batch of ``n`` tasks inserted straight into the store (bulk, one transaction): the
    first fifth of stage ``tessellate``, all done, then stage ``infer`` cycling through
    LARGE_CYCLE; ``per_job`` tasks per job; failed tasks carry an error, durations vary."""
    assert (n // 5) % per_job == 0, "each job must hold one stage"
    bd = BatchDir(root / batch_id)
    bd.create()
    tasks = []
    for i in range(n):
        stage, state = large_task_state(i, n)
        tasks.append(
            {
                "task_id": f"{stage}-f{i // 100:04d}-r{i % 100:02d}",
                "job_index": i // per_job,
                "stage": stage,
                "source": f"data/file{i // 100:04d}.rpt.txt",
                "roi_index": i % 100,
                "state": state,
                "duration": ((i * 7919) % 1000) / 10 if state in ("done", "failed") else None,
                "notebook": f"notebooks/{stage}-{i}.ipynb" if state in ("done", "failed") else None,
            }
        )
    jobs = [
        {
            "job_index": j,
            "stage": tasks[j * per_job]["stage"],
            "n_tasks": len(tasks[j * per_job : (j + 1) * per_job]),
            "state": "done" if tasks[j * per_job]["stage"] == "tessellate" else "running",
        }
        for j in range((n + per_job - 1) // per_job)
    ]
    store.add_batch(
        batch_id,
        name=name or batch_id,
        batch_dir=str(bd.root),
        backend="local",
        profile="local",
        notebook="analysis.ipynb",
        jobs=jobs,
        tasks=tasks,
        created=created,
    )
    store.update_tasks(
        batch_id,
        [
            {"task_id": t["task_id"], "error": f"ValueError: ROI {t['roi_index']} has no tracks"}
            for t in tasks
            if t["state"] == "failed"
        ],
    )
    return bd
