"""Re-run one task of a batch from its provenance record and compare its records.

The task runs again on this host in a scratch batch directory (the batch's files are never
touched): the batch's template of its stage, the parameters of its record, the same inputs
(refused, naming the file, if an input's content hash changed since), its upstream outputs
copied from the batch's ``outputs/``. It runs with the one worker entry point
(``python -m tramway_jupyter.worker SCRATCH 0``, a one-task plan), then its records are compared
with the original's, numpy- and pandas-aware and without tolerance.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from ..capture.parameters import STANDARD_PARAMETERS
from ..exceptions import ProvenanceError
from . import nbjson
from .batchdir import BatchDir
from .plan import hash_file
from .plan_model import Job
from .provenance import read_task, task_path, template_digest
from .states import State

__all__ = ["RerunReport", "rerun_task", "records_equal"]

logger = logging.getLogger(__name__)


@dataclass
class RerunReport:
    """What a re-run of a task gave."""

    batch_id: str
    task_id: str
    state: str  # the re-run's state: done or failed
    differing: list[str] = field(default_factory=list)  # records whose values differ
    missing: list[str] = field(default_factory=list)  # recorded by the original only
    added: list[str] = field(default_factory=list)  # recorded by the re-run only
    error: str | None = None  # the re-run's error, if it failed
    scratch: Path | None = None  # the scratch batch directory (kept unless identical)

    @property
    def identical(self) -> bool:
        return self.state == State.DONE.value and not (self.differing or self.missing
                                                        or self.added)

    def summary(self) -> str:
        if self.identical:
            return f"task {self.task_id}: re-run gave identical records"
        parts = []
        if self.error:
            parts.append(f"the re-run failed: {self.error}")
        if self.differing:
            parts.append(f"records differ: {', '.join(self.differing)}")
        if self.missing:
            parts.append(f"not recorded by the re-run: {', '.join(self.missing)}")
        if self.added:
            parts.append(f"recorded by the re-run only: {', '.join(self.added)}")
        where = f" (re-run kept in {self.scratch})" if self.scratch else ""
        return f"task {self.task_id}: NOT identical: {'; '.join(parts)}{where}"


def _check_inputs(bd: BatchDir, task_id: str, rec: Any) -> None:
    tmpl = bd.template_path(rec.stage)
    if template_digest(nbjson.read_notebook(tmpl)) != rec.template_digest:
        raise ProvenanceError(f"cannot re-run task {task_id}: its template {tmpl} changed since "
                              "it ran (the pipeline cells differ from the record's)")
    for inp in rec.inputs:
        path = str(bd.root / inp.path) if inp.role == "upstream" else inp.path
        if inp.sha256 is None:
            continue
        try:
            now = hash_file(path)
        except OSError as exc:
            raise ProvenanceError(f"cannot re-run task {task_id}: its input {path} cannot be "
                                  f"read ({exc})") from None
        if now != inp.sha256:
            raise ProvenanceError(
                f"cannot re-run task {task_id}: its input {path} changed since it ran "
                f"(sha256 {now[:12]}… now, {inp.sha256[:12]}… in provenance/{task_id}.json)")


def _scratch_batch(bd: BatchDir, task_id: str, rec: Any, scratch: Path) -> BatchDir:
    """A one-task batch directory under ``scratch``, ready for the worker's job 0."""
    plan = bd.read_plan()
    task = plan.task(task_id)
    user = {k: v for k, v in rec.parameters.items() if k not in STANDARD_PARAMETERS}
    one = msgspec.structs.replace(task, params=user, depends_on=(), job_index=0)
    new_plan = msgspec.structs.replace(
        plan, stages=(plan.stage(task.stage),), tasks=(one,),
        jobs=(Job(job_index=0, stage=task.stage, task_ids=(task_id,)),), keep_notebooks="all")
    sbd = BatchDir(scratch / plan.batch_id)
    sbd.create()
    shutil.copy2(bd.template_path(task.stage), sbd.template_path(task.stage))
    src_out = bd.output_dir(task.file_key)
    if src_out.exists():  # the upstream stages' outputs the task reads
        shutil.copytree(src_out, sbd.output_dir(task.file_key), dirs_exist_ok=True)
    info = bd.read_info() if bd.info_path.exists() else {}
    info.update(backend="rerun", profile=None, rerun_of={"batch_id": plan.batch_id,
                                                          "task_id": task_id,
                                                          "batch_dir": str(bd.root)})
    sbd.write_info(info)
    sbd.write_plan(new_plan)
    return sbd


