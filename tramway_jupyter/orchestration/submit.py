"""Submit a pipeline: templates + plan -> a batch directory and rows in the store -> a backend.

Resume: a task whose fingerprint (stage template, parameters, input file content, upstream
fingerprints) matches a task already done in an earlier batch is not run again; its status,
notebook, results and (for per-file stages) output directory are copied into the new batch.
"""

from __future__ import annotations

import datetime as _dt
import os
import secrets
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import msgspec

from ..backends.profiles import Profile, default_workers, get_profile
from ..capture.pipeline import Pipeline
from ..capture.template import build_template, write_template
from ..exceptions import CaptureError, PlanError
from ..jobs.batchdir import BatchDir, task_log_relpath
from ..jobs.plan import make_plan
from ..jobs.plan_model import Plan, Task
from ..jobs.provenance import PROVENANCE_DIR, git_state, template_digest
from ..jobs.provenance import task_path as provenance_task_path
from ..jobs.states import State
from ..jobs.status import TaskStatus
from ..jobs.store import Store, job_rows
from ..jobs.taskspace import load_sweep_file, segments_from_value, sweep_points
from ..paths import default_batches_root, default_store_path
from .batch import Batch

if TYPE_CHECKING:
    from .estimate import DryRun


def new_batch_id() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


@overload
def submit(pipeline: Pipeline, data: Any, *, dry_run: Literal[False] = ...,
           **kwargs: Any) -> Batch: ...


@overload
def submit(pipeline: Pipeline, data: Any, *, dry_run: Literal[True], **kwargs: Any) -> DryRun: ...


@overload
def submit(pipeline: Pipeline, data: Any, *, dry_run: bool, **kwargs: Any) -> Batch | DryRun: ...


