"""``tramway-jupyter``: the command line. Parsing and printing only; the work is in :mod:`api`.

Exit codes (:data:`EXIT_CODES`, also in ``--help``): 0 success, 1 some task failed, 2 usage or
input error, 3 the backend's host cannot be reached or refuses us (unreachable, authentication
failed, host key unknown or changed), 130 interrupted, 141 (128 + SIGPIPE) when the reader of the
output went away (``| head``), as other Unix tools.

Starting is cheap: this module imports the standard library only, and each subcommand imports
what it needs (``list`` reads the job store; nbformat, the kernel client, numpy and pandas are
imported only by the subcommands that use them). For big batches the task tables are summaries
(counts per state and stage, the first failures, the first rows); ``--all`` streams every row.
When ``--json -`` puts JSON on stdout, every line meant for people goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from ._version import __version__
from .exceptions import BackendConnectionError, TramwayJupyterError
from .jobs.states import (
    ACTIVE_STATES,
    LISTING_ORDER,
    NOT_OK_VALUES,
    RETRYABLE_STATES,
    SUMMARY_ORDER,
)
from .run_options import add_run_options, run_kwargs

EXIT_OK = 0
EXIT_TASKS_FAILED = 1  # the command ran, but some task failed (or was lost)
EXIT_USAGE = 2  # usage or input error (argparse's own code for usage errors)
EXIT_CONNECTION = 3  # the backend's host cannot be reached or refuses us
EXIT_INTERRUPTED = 130
EXIT_PIPE_CLOSED = 128 + 13  # killed by SIGPIPE, as the shell reports it

#: What the exit codes mean, for ``--help``.
EXIT_CODES = (
    f"exit status: {EXIT_OK} success; {EXIT_TASKS_FAILED} the command ran but some task failed; "
    f"{EXIT_USAGE} usage or input error (a wrong option, no data file, an unknown batch or "
    f"profile...); {EXIT_CONNECTION} cannot connect to the backend's host (unreachable, "
    f"authentication failed, SSH host key unknown or changed); {EXIT_INTERRUPTED} interrupted; "
    f"{EXIT_PIPE_CLOSED} the reader of the output went away."
)

#: A batch of more tasks than this is shown as a summary (``--all``: every row).
SUMMARY_OVER = 50
#: Failures and first rows shown by a summary.
SUMMARY_FAILURES = 10
SUMMARY_ROWS = 20

_ACTIVE = tuple(s.value for s in SUMMARY_ORDER if s in ACTIVE_STATES)
_NOT_OK = tuple(s.value for s in SUMMARY_ORDER if s in RETRYABLE_STATES)
_STATE_ORDER = tuple(s.value for s in LISTING_ORDER)

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
    p.set_defaults(func=cmd_run)


def _add_all(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all", action="store_true", dest="all_rows",
                   help=f"print every task, even for batches of more than {SUMMARY_OVER} tasks "
                        "(default there: a summary)")


def _add_batch_cmds(sub: Any) -> None:
    p = sub.add_parser("list", help="list batches")
    p.set_defaults(func=cmd_list)
    for name, func, text in (
        ("status", cmd_status, "poll a batch and show its tasks' states"),
        ("cancel", cmd_cancel, "cancel a batch; unfinished tasks end cancelled"),
        ("retry", cmd_retry, "rerun the failed, lost or cancelled tasks of a batch"),
        ("gather", cmd_gather, "collect a batch's results (table, or --json FILE)"),
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
    p = sub.add_parser("delete", help="cancel what still runs, remove remote copies, hide a batch",
                       description="Cancel the batch's jobs that may still run, remove its copy "
                                   "on the cluster's scratch, and hide it from listings (--purge: "
                                   "also forget it in the store). The local batch directory is "
                                   "kept.")
    p.add_argument("batch", help="batch id (a unique prefix is enough)")
    p.add_argument("--purge", action="store_true")
    p.set_defaults(func=cmd_delete)


def _add_demo(sub: Any) -> None:
    p = sub.add_parser(
        "demo", help="simulate a data set and run the quickstart pipeline on it, locally",
        description="Simulate 2 files x 4 ROIs with known diffusivity, tessellate each file, "
                    "infer each ROI's diffusivity map on local worker processes, gather the "
                    "results, print them and plot the maps (OUT/maps_diffusivity.png).")
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
    p.set_defaults(func=cmd_demo)


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
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .jobs import recover
    from .paths import default_batches_root, default_store_path

    path = default_store_path()
    diag = recover.diagnose(path)
    if diag.problem is None and not args.rebuild:
        print(f"job store {path}: ok")
        return 0
    if diag.problem is not None:
        print(f"job store {path}: damaged ({diag.problem})")
    roots = [default_batches_root(), *(Path(d).expanduser() for d in args.batches)]
    result = recover.rebuild(path, roots, damaged=diag.problem is not None)
    print(recover.summary(result))
    print(f"from: {', '.join(str(r) for r in roots)}")
    return 0


def _add_pool(sub: Any) -> None:
    p = sub.add_parser(
        "pool", help="the warm local worker pool: status or stop",
        description="Local batches fork their workers from a per-user pool process that has "
                    "the heavy modules imported; it exits after an idle timeout (profile key "
                    "pool_idle_timeout, env TRAMWAY_JUPYTER_POOL_IDLE). Batches it started run on "
                    "when it stops.")
    p.add_argument("action", choices=["status", "stop"])
    p.set_defaults(func=cmd_pool)


def cmd_pool(args: argparse.Namespace) -> int:
    from .backends import pool

    if args.action == "stop":
        print("warm pool stopped" if pool.stop() else "no warm pool running")
        return 0
    st = pool.status()
    if st is None:
        print("no warm pool running")
    else:
        print(f"warm pool: pid {st['pid']}, idle timeout {st['idle_timeout']:.0f} s, "
              f"{len(st['children'])} dispatcher(s) running, socket {pool.socket_path()}")
    return 0


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
        from .analysis.cli import add_subcommands as add_analysis

        add_analysis(sub)
    else:  # listed in --help, never parsed: the command named in argv is another one
        for name, text in _ANALYSIS_HELP.items():
            sub.add_parser(name, help=text, add_help=False)
    from .backends.cli import add_subcommands as add_profiles

    add_profiles(sub)
    return parser


# -- output -------------------------------------------------------------------------------
def _human(json_path: str | None) -> TextIO:
    """Where lines for people go: stderr when stdout carries JSON."""
    return sys.stderr if json_path == "-" else sys.stdout


def _counts_text(counts: dict[str, int], sep: str = " ") -> str:
    keys = [s for s in _STATE_ORDER if counts.get(s)] + sorted(set(counts) - set(_STATE_ORDER))
    return ", ".join(f"{s}{sep}{counts[s]}" for s in keys if counts.get(s))


def _stage_table(results: Any, out: TextIO) -> None:
    by_stage = results.stage_counts()
    states = [s for s in _STATE_ORDER if any(c.get(s) for c in by_stage.values())]
    w = max([len("stage"), *(len(s) for s in by_stage)])
    print(f"  {'stage':<{w}}  " + "  ".join(f"{s:>9}" for s in states), file=out)
    for stage, c in by_stage.items():
        print(f"  {stage:<{w}}  " + "  ".join(f"{c.get(s, 0):>9}" for s in states), file=out)


def _print_tasks(results: Any, out: TextIO, fmt: Any, *, command: str, show_all: bool,
                 states: list[str] | None = None) -> None:
    """Every task of a small batch (or with ``show_all``); a summary of a big one."""
    counts = results.counts
    n = sum(counts.values()) if states is None else sum(counts.get(s, 0) for s in states)
    first = results.head(SUMMARY_OVER if n <= SUMMARY_OVER or show_all else SUMMARY_ROWS,
                         states=states)
    w = max((len(r.task_id) for r in first), default=4)
    if n <= SUMMARY_OVER or show_all:
        rows = first if n <= len(first) else results.iter_rows(states=states)
        for r in rows:
            print(fmt(r, w), file=out)
        return
    bid = results.batch_id
    if states is None:
        _stage_table(results, out)
        n_bad = sum(counts.get(s, 0) for s in _NOT_OK)
        if n_bad:
            bad = results.head(SUMMARY_FAILURES, states=_NOT_OK)
            print(f"  not done: {n_bad} task(s)"
                  + (f"; the first {len(bad)}:" if n_bad > len(bad) else ":"), file=out)
            bw = max(len(r.task_id) for r in bad)
            for r in bad:
                print(f"    {r.task_id:<{bw}}  {r.state:<9} {r.error_summary}", file=out)
            if n_bad > len(bad):
                print(f"    ... {n_bad - len(bad)} more: tramway-jupyter status {bid} "
                      f"--state {','.join(_NOT_OK)} --all", file=out)
            print(f"    a task's full error: tramway-jupyter status {bid} --task TASK_ID",
                  file=out)
        print(f"  the first {len(first)} task(s):", file=out)
    for r in first:
        print(fmt(r, w), file=out)
    more = " ".join(["tramway-jupyter", command, bid, *(["--state", ",".join(states)]
                                                        if states else []), "--all"])
    print(f"  ... {n - len(first)} more task(s): {more}", file=out)


def _result_row(r: Any, w: int) -> str:
    from .jobs.results import Results

    return str(Results.format_row(r, w))


def _status_row(r: Any, w: int) -> str:
    err = r.error_summary if r.state != "done" else ""
    return f"  {r.task_id:<{w}} {r.state:<9} attempt {r.attempt}" + (f"  {err}" if err else "")


def _poll(batch: Any) -> dict[str, int]:
    """Poll the backend if the batch still runs (a finished batch's store is up to date)."""
    return batch.refresh() if batch.is_active() else batch.counts()


# -- commands -----------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.out, files=args.files, rois=args.rois, seed=args.seed,
                    workers=args.workers, profile=args.profile)


