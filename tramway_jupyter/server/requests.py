"""What a REST request may ask, parsed and validated before the service sees it.

Query arguments arrive as tornado gives them (name -> list of values); each route's query is a
frozen dataclass with a ``parse`` classmethod that refuses misspelt parameters and bad values
with a :class:`~tramway_jupyter.exceptions.RequestError` (a 400 that says what is accepted).
Ids from the URL are checked (:func:`check_id`) and paths resolved under the batch directory
(:func:`confine`) before any file is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import NotFoundError, RequestError
from ..jobs.states import State
from ..jobs.store import TASK_SORT_KEYS

#: Tasks (and jobs) per page when the request gives no ``limit``, and the largest ``limit``.
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_BAD_ID_CHARS = frozenset("/\\\x00")


@dataclass(frozen=True)
class CancelRequest:
    """The body of ``POST batches/<id>/cancel``: ``{"jobs": [0, 2]}``, or none for every job."""

    jobs: list[int] | None

    @classmethod
    def parse(cls, body: Any) -> CancelRequest:
        if body is None or body == {}:
            return cls(jobs=None)
        if not isinstance(body, dict):
            raise RequestError('the body must be a JSON object like {"jobs": [0, 2]}')
        unknown = set(body) - {"jobs"}
        if unknown:
            raise RequestError(f"unknown fields in the body: {sorted(unknown)}")
        jobs = body.get("jobs")
        if jobs is None:
            return cls(jobs=None)
        if not isinstance(jobs, list) or not all(
            isinstance(j, int) and not isinstance(j, bool) and j >= 0 for j in jobs
        ):
            raise RequestError("'jobs' must be a list of job indices (integers >= 0)")
        return cls(jobs=sorted(set(jobs)))


def parse_states(values: Iterable[str]) -> list[str] | None:
    """Validate ``?state=`` filters (repeatable or comma-separated); None means no filter."""
    out: list[str] = []
    for v in values:
        out += [s.strip() for s in v.split(",") if s.strip()]
    if not out:
        return None
    known = {s.value for s in State}
    bad = [s for s in out if s not in known]
    if bad:
        raise RequestError(f"unknown state(s) {bad}; use one of {sorted(known)}")
    return out


def _one(args: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = args.get(name) or []
    if len(values) > 1:
        raise RequestError(f"give {name!r} once, not {len(values)} times")
    return values[0] if values else None


def _int_arg(
    args: Mapping[str, Sequence[str]], name: str, default: int, lo: int, hi: int | None = None
) -> int:
    raw = _one(args, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RequestError(f"{name!r} must be an integer, got {raw!r}") from None
    if value < lo or (hi is not None and value > hi):
        bounds = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        raise RequestError(f"{name!r} must be {bounds}, got {value}")
    return value


def _bool_arg(args: Mapping[str, Sequence[str]], name: str, default: bool) -> bool:
    raw = _one(args, name)
    if raw is None or raw == "":
        return default
    low = raw.lower()
    if low in ("1", "true", "yes"):
        return True
    if low in ("0", "false", "no"):
        return False
    raise RequestError(f"{name!r} must be 0 or 1 (or true/false), got {raw!r}")


def check_params(args: Mapping[str, Sequence[str]], known: Sequence[str]) -> None:
    """Refuse misspelt parameters (a typo must not silently return every task).

    Ignored: ``token``/``_xsrf`` (authentication) and the cache-buster JupyterLab's
    ``ServerConnection`` appends (a bare timestamp, ``?...&1700000000000``).
    """
    allowed = set(known) | {"token", "_xsrf", "_"}
    unknown = sorted(k for k in args if k not in allowed and not k.isdigit())
    if unknown:
        use = f"use {sorted(known)}" if known else "this route takes none"
        raise RequestError(f"unknown query parameter(s) {unknown}; {use}")


@dataclass(frozen=True)
class TaskQuery:
    """What ``GET /batches/<id>`` asks for: a filtered, sorted page of tasks (and of jobs).

    ``state`` (repeatable or a comma list) and ``stage`` filter; ``sort`` is one of the store's
    ``TASK_SORT_KEYS`` (default ``rowid``: planning order), ``order`` asc or desc; ``offset``
    and ``limit`` (default 100, at most 1000) select the page. ``tasks=0`` asks for the counts
    only (the cheap poll of a collapsed batch); ``jobs_offset``/``jobs_limit`` page the jobs.
    """

    states: list[str] | None = None
    stage: str | None = None
    sort: str = "rowid"
    descending: bool = False
    offset: int = 0
    limit: int = DEFAULT_LIMIT
    tasks: bool = True
    jobs_offset: int = 0
    jobs_limit: int = DEFAULT_LIMIT

    PARAMS = (
        "state",
        "stage",
        "sort",
        "order",
        "offset",
        "limit",
        "tasks",
        "jobs_offset",
        "jobs_limit",
    )

    @classmethod
    def parse(cls, args: Mapping[str, Sequence[str]]) -> TaskQuery:
        """From query arguments (name -> values, as tornado gives them); RequestError if bad."""
        check_params(args, cls.PARAMS)
        sort = _one(args, "sort") or "rowid"
        if sort not in TASK_SORT_KEYS:
            raise RequestError(
                f"cannot sort tasks by {sort!r}; use one of {sorted(TASK_SORT_KEYS)}"
            )
        order = (_one(args, "order") or "asc").lower()
        if order not in ("asc", "desc"):
            raise RequestError(f"'order' must be asc or desc, got {order!r}")
        stage = _one(args, "stage")
        return cls(
            states=parse_states(args.get("state") or []),
            stage=stage or None,
            sort=sort,
            descending=order == "desc",
            offset=_int_arg(args, "offset", 0, 0),
            limit=_int_arg(args, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT),
            tasks=_bool_arg(args, "tasks", True),
            jobs_offset=_int_arg(args, "jobs_offset", 0, 0),
            jobs_limit=_int_arg(args, "jobs_limit", DEFAULT_LIMIT, 0, MAX_LIMIT),
        )


@dataclass(frozen=True)
class JobQuery:
    """``GET /batches/<id>/jobs``: a page of jobs, optionally of some states."""

    states: list[str] | None = None
    offset: int = 0
    limit: int = DEFAULT_LIMIT

    PARAMS = ("state", "offset", "limit")

    @classmethod
    def parse(cls, args: Mapping[str, Sequence[str]]) -> JobQuery:
        check_params(args, cls.PARAMS)
        return cls(
            states=parse_states(args.get("state") or []),
            offset=_int_arg(args, "offset", 0, 0),
            limit=_int_arg(args, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT),
        )


def check_id(kind: str, value: str) -> str:
    """Refuse ids that could name a path outside the batch directory."""
    if not value or value.startswith(".") or any(c in _BAD_ID_CHARS for c in value):
        raise RequestError(f"invalid {kind} id {value!r}")
    return value


def confine(root: Path, path: Path) -> Path:
    """``path`` resolved, if it lies under ``root``; else a NotFoundError."""
    rroot = root.resolve()
    rpath = (root / path).resolve()
    if not rpath.is_relative_to(rroot):
        raise NotFoundError(f"{path} is outside the batch directory {root}")
    return rpath


@dataclass(frozen=True)
class EventQuery:
    """What ``GET events`` asks for: the events after id ``after`` (default 0: every kept one)."""

    after: int = 0

    @classmethod
    def parse(cls, args: Mapping[str, Sequence[str]]) -> EventQuery:
        check_params(args, ("after",))
        return cls(after=_int_arg(args, "after", 0, 0))


_RUN_FIELDS = ("notebook", "data", "rois", "profile", "workers", "params", "sweep", "segments",
               "dry_run", "name")


def _text_field(body: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RequestError(f"{name!r} is required")
        return None
    if not isinstance(value, str):
        raise RequestError(f"{name!r} must be a string, got {type(value).__name__}")
    return value.strip()


def _text_map(body: Mapping[str, Any], name: str, example: str) -> dict[str, str]:
    value = body.get(name) or {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise RequestError(f"{name!r} must be an object of texts, like {example}")
    return {k.strip(): v.strip() for k, v in value.items() if k.strip()}


@dataclass(frozen=True)
class RunRequest:
    """The body of ``POST run``: what ``tramway-jupyter run`` takes, as texts.

    ``params``: ``{name: literal text}`` (``--param name=text``); ``sweep``: ``{name: "v1,v2"}``
    (``--sweep name=v1,v2``), parsed as the CLI parses them by the run service.
    """

    notebook: str
    data: str
    rois: str | None = None
    profile: str | None = None
    workers: int | None = None
    params: dict[str, str] | None = None
    sweep: dict[str, str] | None = None
    segments: str | None = None
    dry_run: bool = False
    name: str | None = None

    @classmethod
    def parse(cls, body: Any) -> RunRequest:
        if not isinstance(body, dict):
            raise RequestError('the body must be a JSON object like {"notebook": "a.ipynb", '
                               '"data": "data/*.rpt.txt"}')
        unknown = sorted(set(body) - set(_RUN_FIELDS))
        if unknown:
            raise RequestError(f"unknown fields in the body: {unknown}; use {list(_RUN_FIELDS)}")
        workers = body.get("workers")
        if workers is not None and (
            not isinstance(workers, int) or isinstance(workers, bool) or workers < 1
        ):
            raise RequestError(f"'workers' must be an integer >= 1, got {workers!r}")
        dry_run = body.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise RequestError(f"'dry_run' must be true or false, got {dry_run!r}")
        rois = _text_field(body, "rois")
        if rois is not None and ("/" in rois or "\\" in rois or ".." in rois):
            raise RequestError(f"'rois' {rois!r}: give a ROI file suffix, 'all', 'none' or "
                               "indices like 0,2,5-7, not a path")
        return cls(
            notebook=_text_field(body, "notebook", required=True) or "",
            data=_text_field(body, "data", required=True) or "",
            rois=rois,
            profile=_text_field(body, "profile"),
            workers=workers,
            params=_text_map(body, "params", '{"sigma": "0.02"}') or None,
            sweep=_text_map(body, "sweep", '{"sigma": "0.02,0.03"}') or None,
            segments=_text_field(body, "segments"),
            dry_run=dry_run,
            name=_text_field(body, "name"),
        )


def one_arg(args: Mapping[str, Sequence[str]], name: str, *, required: bool = False
            ) -> str | None:
    """The value of query parameter ``name`` (given at most once); RequestError if required and
    missing or empty."""
    value = _one(args, name)
    if required and not value:
        raise RequestError(f"the query parameter {name!r} is required")
    return value or None
