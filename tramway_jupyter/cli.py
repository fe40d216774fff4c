"""``tramway-jupyter``: the command line. Parsing and printing only; the work is in :mod:`api`.

Exit codes: 0 success, 1 some task failed, 2 usage or input error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .exceptions import TramwayJupyterError
from .run_options import add_run_options, run_kwargs


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
    p.add_argument("--json", metavar="FILE", help="write the gathered results as JSON")
    p.set_defaults(func=cmd_run)


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
            p.add_argument("--json", metavar="FILE", help="write the result as JSON ('-': stdout)")
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
    p.add_argument("--files", type=int, default=2)
    p.add_argument("--rois", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--profile", default="local")
    p.set_defaults(func=cmd_demo)


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tramway-jupyter",
        description="Run single-particle-tracking notebooks over many data files and ROIs, on "
                    "local cores or on a Slurm cluster over SSH, and analyse SPT data "
                    "(TRamWAy formats, tessellation, Bayesian inference of D, drift, force, "
                    "potential).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_demo(sub)
    _add_run(sub)
    _add_batch_cmds(sub)
    _add_pool(sub)
    from .analysis.cli import add_subcommands as add_analysis

    add_analysis(sub)
    try:
        from .backends.cli import add_subcommands as add_profiles
    except ImportError:  # pragma: no cover
        add_profiles = None
    if add_profiles is not None:
        add_profiles(sub)
    return parser


# -- commands -----------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.out, files=args.files, rois=args.rois, seed=args.seed,
                    workers=args.workers, profile=args.profile)


def cmd_run(args: argparse.Namespace) -> int:
    from . import api
    from .cli_progress import wait_with_progress

    batch = api.run_notebook(args.notebook, args.data, **run_kwargs(args))
    info = batch.info()
    cached = info.meta.get("n_cached", 0)
    print(f"batch {batch.batch_id}: {info.n_tasks} task(s)"
          + (f", {cached} already done (resumed)" if cached else ""), flush=True)
    if args.no_wait:
        return 0
    wait_with_progress(batch)
    return _report(batch, args.json)


def _report(batch: Any, json_path: str | None) -> int:
    results = batch.results()
    print(results)
    for f in results.failures():
        print(f"\nFAILED {f.task_id}: {f.ename}: {f.evalue}")
        if f.traceback:
            print("\n".join(f.traceback.splitlines()[-8:]))
        print(f"  output notebook: {f.notebook_path}\n  log: {f.log_path}")
    if json_path:
        _write_json(results.to_json(), json_path)
    print(f"batch id: {batch.batch_id}")
    return 0 if results.ok else 1


def _write_json(doc: Any, path: str) -> None:
    text = json.dumps(doc, indent=1, default=str)
    if path == "-":
        print(text)
    else:
        with open(path, "w") as fh:
            fh.write(text)


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

    batch = api.get_batch(args.batch)
    counts = batch.refresh()
    if args.json:
        _write_json({"batch_id": batch.batch_id, "state": batch.state.value, "counts": counts,
                     "tasks": [t.to_dict() for t in batch.tasks()]}, args.json)
        return 0
    print(f"batch {batch.batch_id}: {batch.state.value}")
    for t in batch.tasks():
        print(f"  {t.task_id:<40} {t.state:<9} attempt {t.attempt}"
              + (f"  {t.error}" if t.error else ""))
    return 0 if not any(counts.get(s, 0) for s in ("failed", "lost")) else 1


def cmd_cancel(args: argparse.Namespace) -> int:
    from . import api

    api.cancel(args.batch)
    print(f"batch {args.batch} cancelled")
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

    return _report(api.get_batch(args.batch), args.json)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TramwayJupyterError as exc:
        print(f"tramway-jupyter: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:
        print(f"tramway-jupyter: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted (the batch goes on; `tramway-jupyter cancel ID` stops it)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