def cmd_run(args: argparse.Namespace) -> int:
    from . import api
    from .cli_progress import wait_with_progress

    out = _human(args.json)
    batch = api.run_notebook(args.notebook, args.data, **run_kwargs(args))
    info = batch.info()
    cached = info.meta.get("n_cached", 0)
    print(f"batch {batch.batch_id}: {info.n_tasks} task(s)"
          + (f", {cached} already done (resumed)" if cached else ""), file=out, flush=True)
    if cached:
        print(batch.resume_note(), file=out, flush=True)
    if args.no_wait:
        return 0
    wait_with_progress(batch)
    return _report(batch, args.json, args.all_rows, "gather")


def _report(batch: Any, json_path: str | None, show_all: bool = False,
            command: str = "gather") -> int:
    out = _human(json_path)
    results = batch.results()
    counts = results.counts
    n = sum(counts.values())
    print(f"Results of batch {batch.batch_id}: {n} task(s) ({_counts_text(counts, ' ')})",
          file=out)
    _print_tasks(results, out, _result_row, command=command, show_all=show_all)
    if n <= SUMMARY_OVER:  # a small batch: each failure in full
        for f in results.failures():
            print(f"\nFAILED {f.task_id}: {f.ename}: {f.evalue}", file=out)
            if f.traceback:
                print("\n".join(f.traceback.splitlines()[-8:]), file=out)
            print(f"  output notebook: {f.notebook_path}\n  log: {f.log_path}", file=out)
    if json_path:
        out.flush()
        if json_path == "-":
            results.write_json(sys.stdout)
            sys.stdout.flush()
        else:
            n_written = results.write_json(json_path)
            print(f"{n_written} task(s) written to {json_path}", file=out)
    print(f"batch id: {batch.batch_id}", file=out)
    return EXIT_OK if results.ok else EXIT_TASKS_FAILED


