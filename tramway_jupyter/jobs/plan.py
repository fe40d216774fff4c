"""Expand a pipeline over data files x ROIs into tasks, and group the tasks into jobs.

ROIs of a data file come, by default, from the ROI file TRamWAy would look for beside it
(``X.rpt.txt`` -> ``X.rpt-roi.txt``); a file without one is a single task. Task ids and the
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

DEFAULT_ROI_SUFFIX = "-roi.txt"
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
    return bool(re.search(r"[-_.]?roi\.txt$", path))


def _count_rois(roi_file: str) -> int:
    from ..analysis import read_rois

    return len(read_rois(roi_file))


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
    ``"_cells-roi.txt"``). A ROI file without any ROI is refused.
    """
    spec = _rois_spec(rois)
    if spec == "":
        raise PlanError(f"--rois is empty; use 'all', 'none', a ROI file suffix, or "
                        f"{_SELECTION_HELP}")
    selection = _parse_selection(spec) if spec else None
    if spec == "none":
        return None, None
    suffix = DEFAULT_ROI_SUFFIX if spec in (None, "all") or selection is not None else spec
    from ..analysis.rois import roi_file_for

    rf = str(roi_file_for(path, suffix))
    if not os.path.isfile(rf):
        if spec is None:
            return None, None
        raise PlanError(f"no ROI file {rf} for data file {path} (--rois {spec})")
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
                 roi_index: int | None, upstream: Sequence[str]) -> str:
    h = hashlib.sha256()
    for part in (template_digest, repr(sorted(params.items())), source_hash, roi_hash,
                 repr(roi_index), *upstream):
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
) -> Plan:
    """Tasks for every stage x data file (x ROI), grouped into jobs, with their dependencies."""
    pipeline.validate()
    params = dict(params or {})
    rois_spec = _rois_spec(rois)
    if rois_spec:  # a malformed selection fails here, before any file is read
        _parse_selection(rois_spec)
    files = []
    for i, path in enumerate(expand_sources(data)):
        rf, roi_idx = resolve_rois(path, rois)
        files.append(DataFile(path=path, key=file_key(i, path), roi_file=rf, rois=roi_idx))
    digests = template_digests or {}
    # each file hashed once per plan (a file just written is not memoised across calls)
    hashes = {f.key: (hash_file(f.path), hash_file(f.roi_file)) for f in files}
    stages = tuple(StageSpec(name=s.name, per=s.per, template=f"templates/{s.name}.ipynb")
                   for s in pipeline.stages)

    tasks: list[Task] = []
    # for each earlier stage, its tasks by (file key, ROI index or None)
    produced: list[tuple[StageSpec, dict[tuple[str, int | None], Task], dict[str, list[Task]]]] = []
    for spec in stages:
        stage_tasks: list[Task] = []
        index: dict[tuple[str, int | None], Task] = {}
        by_file: dict[str, list[Task]] = {}
        for f in files:
            rois_here: Sequence[int | None] = (
                [None] if spec.per == "file" or f.rois is None else list(f.rois)
            )
            src_hash, roi_hash = hashes[f.key]
            for r in rois_here:
                deps: list[Task] = []
                for up_spec, up_index, up_by_file in produced:
                    if up_spec.per == "file":
                        deps.append(up_index[(f.key, None)])
                    elif r is None:  # a per-file task waits for every ROI of its file
                        deps += up_by_file.get(f.key, [])
                    elif (f.key, r) in up_index:
                        deps.append(up_index[(f.key, r)])
                tid = f"{spec.name}-{f.key}" + ("" if r is None else f"-r{r:03d}")
                fp = _fingerprint(digests.get(spec.name, ""), params, src_hash, roi_hash, r,
                                  [d.fingerprint for d in deps])
                t = Task(task_id=tid, stage=spec.name, per=spec.per, source=f.path, file_key=f.key,
                         roi_index=r, roi_file=f.roi_file,
                         params=params, depends_on=tuple(d.task_id for d in deps), fingerprint=fp)
                stage_tasks.append(t)
                index[(f.key, r)] = t
                by_file.setdefault(f.key, []).append(t)
        produced.append((spec, index, by_file))
        tasks.extend(stage_tasks)
    if not tasks:
        raise PlanError(f"the plan is empty: no task for {data!r} (--rois {rois_spec})")
    if tasks_per_job is not None and tasks_per_job < 1:
        raise PlanError(f"tasks_per_job must be >= 1, got {tasks_per_job}")
    plan = Plan(batch_id=batch_id, stages=stages, tasks=tuple(tasks), jobs=(), isolate=isolate,
                engine=engine, task_timeout=task_timeout, keep_notebooks=keep_notebooks)
    return group_jobs(plan, [t.task_id for t in tasks], tasks_per_job=tasks_per_job,
                      workers=workers, backend=backend)


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
