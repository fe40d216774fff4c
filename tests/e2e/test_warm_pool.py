"""The warm worker pool and the local guards, with real daemons, dispatchers and workers."""

from __future__ import annotations

import os
import signal
import time
import warnings

import pytest

from tramway_jupyter import api
from tramway_jupyter.backends import pool
from tramway_jupyter.backends.local import cpu_count
from tramway_jupyter.backends.procs import is_alive
from tramway_jupyter.capture.pipeline import Pipeline

from .conftest import make_toy_data, wait_for


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


def _cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return fh.read().replace(b"\0", b" ").decode()


def _dispatcher_pid(batch) -> int:
    return int(batch.info().meta["dispatchers"][-1].partition(":")[0])


def test_rerun_forks_from_the_warm_pool_and_is_fast(tmp_path, store, toy_pipeline):
    data = make_toy_data(tmp_path / "data", ["a", "b"], n_rois=2)
    kw = dict(workers=2, store=store, force=True, batches_root=tmp_path / "batches")
    hold = tmp_path / "hold"
    hold.write_text("")
    first = api.run(toy_pipeline, str(data / "*.rpt.txt"), params={"hold": str(hold)}, **kw)
    daemon = pool.status()
    assert daemon is not None and daemon["ok"]
    disp = _dispatcher_pid(first)
    assert _ppid(disp) == daemon["pid"]  # forked by the pool, not started by this process
    running = wait_for(lambda: [s for s in first.dir.read_statuses().values()
                                if s.state == "running"])
    assert _ppid(running[0].pid) == disp  # the worker: a fork of the dispatcher
    hold.unlink()
    assert first.wait(60).counts() == {"done": 6}
    t0 = time.perf_counter()
    second = api.run(toy_pipeline, str(data / "*.rpt.txt"), **kw).wait(60)
    elapsed = time.perf_counter() - t0
    assert second.counts() == {"done": 6}
    assert pool.status()["pid"] == daemon["pid"]  # the same daemon served both runs
    own = sum(t.duration or 0 for t in second.tasks())
    # no Python started: dispatch + 2 workers + 6 tasks in well under a cold start (~1.5 s
    # idle; ~0.3 s measured warm, Batch.wait's polling included); loose for a loaded machine
    assert elapsed < own + 2.0, (elapsed, own)


LEAK_CELLS = [
    ("parameters", "moddir = ''"),
    ("setup", "import sys, json\nsys.path.insert(0, moddir)\nimport tj_leakmod\n"
              "import tramway_jupyter as tj"),
    ("stage look --per file",
     "tj.record('value', tj_leakmod.VALUE)\n"
     "tj.record('leaked', getattr(json, 'tj_leak', None))\n"
     "json.tj_leak = tj_leakmod.VALUE"),
]


def test_a_changed_module_or_mutated_state_does_not_leak_into_the_next_run(tmp_path, store):
    data = make_toy_data(tmp_path / "data", ["a"], n_rois=0)
    mod = tmp_path / "mods" / "tj_leakmod.py"
    mod.parent.mkdir()
    mod.write_text("VALUE = 1\n")
    p = Pipeline.from_cells(LEAK_CELLS)
    kw = dict(workers=1, store=store, force=True, batches_root=tmp_path / "batches",
              params={"moddir": str(mod.parent)})
    first = api.run(p, str(data / "*.rpt.txt"), **kw).wait(60).results()
    assert first.counts == {"done": 1}, first
    assert first.records("look-f000-a") == {"value": 1, "leaked": None}
    daemon = pool.status()["pid"]
    mod.write_text("VALUE = 2\n")  # the user edits their module between runs
    second = api.run(p, str(data / "*.rpt.txt"), **kw).wait(60).results()
    assert pool.status()["pid"] == daemon
    # a fresh fork: the new module is imported, the mutation of json by run 1 is gone
    assert second.records("look-f000-a") == {"value": 2, "leaked": None}


def test_another_environment_restarts_the_pool(tmp_path, store, toy_pipeline, monkeypatch):
    data = make_toy_data(tmp_path / "data", ["a"], n_rois=1)
    kw = dict(workers=1, store=store, force=True, batches_root=tmp_path / "batches")
    api.run(toy_pipeline, str(data / "*.rpt.txt"), **kw).wait(60)
    before = pool.status()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # read when numpy is imported: a new image
    b = api.run(toy_pipeline, str(data / "*.rpt.txt"), **kw).wait(60)
    assert b.counts() == {"done": 2}
    after = pool.status()
    assert after["pid"] != before["pid"] and after["fingerprint"] != before["fingerprint"]
    assert not is_alive(str(before["pid"]))
    assert after["fingerprint"] == pool.fingerprint()