def submit(  # type: ignore[misc]
    pipeline: Pipeline,
    data: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    rois: str | None = None,
    profile: str | Profile | type[Profile] | None = None,
    workers: int | None = None,
    tasks_per_job: int | None = None,
    params: dict[str, Any] | None = None,
    force: bool = False,
    isolate: bool | None = None,
    engine: str | None = None,
    task_timeout: float | None = None,
    keep_notebooks: str | None = None,
    max_output: int | str | None = None,
    mem: str | None = None,
    oversubscribe: bool | None = None,
    name: str | None = None,
    notebook: str | None = None,
    store: Store | None = None,
    batches_root: str | os.PathLike[str] | None = None,
    new_params: bool = False,
    segments: Any = None,
    segments_min_fraction: float | None = None,
    sweep: dict[str, list[Any]] | None = None,
    sweep_file: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
    pilot: int | None = None,
) -> Batch | DryRun:
    """Run ``pipeline`` over ``data`` x ROIs with a backend; return the batch handle at once.

    Every input is checked and the plan made before anything is created: a bad input leaves
    no batch directory and no row in the store. ``params`` must be names the parameters cell
    defines, unless ``new_params`` is true; so must the names of ``sweep`` (``{"sigma":
    [0.02, 0.03]}``: every stage but the sweep-independent ones runs once per point of the
    product of the values) and of ``sweep_file`` (a CSV or JSON list of parameter sets).
    ``segments`` (``"10:5"``, ``10``, ``(10, 5)`` or a list of ``(t_start, t_end)`` windows;
    default: the parameters cell's ``segments``) cuts each file's time span into the windows of
    the ``--per segment`` stages; ``segments_min_fraction`` (default 0.5): how much of a window
    the last, partial one must cover to be kept.

    ``dry_run``: make the plan as a run would (resume included), create nothing, and return a
    :class:`~.estimate.DryRun`: tasks per stage, jobs, Slurm arrays, the tasks that would be
    reused, the estimated wall time and core-hours, from the kernel's preview timing of each
    stage or a ``pilot`` of K tasks per stage run locally in a temporary directory (default
    2 when there is no preview timing). ``pilot`` on a real Slurm run: the walltime and memory
    the pilot suggests are applied where the profile leaves them unset (``meta["suggested"]``).
    """
    if pilot is not None and (isinstance(pilot, bool) or int(pilot) < 0):
        raise PlanError(f"pilot must be a number of tasks per stage, 0 or more; got {pilot!r}")
    prof = get_profile(profile)
    # the run's options override the profile's keys of the same names
    overrides = {"workers": workers, "isolate": isolate, "engine": engine,
                 "keep_notebooks": keep_notebooks, "max_output": max_output, "mem": mem,
                 "oversubscribe": oversubscribe}
    changes = {k: v for k, v in overrides.items() if v is not None}
    if changes:
        prof = prof.replace(**changes)
    from ..backends.base import get_backend
    from ..backends.local import resolve_local_profile

    prof = resolve_local_profile(prof)  # workers capped to the CPUs; mem checked

    backend = get_backend(prof.backend)(prof)  # fail early on an unknown backend
    pipeline.validate()
    check_param_names(pipeline, params, allow_new=new_params)
    points = sweep_points(sweep, load_sweep_file(sweep_file) if sweep_file else None)
    check_param_names(pipeline, points[0], option="--sweep")
    if segments is None and any(st.per == "segment" for st in pipeline.stages):
        segments = _cell_segments(pipeline)
    seg_spec = segments_from_value(segments, min_fraction=segments_min_fraction)
    batch_id = new_batch_id()
    templates = {st.name: build_template(pipeline, st.name, notebook=notebook)
                 for st in pipeline.stages}
    digests = {name: _template_digest(nb) for name, nb in templates.items()}
    n_workers = default_workers(prof.workers)
    plan = make_plan(batch_id, pipeline, data, rois=rois, params=params,
                     template_digests=digests, tasks_per_job=tasks_per_job or prof.tasks_per_job,
                     workers=n_workers, backend=prof.backend, isolate=prof.isolate,
                     engine=prof.engine, task_timeout=task_timeout,
                     keep_notebooks=prof.keep_notebooks, segments=seg_spec, sweep=points)
    plan = msgspec.structs.replace(plan, max_output_bytes=int(prof.max_output))
    if dry_run:
        return _dry_run(plan, templates, prof, store, force=force, workers=n_workers,
                        tasks_per_job=tasks_per_job, pilot=pilot,
                        preview=_preview_points(pipeline))
    suggested: dict[str, str] = {}
    if pilot and prof.backend == "slurm":
        from .dry_run import estimate_run

        est = estimate_run(plan, templates, prof, workers=n_workers, reused=(), pilot=pilot,
                           test_only=False)
        suggested = {k: v for k, v in (("walltime", est.suggested_walltime),
                                       ("mem", est.suggested_mem)) if v}
        if suggested:
            prof = prof.replace(**suggested)
            backend = get_backend(prof.backend)(prof)
    store = store or Store()
    root = Path(batches_root) if batches_root else default_batches_root()
    bd = BatchDir(root / batch_id)
    bd.create()
    for stage_name, nb in templates.items():
        write_template(nb, bd.template_path(stage_name))
    cached = {} if force else _reuse_done(store, bd, plan)
    if cached:  # regroup only the tasks that must run
        plan = _regroup_without(plan, set(cached), tasks_per_job or prof.tasks_per_job,
                                n_workers, prof.backend)
    bd.write_plan(plan)
    # the notebook's repository, as it is now on this host (the workers record it)
    git_commit, git_dirty = git_state(os.path.dirname(os.path.abspath(notebook))
                                      if notebook else None)
    info: dict[str, Any] = {
        "batch_id": batch_id, "name": name or _default_name(notebook, pipeline),
        "created": time.time(), "notebook": notebook, "profile": prof.name,
        "backend": prof.backend, "stages": [s.name for s in plan.stages],
        "profile_record": prof.to_record(), "git_commit": git_commit, "git_dirty": git_dirty}
    bd.write_info(info)
    tasks = []
    for t in plan.tasks:
        row: dict[str, Any] = {"task_id": t.task_id, "job_index": t.job_index, "stage": t.stage,
                               "source": t.source, "roi_index": t.roi_index,
                               "fingerprint": t.fingerprint, "segment_index": t.segment_index,
                               "t_start": t.t_start, "t_end": t.t_end, "sweep": t.sweep}
        if t.task_id in cached:
            status = bd.read_status(t.task_id)
            row.update(state=State.DONE.value, cached_from=cached[t.task_id],
                       notebook=status.notebook if status else None,
                       duration=status.duration if status else None)
        else:
            row["state"] = State.PENDING.value
        tasks.append(row)
    store.add_batch(
        batch_id, name=info["name"], batch_dir=str(bd.root), backend=prof.backend,
        profile=prof.name, notebook=notebook,
        meta={"profile": prof.to_record(), "workers": n_workers, "tasks_per_job": tasks_per_job,
              "rois": rois, "data": [str(d) for d in ([data] if isinstance(data, (str, os.PathLike))
                                                      else data)],
              "n_cached": len(cached), "segments": plan.segments,
              "sweep_names": list(plan.sweep_names), "suggested": suggested},
        jobs=job_rows(plan.jobs),
        tasks=tasks,
    )
    batch = Batch(batch_id, store, backend=backend)
    if plan.jobs:
        backend.submit(batch.ctx, [j.job_index for j in plan.jobs])
    return batch


