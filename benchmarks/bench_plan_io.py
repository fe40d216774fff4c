"""Write and read the plan.json of a 100,000-task batch (500 files x 200 ROIs). Prints figures.

The worker reads plan.json at start (and again after a retry appends jobs); the dispatcher and
``recover`` read it too. Usage: python benchmarks/bench_plan_io.py [--tasks 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from tramway_jupyter.jobs.batchdir import BatchDir
from tramway_jupyter.jobs.plan_model import Job, Plan, StageSpec, Task


def make(n: int, per_job: int = 50) -> Plan:
    n_rois = 200
    tasks = tuple(
        Task(task_id=f"t{i:06d}", stage="trivial", per="roi",
             source=f"/data/cells/cell{i // n_rois:04d}.rpt.txt", file_key=f"cell{i // n_rois:04d}",
             roi_index=i % n_rois, roi_file=f"/data/cells/cell{i // n_rois:04d}.rpt-roi.txt",
             params={"alpha": 0.5, "mode": "d"}, fingerprint=f"{i:064x}", job_index=i // per_job)
        for i in range(n)
    )
    jobs = tuple(Job(job_index=j, stage="trivial",
                     task_ids=tuple(t.task_id for t in tasks[j * per_job:(j + 1) * per_job]))
                 for j in range((n + per_job - 1) // per_job))
    return Plan(batch_id="bench", stages=(StageSpec("trivial", "roi", "templates/trivial.ipynb"),),
                tasks=tasks, jobs=jobs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    plan = make(args.tasks)
    with tempfile.TemporaryDirectory() as tmp:
        bd = BatchDir(Path(tmp))
        writes, reads = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            bd.write_plan(plan)
            writes.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            back = bd.read_plan()
            reads.append(time.perf_counter() - t0)
        assert back.task("t000007").roi_index == 7 and len(back.jobs) == len(plan.jobs)
        size = bd.plan_path.stat().st_size
    print(f"plan.json of {args.tasks} tasks: {size / 1e6:.1f} MB; "
          f"write {statistics.median(writes) * 1000:.0f} ms, "
          f"read {statistics.median(reads) * 1000:.0f} ms (median of {args.repeat})")


if __name__ == "__main__":
    main()
