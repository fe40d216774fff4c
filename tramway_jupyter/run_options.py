"""The options of ``run``, shared by ``tramway-jupyter run`` and ``%tramway run``."""

from __future__ import annotations

import argparse
import ast
import re
from typing import Any

from .exceptions import CaptureError
from .jobs.outputs import DEFAULT_MAX_OUTPUT_BYTES, format_size, parse_size


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Options of a run, named as the keyword arguments of :func:`tramway_jupyter.api.run`."""
    p.add_argument("--rois", default=None,
                   help="ROI file suffix, 'all', 'none', or indices like 0,2,5-7 (default: the "
                        "TRamWAy ROI file beside each data file, X.rpt.txt -> X.rpt-roi.txt, if any)")
    p.add_argument("--profile", default=None, help="profile name (default: local)")
    p.add_argument("--workers", type=int, default=None,
                   help="local worker processes (at most the CPU count unless --oversubscribe)")
    p.add_argument("--oversubscribe", action="store_true",
                   help="allow more local workers than CPUs")
    p.add_argument("--mem", default=None, metavar="SIZE",
                   help="memory limit per task, e.g. 2G or 500M: sbatch --mem on Slurm, an "
                        "address-space limit per worker process locally")
    p.add_argument("--tasks-per-job", type=int, default=None,
                   help="tasks run one after the other by one job (default: automatic)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a parameter defined by the parameters cell; repeatable. VALUE "
                        "is read as a Python literal (3, 0.5, True, None, [1, 2], 'text'); a "
                        "plain word (only letters, digits and _ . - / ~ : + @ %%, like "
                        "hexagons or data/a.txt) stays a string; anything else that is not a "
                        "valid literal (like [1,2) is an error")
    p.add_argument("--pixel-size", type=float, default=None, metavar="UM",
                   help="µm per pixel of data files in pixels (TrackMate XML/CSV, long-format "
                        "CSV): passed as the parameter pixel_size (--param pixel_size=UM), which "
                        "the parameters cell defines and the notebook passes on to "
                        "read_trajectories(source, pixel_size=pixel_size, ...)")
    p.add_argument("--frame-interval", type=float, default=None, metavar="S",
                   help="s per frame of data files in frames: passed as the parameter "
                        "frame_interval, as --pixel-size is")
    p.add_argument("--new-param", action="store_true",
                   help="allow --param names that the parameters cell does not define")
    p.add_argument("--force", action="store_true",
                   help="rerun tasks already done with the same template, parameters and input")
    p.add_argument("--isolate", action="store_true", help="one fresh kernel per task")
    p.add_argument("--engine", choices=["shell", "kernel"], default=None,
                   help="where cells run: IPython inside the worker process (shell, the default: "
                        "~0.2 ms per cell) or a warm ipykernel per worker (kernel: ~4 ms per cell)")
    p.add_argument("--timeout", type=float, default=None, help="per-cell time limit (s)")
    p.add_argument("--keep-notebooks", choices=["auto", "all", "failed"], default=None,
                   help="which output notebooks to keep: 'all', 'failed' (tasks that did not end "
                        "done), or 'auto' (the default: all in batches of up to 2,000 tasks, "
                        "failed ones beyond; results, statuses and logs are always kept)")
    p.add_argument("--max-output", type=_size, default=None, metavar="SIZE",
                   help="stdout/stderr text kept in each task's output notebook, over its cells "
                        "(its head and its tail; all of it goes to logs/task-ID.log), e.g. 200k, "
                        f"1M, 0 for no limit (default: the profile's max_output, else "
                        f"{format_size(DEFAULT_MAX_OUTPUT_BYTES)})")
    p.add_argument("--name", default=None, help="a name for the batch")
    p.add_argument("--segments", default=None, metavar="DURATION[:SHIFT]",
                   help="time windows of the --per segment stages, in seconds: DURATION long, "
                        "one every SHIFT (default: DURATION, no overlap), over each data file's "
                        "time span (default: the parameters cell's `segments`)")
    p.add_argument("--min-window", type=float, default=None, metavar="FRACTION",
                   help="keep the last, partial time window if it covers at least this "
                        "fraction of DURATION (default: 0.5)")
    p.add_argument("--sweep", action="append", default=[], metavar="NAME=V1,V2,...",
                   help="run the stages once per value of a parameter of the parameters cell; "
                        "repeatable: the product of the values. Values are Python literals "
                        "(0.02, 'd', (1, 2)) or plain words")
    p.add_argument("--sweep-file", default=None, metavar="FILE",
                   help="parameter sets to run, one per row of a CSV file with a header, or a "
                        "JSON list of objects (combined with --sweep as a product)")
    p.add_argument("--dry-run", action="store_true",
                   help="show the plan (tasks per stage, jobs, Slurm arrays, tasks reused) and "
                        "an estimate of the wall time and core-hours; create nothing")
    p.add_argument("--pilot", type=_count, default=None, metavar="K",
                   help="time K tasks per stage (smallest, largest, median input...) run "
                        "locally, and extrapolate each task by its translocation count "
                        "(default with --dry-run: the preview cells' timing, else 2); on a "
                        "real Slurm run, also sets the --time/--mem the profile leaves unset")


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {n}")
    return n


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


#: A plain word: kept as a string when it is not a Python literal (``hexagons``, ``data/a.txt``).
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_.\-/~:+@%]+")


def parse_param_value(name: str, value: str) -> Any:
    """The value of ``--param NAME=VALUE``: a Python literal, else a plain word as a string."""
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        if _PLAIN_WORD.fullmatch(value):
            return value
        why = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
        raise CaptureError(
            f"--param {name}={value}: not a Python literal ({why}); quote a string "
            f"({name}='...'), or write a number, True/False/None, or a list/dict/tuple literal"
        ) from None


def parse_params(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise CaptureError(f"--param needs NAME=VALUE, got {item!r}")
        out[name] = parse_param_value(name, value.strip())
    return out


def run_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of :func:`tramway_jupyter.api.run` from parsed run options."""
    return {
        "rois": args.rois, "profile": args.profile, "workers": args.workers,
        "tasks_per_job": args.tasks_per_job, "params": _params(args),
        "force": args.force, "isolate": True if args.isolate else None, "engine": args.engine,
        "task_timeout": args.timeout, "keep_notebooks": args.keep_notebooks,
        "max_output": args.max_output, "name": args.name,
        "new_params": bool(getattr(args, "new_param", False)),
        "mem": args.mem, "oversubscribe": True if args.oversubscribe else None,
        "segments": args.segments, "segments_min_fraction": args.min_window,
        "sweep": _sweep(args.sweep), "sweep_file": args.sweep_file,
        "dry_run": bool(getattr(args, "dry_run", False)), "pilot": getattr(args, "pilot", None),
    }


def _params(args: argparse.Namespace) -> dict[str, Any]:
    """``--param`` values, with ``--pixel-size``/``--frame-interval`` as ordinary parameters."""
    params = parse_params(args.param)
    for option, name in (("--pixel-size", "pixel_size"), ("--frame-interval", "frame_interval")):
        value = getattr(args, name, None)
        if value is None:
            continue
        if not value > 0:
            raise CaptureError(f"{option} {value}: must be a positive number")
        if name in params and params[name] != value:
            raise CaptureError(f"{option} {value} and --param {name}={params[name]!r} disagree; "
                               f"give one of them")
        params[name] = value
    return params


def _sweep(items: list[str]) -> dict[str, list[Any]] | None:
    if not items:
        return None
    from .jobs.taskspace import parse_sweep_options

    return parse_sweep_options(items)
