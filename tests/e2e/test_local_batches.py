"""The notebook-to-jobs line against real kernels and worker processes (no mocks)."""

from __future__ import annotations

import json
import os
import signal
import time

from tramway_jupyter import api
from tramway_jupyter.analysis import Maps, write_simulation
from tramway_jupyter.backends.procs import is_alive, process_id
from tramway_jupyter.demo import demo_pipeline

from .conftest import make_toy_data, wait_for


def test_quickstart_pipeline_local_2_files_x_4_rois(tmp_path, store):
    paths = write_simulation(tmp_path / "data", n_files=2, n_rois=4, seed=1)
    batch = api.run(demo_pipeline(), [str(p) for p in paths], profile="local", workers=2,
                    store=store, batches_root=tmp_path / "batches")
    batch.wait(timeout=240)
    res = batch.results()
    assert res.counts == {"done": 10}, res
    maps = res.get("maps")
    assert len(maps) == 8 and all(isinstance(m, Maps) for m in maps.values())
    assert {roi for (_, roi) in maps} == {0, 1, 2, 3}
    for row in res:
        assert row.notebook is not None and row.notebook.exists()
    d = [v for v in res.get("median_diffusivity").values()]
    assert all(0.35 < x < 0.65 for x in d), d  # truth: 0.5 µm²/s
    fig = res.plot_maps("maps", "diffusivity")
    assert len([ax for ax in fig.axes if ax.get_title()]) == 8


def test_failing_task_others_finish_then_retry(tmp_path, store, toy_pipeline):
    data = make_toy_data(tmp_path / "data", ["a", "b", "c"], n_rois=2, bad="b")
    batch = api.run(toy_pipeline, str(data / "*.rpt.txt"), workers=2, store=store,
                    batches_root=tmp_path / "batches")
    batch.wait(timeout=120)
    res = batch.results()
    assert res.counts == {"done": 7, "failed": 2}
    fails = {f.task_id: f for f in res.failures()}
    assert set(fails) == {"work-f001-b-r000", "work-f001-b-r001"}
    f = fails["work-f001-b-r000"]
    assert f.ename == "ValueError" and "bad data in b.rpt.txt" in f.evalue
    assert "raise ValueError" in f.traceback
    assert f.cell_index is not None and os.path.exists(f.notebook_path)
    assert f.source.endswith("b.rpt.txt") and f.roi_index == 0
    status = batch.task_status("work-f001-b-r000")
    assert "raise ValueError" in status["error"]["source"]
    # fix the data and retry the failed tasks only
    (data / "b.rpt.txt").write_text("1 0 0 0\n1 0.1 0.1 0.04 fixed\n")
    batch2 = api.get_batch(batch.batch_id, store)
    # the per-file stage of b already ran on the bad content: only failed tasks are retried
    assert batch2.retry() == 2
    batch2.wait(timeout=120)
    res2 = batch2.results()
    assert res2.counts == {"done": 9}
    assert res2["work-f001-b-r001"].attempt == 2
    assert res2.records("work-f001-b-r001")["value"] == len("BAD\n") * 10 + 1


def test_kill_9_worker_marks_task_lost_then_retry(tmp_path, store, toy_pipeline):
    data = make_toy_data(tmp_path / "data", ["a"], n_rois=2)
    hold = tmp_path / "hold"
    hold.write_text("")
    batch = api.run(toy_pipeline, str(data / "a.rpt.txt"), workers=1, tasks_per_job=1,
                    params={"hold": str(hold)}, store=store, batches_root=tmp_path / "batches")
    tid = "work-f000-a-r000"
    st = wait_for(lambda: (s := batch.dir.read_status(tid)) and s.state == "running" and s)
    os.kill(st.pid, signal.SIGKILL)
    t0 = time.monotonic()
    wait_for(lambda: batch.refresh().get("lost"), timeout=5)
    assert time.monotonic() - t0 < 2.0
    row = store.task(batch.batch_id, tid)
    assert row.state == "lost" and "SIGKILL" in row.error
    hold.unlink()
    batch.wait(timeout=120)
    assert batch.counts() == {"done": 2, "lost": 1}
    assert batch.retry() == 1
    batch.wait(timeout=120)
    res = batch.results()
    assert res.counts == {"done": 3}
    assert [r.task_id for r in res].count(tid) == 1
    assert res[tid].attempt == 2 and res.records(tid)["value"] > 0


