"""IPython magics: ``%%tramway`` captures pipeline cells, ``%tramway`` runs and follows batches.

Only parsing and display live here; every operation is a call into :mod:`tramway_jupyter.api`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import time
from typing import Any, NoReturn

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display

from .capture.parameters import preview_values
from .capture.pipeline import Pipeline
from .exceptions import CaptureError, TramwayJupyterError
from .run_options import add_run_options, run_kwargs

BATCHES_DIR = "tramway-batches"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CaptureError(f"%tramway: {message}\n{self.format_usage()}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:  # --help
        if message:
            print(message)
        raise _HelpShown()


class _HelpShown(Exception):
    pass


def _line_parser() -> _Parser:
    p = _Parser(prog="%tramway", description="Run and follow tramway pipelines.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the captured pipeline over data files x ROIs")
    run.add_argument("--data", required=True, help="data files: a glob pattern or a path")
    add_run_options(run)
    run.add_argument("--batches-root", default=None,
                     help="where batch directories go (default: ./tramway-batches beside the "
                          "notebook, so Lab can open the output notebooks; or "
                          "$TRAMWAY_JUPYTER_BATCHES)")
    run.add_argument("--wait", action="store_true", help="block until the batch ends")
    for name, text in (("status", "counts of a batch"), ("cancel", "cancel a batch"),
                       ("retry", "rerun the failed tasks"), ("gather", "collect the results"),
                       ("delete", "cancel, remove remote copies, hide from listings")):
        sp = sub.add_parser(name, help=text)
        sp.add_argument("batch", nargs="?", default=None,
                        help="batch id (default: the last batch run from this kernel)")
    live = sub.add_parser("live", help="results as they come: the finished tasks and the maps "
                                       "grid, redrawn while the batch runs")
    live.add_argument("batch", nargs="?", default=None,
                      help="batch id (default: the last batch run from this kernel)")
    live.add_argument("--record", default="maps", help="the recorded maps (default: maps)")
    live.add_argument("--variable", default="diffusivity",
                      help="the variable drawn (default: diffusivity)")
    sub.add_parser("pipeline", help="show the captured cells")
    sub.add_parser("list", help="list the batches of the store")
    sub.add_parser("reset", help="forget the captured cells")
    return p


@magics_class
class TramwayMagics(Magics):
    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.pipeline = Pipeline()
        self.last_batch: Any = None

    @property
    def _shell(self) -> Any:
        assert self.shell is not None  # magics are registered on a shell
        return self.shell

    @line_cell_magic
    def tramway(self, line: str, cell: str | None = None) -> Any:
        """``%%tramway parameters|setup|stage NAME [--per file|roi]`` or ``%tramway COMMAND``."""
        try:
            if cell is not None:
                return self._capture(line, cell)
            return self._command(line)
        except _HelpShown:
            return None
        except TramwayJupyterError as exc:
            # a readable one-liner instead of a traceback into our internals
            print(f"tramway: {exc}")
            return None

    # -- capture ------------------------------------------------------------------------
    def _capture(self, line: str, cell: str) -> None:
        captured = self.pipeline.capture(line, cell)
        started = time.perf_counter()
        result = self._shell.run_cell(cell, store_history=False)
        if captured.role == "stage":  # its timing, for a dry run's estimate
            self.pipeline.preview_timing.pop(captured.name, None)
            if result is not None and result.success:
                ns = self._shell.user_ns
                self.pipeline.preview_timing[captured.name] = {
                    "seconds": time.perf_counter() - started,
                    **{k: ns.get(k) for k in ("source", "roi_index", "roi_file", "t_start",
                                              "t_end")}}
        if captured.role == "parameters":
            self._preview_defaults()
        if result is not None and not result.success:
            print(f"tramway: the {captured.role} cell {captured.name!r} was captured, "
                  "but its preview raised (see above)")

    def _preview_defaults(self) -> None:
        """Give the preview the parameters every task receives, where the cell did not set them."""
        ns = self._shell.user_ns
        ns.update(preview_values(ns))
        os.makedirs(ns["output_dir"], exist_ok=True)

    # -- commands -----------------------------------------------------------------------
    def _command(self, line: str) -> Any:
        args = _line_parser().parse_args(shlex.split(line, comments=True))  # "# ..." ends it
        from . import api

        if args.command == "pipeline":
            print(self.pipeline.describe())
            return None
        if args.command == "reset":
            self.pipeline = Pipeline()
            return None
        if args.command == "list":
            return _batches_table(api.list_batches())
        if args.command == "run":
            return self._run(args)
        batch = self._batch(args.batch)
        if args.command == "status":
            batch.refresh()
            return batch
        if args.command == "cancel":
            batch.cancel()
            print(f"batch {batch.batch_id} cancelled")
            return batch
        if args.command == "retry":
            n = batch.retry()
            print(f"batch {batch.batch_id}: {n} task(s) resubmitted")
            if n:
                self._show_progress(batch)
            return batch
        if args.command == "gather":
            return batch.results()
        if args.command == "live":
            from .widgets import LiveResults

            return LiveResults(batch, name=args.record, variable=args.variable)
        if args.command == "delete":
            batch.delete()
            print(f"batch {batch.batch_id} deleted (its directory {batch.dir.root} is kept)")
            return None
        raise CaptureError(f"unknown command {args.command!r}")  # pragma: no cover

    def _batch(self, batch_id: str | None) -> Any:
        from . import api

        if batch_id:
            self.last_batch = api.get_batch(batch_id)
        if self.last_batch is None:
            raise CaptureError("no batch yet: give a batch id, or start one with %tramway run")
        return self.last_batch

    def _run(self, args: argparse.Namespace) -> Any:
        from . import api

        notebook = self._shell.user_ns.get("__session__") or None
        kwargs = run_kwargs(args)
        root = (args.batches_root or os.environ.get("TRAMWAY_JUPYTER_BATCHES")
                or os.path.abspath(BATCHES_DIR))
        if kwargs.pop("dry_run"):
            dry = api.run(self.pipeline, args.data, dry_run=True, **kwargs, notebook=notebook,
                          batches_root=root)
            print(dry.text)
            return None
        batch = api.run(self.pipeline, args.data, **kwargs, notebook=notebook,
                        batches_root=root)
        self.last_batch = batch
        for key, value in (batch.info().meta.get("suggested") or {}).items():
            print(f"batch {batch.batch_id}: {key} {value}, suggested by the pilot "
                  "(the profile sets none)")
        note = batch.resume_note()
        if note:
            print(f"batch {batch.batch_id}: {note}")
        if args.wait:
            batch.wait()
            return batch.results()
        self._show_progress(batch)
        return batch

    @staticmethod
    def _show_progress(batch: Any) -> None:
        try:
            from .widgets import ProgressWidget
        except ImportError:
            print(f"batch {batch.batch_id} submitted: {batch.info().n_tasks} task(s)")
            return
        display(ProgressWidget(batch))


def _batches_table(rows: list[Any]) -> Any:
    import pandas as pd

    return pd.DataFrame([{
        "batch": r.batch_id, "name": r.name, "profile": r.profile, "state": r.state.value,
        "tasks": r.n_tasks, **{k: v for k, v in sorted(r.counts.items())},
    } for r in rows])


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(TramwayMagics)
