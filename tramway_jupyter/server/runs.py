"""What the sidebar's Run form asks of the server, as plain Python (no tornado): the profiles
(and a profile's check), the data files a glob matches, a notebook's ``%%tramway`` cells, and
starting a batch (or its dry run) through ``tramway_jupyter.api``.

Every path comes from the request and is relative to the Jupyter server's root directory; it is
resolved and must lie under that root (:func:`~.requests.confine`). Parameters and sweeps are
parsed exactly as ``tramway-jupyter run`` parses them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from ..exceptions import (
    CaptureError,
    NotFoundError,
    PlanError,
    ProfileError,
    RequestError,
    TemplateError,
)
from ..jobs.store import Store
from .payloads import (
    DryRunResult,
    GlobCount,
    NotebookPipeline,
    ProfileCheck,
    ProfileCheckItem,
    ProfileInfo,
    ProfileList,
    RunStarted,
    StageInfo,
)
from .requests import RunRequest, confine

#: Names of matching files a glob reply lists.
GLOB_NAMES = 5
#: Errors of a run's inputs: the request's fault (400), not the server's.
_INPUT_ERRORS = (CaptureError, PlanError, ProfileError, TemplateError)

#: Called with a profile; returns ``[Check...]`` (``backends.profile_check.check_profile``).
ProfileChecker = Callable[[Any], list[Any]]


def _check_profile(profile: Any) -> list[Any]:
    from ..backends.profile_check import check_profile

    return check_profile(profile)


class RunService:
    """The Run form's server side; every method is blocking (run it in a thread)."""

    def __init__(self, store: Store, root_dir: str | os.PathLike[str],
                 checker: ProfileChecker = _check_profile) -> None:
        self.store = store
        self.root_dir = Path(root_dir).expanduser().resolve()
        self._check = checker

    # -- profiles -------------------------------------------------------------------------
    def profiles(self, check: str | None = None) -> ProfileList:
        """The profiles; with ``check``, the result of that profile's check (may take seconds)."""
        from .. import api

        try:
            profiles = api.load_profiles()
        except ProfileError as exc:
            raise RequestError(str(exc)) from None
        result = None
        if check is not None:
            if check not in profiles:
                raise NotFoundError(
                    f"no profile named {check!r}; known: {', '.join(sorted(profiles))}")
            checks = self._check(profiles[check])
            result = ProfileCheck(
                profile=check,
                ok=all(c.ok for c in checks),
                checks=[ProfileCheckItem(name=c.name, ok=c.ok, detail=c.detail, fix=c.fix)
                        for c in checks],
            )
        return ProfileList(
            profiles=[
                ProfileInfo(name=name, backend=p.backend, host=p.host or None,
                            partition=getattr(p, "partition", None) or None,
                            workers=p.workers)
                for name, p in profiles.items()
            ],
            default="local",
            check=result,
        )

    # -- data -----------------------------------------------------------------------------
    def glob(self, pattern: str) -> GlobCount:
        """The data files ``pattern`` matches, as a run expands it (``plan.expand_sources``)."""
        files = self._expand(pattern)
        return GlobCount(pattern=pattern, count=len(files),
                         names=[self._relative(f) for f in files[:GLOB_NAMES]])

    def _expand(self, pattern: str) -> list[str]:
        from ..jobs.plan import expand_sources

        full = os.path.normpath(os.path.join(self.root_dir, os.path.expanduser(pattern)))
        if not Path(full).is_relative_to(self.root_dir):
            raise RequestError(
                f"{pattern!r} is outside the server's root directory {self.root_dir}")
        try:
            files = expand_sources(full)
        except PlanError:
            raise RequestError(f"no data file matches {pattern!r}") from None
        outside = [f for f in files if not Path(f).resolve().is_relative_to(self.root_dir)]
        if outside:
            raise RequestError(f"{pattern!r} matches files outside the server's root directory "
                               f"{self.root_dir} (symbolic links?): {outside[:3]}")
        return files

    def _relative(self, path: str) -> str:
        p = Path(path)
        return p.relative_to(self.root_dir).as_posix() if p.is_relative_to(self.root_dir) \
            else p.as_posix()

    # -- notebooks ------------------------------------------------------------------------
    def _notebook(self, path: str) -> Path:
        if not path.endswith(".ipynb"):
            raise RequestError(f"{path!r} is not a notebook (.ipynb)")
        full = confine(self.root_dir, Path(path))
        if not full.is_file():
            raise NotFoundError(f"no notebook {path!r} under the server's root directory")
        return full

    def notebook_pipeline(self, path: str) -> NotebookPipeline:
        """The ``%%tramway`` cells of a notebook: its stages and its parameters' names."""
        from ..capture.template import pipeline_from_notebook

        full = self._notebook(path)
        try:
            pipe = pipeline_from_notebook(full)
        except CaptureError as exc:
            raise RequestError(str(exc).replace(str(full), path)) from None
        return NotebookPipeline(
            path=path,
            stages=[StageInfo(name=c.name, per=c.per, sweep_independent=c.sweep_independent)
                    for c in pipe.stages],
            parameters=pipe.parameter_names(),
            setup=len(pipe.setup),
        )

    # -- run ------------------------------------------------------------------------------
    def run_kwargs(self, req: RunRequest) -> dict[str, Any]:
        """The keyword arguments of ``api.run_notebook`` for a request, parsed as the CLI does."""
        from ..jobs.taskspace import parse_segments, parse_sweep_options
        from ..run_options import parse_params

        try:
            params = parse_params([f"{k}={v}" for k, v in (req.params or {}).items()])
            sweep = parse_sweep_options([f"{k}={v}" for k, v in (req.sweep or {}).items()])
            if req.segments:
                parse_segments(req.segments)
        except (CaptureError, PlanError) as exc:
            raise RequestError(str(exc)) from None
        return {
            "rois": req.rois, "profile": req.profile, "workers": req.workers,
            "params": params, "sweep": sweep or None, "segments": req.segments,
            "name": req.name, "store": self.store,
        }

    def run(self, req: RunRequest) -> RunStarted | DryRunResult:
        """Start a batch (or, with ``dry_run``, estimate it) from the request."""
        from .. import api

        notebook = self._notebook(req.notebook)
        files = self._expand(req.data)
        kwargs = self.run_kwargs(req)
        if req.dry_run:
            kwargs["dry_run"] = True
        try:
            result = api.run_notebook(notebook, files, **kwargs)
        except _INPUT_ERRORS as exc:
            raise RequestError(str(exc)) from None
        except TypeError as exc:
            if req.dry_run and "dry_run" in str(exc):
                raise RequestError("this version of tramway-jupyter has no dry run") from None
            raise
        if req.dry_run:
            return dry_run_result(result)
        row = self.store.get_batch(result.batch_id)
        return RunStarted(batch_id=row.batch_id, name=row.name or "")


def dry_run_result(result: Any) -> DryRunResult:
    """The reply for what ``api.run_notebook(..., dry_run=True)`` returned: its ``text`` and,
    when it is a Struct, its other fields."""
    details: dict[str, Any] = {}
    if isinstance(result, msgspec.Struct):
        built = msgspec.to_builtins(result)
        if isinstance(built, dict):
            details = {k: v for k, v in built.items() if k != "text"}
    return DryRunResult(text=str(getattr(result, "text", result)), details=details)
