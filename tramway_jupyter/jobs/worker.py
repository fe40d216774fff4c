"""The one worker entry point: run the tasks of one job, the same way on every backend.

``python -m tramway_jupyter.worker BATCH_DIR JOB [--store PATH] [--path-map LOCAL=REMOTE]``

``JOB`` is a job index of the batch's plan (a Slurm array element's batch script finds it
in the array's ``slurm/<name>.jobs`` file, see ``backends/slurm_arrays.py``).
For each task the worker checks that its upstream tasks are done, injects the task's parameters
after the template's ``parameters`` cell (an ``injected-parameters`` cell written as papermill
writes it, by :mod:`.parameters`: papermill itself is not imported), runs the cells one by one,
and writes the output notebook, the recorded results and the status file (atomically; the status
file is the truth). The cells run in IPython inside the worker process (the plan's ``engine``
``"shell"``, the default, see :mod:`.shell_engine`) or in a warm ipykernel (``"kernel"``), reset
between tasks and kept for the job's tasks and, when the worker serves many jobs, across jobs;
``isolate`` gives each task a fresh ipykernel. With ``--store`` (local
backends) it also records each transition in the job store, for live views.

Its parts: the kernel kept warm (:mod:`.kernel_slot`), the store updates and the job's log
(:mod:`.worker_report`), the ``--mem`` limit (:mod:`.memory_limit`).

This module imports neither IPython, nor jupyter_server, nor paramiko: it runs in lean containers.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from ..capture.parameters import task_values
from ..exceptions import CellTimeoutError, KernelDiedError
from . import nbjson
from .batchdir import BatchDir, atomic_write_text, task_log_relpath
from .engine import WarmKernel
from .kernel_slot import KernelSlot
from .memory_limit import current_limit, limit_memory, memory_message
from .outputs import OutputCollector
from .parameters import codify
from .plan_model import Job, Plan, Task
from .provenance import task_provenance_for
from .states import State
from .status import TaskError, TaskStatus
from .worker_report import LOG_FORMAT, JobLog, StoreReporter

logger = logging.getLogger("tramway_jupyter.worker")


class _Terminated(BaseException):
    """SIGTERM (cancel, time limit): stop now, leave unfinished tasks to the backend's verdict."""


#: Set by the SIGTERM handler; checked between cells, since IPython reports (and so swallows)
#: any exception raised inside a cell running in this process.
TERMINATING = threading.Event()


class PathMapper:
    """Map data paths of the submitting host to this host: exact entries, then prefixes."""

    def __init__(self, prefixes: dict[str, str] | None = None, exact: dict[str, str] | None = None):
        self.prefixes = sorted((prefixes or {}).items(), key=lambda kv: -len(kv[0]))
        self.exact = exact or {}

    def __call__(self, path: str | None) -> str | None:
        if path is None:
            return None
        if path in self.exact:
            return self.exact[path]
        for local, remote in self.prefixes:
            if path == local or path.startswith(local.rstrip("/") + "/"):
                return remote.rstrip("/") + path[len(local.rstrip("/")):]
        return path


_plan_cache: dict[str, tuple[tuple[int, int], Plan]] = {}


def read_plan_cached(batch_dir: BatchDir) -> Plan:
    """The batch's plan, parsed again only when ``plan.json`` changed (a retry appends jobs).

    A serving worker runs many jobs of one batch: a 100,000-task plan takes ~0.1 s to parse.
    """
    key = str(batch_dir.plan_path)
    try:
        st = os.stat(key)
    except FileNotFoundError:
        return batch_dir.read_plan()  # raises its own clear error
    stamp = (st.st_mtime_ns, st.st_size)
    hit = _plan_cache.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    plan = batch_dir.read_plan()
    _plan_cache.clear()
    _plan_cache[key] = (stamp, plan)
    return plan


