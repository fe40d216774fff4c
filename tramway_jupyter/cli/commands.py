"""The subcommands' ``cmd_*`` functions: call :mod:`tramway_jupyter.api`, print, return the exit
code. Each imports what it needs when it runs, so that a light command stays light.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..exceptions import TramwayJupyterError
from ..jobs.states import NOT_OK_VALUES
from ..run_options import run_kwargs
from .exit_codes import EXIT_OK, EXIT_TASKS_FAILED
from .tables import (
    ACTIVE_VALUES,
    SUMMARY_OVER,
    counts_text,
    human_out,
    print_tasks,
    result_row,
    status_row,
)


def _poll(batch: Any) -> dict[str, int]:
    """Poll the backend if the batch still runs (a finished batch's store is up to date)."""
    return batch.refresh() if batch.is_active() else batch.counts()


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    return run_demo(args.out, files=args.files, rois=args.rois, seed=args.seed,
                    workers=args.workers, profile=args.profile)


def cmd_run(args: argparse.Namespace) -> int:
    from .. import api
    from ..cli_progress import wait_with_progress

    out = human_out(args.json)
    kwargs = run_kwargs(args)
    if kwargs.pop("dry_run"):
        dry = api.run_notebook(args.notebook, args.data, dry_run=True, **kwargs)
        print(dry.text, file=out, flush=True)
        if args.json:
            from pathlib import Path

            import msgspec

            Path(args.json).write_bytes(msgspec.json.encode(dry))
        return EXIT_OK
    batch = api.run_notebook(args.notebook, args.data, **kwargs)
    info = batch.info()
    for key, value in (info.meta.get("suggested") or {}).items():
        print(f"{key} {value}: suggested by the pilot (the profile sets none)", file=out,
              flush=True)
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
    out = human_out(json_path)
    results = batch.results()
    counts = results.counts
    n = sum(counts.values())
    print(f"Results of batch {batch.batch_id}: {n} task(s) ({counts_text(counts, ' ')})",
          file=out)
    print_tasks(results, out, result_row, command=command, show_all=show_all)
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
    from .. import api

    rows = api.list_batches()
    if not rows:
        print("no batch yet: start one with `tramway-jupyter run NOTEBOOK --data GLOB`")
        return 0
    for r in rows:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(r.counts.items()))
        print(f"{r.batch_id}  {r.state.value:<9} {r.profile:<10} {r.name}  ({counts})")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from .. import api

    out = human_out(args.json)
    batch = api.get_batch(args.batch)
    counts = _poll(batch)
    if args.task:
        return _task_status(batch, args.task, args.json)
    states = [s for item in args.state or [] for s in item.split(",") if s] or None
    if args.json:
        _status_json(batch, counts, states, args.json)
        return 0
    results = batch.results(refresh=False)
    print(f"batch {batch.batch_id}: {batch.state.value} ({counts_text(counts, ' ')})", file=out)
    print_tasks(results, out, status_row, command="status", show_all=args.all_rows,
                 states=states)
    return EXIT_TASKS_FAILED if any(counts.get(s, 0) for s in NOT_OK_VALUES) else EXIT_OK


def _status_json(batch: Any, counts: dict[str, int], states: list[str] | None,
                 path: str) -> None:
    from ..jobs.results_json import write_json_stream

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
    from .. import api

    batch = api.get_batch(args.batch)
    counts = _poll(batch)
    if not any(counts.get(s, 0) for s in ACTIVE_VALUES):
        print(f"batch {batch.batch_id} already finished ({counts_text(counts, ': ')}); "
              "nothing to cancel")
        return 0
    batch.cancel()
    print(f"batch {batch.batch_id} cancelled ({counts_text(batch.counts(), ': ')})")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from .. import api
    from ..cli_progress import wait_with_progress

    batch = api.get_batch(args.batch)
    n = batch.retry()
    print(f"batch {batch.batch_id}: {n} task(s) resubmitted")
    if n == 0 or args.no_wait:
        return 0
    wait_with_progress(batch)
    return _report(batch, None)


def cmd_delete(args: argparse.Namespace) -> int:
    from .. import api

    batch = api.get_batch(args.batch)
    batch.delete(purge=args.purge)
    print(f"batch {batch.batch_id} deleted (its directory {batch.dir.root} is kept)")
    return 0


def cmd_gather(args: argparse.Namespace) -> int:
    from .. import api

    return _report(api.get_batch(args.batch), args.json, args.all_rows, "gather")


def cmd_rerun(args: argparse.Namespace) -> int:
    from .. import api

    report = api.get_batch(args.batch).rerun(args.task, keep=args.keep)
    print(report.summary())
    return EXIT_OK if report.identical else EXIT_TASKS_FAILED


def cmd_export(args: argparse.Namespace) -> int:
    from .. import api
    from ..orchestration.export import export_crate

    batch = api.get_batch(args.batch)
    batch.results()  # fetched and synced first
    crate = export_crate(batch.dir.root, args.dir)
    print(f"batch {batch.batch_id}: RO-Crate written to {crate}")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..jobs import recover
    from ..paths import default_batches_root, default_store_path

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


def cmd_pool(args: argparse.Namespace) -> int:
    from ..backends import pool

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
