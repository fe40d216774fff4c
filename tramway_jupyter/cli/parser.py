"""The ``tramway-jupyter`` argument parser: one sub-parser per command, each bound to its
``cmd_*`` function (:mod:`.commands`). Given the command line, :func:`build_parser` registers the
analysis subcommands for real only when one of them runs (their module imports numpy).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from .._version import __version__
from ..run_options import add_run_options
from . import commands
from .exit_codes import EXIT_CODES
from .tables import SUMMARY_OVER

#: The analysis subcommands, registered for real only when one of them runs: their module
#: imports numpy and the whole analysis package (seconds on a cold cache). The help lines are
#: checked against the real ones by the tests.
_ANALYSIS_HELP = {
    "simulate": "write simulated trajectory files with ground truth",
    "infer": "infer diffusivity/drift/force/potential maps from a trajectory file",
}


def _add_run(sub: Any) -> None:
    p = sub.add_parser(
        "run", help="run a notebook's %%%%tramway pipeline over data files x ROIs",
        description="Run the pipeline captured in NOTEBOOK's %%tramway cells over every data "
                    "file matched by --data, and every ROI of each (from the TRamWAy ROI file "
                    "beside it, X.rpt.txt -> X.rpt-roi.txt). Prints a summary and the batch id; "
                    "exits 1 if a task failed.")
    p.add_argument("notebook", help="the .ipynb holding the %%%%tramway cells")
    p.add_argument("--data", required=True, action="append",
                   help="data files: glob pattern or path (repeatable)")
    add_run_options(p)
    p.add_argument("--no-wait", action="store_true", help="submit and exit at once")
    p.add_argument("--json", metavar="FILE",
                   help="write the gathered results as JSON ('-': stdout, and the rest to stderr)")
    _add_all(p)
    p.set_defaults(func=commands.cmd_run)


def _add_all(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all", action="store_true", dest="all_rows",
                   help=f"print every task, even for batches of more than {SUMMARY_OVER} tasks "
                        "(default there: a summary)")


def _add_batch_cmds(sub: Any) -> None:
    p = sub.add_parser("list", help="list batches")
    p.set_defaults(func=commands.cmd_list)
    for name, func, text in (
        ("status", commands.cmd_status, "poll a batch and show its tasks' states"),
        ("cancel", commands.cmd_cancel, "cancel a batch; unfinished tasks end cancelled"),
        ("retry", commands.cmd_retry, "rerun the failed, lost or cancelled tasks of a batch"),
        ("gather", commands.cmd_gather, "collect a batch's results (table, or --json FILE)"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("batch", help="batch id (a unique prefix is enough)")
        if name in ("status", "gather"):
            p.add_argument("--json", metavar="FILE",
                           help="write the result as JSON ('-': stdout, and the rest to stderr)")
            _add_all(p)
        if name == "status":
            p.add_argument("--state", action="append", metavar="STATE",
                           help="only tasks in this state (comma-separated, repeatable), "
                                "e.g. failed,lost")
            p.add_argument("--task", metavar="TASK_ID",
                           help="the full status of one task (its error with the traceback)")
        if name == "retry":
            p.add_argument("--no-wait", action="store_true")
        p.set_defaults(func=func)
    p = sub.add_parser("rerun", help="re-run one task here from its record; compare its records",
                       description="Re-run one task of a batch on this host, in a scratch "
                                   "directory, from its provenance record (same template, "
                                   "parameters and inputs; refused if an input changed), and "
                                   "compare its records with the original's. Exit 0 if "
                                   "identical, 1 if not.")
    p.add_argument("batch", help="batch id (a unique prefix is enough)")
    p.add_argument("task", help="task id")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.set_defaults(func=commands.cmd_rerun)
    p = sub.add_parser("export", help="write a batch's results and provenance as an RO-Crate",
                       description="Write the batch's results, notebooks and provenance records "
                                   "with their metadata as an RO-Crate in DIR (for deposit).")
    p.add_argument("batch", help="batch id (a unique prefix is enough)")
    p.add_argument("dir", help="the crate's directory (created; must be empty if it exists)")
    p.set_defaults(func=commands.cmd_export)
    p = sub.add_parser("delete", help="cancel what still runs, remove remote copies, hide a batch",
                       description="Cancel the batch's jobs that may still run, remove its copy "
                                   "on the cluster's scratch, and hide it from listings (--purge: "
                                   "also forget it in the store). The local batch directory is "
                                   "kept.")
    p.add_argument("batch", help="batch id (a unique prefix is enough)")
    p.add_argument("--purge", action="store_true")
    p.set_defaults(func=commands.cmd_delete)


def _add_demo(sub: Any) -> None:
    p = sub.add_parser(
        "demo", help="simulate a data set and run the quickstart pipeline on it, locally",
        description="Simulate 2 files x 4 ROIs with known diffusivity, tessellate each file, "
                    "infer each ROI's diffusivity map on local worker processes, gather the "
                    "results, print them, and plot each ROI's map beside the recovered-vs-true "
                    "diffusivity of every cell (OUT/maps_diffusivity.png).")
    p.add_argument("--out", default="demo-output", help="output directory (default: %(default)s)")
    p.add_argument("--files", type=int, default=2,
                   help="simulated trajectory files (default: %(default)s)")
    p.add_argument("--rois", type=int, default=4,
                   help="ROIs per file, tiling the box (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed of the first file (default: %(default)s)")
    p.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: one per core)")
    p.add_argument("--profile", default="local",
                   help="where to run: a profile name (default: %(default)s)")
    p.set_defaults(func=commands.cmd_demo)


def _add_doctor(sub: Any) -> None:
    p = sub.add_parser(
        "doctor", help="check the job store; rebuild a damaged one from the batch directories",
        description="Check the job store (its header, then sqlite's integrity check). If it is "
                    "damaged (or with --rebuild), keep it aside as STORE.corrupt-<time> (or "
                    "STORE.bak-<time>) and "
                    "rebuild it from the batch directories under the batches root (and any "
                    "--batches DIR): batches, jobs and task states come back from batch.json, "
                    "plan.json and the status journals (status/*.jsonl); tasks that were not "
                    "finished come back 'lost' (retry runs them again).")
    p.add_argument("--rebuild", action="store_true",
                   help="rebuild even if the store looks sound")
    p.add_argument("--batches", action="append", default=[], metavar="DIR",
                   help="another directory holding batch directories (repeatable)")
    p.set_defaults(func=commands.cmd_doctor)


def _add_pool(sub: Any) -> None:
    p = sub.add_parser(
        "pool", help="the warm local worker pool: status or stop",
        description="Local batches fork their workers from a per-user pool process that has "
                    "the heavy modules imported; it exits after an idle timeout (profile key "
                    "pool_idle_timeout, env TRAMWAY_JUPYTER_POOL_IDLE). Batches it started run on "
                    "when it stops.")
    p.add_argument("action", choices=["status", "stop"])
    p.set_defaults(func=commands.cmd_pool)


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The full parser; given ``argv``, one that imports only what that command needs."""
    parser = argparse.ArgumentParser(
        prog="tramway-jupyter",
        description="Run single-particle-tracking notebooks over many data files and ROIs, on "
                    "local cores or on a Slurm cluster over SSH, and analyse SPT data "
                    "(TRamWAy formats, tessellation, Bayesian inference of D, drift, force, "
                    "potential).",
        epilog=EXIT_CODES)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_demo(sub)
    _add_run(sub)
    _add_batch_cmds(sub)
    _add_doctor(sub)
    _add_pool(sub)
    if argv is None or _command_of(argv) in _ANALYSIS_HELP:
        from ..analysis.cli import add_subcommands as add_analysis

        add_analysis(sub)
    else:  # listed in --help, never parsed: the command named in argv is another one
        for name, text in _ANALYSIS_HELP.items():
            sub.add_parser(name, help=text, add_help=False)
    from ..backends.cli import add_subcommands as add_profiles

    add_profiles(sub)
    from .login import add_subcommands as add_login

    add_login(sub)
    return parser