class JobRunner:
    """Run the tasks of one job of a batch."""

    def __init__(self, batch_dir: BatchDir, job_index: int, *, store_path: str | None = None,
                 path_mapper: PathMapper | None = None, kernels: KernelSlot | None = None,
                 reporter: StoreReporter | None = None) -> None:
        self.dir = batch_dir
        self.plan: Plan = read_plan_cached(batch_dir)
        self.job: Job = self.plan.job(job_index)
        self.map = path_mapper or PathMapper()
        self.reporter = reporter or StoreReporter(store_path, self.plan.batch_id)
        self.host = socket.gethostname()
        self._templates: dict[str, Any] = {}
        self._own_kernels = kernels is None
        self.kernels = kernels or KernelSlot()
        self._info: dict[str, Any] | None = None

    # -- status helpers -------------------------------------------------------------------
    def _status(self, task: Task, state: State, **fields: Any) -> TaskStatus:
        st = TaskStatus(state=state, attempt=self.job.attempt, job_index=self.job.job_index,
                        host=self.host, pid=os.getpid(), **fields)
        self.dir.write_status(task.task_id, st, worker=True)
        self.reporter.task(task.task_id, st)
        return st

    def _template(self, stage: str) -> Any:
        if stage not in self._templates:
            self._templates[stage] = nbjson.read_notebook(self.dir.template_path(stage))
        return self._templates[stage]

    def _upstream_problem(self, task: Task) -> str | None:
        for dep in task.depends_on:
            st = self.dir.read_status(dep, self.plan.task(dep).job_index)
            if st is None or st.state is not State.DONE:
                return f"upstream task {dep} is {st.state if st else 'missing'}"
        return None

    # -- running --------------------------------------------------------------------------
    def run(self) -> int:
        """Run every task of the job; return the number of tasks that did not end done."""
        tasks = [self.plan.task(t) for t in self.job.task_ids]
        logger.info("batch %s job %d attempt %d: %d task(s) on %s (pid %d)",
                    self.plan.batch_id, self.job.job_index, self.job.attempt, len(tasks),
                    self.host, os.getpid())
        self.reporter.job(self.job.job_index, state=State.RUNNING, started=time.time())
        bad = 0
        try:
            for task in tasks:
                st = self.dir.read_status(task.task_id, self.job.job_index)
                if st and st.ended(self.job.attempt):
                    continue  # already ended (e.g. cancelled before this job started)
                try:
                    ok = self.run_task(task)
                except Exception as exc:  # a worker-side fault: fail this task, go on
                    logger.exception("task %s: worker error", task.task_id)
                    self._status(task, State.FAILED, finished=time.time(),
                                 error=TaskError.from_exception(exc, prefix="WorkerError."))
                    ok = False
                if not ok:
                    bad += 1
        finally:
            if self._own_kernels:
                self.kernels.shutdown()
        self.reporter.job(self.job.job_index, state=State.DONE if bad == 0 else State.FAILED,
                          finished=time.time())
        return bad

    def parameters(self, task: Task) -> dict[str, Any]:
        """The task's parameters: the batch's, then the standard ones (capture.parameters)."""
        out_dir = self.dir.output_dir(task.file_key)
        out_dir.mkdir(parents=True, exist_ok=True)
        return {**task.params, **task_values(
            source=self.map(task.source), roi_index=task.roi_index,
            roi_file=self.map(task.roi_file), output_dir=out_dir, task_id=task.task_id,
            segment_index=task.segment_index, t_start=task.t_start, t_end=task.t_end)}

    def run_task(self, task: Task) -> bool:
        started = time.time()
        nb_rel = self.dir.relative(self.dir.notebook_path(task.task_id))
        res_rel = self.dir.relative(self.dir.results_path(task.task_id))
        problem = self._upstream_problem(task)
        if problem:
            self._status(task, State.FAILED, started=started, finished=started, duration=0.0,
                         error=TaskError(ename="UpstreamFailed", evalue=problem))
            return False
        self._status(task, State.RUNNING, started=started)
        params = self.parameters(task)
        nb = inject_parameters(self._template(task.stage), params)
        self._provenance(task, params, nb)
        error: TaskError | None = None
        records: list[str] = []
        log_rel = task_log_relpath(task.task_id)
        sink = OutputCollector(self.dir.root / log_rel, log_name=log_rel,
                               max_bytes=self.plan.max_output_bytes,
                               max_rich=self.plan.max_rich_outputs,
                               max_rich_bytes=self.plan.max_rich_bytes)
        try:
            kernel = self.kernels.get(
                self.plan.kernel_name, str(self.dir.root), fresh=self.plan.isolate,
                engine=self.plan.engine,
                then="import tramway_jupyter.jobs.record as __tj_rec\n"
                     f"__tj_rec.begin({str(self.dir.results_path(task.task_id))!r}, "
                     f"{task.task_id!r})\n")
            error = self._execute_cells(kernel, nb, sink)
            records = kernel.eval_json("__tj_rec.end()") or []
        except KernelDiedError as exc:
            error = TaskError(ename="KernelDied", evalue=str(exc))
        finally:
            sink.finish()  # the cells' output texts, cut to the limit; the log closed
        finished = time.time()
        if error is not None and error.ename == "MemoryError" and (limit := current_limit()):
            detail = f" ({error.evalue})" if error.evalue else ""
            error.evalue = memory_message(limit) + detail
        if error is not None:
            self._mark_failed_notebook(nb, error)
        kept = self.plan.keeps_notebook(done=error is None)
        if kept:
            atomic_write_text(self.dir.notebook_path(task.task_id), json.dumps(nb))
        state = State.DONE if error is None else State.FAILED
        self._status(task, state, started=started, finished=finished,
                     duration=round(finished - started, 4), error=error,
                     notebook=nb_rel if kept else None,
                     results=res_rel if records else None, records=records,
                     log=log_rel if sink.log_written else None)
        if error:
            logger.warning("task %s failed: %s", task.task_id, error.summary())
        return error is None

    def _provenance(self, task: Task, params: dict[str, Any], nb: Any) -> None:
        """Write the task's provenance record and put it in the output notebook's metadata."""
        if self._info is None:
            try:
                self._info = self.dir.read_info()
            except (OSError, ValueError):
                self._info = {}
        try:
            rec, env = task_provenance_for(self.dir, self.plan, task, self.job.attempt, params,
                                           self._template(task.stage), self._info, self.map)
        except Exception:  # never fail a task for its record: say so in the job's log
            logger.exception("task %s: no provenance record", task.task_id)
            return
        meta = nb.setdefault("metadata", {}).setdefault("tramway_jupyter", {})
        meta["provenance"] = {**rec, "environment": env}

    def _execute_cells(self, kernel: WarmKernel, nb: Any,
                       sink: OutputCollector) -> TaskError | None:
        count = 0
        for i, cell in enumerate(nb["cells"]):
            source = nbjson.cell_source(cell)
            if cell["cell_type"] != "code" or not source.strip():
                continue
            count += 1
            if TERMINATING.is_set():
                raise _Terminated()
            try:
                res = kernel.run(source, timeout=self.plan.task_timeout, sink=sink)
            except CellTimeoutError as exc:
                cell["outputs"] = sink.cell_outputs()  # what it printed until then
                return TaskError(ename="CellTimeout", evalue=str(exc), cell_index=i,
                                 source=source)
            if TERMINATING.is_set():
                raise _Terminated()
            cell["outputs"] = res.outputs
            cell["execution_count"] = count
            for out in res.outputs:
                if out.get("output_type") == "execute_result":
                    out["execution_count"] = count
            if res.error is not None:
                return res.error.replace(cell_index=i, source=source)
        return None

    @staticmethod
    def _mark_failed_notebook(nb: Any, error: TaskError) -> None:
        """Put a banner on top of a failed output notebook, as papermill does."""
        idx = error.cell_index
        if idx is not None:  # cell indices count in the output notebook, banner included
            idx = error.cell_index = idx + 1
        where = f" in cell {idx}" if idx is not None else ""
        text = (f"<span style=\"color:red\">**tramway-jupyter: this task failed{where}:"
                f" {error.ename}: {error.evalue}**</span>")
        nb["cells"].insert(0, nbjson.new_markdown_cell(text, metadata={"tags": ["tramway-error"]}))


