"""The options of ``run``, shared by ``tramway-jupyter run`` and ``%tramway run``."""

from __future__ import annotations

import argparse
import ast
from typing import Any

from .exceptions import CaptureError


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
                   help="override a parameter of the parameters cell (a Python literal or a "
                        "string); repeatable")
    p.add_argument("--force", action="store_true",
                   help="rerun tasks already done with the same template, parameters and input")
    p.add_argument("--isolate", action="store_true", help="one fresh kernel per task")
    p.add_argument("--engine", choices=["shell", "kernel"], default=None,
                   help="where cells run: IPython inside the worker process (shell, the default: "
                        "~0.2 ms per cell) or a warm ipykernel per worker (kernel: ~4 ms per cell)")
    p.add_argument("--timeout", type=float, default=None, help="per-cell time limit (s)")
    p.add_argument("--name", default=None, help="a name for the batch")


def parse_params(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise CaptureError(f"--param needs NAME=VALUE, got {item!r}")
        try:
            out[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[name] = value
    return out


def run_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of :func:`tramway_jupyter.api.run` from parsed run options."""
    return {
        "rois": args.rois, "profile": args.profile, "workers": args.workers,
        "tasks_per_job": args.tasks_per_job, "params": parse_params(args.param),
        "force": args.force, "isolate": True if args.isolate else None, "engine": args.engine,
        "task_timeout": args.timeout, "name": args.name, "mem": args.mem,
        "oversubscribe": True if args.oversubscribe else None,
    }
