"""Make a :class:`~.estimate.DryRun` from a plan that will not be submitted."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from ..backends.profiles import Profile
from ..jobs.plan_model import Plan
from .estimate import (
    ASSUMED_JOB_OVERHEAD,
    ArrayEstimate,
    DryRun,
    StageEstimate,
    extrapolate,
    fit_linear,
    parse_test_only,
    sbatch_test_only_argv,
    schedule,
    stage_dependencies,
    suggest_mem,
    suggest_walltime,
    summary_text,
)
from .pilot import PilotResult, pilot_tasks, run_pilot, task_sizes

logger = logging.getLogger(__name__)

#: Tasks per stage a dry run's pilot runs when neither ``pilot`` nor a preview timing is given.
DEFAULT_PILOT = 2


def estimate_run(plan: Plan, templates: Mapping[str, Any], prof: Profile, *, workers: int,
                 reused: Sequence[str], pilot: int | None = None,
                 preview: Mapping[str, tuple[float, float]] | None = None,
                 test_only: bool = True) -> DryRun:
    """The plan of ``plan`` (regrouped without the ``reused`` tasks) and its estimate.

    ``preview``: stage -> ``(translocations, seconds)`` of the kernel's preview of the stage,
    used when ``pilot`` is 0 or None; with no preview timing the pilot runs ``DEFAULT_PILOT``
    tasks per stage. Nothing is written but the pilot's temporary directory, removed after.
    """
    assumptions: list[str] = []
    reused_set = set(reused)
    todo = [t.task_id for t in plan.tasks if t.task_id not in reused_set]
    by_id = {t.task_id: t for t in plan.tasks}
    sizes = task_sizes([by_id[t] for t in todo]) if todo else {}
    points: dict[str, list[tuple[float, float]]] = {}
    pilot_res: PilotResult | None = None
    k = int(pilot or 0)
    if k <= 0 and preview:
        points = {s: [p] for s, p in preview.items()}
        assumptions.append("task times from the preview cells' timing in the kernel (one "
                           "task per stage; time proportional to the translocations)")
    elif todo:
        k = k if k > 0 else DEFAULT_PILOT
        chosen = pilot_tasks(plan, todo, sizes, k)
        pilot_res = run_pilot(plan, templates, chosen, sizes)
        points = pilot_res.points
        assumptions.append(
            f"pilot: {len(chosen)} task(s) run locally in {pilot_res.wall:.1f} s ({k} per stage, "
            "sampled across the input sizes, with the upstream tasks they need); time = a + "
            "b x translocations fitted per stage" + (" (least squares)" if k >= 2 else
                                                     " (a ratio: one task)"))
        if pilot_res.failed:
            assumptions.append(f"pilot tasks that failed and are not timed: "
                               f"{', '.join(pilot_res.failed)}")
    stage_of = {t.task_id: t.stage for t in plan.tasks}
    deps = stage_dependencies([s.name for s in plan.stages], stage_of,
                              {t.task_id: t.depends_on for t in plan.tasks})
    fits = {s: fit_linear(p) for s, p in points.items() if p}
    est = {tid: extrapolate(fits[stage_of[tid]], sizes.get(tid, 0))
           for tid in todo if stage_of[tid] in fits}
    overhead = pilot_res.job_overhead if pilot_res and pilot_res.job_overhead is not None else None
    if overhead is None:
        overhead = ASSUMED_JOB_OVERHEAD
        assumptions.append(f"job start-up overhead assumed: {overhead:.1f} s per job")
    else:
        assumptions.append(f"job start-up overhead measured by the pilot: {overhead:.1f} s "
                           "per job (worker start, setup cell)")
    arrays: list[ArrayEstimate] = []
    if prof.backend == "slurm":
        arrays = _arrays(plan, prof)
        if prof.max_running:
            par, source = int(prof.max_running), "the profile's max_running"
        else:
            par = max((a.size for a in arrays), default=1)
            source = ("the array size: every element runs at once, if the cluster has room; "
                      "queue waits not counted")
        per_job = overhead
    elif prof.backend == "inline":
        par, source, per_job = 1, "inline: one job at a time in this process", overhead
    else:
        par, source = max(1, workers), "the profile's workers"
        per_job = overhead  # a warm pool reuses workers: an upper bound
    stages: list[StageEstimate] = []
    wall = 0.0
    busy = 0.0
    longest_job = 0.0
    known = True
    for spec in plan.stages:
        stasks = [t for t in plan.tasks if t.stage == spec.name]
        sjobs = [j for j in plan.jobs if j.stage == spec.name]
        n_reused = sum(1 for t in stasks if t.task_id in reused_set)
        fit = fits.get(spec.name)
        job_secs: list[float] = []
        if fit is not None:
            job_secs = [per_job + sum(est.get(t, 0.0) for t in j.task_ids) for j in sjobs]
        elif sjobs:
            known = False
        task_secs = [est[t.task_id] for t in stasks if t.task_id in est]
        stage_wall = schedule(job_secs, par) if fit is not None else None
        if stage_wall is not None:
            wall += stage_wall
            busy += sum(job_secs)
            longest_job = max([longest_job, *job_secs])
        stages.append(StageEstimate(
            stage=spec.name, per=spec.per, tasks=len(stasks), reused=n_reused, jobs=len(sjobs),
            depends_on=deps.get(spec.name, ()), fit_a=fit[0] if fit else None,
            fit_b=fit[1] if fit else None, pilot_tasks=len(points.get(spec.name, [])),
            task_seconds=sum(task_secs) if fit is not None else None,
            longest_task=max(task_secs, default=0.0) if fit is not None else None,
            wall_seconds=stage_wall))
    assumptions.append(f"parallelism {par}: {source}")
    assumptions.append("stages run one after the other (a stage starts when the one before "
                       "it has ended); the jobs of a stage are dealt in order to free slots")
    cpus = int(prof.cpus_per_task or 1)
    assumptions.append(f"{cpus} core(s) per job for the core-hours")
    if not known:
        assumptions.append("some stages have no timing: the wall time is not estimated")
    timed = known and (bool(points) or not todo)  # nothing to run: 0 s
    dry = DryRun(
        profile=prof.name, backend=prof.backend, tasks=len(plan.tasks), reused=len(reused_set),
        jobs=len(plan.jobs), stages=tuple(stages), arrays=tuple(arrays), parallelism=par,
        parallelism_source=source, wall_seconds=wall if timed else None,
        core_hours=busy * cpus / 3600.0 if timed else None, job_overhead=overhead,
        peak_rss=pilot_res.peak_rss if pilot_res else None, assumptions=tuple(assumptions))
    if prof.backend == "slurm":
        dry = _slurm_extras(dry, prof, longest_job if timed and todo else None,
                            test_only=test_only)
    return _with_text(dry)


def _with_text(d: DryRun) -> DryRun:
    import msgspec

    return msgspec.structs.replace(d, text=summary_text(d))


def _arrays(plan: Plan, prof: Profile) -> list[ArrayEstimate]:
    from ..backends.slurm_arrays import plan_arrays

    subs = plan_arrays(plan, [j.job_index for j in plan.jobs], prof, remote_dir="REMOTE",
                       worker_command="python -m tramway_jupyter.worker")
    stage_of = {j.job_index: j.stage for j in plan.jobs}
    return [ArrayEstimate(name=s.name, stage=stage_of[s.job_indices[0]], size=len(s.job_indices),
                          max_running=s.max_running, after=s.after) for s in subs]


def slurm_suggestions(prof: Profile, longest_job: float | None,
                      peak_rss: int | None) -> dict[str, str]:
    """``walltime``/``mem`` from a pilot, for the keys the profile leaves unset."""
    out: dict[str, str] = {}
    if not prof.walltime and longest_job is not None:
        out["walltime"] = suggest_walltime(longest_job)
    if not prof.mem and peak_rss:
        out["mem"] = suggest_mem(peak_rss)
    return out


def _slurm_extras(d: DryRun, prof: Profile, longest_job: float | None, *,
                  test_only: bool) -> DryRun:
    import msgspec

    assumptions = list(d.assumptions)
    sugg = slurm_suggestions(prof, longest_job, d.peak_rss)
    if "walltime" in sugg:
        assumptions.append(f"suggested --time {sugg['walltime']}: 2 x the longest job's "
                           "estimated time, rounded up to a minute (the profile sets none)")
    if "mem" in sugg:
        assumptions.append(f"suggested --mem {sugg['mem']}: 1.5 x the pilot worker's peak "
                           "resident memory (the profile sets none)")
    start = nodes = None
    if test_only and d.arrays:
        size = max(a.size for a in d.arrays)
        argv = sbatch_test_only_argv(partition=prof.partition, account=prof.account,
                              walltime=prof.walltime or sugg.get("walltime"),
                              mem=prof.mem or sugg.get("mem"), cpus_per_task=prof.cpus_per_task,
                              array_size=size, max_running=prof.max_running)
        try:
            from ..backends.ssh import get_connection

            rc, out, err = get_connection(prof).run(" ".join(shlex.quote(a) for a in argv),
                                                    retry=False)
            parsed = parse_test_only(err + "\n" + out)
            if parsed is None:
                assumptions.append(f"sbatch --test-only (exit {rc}) gave no start time: "
                                   f"{(err or out).strip()[-300:]}")
            else:
                start, nodes = parsed["time"], parsed["nodes"]
                assumptions.append(f"start time from sbatch --test-only with an array of {size} "
                                   "and the batch's resources; the queue may change before "
                                   "the run")
        except Exception as exc:  # the estimate stands without it
            logger.info("sbatch --test-only failed: %s", exc)
            assumptions.append(f"sbatch --test-only could not run: {exc}")
    return msgspec.structs.replace(
        d, start_time=start, start_nodes=nodes, suggested_walltime=sugg.get("walltime"),
        suggested_mem=sugg.get("mem"), assumptions=tuple(assumptions))
