"""One hierarchy of errors for tramway-jupyter.

Messages name the file, the batch, the job or the host, and say what to do.
`analysis/` raises plain ``ValueError``/``TypeError`` for bad arguments (scipy style),
and :class:`DataFormatError` (a ``ValueError``) for malformed data files.
"""

from __future__ import annotations


class TramwayJupyterError(Exception):
    """Base of every error raised by tramway-jupyter."""


class DataFormatError(TramwayJupyterError, ValueError):
    """A data file (trajectories, ROI) is malformed; the message names the file and line."""

    def __init__(self, path: object, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class CaptureError(TramwayJupyterError):
    """A %%tramway cell or a captured pipeline is invalid."""


class TemplateError(TramwayJupyterError):
    """A template notebook cannot be built or read."""


class PlanError(TramwayJupyterError):
    """The data and ROIs given cannot be expanded into tasks."""


class PlanFileError(PlanError, ValueError):
    """A batch's plan.json is corrupt, not a plan, or of a format this version does not read."""


class StoreError(TramwayJupyterError):
    """The job store cannot be read or written."""


class BatchNotFoundError(StoreError, LookupError):
    """No batch with this id in the store."""


class ProfileError(TramwayJupyterError):
    """A profile is missing or invalid."""


class BackendError(TramwayJupyterError):
    """A backend cannot launch, poll or cancel jobs."""


class UnknownBackendError(BackendError, LookupError):
    """No backend is registered under this name."""


class BackendUnavailableError(BackendError):
    """The backend (scheduler, host) has not answered several polls in a row."""


class SubmitError(BackendError):
    """A submission was refused by the scheduler."""


class RemoteCommandError(BackendError):
    """A command run on a remote host failed."""

    def __init__(self, host: str, command: str, returncode: int, stderr: str) -> None:
        self.host = host
        self.command = command
        self.returncode = returncode
        self.stderr = stderr
        tail = stderr.strip()[-2000:]
        super().__init__(f"command failed on {host} (exit {returncode}): {command}\n{tail}")


class HostKeyError(BackendError):
    """The SSH host key is unknown or has changed: strict checking refused it."""


class JobFailedError(TramwayJupyterError):
    """A task failed; carries where and why, like papermill's PapermillExecutionError."""

    def __init__(
        self,
        batch_id: str,
        task_id: str,
        *,
        job_index: int | None = None,
        source: str | None = None,
        roi_index: int | None = None,
        cell_index: int | None = None,
        ename: str = "",
        evalue: str = "",
        traceback: str = "",
        log_path: str | None = None,
        notebook_path: str | None = None,
    ) -> None:
        self.batch_id = batch_id
        self.task_id = task_id
        self.job_index = job_index
        self.source = source
        self.roi_index = roi_index
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback
        self.log_path = log_path
        self.notebook_path = notebook_path
        roi = "" if roi_index is None else f", ROI {roi_index}"
        cell = "" if cell_index is None else f" in cell {cell_index}"
        super().__init__(
            f"task {task_id} of batch {batch_id} ({source}{roi}) failed{cell}: {ename}: {evalue}"
        )


class MissingDependencyError(TramwayJupyterError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""
