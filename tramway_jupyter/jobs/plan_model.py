"""The plan of a batch (``plan.json``): tasks (stage x data file x ROI [x time window] [x sweep
point]) grouped into jobs.

Typed records (msgspec Structs, frozen): ``plan.json`` is encoded from them and decoded into them
with validation, so a corrupt or incompatible file is a clear :class:`PlanFileError` naming it.
msgspec is the worker's only dependency here (it imports in ~2 ms), so the worker reads the plan
on any host and in any container.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, cast

import msgspec

from ..exceptions import PlanFileError
from .outputs import DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_MAX_RICH_BYTES, DEFAULT_MAX_RICH_OUTPUTS

Granularity = Literal["file", "roi", "segment"]

#: The format of plan.json. Bump it when a reader of the old format would misread the new one;
#: a reader refuses a plan of another format with a message that says what to do.
PLAN_VERSION = 1

#: Which output notebooks a batch keeps (run option ``--keep-notebooks``).
KEEP_NOTEBOOKS = ("auto", "all", "failed")
#: Under ``"auto"``, a batch of at most this many tasks keeps every output notebook; a larger one
#: keeps those of the tasks that did not end done (a done task's results, status and log remain).
KEEP_ALL_NOTEBOOKS_UP_TO = 2000


class StageSpec(msgspec.Struct, frozen=True):
    name: str
    per: Granularity
    template: str  # path relative to the batch directory
    swept: bool = True  # runs once per sweep point (False: --sweep-independent)


# gc=False: a task holds strings, numbers and JSON values, never a cycle; untracked by the
# garbage collector, 100,000 of them decode 3x faster
class Task(msgspec.Struct, frozen=True, gc=False):
    task_id: str
    stage: str
    per: Granularity
    source: str  # data file, absolute path on the submitting host
    file_key: str  # a safe directory name for the data file (output_dir/<file_key>)
    roi_index: int | None = None
    roi_file: str | None = None
    params: dict[str, Any] = {}  # the batch's parameters, this sweep point's values included
    depends_on: tuple[str, ...] = ()
    fingerprint: str = ""
    job_index: int = -1
    segment_index: int | None = None  # the time window (per-segment stages), else None
    t_start: float | None = None  # the window [t_start, t_end), seconds
    t_end: float | None = None
    sweep: dict[str, Any] = {}  # the swept parameters' values of this task (empty: no sweep)

    def to_json(self) -> dict[str, Any]:
        return cast(dict[str, Any], msgspec.to_builtins(self))

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Task:
        return msgspec.convert(d, cls)


class Job(msgspec.Struct, frozen=True, gc=False):
    job_index: int
    stage: str
    task_ids: tuple[str, ...]
    depends_on: tuple[int, ...] = ()  # job indices that must end first
    attempt: int = 1

    def to_json(self) -> dict[str, Any]:
        return cast(dict[str, Any], msgspec.to_builtins(self))

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Job:
        return msgspec.convert(d, cls)


# dict=True: room for the task index cached by ``task()`` (never encoded)
class Plan(msgspec.Struct, frozen=True, dict=True):
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
    sweep_names: tuple[str, ...] = ()  # the swept parameters, in order (empty: no sweep)
    segments: str | None = None  # how the time windows were made (None: not segmented)
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
        idx: dict[str, Task] | None = self.__dict__.get("_idx")
        if idx is None:
            idx = {t.task_id: t for t in self.tasks}
            self.__dict__["_idx"] = idx
        return idx

    def stage(self, name: str) -> StageSpec:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no stage {name!r} in the plan of batch {self.batch_id}")

    def with_jobs(self, jobs: tuple[Job, ...], tasks: tuple[Task, ...] | None = None) -> Plan:
        return msgspec.structs.replace(self, jobs=jobs,
                                       tasks=self.tasks if tasks is None else tasks)

    def to_json(self) -> dict[str, Any]:
        return cast(dict[str, Any], msgspec.to_builtins(self))

    def encode(self) -> bytes:
        """The content of plan.json."""
        return _ENCODER.encode(self)

    def dumps(self) -> str:
        return self.encode().decode("utf-8")

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Plan:
        """From the decoded JSON object (validated; ``msgspec.ValidationError`` if bad)."""
        return msgspec.convert(d, cls)

    @classmethod
    def decode(cls, data: bytes | str, path: str | Path = "plan.json") -> Plan:
        """From the content of plan.json at ``path`` (named in the errors), validated.

        Raises :class:`PlanFileError` if it is not JSON, not a plan, or of another format.
        """
        try:
            plan = _DECODER.decode(data)
        except msgspec.ValidationError as exc:
            try:  # another format's plan is said as such, not as a field that does not fit
                _check_version(_VERSION_DECODER.decode(data).version, path)
            except msgspec.DecodeError:
                pass
            raise PlanFileError(f"{path} is not a valid plan.json: {exc}") from None
        except msgspec.DecodeError as exc:
            raise PlanFileError(f"{path} is not a valid plan.json: {exc}") from None
        _check_version(plan.version, path)
        return plan


def _check_version(version: int, path: str | Path) -> None:
    if version != PLAN_VERSION:
        from .._version import __version__

        raise PlanFileError(
            f"{path} is a plan of format {version}, and this tramway-jupyter ({__version__}) "
            f"reads format {PLAN_VERSION}: use the same tramway-jupyter version on the "
            "submitting host and where the workers run")


class _PlanVersion(msgspec.Struct):
    version: int = PLAN_VERSION


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Plan)
_VERSION_DECODER = msgspec.json.Decoder(_PlanVersion)
