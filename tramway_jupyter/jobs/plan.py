"""Expand a pipeline over data files x ROIs into tasks, and group the tasks into jobs.

ROIs of a data file come, by default, from the ROI file beside it (``X.rpt.txt`` ->
``X.rpt-roi.txt`` as TRamWAy; ``X.xml``/``X.csv`` -> ``X_RoiSet.zip``, ``X-RoiSet.zip``,
``X.roi``, ``X-roi.txt``: :func:`~tramway_jupyter.analysis.rois.roi_file_for`); a file without
one is a single task. Task ids and the
per-file output directories use a sanitised key, so data file names with spaces, quotes or
``$`` never reach a shell or a path unquoted.
"""

from __future__ import annotations

import glob
import hashlib
import math
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from ..capture.parameters import file_key
from ..capture.pipeline import Pipeline
from ..exceptions import PlanError
from .plan_model import Job, Plan, StageSpec, Task
from .taskspace import SegmentSpec, names_read

DEFAULT_ROI_SUFFIX = "-roi.txt"  # TRamWAy's; the default lookup is analysis.rois.roi_file_for
MAX_AUTO_TASKS_PER_JOB = 64


@dataclass(frozen=True)
class DataFile:
    path: str
    key: str
    roi_file: str | None
    rois: tuple[int, ...] | None  # None: the whole file is one task


def expand_sources(data: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    """Absolute paths of the data files named by a glob pattern, a path, or a list of either."""
    items = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    out: list[str] = []
    for item in items:
        s = os.path.expanduser(os.fspath(item))
        if os.path.isfile(s):
            matches = [s]
        else:
            matches = sorted(glob.glob(s))
            matches = [m for m in matches if os.path.isfile(m) and not _is_roi_file(m)]
        if not matches:
            raise PlanError(f"no data file matches {s!r}")
        out.extend(os.path.abspath(m) for m in matches)
    return list(dict.fromkeys(out))  # without duplicates, in order of first appearance


def _is_roi_file(path: str) -> bool:
    """TRamWAy's ``*roi.txt``, ImageJ's ``*.roi`` and ``*RoiSet.zip`` (any case): not data."""
    return bool(re.search(r"[-_.]?roi\.txt$|(?i:\.roi|roiset\.zip)$", path))


def _count_rois(roi_file: str) -> int:
    """The number of ROIs of a ROI file of any format (every ROI checked: no pixel size needed)."""
    from ..analysis.rois import roi_names

    return len(roi_names(roi_file))


_SELECTION_HELP = ("a selection is ROI indices (0 is the first ROI) and inclusive ranges a-b with "
                   "a <= b, separated by commas, like 0,2,5-7")


def _parse_selection(spec: str) -> list[int] | None:
    """The ROI indices of a selection like ``0,2,5-7`` (repeats dropped, first order kept).

    ``None`` when ``spec`` is not a selection (it has characters other than digits, commas,
    dashes and spaces: a ROI file suffix). A malformed selection raises :class:`PlanError`.
    """
    if not re.fullmatch(r"[0-9,\-\s]+", spec):
        return None
    out: list[int] = []
    for raw in spec.split(","):
        part = raw.strip()
        m = re.fullmatch(r"(\d+)\s*(?:-\s*(\d+))?", part)
        if m is None:
            why = ("an empty item" if not part
                   else f"{part!r} is a negative index" if part.startswith("-")
                   else f"{part!r} is not an index or a range")
            raise PlanError(f"--rois {spec}: {why}; {_SELECTION_HELP}")
        a = int(m.group(1))
        b = a if m.group(2) is None else int(m.group(2))
        if b < a:
            raise PlanError(f"--rois {spec}: the range {part} is empty ({a} > {b}); "
                            f"{_SELECTION_HELP}")
        out.extend(range(a, b + 1))
    return list(dict.fromkeys(out))


def _rois_spec(rois: object) -> str | None:
    """``--rois`` as a string; a list of indices (from the Python API) becomes ``"0,2"``."""
    if rois is None:
        return None
    if isinstance(rois, int) and not isinstance(rois, bool):
        rois = [rois]
    if isinstance(rois, (list, tuple, range)):
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in rois):
            raise PlanError(f"rois={rois!r}: a list of ROI indices must hold integers only")
        return ",".join(str(i) for i in rois) if len(rois) else ""
    return str(rois).strip()


