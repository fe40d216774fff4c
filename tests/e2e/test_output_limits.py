"""Task output on real workers and kernels: linear capture, a complete log, a bounded notebook."""

from __future__ import annotations

import json
import time
import tracemalloc

import pytest

from tramway_jupyter import api
from tramway_jupyter.capture.pipeline import Pipeline
from tramway_jupyter.jobs.engine import WarmKernel
from tramway_jupyter.jobs.outputs import OutputCollector
from tramway_jupyter.jobs.shell_engine import InProcessShell

from .conftest import make_toy_data

LINE = "y" * 1000 + "\n"
PNG_1x1 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5"
           "ErkJggg==")


def printing_pipeline(n_lines: int) -> Pipeline:
    return Pipeline.from_cells([
        ("setup", "print('setup ok')"),
        ("stage loud --per file",
         f"for i in range({n_lines}):\n    print({LINE[:-1]!r})\nprint('the end', i)"),
    ])


def run_one(tmp_path, store, pipeline, **kw):
    data = make_toy_data(tmp_path / "data", ["a"], n_rois=0)
    t0 = time.monotonic()
    batch = api.run(pipeline, str(data / "a.rpt.txt"), store=store,
                    batches_root=tmp_path / "batches", **kw).wait(timeout=300)
    elapsed = time.monotonic() - t0
    (task,) = list(batch.results())
    assert task.state == "done", batch.task_status(task.task_id)
    status = batch.task_status(task.task_id)
    print(f"\n{kw}: {elapsed:.2f} s; notebook {task.notebook.stat().st_size:,} bytes")
    return batch, status, task.notebook


def check(batch, status, notebook, n_lines):
    assert status["log"] == f"logs/task-{status['task_id']}.log"
    log = (batch.dir.root / status["log"]).read_bytes()
    assert log == ("setup ok\n" + LINE * n_lines + f"the end {n_lines - 1}\n").encode()
    assert notebook.stat().st_size < 1_000_000
    nb = json.loads(notebook.read_text())
    texts = [o["text"] for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]
             if o["output_type"] == "stream"]
    assert "setup ok\n" in texts
    (loud,) = [t for t in texts if "y" * 1000 in t]
    assert f"omitted (limit 256.0 KB per task, --max-output); full text in {status['log']}" in loud
    assert loud.startswith(LINE) and loud.endswith(LINE + f"the end {n_lines - 1}\n")


@pytest.mark.parametrize("profile", ["local", "inline"])
def test_50_mb_of_prints_shell_engine(tmp_path, store, profile):
    batch, status, notebook = run_one(tmp_path, store, printing_pipeline(50_000), profile=profile,
                                      workers=1)
    check(batch, status, notebook, 50_000)


@pytest.mark.parametrize("isolate", [False, True])
def test_5_mb_of_prints_kernel_engine(tmp_path, store, isolate):
    batch, status, notebook = run_one(tmp_path, store, printing_pipeline(5_000), workers=1,
                                      engine="kernel", isolate=isolate)
    check(batch, status, notebook, 5_000)


def test_max_output_option_and_silent_task(tmp_path, store):
    pipeline = Pipeline.from_cells([("stage quiet --per file", "x = 1"),
                                    ("stage loud --per file", "print('z' * 99)\n" * 1000)])
    data = make_toy_data(tmp_path / "data", ["a"], n_rois=0)
    batch = api.run(pipeline, str(data / "a.rpt.txt"), store=store, workers=1, max_output="10k",
                    batches_root=tmp_path / "batches").wait(timeout=120)
    assert batch.dir.read_plan().max_output_bytes == 10240
    rows = {r.stage: r for r in batch.results()}
    quiet = batch.task_status(rows["quiet"].task_id)
    assert "log" not in quiet
    assert not (batch.dir.root / "logs" / f"task-{quiet['task_id']}.log").exists()
    loud = batch.task_status(rows["loud"].task_id)
    assert (batch.dir.root / loud["log"]).stat().st_size == 100_000
    nb = json.loads(rows["loud"].notebook.read_text())
    (text,) = [o["text"] for c in nb["cells"] for o in c.get("outputs", [])
               if "z" * 99 in o.get("text", "")]
    assert 9000 < len(text) < 10_240 + 300 and "omitted" in text


@pytest.mark.parametrize("engine", ["shell", "kernel"])
def test_many_images_bounded(tmp_path, store, engine):
    pipeline = Pipeline.from_cells([
        ("stage show --per file",
         "import base64\nfrom IPython.display import Image, display\n"
         f"png = base64.b64decode({PNG_1x1!r})\n"
         "for i in range(500):\n    display(Image(data=png, format='png'))\n"
         "print('shown')"),
    ])
    batch, status, notebook = run_one(tmp_path, store, pipeline, workers=1, engine=engine)
    nb = json.loads(notebook.read_text())
    outs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert sum(o["output_type"] == "display_data" for o in outs) == 50
    (marker,) = [o for o in outs if "not kept" in o.get("text", "")]
    assert "450 rich output(s)" in marker["text"]
    assert any(o.get("text") == "shown\n" for o in outs)
    assert (batch.dir.root / status["log"]).read_text() == "shown\n"


DISTINCT = "for i in range(50_000):\n    print(f'{i:08d} ' + 'y' * 990)\n"  # 50 MB, new strings


def test_shell_engine_memory_bounded(tmp_path):
    """Neither the collector nor IPython's history keeps what a cell prints."""
    shell = InProcessShell(cwd=str(tmp_path))
    shell.start()
    try:
        sink = OutputCollector(tmp_path / "t.log")
        tracemalloc.start()
        error = shell.run(DISTINCT, sink=sink).error
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        sink.finish()
    finally:
        shell.shutdown()
    assert error is None
    assert (tmp_path / "t.log").stat().st_size == 50_000_000
    assert peak < 8 * 2**20, peak


def test_kernel_engine_memory_bounded(tmp_path):
    """The kernel sends at every MB and keeps nothing; the worker keeps its budget."""
    rss = "__import__('resource').getrusage(__import__('resource').RUSAGE_SELF).ru_maxrss"
    with WarmKernel(cwd=str(tmp_path)) as kernel:
        sink = OutputCollector(tmp_path / "t.log")
        kernel.run("x = 1", sink=sink)
        before = kernel.eval_json(rss)
        counted = []
        real_stream = sink.stream
        sink.stream = lambda name, text: (counted.append(len(text)), real_stream(name, text))
        assert kernel.run(DISTINCT, sink=sink).error is None
        grown_kb = kernel.eval_json(rss) - before
        sink.finish()
    assert (tmp_path / "t.log").stat().st_size == 50_000_000
    assert max(counted) < 2 * 2**20 and len(counted) >= 25
    assert grown_kb < 30_000, grown_kb