def rerun_task(batch_dir: str | os.PathLike[str], task_id: str, *,
               scratch: str | os.PathLike[str] | None = None, keep: bool = False,
               timeout: float | None = None) -> RerunReport:
    """Re-run ``task_id`` of the batch in ``batch_dir`` here and compare its records.

    Raises :class:`~tramway_jupyter.exceptions.ProvenanceError` if the task has no provenance
    record or an input (data, ROI file, upstream results, template) changed since it ran.
    The scratch directory is removed when the records are identical (unless ``keep``).
    """
    bd = BatchDir(batch_dir)
    rec = read_task(bd.root, task_id, resolve=False)
    if rec is None:
        raise ProvenanceError(f"cannot re-run task {task_id}: no provenance record "
                              f"{task_path(bd.root, task_id)} (unknown task, a task that did "
                              "not run, or a batch made before provenance records)")
    _check_inputs(bd, task_id, rec)
    root = Path(scratch) if scratch else Path(tempfile.mkdtemp(prefix=f"tj-rerun-{task_id}-"))
    sbd = _scratch_batch(bd, task_id, rec, root)
    log = sbd.root / "logs" / "rerun-worker.log"
    with open(log, "wb") as fh:  # the one worker entry point, as every backend runs it
        subprocess.run([sys.executable, "-m", "tramway_jupyter.worker", str(sbd.root), "0"],
                       stdout=fh, stderr=subprocess.STDOUT, timeout=timeout, check=False)
    st = sbd.read_status(task_id, 0)
    report = RerunReport(batch_id=rec.batch_id, task_id=task_id,
                         state=st.state.value if st else State.FAILED.value, scratch=sbd.root)
    if st is None:
        report.error = f"the worker wrote no status (see {log})"
    elif st.error is not None:
        report.error = st.error.summary()
    old, new = _load(bd.results_path(task_id)), _load(sbd.results_path(task_id))
    report.missing = sorted(set(old) - set(new))
    report.added = sorted(set(new) - set(old))
    report.differing = sorted(k for k in set(old) & set(new) if not records_equal(old[k], new[k]))
    if report.identical and not keep:
        shutil.rmtree(root if scratch is None else sbd.root, ignore_errors=True)
        report.scratch = None
    logger.info("%s", report.summary())
    return report


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    with open(path, "rb") as fh:
        out: dict[str, Any] = pickle.load(fh)
    return out


def records_equal(a: Any, b: Any) -> bool:
    """Whether two recorded values are equal, exactly: arrays element by element (NaN equal to
    NaN, same shape and dtype), DataFrames and Series with ``equals``, containers recursively."""
    if type(a) is not type(b):
        return False
    mod = type(a).__module__.split(".")[0]
    if mod == "numpy":
        import numpy as np

        if isinstance(a, np.ndarray):
            if a.shape != b.shape or a.dtype != b.dtype:
                return False
            if a.dtype.kind in "fc":
                return bool(np.array_equal(a, b, equal_nan=True))
            if a.dtype.kind == "O":
                return all(records_equal(x, y) for x, y in zip(a.ravel(), b.ravel(), strict=True))
            return bool(np.array_equal(a, b))
        return bool(a == b or (a != a and b != b))  # numpy scalars, NaN equal to NaN
    if mod == "pandas" and hasattr(a, "equals"):
        return bool(a.equals(b))
    if isinstance(a, float):
        return a == b or (a != a and b != b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(records_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(records_equal(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "to_dataframe"):  # Maps and the like
        return records_equal(a.to_dataframe(), b.to_dataframe())
    try:
        eq = a == b
        return bool(eq)
    except Exception:  # an elementwise result without a truth value
        return records_equal(getattr(a, "__dict__", None), getattr(b, "__dict__", None)) \
            if hasattr(a, "__dict__") else False