def resolve_rois(path: str, rois: str | None) -> tuple[str | None, tuple[int, ...] | None]:
    """The ROI file and ROI indices of one data file for the ``--rois`` option.

    ``None``: the ROI file beside it if it exists, else the whole file; ``"all"``: every ROI of
    that file (which must exist); ``"none"``: the whole file; ``"0,2,5-7"``: those ROIs of it
    (repeats are dropped); anything else is a ROI file suffix (``"-roi.txt"``,
    ``"_cells-roi.txt"``, ``"_RoiSet.zip"``). Without a suffix the ROI file is
    :func:`~tramway_jupyter.analysis.rois.roi_file_for`'s lookup. A ROI file without any ROI
    is refused.
    """
    spec = _rois_spec(rois)
    if spec == "":
        raise PlanError(f"--rois is empty; use 'all', 'none', a ROI file suffix, or "
                        f"{_SELECTION_HELP}")
    selection = _parse_selection(spec) if spec else None
    if spec == "none":
        return None, None
    suffix = None if spec in (None, "all") or selection is not None else spec
    from ..analysis.rois import roi_file_candidates, roi_file_for

    rf = str(roi_file_for(path, suffix))
    if not os.path.isfile(rf):
        if spec is None:
            return None, None
        tried = [str(c) for c in roi_file_candidates(path)] if suffix is None else [rf]
        which = f"no ROI file {rf}" if len(tried) == 1 else f"no ROI file (looked for {tried})"
        raise PlanError(f"{which} for data file {path} (--rois {spec})")
    n = _count_rois(rf)
    if n == 0:
        raise PlanError(f"the ROI file {rf} (for data file {path}) holds no ROI; add ROIs to "
                        f"it, remove it, or pass --rois none to run on the whole file")
    if selection is None:
        return rf, tuple(range(n))
    bad = [i for i in selection if i >= n]
    if bad:
        raise PlanError(f"--rois {spec}: ROI index(es) {bad} out of range for {rf}, which "
                        f"holds {n} ROI(s) (indices 0 to {n - 1})")
    return rf, tuple(selection)


#: A file changed less than this long ago (ns) is hashed again at each call, never memoised: a
#: rewrite within the timestamp resolution of its file system (1 or 2 s on some) keeps its stat.
RECENT_CHANGE_NS = 2_000_000_000

_Stamp = tuple[int, int, int, int, int]


def hash_file(path: str | None,
              _cache: dict[str, tuple[_Stamp, str]] = {}) -> str:  # noqa: B006
    """sha256 of a file's content.

    Memoised for this process on the file's identity and change times (device, inode, size,
    mtime and ctime in ns), except for a file changed within the last 2 s
    (:data:`RECENT_CHANGE_NS`), hashed again each time: a rewrite of the same size within the
    timestamp resolution is then never mistaken for the file already hashed.
    """
    if path is None:
        return ""
    st = os.stat(path)
    stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    hit = _cache.get(path)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) >= RECENT_CHANGE_NS:
        _cache[path] = (stamp, digest)
    else:
        _cache.pop(path, None)
    return digest


def _fingerprint(template_digest: str, params: dict[str, Any], source_hash: str, roi_hash: str,
                 roi_index: int | None, upstream: Sequence[str],
                 window: tuple[float, float] | None = None) -> str:
    h = hashlib.sha256()
    parts = [template_digest, repr(sorted(params.items())), source_hash, roi_hash,
             repr(roi_index), *upstream]
    if window is not None:  # (absent for unsegmented tasks: their fingerprints stay as they were)
        parts.append(f"window {window[0]!r} {window[1]!r}")
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def auto_tasks_per_job(n_tasks: int, workers: int, backend: str) -> int:
    """Chunk size of the tasks of a stage.

    Local workers keep their kernel warm from job to job, so jobs are only chunks for load
    balancing: about 4 per worker. On Slurm every job starts a kernel: bounded arrays.
    """
    if n_tasks <= 0:
        return 1
    if backend == "slurm":
        return max(1, math.ceil(n_tasks / 500))
    return max(1, min(MAX_AUTO_TASKS_PER_JOB, math.ceil(n_tasks / (4 * max(1, workers)))))


#: A task's data unit and sweep point: (file key, ROI, window, point); None where coarser.
_Key = tuple[str, int | None, int | None, int | None]


def _file_windows(f: DataFile, segments: SegmentSpec,
                  params: dict[str, Any] | None = None) -> list[tuple[float, float]]:
    """The time windows of one data file: explicit ones, or cut from its time span."""
    if segments.windows is not None:
        return list(segments.windows)
    from ..analysis import read_trajectories
    from ..analysis.io import unit_kwargs
    from ..analysis.segments import time_span, time_windows

    t_min, t_max = time_span(read_trajectories(f.path, **unit_kwargs(params)))
    assert segments.duration is not None
    return time_windows(t_min, t_max, segments.duration, segments.shift,
                        min_fraction=segments.min_fraction)


