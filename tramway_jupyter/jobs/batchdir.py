"""The batch directory: its layout, the plan file and the per-task status files.

A batch directory is self-contained and relocatable (every path inside is relative), so it can
be staged to a cluster's scratch in one tar stream and brought back the same way::

    BATCH_DIR/
      batch.json                 what was submitted (id, name, profile, notebook, created)
      plan.json                  the manifest: stages, tasks, jobs (see plan_model)
      templates/<stage>.ipynb    one template notebook per stage
      notebooks/<task>.ipynb     executed output notebook per task (every task's in batches of up
                                 to 2,000 tasks, then those that did not end done: --keep-notebooks)
      results/<task>.pkl         objects recorded with tramway_jupyter.record() (if any)
      status/job-<j>.jsonl       the status records of job j's tasks, appended by its worker,
      status/local.jsonl         and those decided on the submitting host: the source of truth
                                 (see journal.py)
      logs/job-<j>-a<k>.log      one log per job attempt (the worker's, or the scheduler's stdout)
      logs/task-<task>.log       what a task printed, whole (only for tasks that printed)
      outputs/<file_key>/        the output_dir shared by the stages of one data file
      provenance/<task>.json     how the task was made: template digest, inputs' hashes,
      provenance/env-<hash>.json parameters; the environment, once per worker (provenance.py)
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from ..capture.parameters import output_dir
from .journal import LOCAL_JOURNAL, JournalReader, append, job_journal_name
from .plan_model import Plan
from .status import TaskStatus

STATUS_DIR = "status"
NOTEBOOKS_DIR = "notebooks"
RESULTS_DIR = "results"
LOGS_DIR = "logs"
OUTPUTS_DIR = "outputs"
TEMPLATES_DIR = "templates"


def task_log_relpath(task_id: str) -> str:
    """Where a task's stdout/stderr go, relative to the batch directory."""
    return f"{LOGS_DIR}/task-{task_id}.log"


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
        self._journals = JournalReader(self.root / STATUS_DIR)
        self._job_of: dict[str, int] | None = None

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

    def journal_path(self, job_index: int | None) -> Path:
        """A job's status journal; ``None``: the submitting host's (``local.jsonl``)."""
        name = LOCAL_JOURNAL if job_index is None else job_journal_name(job_index)
        return self.root / STATUS_DIR / name

    def task_log_path(self, task_id: str) -> Path:
        """The task's stdout/stderr, complete (its notebook keeps a head and a tail)."""
        return self.root / task_log_relpath(task_id)

    def job_log_path(self, job_index: int, attempt: int = 1) -> Path:
        return self.root / LOGS_DIR / f"job-{job_index}-a{attempt}.log"

    def output_dir(self, file_key: str) -> Path:
        return output_dir(self.root / OUTPUTS_DIR, file_key)  # the one rule, capture.parameters

    def create(self) -> None:
        for sub in (TEMPLATES_DIR, NOTEBOOKS_DIR, RESULTS_DIR, STATUS_DIR, LOGS_DIR, OUTPUTS_DIR):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    # -- plan and info ------------------------------------------------------------------
    def write_plan(self, plan: Plan) -> None:
        atomic_write_bytes(self.plan_path, plan.encode())

    def read_plan(self) -> Plan:
        """The plan, validated (:class:`~tramway_jupyter.exceptions.PlanFileError` if bad)."""
        try:
            data = self.plan_path.read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(f"no plan.json in batch directory {self.root}") from None
        return Plan.decode(data, self.plan_path)

    def write_info(self, info: dict[str, Any]) -> None:
        atomic_write_text(self.info_path, json.dumps(info, indent=1))

    def read_info(self) -> dict[str, Any]:
        return cast(dict[str, Any], json.loads(self.info_path.read_text()))

    # -- task statuses ----------------------------------------------------------------
    def _job_of_task(self, task_id: str) -> int | None:
        if self._job_of is None or task_id not in self._job_of:
            try:
                self._job_of = {t.task_id: t.job_index for t in self.read_plan().tasks}
            except FileNotFoundError:
                self._job_of = {}
        return self._job_of.get(task_id)

    def read_status(self, task_id: str, job_index: int | None = None) -> TaskStatus | None:
        """The task's current status record (``job_index``: its job now, read from the plan
        when not given), or None if nothing was recorded yet."""
        job = job_index if job_index is not None else self._job_of_task(task_id)
        jobs = [] if job is None or job < 0 else [job]
        return self._journals.statuses(jobs=jobs, task_ids=[task_id]).get(task_id)

    def write_status(self, task_id: str, status: TaskStatus, *, worker: bool = False) -> None:
        """Record a task's status: in its job's journal (``worker``) or the local journal.

        Appends one line; readers pick the record that counts (see :mod:`.journal`), so a
        straggler of an older attempt never undoes a retry.
        """
        job = status.job_index if worker else None
        self.write_statuses({task_id: status},
                            job=job if job is not None and job >= 0 else None)

    def write_statuses(self, statuses: dict[str, TaskStatus], *,
                       job: int | None = None) -> None:
        """Append the statuses of several tasks in one write: to job ``job``'s journal, or
        (None) the local journal."""
        now = time.time()
        append(self.journal_path(job),
               [st.replace(task_id=tid, updated=now) for tid, st in statuses.items()])

    def read_statuses(self, task_ids: Iterable[str] | None = None, *,
                      jobs: Iterable[int] | None = None) -> dict[str, TaskStatus]:
        """Current status records: of every task (or of ``task_ids``), from every journal or
        from those of ``jobs`` and the local one. Reads only what was appended since the last
        call on this BatchDir."""
        return self._journals.statuses(jobs=jobs, task_ids=task_ids)
