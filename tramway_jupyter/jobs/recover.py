"""Recover from a damaged job store: keep the file aside, rebuild the store from batch directories.

A batch directory holds what the store knows about it (``batch.json``: id, name, profile,
notebook; ``plan.json``: tasks and jobs; ``status/*.jsonl``: each task's state), so the rows
can be rebuilt. What is lost: the backend ids of running jobs (a task that was not final is
marked ``lost``, so ``tramway-jupyter retry`` runs it again; status files written later by a
still-running job still win at the next poll), the state-change history, and batches whose
directory is elsewhere than the batches roots scanned.

Recovery is explicit (``tramway-jupyter doctor``), not automatic on open: the store is opened by
many processes at once (workers, the Jupyter server, kernels, the CLI), and one of them moving
the file aside while the others write would lose data; the user runs it once, and sees what
was rebuilt.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import StoreCorruptError
from .batchdir import BatchDir
from .states import State, job_outcome
from .status import TaskStatus
from .store import Store, check_store_file

#: Error of a task whose state the rebuilt store cannot know.
UNKNOWN_AFTER_REBUILD = ("state unknown after the job store was rebuilt from the batch directory; "
                         "`tramway-jupyter retry` runs it again")


@dataclass
class Diagnosis:
    path: Path
    problem: str | None  # None: sound


@dataclass
class Rebuilt:
    moved_to: Path | None
    batches: list[str] = field(default_factory=list)
    n_tasks: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (directory, why)


def diagnose(path: Path) -> Diagnosis:
    """Whether the store at ``path`` is sound: header checks, then ``PRAGMA integrity_check``."""
    if not path.exists():
        return Diagnosis(path, None)
    try:
        check_store_file(path)
        store = Store(path)
    except StoreCorruptError as exc:
        return Diagnosis(path, str(exc).split(" is damaged (", 1)[-1].rsplit("); run", 1)[0])
    try:
        problem = store.integrity_problem()
    finally:
        store.close()
    return Diagnosis(path, problem)


def move_aside(path: Path, label: str = "corrupt") -> Path:
    """Rename the store (and its ``-wal``/``-shm`` files) to ``<name>.<label>-<time>``."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.{label}-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.{label}-{stamp}-{n}")
        n += 1
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))
    return target


def rebuild(path: Path, batches_roots: Iterable[Path], *, damaged: bool = True) -> Rebuilt:
    """Keep the store at ``path`` aside (if it exists) and rebuild it from batch directories.

    The old file becomes ``<name>.corrupt-<time>`` (``<name>.bak-<time>`` if not ``damaged``).
    """
    moved = move_aside(path, "corrupt" if damaged else "bak") if path.exists() else None
    store = Store(path)
    out = Rebuilt(moved_to=moved)
    try:
        for root in batches_roots:
            if not root.is_dir():
                continue
            for d in sorted(p for p in root.iterdir() if p.is_dir()):
                try:
                    n = add_batch_from_dir(store, BatchDir(d))
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    out.skipped.append((str(d), f"{type(exc).__name__}: {exc}"))
                    continue
                if n is None:
                    out.skipped.append((str(d), "no batch.json and plan.json"))
                    continue
                out.batches.append(d.name)
                out.n_tasks += n
    finally:
        store.close()
    return out


def add_batch_from_dir(store: Store, bd: BatchDir) -> int | None:
    """Insert the rows of one batch directory; return its task count (``None``: not a batch)."""
    if not (bd.info_path.exists() and bd.plan_path.exists()):
        return None
    info = bd.read_info()
    plan = bd.read_plan()
    batch_id = str(info.get("batch_id") or bd.root.name)
    statuses = bd.read_statuses()
    tasks: list[dict[str, Any]] = []
    later: list[dict[str, Any]] = []
    for t in plan.tasks:
        st = statuses.get(t.task_id)
        if st is None or not st.is_final:
            st = TaskStatus(state=State.LOST, attempt=st.attempt if st else 1,
                            job_index=st.job_index if st else t.job_index,
                            started=st.started if st else None)
            error: str | None = UNKNOWN_AFTER_REBUILD
        else:
            error = st.error.summary() if st.error else None
        tasks.append({
            "task_id": t.task_id,
            "job_index": st.job_index if st.job_index is not None else t.job_index,
            "stage": t.stage, "source": t.source, "roi_index": t.roi_index,
            "state": st.state.value, "attempt": st.attempt,
            "fingerprint": t.fingerprint, "cached_from": st.cached_from,
            "notebook": st.notebook, "duration": st.duration,
            "records": list(st.records), "results": st.results,
            "segment_index": t.segment_index, "t_start": t.t_start, "t_end": t.t_end,
            "sweep": t.sweep})
        later.append({"task_id": t.task_id, "started": st.started,
                      "finished": st.finished, "error": error})
    by_job: dict[int, list[str]] = {}
    for row in tasks:
        by_job.setdefault(row["job_index"], []).append(row["state"])
    jobs = []
    for j in plan.jobs:
        states = by_job.get(j.job_index, [])
        job_state = job_outcome(states).value if states else State.LOST.value
        jobs.append({"job_index": j.job_index, "stage": j.stage, "attempt": j.attempt,
                     "n_tasks": len(j.task_ids), "state": job_state})
    store.add_batch(
        batch_id, name=str(info.get("name") or batch_id), batch_dir=str(bd.root),
        backend=str(info.get("backend") or "local"), profile=str(info.get("profile") or "local"),
        notebook=info.get("notebook"), created=float(info.get("created") or 0.0),
        meta={"profile": _profile_dict(info), "recovered": True,
              "data": sorted({t.source for t in plan.tasks})},
        jobs=jobs, tasks=tasks)
    store.update_tasks(batch_id, later)
    return len(tasks)


def _profile_dict(info: dict[str, Any]) -> dict[str, Any]:
    """The batch's resolved profile as submit saved it in ``batch.json`` (batches made before it
    was saved there: the name and backend only)."""
    record = info.get("profile_record")
    if isinstance(record, dict):
        return record
    return {"name": str(info.get("profile") or "local"),
            "backend": str(info.get("backend") or "local")}


def summary(result: Rebuilt) -> str:
    lines = []
    if result.moved_to is not None:
        lines.append(f"kept the old store aside as {result.moved_to}")
    lines.append(f"rebuilt {len(result.batches)} batch(es), {result.n_tasks} task(s)")
    for d, why in result.skipped:
        lines.append(f"  skipped {d}: {why}")
    return "\n".join(lines)


def dumps(result: Rebuilt) -> str:
    return json.dumps({"moved_to": str(result.moved_to) if result.moved_to else None,
                       "batches": result.batches, "n_tasks": result.n_tasks,
                       "skipped": result.skipped})
