"""The batch directory: its layout, the plan file and the per-task status files.

A batch directory is self-contained and relocatable (every path inside is relative), so it can
be staged to a cluster's scratch in one tar stream and brought back the same way::

    BATCH_DIR/
      batch.json                 what was submitted (id, name, profile, notebook, created)
      plan.json                  the manifest: stages, tasks, jobs (see plan_model)
      templates/<stage>.ipynb    one template notebook per stage
      notebooks/<task>.ipynb     executed output notebook per task
      results/<task>.pkl         objects recorded with tramway_jupyter.record()
      status/<task>.json         the task's status, written atomically: the source of truth
      logs/job-<j>-a<k>.log      one log per job attempt (the worker's, or the scheduler's stdout)
      outputs/<file_key>/        the output_dir shared by the stages of one data file
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .plan_model import Plan
from .states import State

STATUS_DIR = "status"
NOTEBOOKS_DIR = "notebooks"
RESULTS_DIR = "results"
LOGS_DIR = "logs"
OUTPUTS_DIR = "outputs"
TEMPLATES_DIR = "templates"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same directory, then rename.

    The file gets the permissions of any new file (0666 minus the umask), as logs do, so a
    shared batches directory stays readable by the group or others when the umask allows it
    (``tempfile.mkstemp`` would make it 0600).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:  # the kernel applies the umask to 0o666, without a racy os.umask() round trip
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                         0o666)
            break
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


class BatchDir:
    """Paths and files of one batch directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"BatchDir({str(self.root)!r})"

    # -- layout -------------------------------------------------------------------------
    @property
    def plan_path(self) -> Path:
        return self.root / "plan.json"

    @property
    def info_path(self) -> Path:
        return self.root / "batch.json"

    def template_path(self, stage: str) -> Path:
        return self.root / TEMPLATES_DIR / f"{stage}.ipynb"

    def notebook_path(self, task_id: str) -> Path:
        return self.root / NOTEBOOKS_DIR / f"{task_id}.ipynb"

    def results_path(self, task_id: str) -> Path:
        return self.root / RESULTS_DIR / f"{task_id}.pkl"

    def status_path(self, task_id: str) -> Path:
        return self.root / STATUS_DIR / f"{task_id}.json"

    def job_log_path(self, job_index: int, attempt: int = 1) -> Path:
        return self.root / LOGS_DIR / f"job-{job_index}-a{attempt}.log"

    def output_dir(self, file_key: str) -> Path:
        return self.root / OUTPUTS_DIR / file_key

    def create(self) -> None:
        for sub in (TEMPLATES_DIR, NOTEBOOKS_DIR, RESULTS_DIR, STATUS_DIR, LOGS_DIR, OUTPUTS_DIR):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    # -- plan and info ------------------------------------------------------------------
    def write_plan(self, plan: Plan) -> None:
        atomic_write_text(self.plan_path, plan.dumps())

    def read_plan(self) -> Plan:
        try:
            return Plan.from_json(json.loads(self.plan_path.read_text()))
        except FileNotFoundError:
            raise FileNotFoundError(f"no plan.json in batch directory {self.root}") from None

    def write_info(self, info: dict[str, Any]) -> None:
        atomic_write_text(self.info_path, json.dumps(info, indent=1))

    def read_info(self) -> dict[str, Any]:
        return json.loads(self.info_path.read_text())

    # -- status files -------------------------------------------------------------------
    def read_status(self, task_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.status_path(task_id).read_text())
        except FileNotFoundError:
            return None
        except json.JSONDecodeError:  # cannot happen with atomic writes, but never crash a poll
            return None

    def write_status(self, task_id: str, status: dict[str, Any], *, force: bool = False) -> bool:
        """Write a task's status atomically.

        A status of an older attempt never overwrites a newer one (a straggler of a killed
        attempt must not undo a retry), unless ``force``. Returns whether it was written.
        """
        if not force:
            old = self.read_status(task_id)
            if old is not None and int(old.get("attempt", 1)) > int(status.get("attempt", 1)):
                return False
        status = dict(status, task_id=task_id, updated=time.time())
        atomic_write_text(self.status_path(task_id), json.dumps(status))
        return True

    def read_statuses(self, task_ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Read every status file (or those of ``task_ids``), in one directory scan."""
        out: dict[str, dict[str, Any]] = {}
        sdir = self.root / STATUS_DIR
        if task_ids is None:
            try:
                names = [e.name for e in os.scandir(sdir) if e.name.endswith(".json")]
            except FileNotFoundError:
                return out
            wanted = [n[:-5] for n in names]
        else:
            wanted = list(task_ids)
        for tid in wanted:
            st = self.read_status(tid)
            if st is not None:
                out[tid] = st
        return out


def new_status(state: State, *, attempt: int, job_index: int, **fields: Any) -> dict[str, Any]:
    """A status record with the fields every reader may rely on."""
    d: dict[str, Any] = {
        "state": state.value,
        "attempt": attempt,
        "job_index": job_index,
        "started": None,
        "finished": None,
        "duration": None,
        "host": None,
        "pid": None,
        "error": None,
        "notebook": None,
        "results": None,
        "records": [],
    }
    d.update(fields)
    return d
