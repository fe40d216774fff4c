"""The pilot of a dry run: a few tasks per stage, sampled across the input sizes, run locally.

A task's size is its translocation count: the rows of its data file, of its ROI's crop (per-ROI
tasks) or of its time window (per-segment tasks). The pilot writes a temporary one-job batch
(the sampled tasks and the upstream tasks they need, in stage order) in a temporary directory,
runs it with the one worker entry point (``python -m tramway_jupyter.worker DIR 0``) and
removes the directory; nothing goes to the job store.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import msgspec

from ..capture.template import write_template
from ..jobs.batchdir import BatchDir
from ..jobs.plan_model import Job, Plan, Task
from ..jobs.states import State
from .estimate import sample_indices

logger = logging.getLogger(__name__)


@dataclass
class PilotResult:
    """Per stage, the ``(translocations, seconds)`` of each task the pilot ran."""

    points: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    wall: float = 0.0  # s, the pilot job from start to end
    job_overhead: float | None = None  # s: the job's wall time not spent in its tasks
    peak_rss: int | None = None  # bytes, the worker's peak resident memory
    failed: list[str] = field(default_factory=list)  # tasks that did not end done


def task_sizes(tasks: Sequence[Task]) -> dict[str, int]:
    """The translocation count of each task (a file read once; 0 when it cannot be read)."""
    from ..analysis.io import read_trajectories, unit_kwargs

    frames: dict[str, Any] = {}
    rois: dict[str, Any] = {}
    out: dict[str, int] = {}
    for t in tasks:
        if t.source not in frames:
            try:
                frames[t.source] = read_trajectories(t.source, **unit_kwargs(t.params))
            except Exception as exc:  # an unreadable file: the run will say why
                logger.info("dry run: cannot count the rows of %s: %s", t.source, exc)
                frames[t.source] = None
        df = frames[t.source]
        if df is None:
            out[t.task_id] = 0
            continue
        try:
            if t.per in ("roi", "segment") and t.roi_file is not None and t.roi_index is not None:
                from ..analysis.rois import crop, read_rois

                if t.roi_file not in rois:
                    rois[t.roi_file] = read_rois(t.roi_file)
                df = crop(df, rois[t.roi_file], t.roi_index)
            if t.per == "segment" and t.t_start is not None and t.t_end is not None:
                from ..analysis.segments import crop_time

                df = crop_time(df, t.t_start, t.t_end)
        except Exception as exc:
            logger.info("dry run: cannot crop task %s: %s", t.task_id, exc)
        out[t.task_id] = int(len(df))
    return out


def pilot_tasks(plan: Plan, todo: Sequence[str], sizes: Mapping[str, int], k: int) -> list[str]:
    """``k`` tasks of each stage among ``todo`` (smallest, largest, median...), with the upstream
    tasks they need, in the plan's order."""
    by_stage: dict[str, list[str]] = {}
    for tid in todo:
        by_stage.setdefault(plan.task(tid).stage, []).append(tid)
    chosen: set[str] = set()
    for tids in by_stage.values():
        for i in sample_indices([sizes.get(t, 0) for t in tids], k):
            chosen.add(tids[i])
    stack = list(chosen)
    while stack:  # the upstream tasks, so that the sampled ones can run
        for dep in plan.task(stack.pop()).depends_on:
            if dep not in chosen:
                chosen.add(dep)
                stack.append(dep)
    return [t.task_id for t in plan.tasks if t.task_id in chosen]


def run_pilot(plan: Plan, templates: Mapping[str, Any], task_ids: Sequence[str],
              sizes: Mapping[str, int]) -> PilotResult:
    """Run ``task_ids`` as one job of a temporary batch; time each task; remove the batch."""
    result = PilotResult()
    if not task_ids:
        return result
    wanted = set(task_ids)
    tasks = tuple(msgspec.structs.replace(t, job_index=0 if t.task_id in wanted else -1)
                  for t in plan.tasks)
    pilot_plan = plan.with_jobs((Job(job_index=0, stage=plan.task(task_ids[0]).stage,
                                     task_ids=tuple(task_ids)),), tasks)
    with tempfile.TemporaryDirectory(prefix="tramway-pilot-") as tmp:
        bd = BatchDir(Path(tmp) / plan.batch_id)
        bd.create()
        for stage, nb in templates.items():
            write_template(nb, bd.template_path(stage))
        bd.write_plan(pilot_plan)
        cmd = [sys.executable, "-m", "tramway_jupyter.worker", str(bd.root), "0",
               "--log-level", "WARNING"]
        log = Path(tmp) / "pilot-worker.log"
        t0 = time.monotonic()
        with open(log, "wb") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err,
                                    env=os.environ.copy())
            rc, result.peak_rss = _wait_with_rss(proc)
        result.wall = time.monotonic() - t0
        if rc not in (0, 1):
            logger.warning("dry run: the pilot worker exited %s: %s", rc,
                           log.read_text(errors="replace")[-2000:])
        busy = 0.0
        for tid in task_ids:
            st = bd.read_status(tid, 0)
            if st is None or st.state is not State.DONE or st.duration is None:
                result.failed.append(tid)
                continue
            busy += st.duration
            task = plan.task(tid)
            result.points.setdefault(task.stage, []).append((float(sizes.get(tid, 0)),
                                                             float(st.duration)))
        if not result.failed:
            result.job_overhead = max(0.0, result.wall - busy)
    return result


def _wait_with_rss(proc: subprocess.Popen[bytes]) -> tuple[int, int | None]:
    """Wait for ``proc``; return its exit code and peak resident memory (bytes, Linux/macOS)."""
    if not hasattr(os, "wait4"):  # pragma: no cover - Windows
        return proc.wait(), None
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, int(usage.ru_maxrss) * (1 if sys.platform == "darwin" else 1024)


def preview_points(timing: Mapping[str, Mapping[str, Any]],
                   per: Mapping[str, str]) -> dict[str, tuple[float, float]]:
    """Stage -> ``(translocations, seconds)`` of the kernel's preview of the stage (a stage
    whose preview ran on no readable data file is left out)."""
    tasks: list[Task] = []
    seconds: dict[str, float] = {}
    for stage, t in timing.items():
        source = t.get("source")
        if stage not in per or not isinstance(source, str) or not os.path.isfile(source):
            continue
        roi_index = t.get("roi_index")
        roi_file = t.get("roi_file")
        t_start, t_end = t.get("t_start"), t.get("t_end")
        tasks.append(Task(
            task_id=stage, stage=stage, per=per[stage],  # type: ignore[arg-type]
            source=source, file_key="preview",
            roi_index=roi_index if isinstance(roi_index, int) else None,
            roi_file=roi_file if isinstance(roi_file, str) else None,
            t_start=float(t_start) if isinstance(t_start, (int, float)) else None,
            t_end=float(t_end) if isinstance(t_end, (int, float)) else None))
        seconds[stage] = float(cast(float, t.get("seconds", 0.0)))
    sizes = task_sizes(tasks)
    return {t.stage: (float(sizes.get(t.task_id, 0)), seconds[t.stage]) for t in tasks}