def _dry_run(plan: Plan, templates: dict[str, Any], prof: Profile, store: Store | None, *,
             force: bool, workers: int, tasks_per_job: int | None, pilot: int | None,
             preview: Any) -> DryRun:
    """The plan as a run would make it (resume included) and its estimate; nothing created."""
    from .dry_run import estimate_run

    if store is None and default_store_path().exists():
        store = Store()
    reused = set() if force or store is None else _reusable(store, plan)
    if reused:
        plan = _regroup_without(plan, reused, tasks_per_job or prof.tasks_per_job, workers,
                                prof.backend)
    return estimate_run(plan, templates, prof, workers=workers, reused=sorted(reused),
                        pilot=pilot, preview=preview)


def _preview_points(pipeline: Pipeline) -> dict[str, tuple[float, float]] | None:
    timing = getattr(pipeline, "preview_timing", None)
    if not timing:
        return None
    from .pilot import preview_points

    return preview_points(timing, {s.name: s.per for s in pipeline.stages}) or None


def _reusable(store: Store, plan: Plan) -> set[str]:
    """The tasks a run would reuse (done in an earlier batch with the same fingerprint)."""
    found = store.find_done(t.fingerprint for t in plan.tasks)
    out: set[str] = set()
    for t in plan.tasks:
        hit = found.get(t.fingerprint)
        if hit is None:
            continue
        st = BatchDir(hit[2]).read_status(hit[1])
        if st is not None and st.state is State.DONE:
            out.add(t.task_id)
    return out


def _cell_segments(pipeline: Pipeline) -> Any:
    """The parameters cell's ``segments = ...`` (a literal), or None."""
    import ast

    cell = pipeline.parameters
    if cell is None:
        return None
    try:
        tree = ast.parse(cell.source)
    except SyntaxError:
        return None
    value: Any = None
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "segments" for t in stmt.targets):
            try:
                value = ast.literal_eval(stmt.value)
            except ValueError:
                raise CaptureError("the parameters cell's `segments` must be a literal: a "
                                   "duration, (duration, shift) or a list of (t_start, t_end) "
                                   "windows") from None
    return value


def check_param_names(pipeline: Pipeline, params: dict[str, Any] | None, *,
                      allow_new: bool = False, option: str = "--param") -> None:
    """Refuse parameter overrides the parameters cell does not define (unless ``allow_new``)."""
    if not params:
        return
    from ..capture.parameters import STANDARD_PARAMETERS

    per_task = sorted(set(params) & set(STANDARD_PARAMETERS))
    if per_task:
        raise CaptureError(f"{option} {', '.join(per_task)}: set for each task by tramway-jupyter "
                           f"({', '.join(STANDARD_PARAMETERS)}); it cannot be overridden")
    if allow_new:
        return
    defined = pipeline.parameter_names()
    if defined is None:  # the cell does not parse: running it will say so
        return
    unknown = [k for k in params if k not in defined]
    if unknown:
        where = (f"the parameters cell defines {', '.join(defined)}" if defined
                 else "the pipeline has no parameters cell" if pipeline.parameters is None
                 else "the parameters cell defines no name")
        fix = ("fix the name, or pass --new-param (new_params=True) to add it"
               if option == "--param" else "a swept parameter must be defined in the "
               "parameters cell: fix the name, or add it there")
        raise CaptureError(f"{option} {', '.join(unknown)}: not a parameter of this pipeline "
                           f"({where}); {fix}")


