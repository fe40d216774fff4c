"""A task that prints 50 MB, on each engine (issue: lab-proofing). Prints figures; asserts nothing.

``for i in range(50000): print("y" * 1000)`` as the one stage of a one-task batch, on the inline
backend (the worker runs in this process, so its peak RSS is this process's), for the
in-process shell engine, a warm ipykernel and an isolated kernel. Baseline in the same run: the
same loop in plain Python writing to a file. Reports the wall time, the output notebook's size,
the task log's size (it must hold every byte) and the peak RSS.

Targets: a few seconds; notebook under 1 MB; log complete.

Usage: python benchmarks/bench_outputs.py [--mb 50]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import os, sys, time, resource
from pathlib import Path
from tramway_jupyter import api
from tramway_jupyter.capture.pipeline import Pipeline
from tramway_jupyter.jobs.store import Store

tmp, engine, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
tmp.mkdir(parents=True, exist_ok=True)
data = tmp / "a.rpt.txt"
data.write_text("n\tx\ty\tt\n1\t0\t0\t0\n1\t1\t1\t1\n")
cells = [("stage loud --per file", f"for i in range({n}):\n    print('y' * 999)")]
kw = {"isolate": True} if engine == "isolate" else {"engine": engine}
t0 = time.perf_counter()
batch = api.run(Pipeline.from_cells(cells), str(data), profile="inline", force=True,
                store=Store(tmp / f"store-{engine}.sqlite"), batches_root=tmp / "batches", **kw)
wall = time.perf_counter() - t0
(row,) = batch.tasks()
assert row.state == "done", row
nb = batch.dir.notebook_path(row.task_id).stat().st_size
log = batch.dir.task_log_path(row.task_id).stat().st_size
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(wall, nb, log, rss)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=50)
    args = ap.parse_args()
    n = args.mb * 1000  # lines of 1,000 bytes with the newline
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.2f}; a task printing {n} lines of 1,000 bytes ({n / 1000:.0f} MB)")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        t0 = time.perf_counter()
        with open(tmp / "plain.txt", "w") as fh:
            for _ in range(n):
                print("y" * 999, file=fh)
        print(f"baseline, plain Python printing to a file: {time.perf_counter() - t0:.2f} s")
        print(f"{'engine':<8} {'wall':>8} {'notebook':>10} {'log':>12} {'peak RSS':>9}")
        for engine in ("shell", "kernel", "isolate"):
            out = subprocess.run([sys.executable, "-c", CHILD, str(tmp / engine), engine, str(n)],
                                 capture_output=True, text=True, env={**os.environ},
                                 cwd=tmp, check=False)
            if out.returncode != 0:
                print(f"{engine:<8} failed: {out.stderr[-1500:]}")
                continue
            wall, nb, log, rss = out.stdout.split()[-4:]
            print(f"{engine:<8} {float(wall):7.2f}s {int(nb) / 1024:8.0f} KB {int(log):>12,} "
                  f"{int(rss) / 1024:7.0f} MB")
        print(f"(log complete when it is {n * 1000:,} bytes; the kernel engines' RSS is the "
              "worker's, the kernel runs in its own process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
