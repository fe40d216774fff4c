"""Dispatch benchmarks (issue: notebook to jobs). Prints figures and ratios; asserts nothing.

1. Per-task overhead of trivial tasks: papermill, one fresh kernel per notebook (the baseline,
   measured on --baseline-tasks notebooks and scaled per task), against our default local path
   (warm kernel per job, 2 worker processes) on --tasks tasks. Target: >= 50x lower.
2. CPU-bound tasks, 2 local workers vs inline (sequential in-process). Target: >= 1.85x.
3. Gather of 1,000 tasks: ``batch.results()``, the table, and loading every record.

Usage: python benchmarks/bench_dispatch.py [--tasks 200] [--baseline-tasks 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from tramway_jupyter import api
from tramway_jupyter.capture.pipeline import Pipeline
from tramway_jupyter.capture.template import build_template
from tramway_jupyter.jobs.store import Store

TRIVIAL = Pipeline.from_cells([
    ("setup", "import tramway_jupyter as tj"),
    ("stage trivial --per file", "x = 1 + 1\ntj.record('x', x)"),
])
CPU = Pipeline.from_cells([
    ("stage burn --per file",
     "s = 0\nfor i in range(20_000_000):\n    s += i * i\n"
     "import tramway_jupyter as tj\ntj.record('s', s)"),
])


def _files(root: Path, n: int) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = root / f"f{i:04d}.rpt.txt"
        p.write_text(f"1 0 0 0\n1 {i} {i} 1\n")
        out.append(str(p))
    return out


def papermill_baseline(tmp: Path, n: int) -> float:
    import papermill

    nb = build_template(TRIVIAL, "trivial")
    path = tmp / "template.ipynb"
    nbformat.write(nb, str(path))
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        papermill.execute_notebook(str(path), str(tmp / f"pm-{i}.ipynb"),
                                   parameters={"source": f"f{i}", "roi_index": None},
                                   progress_bar=False, kernel_name="python3")
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def ours(tmp: Path, pipeline: Pipeline, files: list[str], profile: str, workers: int | None,
         tasks_per_job: int | None = None, engine: str | None = None) -> tuple[float, object]:
    store = Store(tmp / f"store-{profile}-{workers}-{engine}.sqlite")
    t0 = time.perf_counter()
    batch = api.run(pipeline, files, profile=profile, workers=workers, store=store,
                    batches_root=tmp / "batches", force=True, tasks_per_job=tasks_per_job,
                    engine=engine)
    batch.wait(timeout=3600)
    wall = time.perf_counter() - t0
    counts = batch.counts()
    assert counts == {"done": len(files)}, counts
    return wall, batch


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--baseline-tasks", type=int, default=10)
    ap.add_argument("--cpu-tasks", type=int, default=12)
    ap.add_argument("--gather-tasks", type=int, default=1000)
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.environ["TRAMWAY_JUPYTER_HOME"] = str(tmp / "home")
        # 1. per-task overhead
        pm = papermill_baseline(tmp, args.baseline_tasks)
        files = _files(tmp / "trivial", args.tasks)
        wall2, _ = ours(tmp, TRIVIAL, files, "local", 2)
        wall1, _ = ours(tmp, TRIVIAL, files, "local", 1)
        wallk, _ = ours(tmp, TRIVIAL, files, "local", 2, engine="kernel")
        print("\n1. trivial tasks: per-task wall time")
        print(f"   papermill, fresh kernel per notebook (median of {args.baseline_tasks}): "
              f"{pm * 1000:8.1f} ms/task")
        print(f"   ours, local, 2 workers, {args.tasks} tasks: {wall2:6.2f} s total = "
              f"{wall2 / args.tasks * 1000:8.1f} ms/task   ratio {pm / (wall2 / args.tasks):6.1f}x"
              "  (target >= 50x)")
        print(f"   ours, local, 1 worker,  {args.tasks} tasks: {wall1:6.2f} s total = "
              f"{wall1 / args.tasks * 1000:8.1f} ms/task   ratio {pm / (wall1 / args.tasks):6.1f}x")
        print(f"   ours, local, 2 workers, --engine kernel (a warm ipykernel per worker): "
              f"{wallk:6.2f} s total = {wallk / args.tasks * 1000:8.1f} ms/task   ratio "
              f"{pm / (wallk / args.tasks):6.1f}x")
        # 2. CPU-bound speed-up
        cfiles = _files(tmp / "cpu", args.cpu_tasks)
        wall_inline, _ = ours(tmp, CPU, cfiles, "inline", None)
        wall_local, _ = ours(tmp, CPU, cfiles, "local", 2)
        print(f"\n2. {args.cpu_tasks} CPU-bound tasks: inline {wall_inline:6.2f} s, "
              f"local 2 workers {wall_local:6.2f} s, speed-up {wall_inline / wall_local:5.2f}x"
              "  (target >= 1.85x)")
        # 3. gather
        gfiles = _files(tmp / "gather", args.gather_tasks)
        wall_g, batch = ours(tmp, TRIVIAL, gfiles, "local", 2)
        import pandas  # noqa: F401  (import time is not gather time)

        t0 = time.perf_counter()
        res = batch.results()
        t_res = time.perf_counter() - t0
        t0 = time.perf_counter()
        table = res.table()
        t_tab = time.perf_counter() - t0
        t0 = time.perf_counter()
        xs = res.get("x")
        t_rec = time.perf_counter() - t0
        assert len(xs) == args.gather_tasks and len(table) == args.gather_tasks
        print(f"\n3. gather {args.gather_tasks} tasks (ran in {wall_g:.1f} s): results() "
              f"{t_res * 1000:.0f} ms, table() {t_tab * 1000:.0f} ms, every record "
              f"{t_rec * 1000:.0f} ms; total {(t_res + t_tab + t_rec) * 1000:.0f} ms = "
              f"{(t_res + t_tab + t_rec) / args.gather_tasks * 1e6:.0f} µs/task")
    return 0


if __name__ == "__main__":
    sys.exit(main())