def _check_independent(pipeline: Pipeline, swept: Sequence[str]) -> None:
    for st in pipeline.stages:
        if st.sweep_independent:
            read = sorted(names_read(st.source) & set(swept))
            if read:
                raise PlanError(
                    f"stage {st.name} is --sweep-independent but its code reads the swept "
                    f"parameter(s) {', '.join(read)}: it would see only their default; drop "
                    f"--sweep-independent, or stop sweeping them")


def make_plan(
    batch_id: str,
    pipeline: Pipeline,
    data: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    rois: str | None = None,
    params: dict[str, Any] | None = None,
    template_digests: dict[str, str] | None = None,
    tasks_per_job: int | None = None,
    workers: int = 1,
    backend: str = "local",
    isolate: bool = False,
    engine: str = "shell",
    task_timeout: float | None = None,
    keep_notebooks: str = "auto",
    segments: SegmentSpec | None = None,
    sweep: Sequence[dict[str, Any]] | None = None,
) -> Plan:
    """Tasks for every stage x data file (x ROI) (x time window) (x sweep point), grouped into
    jobs, with their dependencies.

    A task depends on the tasks of every earlier stage that cover its data: the same file, ROI
    and window where the earlier stage is as fine, all of them where it is finer (a per-file
    stage after a per-ROI one waits for every ROI of its file); and the same sweep point, unless
    one of the two stages is sweep-independent.
    """
    pipeline.validate()
    params = dict(params or {})
    points = [dict(p) for p in (sweep or [{}])] or [{}]
    swept_names = tuple(dict.fromkeys(k for p in points for k in p))
    if swept_names:
        _check_independent(pipeline, swept_names)
    has_segment_stage = any(st.per == "segment" for st in pipeline.stages)
    if has_segment_stage and segments is None:
        raise PlanError("a stage is --per segment but no time windows are given: pass "
                        "--segments DURATION[:SHIFT] (or segments=... to run, or set `segments` "
                        "in the parameters cell)")
    if segments is not None and not has_segment_stage:
        raise PlanError("--segments is given but no stage is --per segment: declare the stage "
                        "to run per time window with `%%tramway stage NAME --per segment`")
    rois_spec = _rois_spec(rois)
    if rois_spec:  # a malformed selection fails here, before any file is read
        _parse_selection(rois_spec)
    files = []
    for i, path in enumerate(expand_sources(data)):
        rf, roi_idx = resolve_rois(path, rois)
        files.append(DataFile(path=path, key=file_key(i, path), roi_file=rf, rois=roi_idx))
    windows = {f.key: _file_windows(f, segments, params) for f in files} if segments is not None else {}
    for f in files:
        if segments is not None and not windows[f.key]:
            raise PlanError(f"no time window for data file {f.path} ({segments.describe()})")
    digests = template_digests or {}
    # each file hashed once per plan (a file just written is not memoised across calls)
    hashes = {f.key: (hash_file(f.path), hash_file(f.roi_file)) for f in files}
    stages = tuple(StageSpec(name=s.name, per=s.per, template=f"templates/{s.name}.ipynb",
                             swept=not s.sweep_independent)
                   for s in pipeline.stages)
    many = len(points) > 1 or bool(swept_names)

    tasks: list[Task] = []
    # every earlier stage: its spec, its tasks by key, and by file
    produced: list[tuple[StageSpec, dict[_Key, Task], dict[str, list[tuple[_Key, Task]]]]] = []
    for spec in stages:
        index: dict[_Key, Task] = {}
        by_file: dict[str, list[tuple[_Key, Task]]] = {}
        stage_points: list[tuple[int | None, dict[str, Any]]] = (
            list(enumerate(points)) if spec.swept and many else [(None, {})])
        for f in files:
            rois_here: Sequence[int | None] = (
                [None] if spec.per == "file" or f.rois is None else list(f.rois))
            wins: Sequence[tuple[int | None, tuple[float, float] | None]] = (
                list(enumerate(windows[f.key])) if spec.per == "segment" else [(None, None)])
            src_hash, roi_hash = hashes[f.key]
            for r in rois_here:
                for s_idx, win in wins:
                    for p_idx, point in stage_points:
                        key: _Key = (f.key, r, s_idx, p_idx)
                        deps = [d for up in produced for d in _upstream(up, key)]
                        tid = (f"{spec.name}-{f.key}" + ("" if r is None else f"-r{r:03d}")
                               + ("" if s_idx is None else f"-s{s_idx:03d}")
                               + ("" if p_idx is None else f"-p{p_idx:03d}"))
                        task_params = {**params, **point}
                        fp = _fingerprint(digests.get(spec.name, ""), task_params, src_hash,
                                          roi_hash, r, [d.fingerprint for d in deps], win)
                        t = Task(task_id=tid, stage=spec.name, per=spec.per, source=f.path,
                                 file_key=f.key, roi_index=r, roi_file=f.roi_file,
                                 params=task_params, depends_on=tuple(d.task_id for d in deps),
                                 fingerprint=fp, segment_index=s_idx,
                                 t_start=None if win is None else win[0],
                                 t_end=None if win is None else win[1], sweep=dict(point))
                        tasks.append(t)
                        index[key] = t
                        by_file.setdefault(f.key, []).append((key, t))
        produced.append((spec, index, by_file))
    if not tasks:
        raise PlanError(f"the plan is empty: no task for {data!r} (--rois {rois_spec})")
    if tasks_per_job is not None and tasks_per_job < 1:
        raise PlanError(f"tasks_per_job must be >= 1, got {tasks_per_job}")
    plan = Plan(batch_id=batch_id, stages=stages, tasks=tuple(tasks), jobs=(), isolate=isolate,
                engine=engine, task_timeout=task_timeout, keep_notebooks=keep_notebooks,
                sweep_names=swept_names,
                segments=None if segments is None else segments.describe())
    return group_jobs(plan, [t.task_id for t in tasks], tasks_per_job=tasks_per_job,
                      workers=workers, backend=backend)