def _default_name(notebook: str | None, pipeline: Pipeline) -> str:
    stages = "+".join(s.name for s in pipeline.stages)
    return f"{os.path.basename(notebook)}: {stages}" if notebook else stages


def _template_digest(nb: Any) -> str:
    return template_digest(nb)  # the worker records the same digest (jobs.provenance)


def _reuse_done(store: Store, bd: BatchDir, plan: Plan) -> dict[str, str]:
    """Copy the artifacts of tasks already done with the same fingerprint; return their origins."""
    found = store.find_done(t.fingerprint for t in plan.tasks)
    old_plans: dict[str, Plan | None] = {}
    out: dict[str, str] = {}
    for t in plan.tasks:
        hit = found.get(t.fingerprint)
        if hit is None:
            continue
        old_batch, old_tid, old_dir = hit
        old = BatchDir(old_dir)
        st = old.read_status(old_tid)
        if st is None or st.state is not State.DONE:
            continue
        if old_dir not in old_plans:
            try:
                old_plans[old_dir] = old.read_plan()
            except OSError:
                old_plans[old_dir] = None
        old_plan = old_plans[old_dir]
        try:
            old_key = old_plan.task(old_tid).file_key if old_plan is not None else t.file_key
        except KeyError:
            old_key = t.file_key
        if not _copy_task(old, old_tid, old_key, bd, t, st):
            continue
        out[t.task_id] = f"{old_batch}/{old_tid}"
    return out


def _copy_task(old: BatchDir, old_tid: str, old_key: str, new: BatchDir, t: Task,
               st: TaskStatus) -> bool:
    try:
        if old.notebook_path(old_tid).exists():
            shutil.copy2(old.notebook_path(old_tid), new.notebook_path(t.task_id))
        if st.log and (old.root / st.log).exists():  # the task's stdout/stderr
            (new.root / "logs").mkdir(exist_ok=True)
            shutil.copy2(old.root / st.log, new.root / task_log_relpath(t.task_id))
        for suffix in (".pkl", ".json"):
            src = old.results_path(old_tid).with_suffix(suffix)
            if src.exists():
                shutil.copy2(src, new.results_path(t.task_id).with_suffix(suffix))
        # how it was made: the record of the batch that ran it (its batch_id says which)
        rec = provenance_task_path(old.root, old_tid)
        if rec.exists():
            (new.root / PROVENANCE_DIR).mkdir(exist_ok=True)
            shutil.copy2(rec, provenance_task_path(new.root, t.task_id))
            for env in rec.parent.glob("env-*.json"):
                if not (new.root / PROVENANCE_DIR / env.name).exists():
                    shutil.copy2(env, new.root / PROVENANCE_DIR / env.name)
        if t.per == "file":
            old_out = old.output_dir(old_key)
            if old_out.exists():
                shutil.copytree(old_out, new.output_dir(t.file_key), dirs_exist_ok=True)
    except OSError:
        return False
    new.write_status(t.task_id, st.replace(
        attempt=1, job_index=-1, cached_from=f"{old.root.name}/{old_tid}",
        notebook=new.relative(new.notebook_path(t.task_id)) if st.notebook else None,
        results=new.relative(new.results_path(t.task_id)) if st.results else None,
        log=task_log_relpath(t.task_id) if st.log else None))
    return True


def _regroup_without(plan: Plan, skip: set[str], tasks_per_job: int | None, workers: int,
                     backend: str) -> Plan:
    from ..jobs.plan import group_jobs

    base = plan.with_jobs((), tuple(msgspec.structs.replace(t, job_index=-1) for t in plan.tasks))
    todo = [t.task_id for t in plan.tasks if t.task_id not in skip]
    return group_jobs(base, todo, tasks_per_job=tasks_per_job, workers=workers, backend=backend)