def cmd_list(args: argparse.Namespace) -> int:
    from . import api

    rows = api.list_batches()
    if not rows:
        print("no batch yet: start one with `tramway-jupyter run NOTEBOOK --data GLOB`")
        return 0
    for r in rows:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(r.counts.items()))
        print(f"{r.batch_id}  {r.state.value:<9} {r.profile:<10} {r.name}  ({counts})")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from . import api

    out = _human(args.json)
    batch = api.get_batch(args.batch)
    counts = _poll(batch)
    if args.task:
        return _task_status(batch, args.task, args.json)
    states = [s for item in args.state or [] for s in item.split(",") if s] or None
    if args.json:
        _status_json(batch, counts, states, args.json)
        return 0
    results = batch.results(refresh=False)
    print(f"batch {batch.batch_id}: {batch.state.value} ({_counts_text(counts, ' ')})", file=out)
    _print_tasks(results, out, _status_row, command="status", show_all=args.all_rows,
                 states=states)
    return EXIT_TASKS_FAILED if any(counts.get(s, 0) for s in NOT_OK_VALUES) else EXIT_OK


def _status_json(batch: Any, counts: dict[str, int], states: list[str] | None,
                 path: str) -> None:
    from .jobs.results import write_json_stream

    head = {"batch_id": batch.batch_id, "state": batch.state.value, "counts": counts}
    tasks = (t.to_dict() for t in batch.store.iter_tasks(batch.batch_id, states=states))
    if path == "-":
        write_json_stream(sys.stdout, head, "tasks", tasks)
    else:
        with open(path, "w") as fh:
            write_json_stream(fh, head, "tasks", tasks)