def _upstream(up: tuple[StageSpec, dict[_Key, Task], dict[str, list[tuple[_Key, Task]]]],
              key: _Key) -> list[Task]:
    """The tasks of an earlier stage that the task of ``key`` waits for."""
    spec, index, by_file = up
    f, r, s, p = key
    # the upstream task's key when it is as coarse as or coarser than this task at every level
    ur = r if spec.per in ("roi", "segment") else None
    us = s if spec.per == "segment" else None
    up_point = p if spec.swept else None
    exact = (f, ur, us, up_point)
    finer = (spec.per in ("roi", "segment") and r is None) or (spec.per == "segment" and s is None)
    if not finer and (p is not None or not spec.swept):
        hit = index.get(exact)
        if hit is not None:
            return [hit]
    # this task is coarser somewhere (or sweep-independent after a swept stage): all matching
    return [t for (uf, urr, uss, upp), t in by_file.get(f, [])
            if (r is None or urr is None or urr == r)
            and (s is None or uss is None or uss == s)
            and (p is None or upp is None or upp == p)]


def group_jobs(plan: Plan, task_ids: Sequence[str], *, tasks_per_job: int | None, workers: int,
               backend: str, attempt: int = 1) -> Plan:
    """Append jobs for ``task_ids`` (stage by stage, in order) to the plan.

    Used for the first submission and for retries; existing jobs are kept unchanged.
    """
    by_id = {t.task_id: t for t in plan.tasks}
    wanted = [by_id[t] for t in task_ids]
    next_index = max((j.job_index for j in plan.jobs), default=-1) + 1
    job_of = {t.task_id: t.job_index for t in plan.tasks}
    new_jobs: list[Job] = []
    updated: dict[str, Task] = {}
    for spec in plan.stages:
        st = [t for t in wanted if t.stage == spec.name]
        if not st:
            continue
        k = tasks_per_job or auto_tasks_per_job(len(st), workers, backend)
        for i in range(0, len(st), k):
            chunk = st[i : i + k]
            for t in chunk:
                job_of[t.task_id] = next_index
                updated[t.task_id] = msgspec.structs.replace(t, job_index=next_index)
            deps = sorted({job_of[d] for t in chunk for d in t.depends_on if job_of.get(d, -1) >= 0}
                          - {next_index})
            new_jobs.append(Job(job_index=next_index, stage=spec.name,
                                task_ids=tuple(t.task_id for t in chunk), depends_on=tuple(deps),
                                attempt=attempt))
            next_index += 1
    tasks = tuple(updated.get(t.task_id, t) for t in plan.tasks)
    return plan.with_jobs(plan.jobs + tuple(new_jobs), tasks)