def test_resume_skips_done_and_reruns_changed_input(tmp_path, store, toy_pipeline):
    data = make_toy_data(tmp_path / "data", ["a", "b"], n_rois=2)
    kw = dict(workers=2, store=store, batches_root=tmp_path / "batches")
    first = api.run(toy_pipeline, str(data / "*.rpt.txt"), **kw).wait(120)
    assert first.counts() == {"done": 6}
    second = api.run(toy_pipeline, str(data / "*.rpt.txt"), **kw)
    assert second.info().meta["n_cached"] == 6 and second.jobs() == []
    res = second.wait(30).results()
    assert res.counts == {"done": 6}
    assert all(r.cached_from for r in res)
    assert res.records("work-f000-a-r001")["value"] == first.results().records(
        "work-f000-a-r001")["value"]
    (data / "b.rpt.txt").write_text("1 0 0 0\n1 0.2 0.2 0.04 changed\n")
    third = api.run(toy_pipeline, str(data / "*.rpt.txt"), **kw).wait(120)
    rows = {r.task_id: r for r in third.tasks()}
    assert {t for t, r in rows.items() if not r.cached_from} == {
        "prep-f001-b", "work-f001-b-r000", "work-f001-b-r001"}
    forced = api.run(toy_pipeline, str(data / "*.rpt.txt"), force=True, **kw)
    assert forced.info().meta["n_cached"] == 0
    forced.wait(120)


def test_paths_with_spaces_quotes_and_dollar(tmp_path, store, toy_pipeline, monkeypatch):
    monkeypatch.chdir(tmp_path)
    weird = "it's a \"weird\" $(touch PWNED) `touch PWNED2` name"
    data = make_toy_data(tmp_path / "da ta $HOME", [weird], n_rois=2)
    batch = api.run(toy_pipeline, str(data / "*.rpt.txt"), workers=2, store=store,
                    batches_root=tmp_path / "batches")
    res = batch.wait(120).results()
    assert res.counts == {"done": 3}, res
    assert {r.source for r in res} == {str(data / f"{weird}.rpt.txt")}
    assert not list(tmp_path.rglob("PWNED*"))
    assert not (batch.dir.root / "PWNED").exists()


def test_cancel_leaves_nothing_running(tmp_path, store, toy_pipeline):
    data = make_toy_data(tmp_path / "data", ["a", "b"], n_rois=3)
    hold = tmp_path / "hold"
    hold.write_text("")
    batch = api.run(toy_pipeline, str(data / "*.rpt.txt"), workers=2, tasks_per_job=1,
                    params={"hold": str(hold)}, store=store, batches_root=tmp_path / "batches")
    wait_for(lambda: batch.refresh().get("running"))
    pids = [s.pid for s in batch.dir.read_statuses().values() if s.state == "running"]
    batch.cancel()
    counts = batch.refresh()
    assert set(counts) <= {"done", "cancelled"} and counts.get("cancelled", 0) >= 4, counts
    for pid in pids:
        wait_for(lambda pid=pid: not is_alive(process_id(pid)), timeout=10)
    for d in batch.info().meta["dispatchers"]:
        assert not is_alive(d)


def test_inline_backend(tmp_path, store, toy_pipeline):
    data = make_toy_data(tmp_path / "data", ["a"], n_rois=2)
    batch = api.run(toy_pipeline, str(data / "*.rpt.txt"), profile="inline", store=store,
                    batches_root=tmp_path / "batches")
    assert batch.counts() == {"done": 3}  # ran before run() returned


def test_kernel_engine_and_isolation_give_the_same_results(tmp_path, store, toy_pipeline):
    data = make_toy_data(tmp_path / "data", ["a", "b"], n_rois=2, bad="b")
    values = {}
    for label, kw in (("shell", {}), ("kernel", {"engine": "kernel"}),
                      ("isolate", {"isolate": True})):
        res = api.run(toy_pipeline, str(data / "*.rpt.txt"), workers=2, store=store, force=True,
                      batches_root=tmp_path / f"batches-{label}", **kw).wait(180).results()
        assert res.counts == {"done": 4, "failed": 2}, (label, res)
        fail = res.failures()[0]
        assert fail.ename == "ValueError" and "raise ValueError" in fail.traceback, label
        values[label] = {k: v for k, v in res.get("value").items()}
        nb = json.loads(res["work-f000-a-r001"].notebook.read_text())
        out = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
        assert any("worked on" in o.get("text", "") for o in out), label
    assert values["shell"] == values["kernel"] == values["isolate"]