def inject_parameters(template: Any, params: dict[str, Any]) -> Any:
    """A copy of ``template`` with papermill's ``injected-parameters`` cell after ``parameters``.

    The cell is written as papermill's translator writes it (``papermill -p``).
    """
    nb = copy.deepcopy(template)
    code = codify(params)
    cell = nbjson.new_code_cell(code, metadata={"tags": ["injected-parameters"]})
    idx = next((i for i, c in enumerate(nb["cells"])
                if "parameters" in c.get("metadata", {}).get("tags", [])), -1)
    nb["cells"].insert(idx + 1, cell)
    nb.setdefault("metadata", {}).setdefault("papermill", {})["parameters"] = params
    return nb


def _mapper(bd: BatchDir, path_map: dict[str, str] | None) -> PathMapper:
    exact_path = bd.root / "data_map.json"
    exact = json.loads(exact_path.read_text()) if exact_path.exists() else None
    return PathMapper(path_map, exact)


def run_job(batch_dir: str | os.PathLike[str], job_index: int, *, store_path: str | None = None,
            path_map: dict[str, str] | None = None, kernels: KernelSlot | None = None) -> int:
    """Run one job of a batch in this process; return the number of tasks not done."""
    bd = BatchDir(batch_dir)
    runner = JobRunner(bd, job_index, store_path=store_path, path_mapper=_mapper(bd, path_map),
                       kernels=kernels)
    with JobLog(bd.job_log_path(job_index, runner.job.attempt)):
        return runner.run()


