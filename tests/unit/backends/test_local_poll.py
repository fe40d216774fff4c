"""The local backend's poll while a dispatcher is being started (a real store and processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tramway_jupyter.backends.context import BatchContext
from tramway_jupyter.backends.local import LocalBackend
from tramway_jupyter.backends.procs import process_id
from tramway_jupyter.backends.profiles import Profile
from tramway_jupyter.jobs.batchdir import BatchDir
from tramway_jupyter.jobs.plan_model import Job, Plan, StageSpec, Task
from tramway_jupyter.jobs.states import State
from tramway_jupyter.jobs.store import Store


def _queued_batch(tmp_path) -> BatchContext:
    task = Task("s-0", "s", "file", "/data/a.rpt.txt", "f000", job_index=0)
    plan = Plan("b1", (StageSpec("s", "file", "templates/s.ipynb"),), (task,),
                (Job(0, "s", ("s-0",)),))
    bd = BatchDir(tmp_path / "b1")
    bd.create()
    bd.write_plan(plan)
    store = Store(tmp_path / "store.sqlite")
    store.add_batch("b1", name="b", batch_dir=str(bd.root), backend="local", profile="local",
                    jobs=[{"job_index": 0, "stage": "s", "n_tasks": 1, "state": "queued"}],
                    tasks=[{"task_id": "s-0", "job_index": 0, "stage": "s", "source": task.source,
                            "state": "queued"}])
    return BatchContext("b1", bd, store, Profile(name="local"))


def test_queued_jobs_are_not_lost_while_a_live_process_starts_their_dispatcher(tmp_path):
    ctx = _queued_batch(tmp_path)
    backend = LocalBackend(Profile(name="local"))
    ctx.store.update_batch_meta("b1", launching=[process_id(os.getpid()), time.time()])
    assert backend.poll(ctx) == {}  # the warm pool may take seconds to fork the dispatcher


def test_queued_jobs_are_lost_when_the_launching_process_died(tmp_path):
    ctx = _queued_batch(tmp_path)
    backend = LocalBackend(Profile(name="local"))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ctx.store.update_batch_meta("b1", launching=[process_id(dead.pid), time.time()])
    verdicts = backend.poll(ctx)
    assert verdicts and verdicts[0][0] is State.LOST
