"""One hierarchy of errors for tramway-jupyter.

Messages name the file, the batch, the job or the host, and say what to do.
`analysis/` raises plain ``ValueError``/``TypeError`` for bad arguments (scipy style),
and :class:`DataFormatError` (a ``ValueError``) for malformed data files.
"""

from __future__ import annotations

import os


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


class StoreCorruptError(StoreError):
    """The job store file is damaged (not a database, truncated, malformed).

    ``tramway-jupyter doctor`` keeps it aside and rebuilds a store from the batch directories.
    """

    def __init__(self, path: os.PathLike[str], why: str) -> None:
        self.path = path
        super().__init__(
            f"the job store {path} is damaged ({why}); run `tramway-jupyter doctor` to keep it "
            f"aside (as {os.path.basename(path)}.corrupt-<time>) and rebuild the store from the "
            f"batch directories")


class BatchNotFoundError(StoreError, LookupError):
    """No batch with this id in the store."""


class ProfileError(TramwayJupyterError):
    """A profile is missing or invalid."""


class BackendError(TramwayJupyterError):
    """A backend cannot launch, poll or cancel jobs."""


class UnknownBackendError(BackendError, LookupError):
    """No backend is registered under this name."""


class BackendConnectionError(BackendError):
    """The host of a backend cannot be reached or refuses the connection (unreachable, the
    authentication failed, its host key is unknown or has changed). The CLI exits 3 on it."""


class BackendUnavailableError(BackendConnectionError):
    """The backend (scheduler, host) cannot be reached: it has not answered several polls in a
    row, the connection could not be made or was lost, or the authentication failed."""


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


class HostKeyError(BackendConnectionError):
    """The SSH host key is unknown or has changed: strict checking refused it."""


class PoolError(BackendError, RuntimeError):
    """The warm pool cannot serve this request (the caller falls back to a cold dispatcher)."""


class KernelDiedError(TramwayJupyterError, RuntimeError):
    """The kernel process ended while a cell was running."""


class CellTimeoutError(TramwayJupyterError, TimeoutError):
    """A cell ran longer than the task timeout and was interrupted."""


class RecordNotFoundError(TramwayJupyterError, KeyError):
    """No task of the batch recorded this name (the message lists the names recorded)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class RequestError(TramwayJupyterError, ValueError):
    """A request to the server extension is malformed (HTTP 400)."""


class NotFoundError(TramwayJupyterError, LookupError):
    """The batch, task, log or notebook a request names does not exist (HTTP 404)."""


class ConflictError(TramwayJupyterError):
    """The request is valid but cannot be served in the current state (HTTP 409)."""


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


class ProvenanceError(TramwayJupyterError):
    """A task cannot be re-run from its provenance record (no record, or an input changed)."""


class PromptUnavailableError(BackendUnavailableError):
    """A passphrase, password or code is needed and there is nobody to ask here."""


class WrongSecretError(BackendUnavailableError):
    """A passphrase, password or one-time code was refused (not retried: asking again is the
    user's decision)."""


class PromptDismissed(PromptUnavailableError):
    """A login prompt shown in Lab was dismissed, or no one answered it in time."""


class HolderError(BackendUnavailableError):
    """The connection holder could not run a command or log in (the message says what to do)."""