def test_opt_out_starts_a_cold_dispatcher(tmp_path, store, toy_pipeline, monkeypatch):
    monkeypatch.setenv(pool.ENV_WARM_POOL, "0")
    data = make_toy_data(tmp_path / "data", ["a"], n_rois=1)
    hold = tmp_path / "hold"
    hold.write_text("")
    b = api.run(toy_pipeline, str(data / "*.rpt.txt"), workers=1, store=store,
                params={"hold": str(hold)}, batches_root=tmp_path / "batches")
    disp = _dispatcher_pid(b)
    wait_for(lambda: "tramway_jupyter.backends.local_runner" in _cmdline(disp), timeout=10)
    assert _ppid(disp) == os.getpid()
    hold.unlink()
    assert b.wait(60).counts() == {"done": 2}


@pytest.mark.parametrize("warm", ["1", "0"], ids=["pool", "cold"])
def test_killed_worker_loses_only_its_running_task(tmp_path, store, toy_pipeline, monkeypatch,
                                                   warm):
    monkeypatch.setenv(pool.ENV_WARM_POOL, warm)
    data = make_toy_data(tmp_path / "data", ["a"], n_rois=3)
    hold = tmp_path / "hold"
    hold.write_text("")
    batch = api.run(toy_pipeline, str(data / "a.rpt.txt"), workers=1, tasks_per_job=3,
                    params={"hold": str(hold)}, store=store, batches_root=tmp_path / "batches")
    work_job = {t.job_index for t in batch.tasks() if t.stage == "work"}
    assert len(work_job) == 1  # the 3 ROIs in one job
    tid = "work-f000-a-r000"
    st = wait_for(lambda: (s := batch.dir.read_status(tid)) and s.state == "running" and s)
    os.kill(st.pid, signal.SIGKILL)
    wait_for(lambda: batch.refresh().get("lost"), timeout=5)
    hold.unlink()
    batch.wait(timeout=60)
    assert batch.counts() == {"done": 3, "lost": 1}
    rows = {t.task_id: t for t in batch.tasks()}
    assert rows[tid].state == "lost" and "SIGKILL" in rows[tid].error
    assert {t for t, r in rows.items() if r.state == "done"} == {
        "prep-f000-a", "work-f000-a-r001", "work-f000-a-r002"}
    assert rows["work-f000-a-r001"].attempt == 1  # requeued in the same attempt, not retried


MEM_CELLS = [
    ("parameters", "size = 0"),
    ("setup", "import tramway_jupyter as tj"),
    ("stage grab --per file", "block = bytearray(size)\ntj.record('n', len(block))"),
]


@pytest.mark.parametrize("warm", ["1", "0"], ids=["pool", "cold"])
def test_mem_limit_reports_the_limit_to_raise(tmp_path, store, monkeypatch, warm):
    monkeypatch.setenv(pool.ENV_WARM_POOL, warm)
    data = make_toy_data(tmp_path / "data", ["a"], n_rois=0)
    p = Pipeline.from_cells(MEM_CELLS)
    kw = dict(workers=1, store=store, force=True, batches_root=tmp_path / "batches", mem="1G")
    ok = api.run(p, str(data / "*.rpt.txt"), params={"size": 10 << 20}, **kw).wait(60)
    assert ok.counts() == {"done": 1}
    big = api.run(p, str(data / "*.rpt.txt"), params={"size": 3 << 30}, **kw).wait(60)
    assert big.counts() == {"failed": 1}
    row = big.tasks()[0]
    assert "over its memory limit (1 GB): raise --mem" in row.error, row.error
    status = big.task_status(row.task_id)
    assert status["error"]["ename"] == "MemoryError"
    assert "raise --mem" in status["error"]["evalue"]


def test_workers_capped_to_the_cpus_unless_oversubscribe(tmp_path, store, toy_pipeline):
    data = make_toy_data(tmp_path / "data", ["a"], n_rois=1)
    kw = dict(store=store, force=True, batches_root=tmp_path / "batches")
    with pytest.warns(UserWarning, match=r"--workers 1000 is more than the \d+ CPU"):
        b = api.run(toy_pipeline, str(data / "*.rpt.txt"), workers=1000, **kw)
    assert b.info().meta["workers"] == cpu_count()
    b.wait(60)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b2 = api.run(toy_pipeline, str(data / "*.rpt.txt"), workers=cpu_count() + 1,
                     oversubscribe=True, **kw)
    assert b2.info().meta["workers"] == cpu_count() + 1
    assert b2.wait(60).counts() == {"done": 2}