def _task_status(batch: Any, task_id: str, json_path: str | None) -> int:
    import json

    try:
        st = batch.task_status(task_id)
    except LookupError:
        raise TramwayJupyterError(f"no task {task_id!r} in batch {batch.batch_id}") from None
    if json_path:
        text = json.dumps(st, indent=1, default=str)
        if json_path == "-":
            print(text)
        else:
            with open(json_path, "w") as fh:
                fh.write(text + "\n")
        return 0
    err = st.pop("error", None)
    for k, v in st.items():
        if v not in (None, "", [], {}):
            print(f"{k}: {v}")
    if isinstance(err, dict):
        print(f"error: {err.get('ename', '')}: {err.get('evalue', '')}"
              + ("" if err.get("cell_index") is None else f" (cell {err['cell_index']})"))
        if err.get("traceback"):
            print(err["traceback"])
    elif err:
        print(f"error: {err}")
    return EXIT_OK if st.get("state") == "done" else EXIT_TASKS_FAILED


def cmd_cancel(args: argparse.Namespace) -> int:
    from . import api

    batch = api.get_batch(args.batch)
    counts = _poll(batch)
    if not any(counts.get(s, 0) for s in _ACTIVE):
        print(f"batch {batch.batch_id} already finished ({_counts_text(counts, ': ')}); "
              "nothing to cancel")
        return 0
    batch.cancel()
    print(f"batch {batch.batch_id} cancelled ({_counts_text(batch.counts(), ': ')})")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from . import api
    from .cli_progress import wait_with_progress

    batch = api.get_batch(args.batch)
    n = batch.retry()
    print(f"batch {batch.batch_id}: {n} task(s) resubmitted")
    if n == 0 or args.no_wait:
        return 0
    wait_with_progress(batch)
    return _report(batch, None)


def cmd_delete(args: argparse.Namespace) -> int:
    from . import api

    batch = api.get_batch(args.batch)
    batch.delete(purge=args.purge)
    print(f"batch {batch.batch_id} deleted (its directory {batch.dir.root} is kept)")
    return 0


def cmd_gather(args: argparse.Namespace) -> int:
    from . import api

    return _report(api.get_batch(args.batch), args.json, args.all_rows, "gather")


def _run(argv: Sequence[str]) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or EXIT_OK)
    except BackendConnectionError as exc:
        print(f"tramway-jupyter: error: {exc}", file=sys.stderr)
        return EXIT_CONNECTION
    except TramwayJupyterError as exc:
        print(f"tramway-jupyter: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except sqlite3.DatabaseError as exc:  # damage met after the store was opened
        from .paths import default_store_path

        print(f"tramway-jupyter: error: the job store {default_store_path()} is damaged "
              f"({exc}); run `tramway-jupyter doctor` to keep it aside and rebuild it from "
              f"the batch directories", file=sys.stderr)
        return EXIT_USAGE
    except (FileNotFoundError, ValueError) as exc:
        print(f"tramway-jupyter: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted (the batch goes on; `tramway-jupyter cancel ID` stops it)",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        sys.stdout.flush()  # a closed pipe shows here, inside main, not at interpreter exit


def _plain_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                   line: str | None = None) -> str:
    """A warning as a user reads it on the command line (not the library's file and line)."""
    return f"tramway-jupyter: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    warnings.formatwarning = _plain_warning
    try:
        return _run(sys.argv[1:] if argv is None else list(argv))
    except BrokenPipeError:
        # the reader went away (``| head``): stop quietly, as other Unix tools do; point
        # stdout at /dev/null so that the interpreter's last flush does not complain
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_PIPE_CLOSED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