def serve(batch_dir: str | os.PathLike[str], *, store_path: str | None = None,
          path_map: dict[str, str] | None = None, commands: Any = None, out: Any = None) -> None:
    """Run the jobs named on ``commands`` (one index a line) with one kernel kept warm.

    After each job, writes ``done JOB BAD`` on ``out``. Used by the local dispatcher so that a
    batch of many small jobs starts a kernel once per worker process, not once per job.
    """
    commands = commands if commands is not None else sys.stdin
    out = out if out is not None else sys.stdout
    kernels = KernelSlot()
    try:
        for line in commands:
            line = line.strip()
            if not line:
                continue
            job_index = int(line)
            bad = run_job(batch_dir, job_index, store_path=store_path, path_map=path_map,
                          kernels=kernels)
            out.write(f"done {job_index} {bad}\n")
            out.flush()
    finally:
        kernels.shutdown()


def _parse_path_map(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        local, sep, remote = item.partition("=")
        if not sep:
            raise SystemExit(f"--path-map needs LOCAL=REMOTE, got {item!r}")
        out[local] = remote
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tramway_jupyter.worker",
                                description="Run the tasks of one job of a tramway-jupyter batch.")
    p.add_argument("batch_dir", help="the batch directory (holding plan.json)")
    p.add_argument("job", help="job index; or 'serve': read job indices on stdin")
    p.add_argument("--store", help="job store to update live (local backends only)")
    p.add_argument("--path-map", action="append", default=[], metavar="LOCAL=REMOTE",
                   help="map a data path prefix of the submitting host to this host")
    p.add_argument("--mem", type=int, default=None, metavar="BYTES",
                   help="limit this worker's address space (RLIMIT_AS) to BYTES")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format=LOG_FORMAT)
    if args.mem:
        limit_memory(args.mem)
    bd = BatchDir(args.batch_dir)

    def _on_term(signum: int, frame: object) -> None:
        TERMINATING.set()
        raise _Terminated()

    signal.signal(signal.SIGTERM, _on_term)
    path_map = _parse_path_map(args.path_map)
    try:
        if args.job == "serve":
            serve(bd.root, store_path=args.store, path_map=path_map)
            return 0
        try:
            job_index = int(args.job)
        except ValueError:
            p.error(f"job must be a job index or 'serve', not {args.job!r}")
        bad = run_job(bd.root, job_index, store_path=args.store, path_map=path_map)
    except _Terminated:
        logger.warning("worker terminated by SIGTERM")
        return 143
    return 1 if bad else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
