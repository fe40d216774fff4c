"""The plan of a batch (``plan.json``): tasks (stage x data file x ROI) grouped into jobs.

These are plain frozen dataclasses serialised to JSON, so that the worker reads them without
anything but the standard library, on any host and in any container.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from .outputs import DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_MAX_RICH_BYTES, DEFAULT_MAX_RICH_OUTPUTS

Granularity = Literal["file", "roi"]

PLAN_VERSION = 1

#: Which output notebooks a batch keeps (run option ``--keep-notebooks``).
KEEP_NOTEBOOKS = ("auto", "all", "failed")
#: Under ``"auto"``, a batch of at most this many tasks keeps every output notebook; a larger one
#: keeps those of the tasks that did not end done (a done task's results, status and log remain).
KEEP_ALL_NOTEBOOKS_UP_TO = 2000


@dataclass(frozen=True)
class StageSpec:
    name: str
    per: Granularity
    template: str  # path relative to the batch directory


@dataclass(frozen=True)
class Task:
    task_id: str
    stage: str
    per: Granularity
    source: str  # data file, absolute path on the submitting host
    file_key: str  # a safe directory name for the data file (output_dir/<file_key>)
    roi_index: int | None = None
    roi_file: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    fingerprint: str = ""
    job_index: int = -1

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["depends_on"] = list(self.depends_on)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Task:
        d = dict(d)
        d["depends_on"] = tuple(d.get("depends_on", ()))
        return cls(**d)


@dataclass(frozen=True)
class Job:
    job_index: int
    stage: str
    task_ids: tuple[str, ...]
    depends_on: tuple[int, ...] = ()  # job indices that must end first
    attempt: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "job_index": self.job_index,
            "stage": self.stage,
            "task_ids": list(self.task_ids),
            "depends_on": list(self.depends_on),
            "attempt": self.attempt,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Job:
        return cls(
            job_index=int(d["job_index"]),
            stage=d["stage"],
            task_ids=tuple(d["task_ids"]),
            depends_on=tuple(d.get("depends_on", ())),
            attempt=int(d.get("attempt", 1)),
        )


@dataclass(frozen=True)
class Plan:
    batch_id: str
    stages: tuple[StageSpec, ...]
    tasks: tuple[Task, ...]
    jobs: tuple[Job, ...]
    isolate: bool = False  # one fresh kernel per task (papermill-like) instead of a warm kernel
    engine: str = "shell"  # "shell": IPython in the worker process; "kernel": a warm ipykernel
    kernel_name: str = "python3"
    task_timeout: float | None = None  # seconds per cell, None = no limit
    keep_notebooks: str = "auto"  # see KEEP_NOTEBOOKS
    # kept in a task's output notebook (the log has all the text); 0 = no limit
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES  # stdout/stderr text, per task
    max_rich_outputs: int = DEFAULT_MAX_RICH_OUTPUTS  # images, HTML..., per task
    max_rich_bytes: int = DEFAULT_MAX_RICH_BYTES
    version: int = PLAN_VERSION

    def keeps_notebook(self, done: bool) -> bool:
        """Whether the output notebook of a task that ended (``done`` or not) is written."""
        if not done or self.keep_notebooks == "all":
            return True
        return self.keep_notebooks == "auto" and len(self.tasks) <= KEEP_ALL_NOTEBOOKS_UP_TO

    def task(self, task_id: str) -> Task:
        return self._task_index()[task_id]

    def job(self, job_index: int) -> Job:
        for j in self.jobs:
            if j.job_index == job_index:
                return j
        raise KeyError(f"no job {job_index} in the plan of batch {self.batch_id}")

    def _task_index(self) -> dict[str, Task]:
        idx = self.__dict__.get("_idx")
        if idx is None:
            idx = {t.task_id: t for t in self.tasks}
            object.__setattr__(self, "_idx", idx)
        return idx

    def stage(self, name: str) -> StageSpec:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no stage {name!r} in the plan of batch {self.batch_id}")

    def with_jobs(self, jobs: tuple[Job, ...], tasks: tuple[Task, ...] | None = None) -> Plan:
        new = replace(self, jobs=jobs, tasks=self.tasks if tasks is None else tasks)
        new.__dict__.pop("_idx", None)
        return new

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "batch_id": self.batch_id,
            "stages": [asdict(s) for s in self.stages],
            "tasks": [t.to_json() for t in self.tasks],
            "jobs": [j.to_json() for j in self.jobs],
            "isolate": self.isolate,
            "engine": self.engine,
            "kernel_name": self.kernel_name,
            "task_timeout": self.task_timeout,
            "keep_notebooks": self.keep_notebooks,
            "max_output_bytes": self.max_output_bytes,
            "max_rich_outputs": self.max_rich_outputs,
            "max_rich_bytes": self.max_rich_bytes,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Plan:
        return cls(
            batch_id=d["batch_id"],
            stages=tuple(StageSpec(**s) for s in d["stages"]),
            tasks=tuple(Task.from_json(t) for t in d["tasks"]),
            jobs=tuple(Job.from_json(j) for j in d["jobs"]),
            isolate=bool(d.get("isolate", False)),
            engine=d.get("engine", "shell"),
            kernel_name=d.get("kernel_name", "python3"),
            task_timeout=d.get("task_timeout"),
            keep_notebooks=d.get("keep_notebooks", "auto"),
            max_output_bytes=int(d.get("max_output_bytes", DEFAULT_MAX_OUTPUT_BYTES)),
            max_rich_outputs=int(d.get("max_rich_outputs", DEFAULT_MAX_RICH_OUTPUTS)),
            max_rich_bytes=int(d.get("max_rich_bytes", DEFAULT_MAX_RICH_BYTES)),
            version=int(d.get("version", PLAN_VERSION)),
        )
