"""The local dispatcher: runs a batch's jobs on N worker processes, detached from the kernel.

``python -m tramway_jupyter.backends.local_runner BATCH_DIR --store PATH --workers N JOB...``

It is started in its own session by :class:`LocalBackend`, so a kernel restart does not stop a
batch. It starts each job (``python -m tramway_jupyter.worker``) once the jobs it depends on have
ended, in its own process group, and watches it: a worker that dies (``kill -9``, crash) has the
unfinished tasks of its job marked ``lost`` at once. SIGTERM cancels everything it runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

from ..jobs.batchdir import BatchDir
from ..jobs.context import BatchContext
from ..jobs.states import State
from ..jobs.store import Store
from ..jobs.sync import sync
from .procs import process_id

logger = logging.getLogger("tramway_jupyter.local_runner")


class _Cancel(BaseException):
    pass


def worker_command(batch_dir: str, job_index: int, store: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "tramway_jupyter.worker", batch_dir, str(job_index)]
    if store:
        cmd += ["--store", store]
    return cmd


def describe_exit(rc: int) -> str:
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return f"worker process killed by {name}"
    return f"worker process exited with code {rc} before finishing its tasks"


class Dispatcher:
    def __init__(self, ctx: BatchContext, job_indices: Sequence[int], workers: int) -> None:
        self.ctx = ctx
        self.pending = [ctx.plan.job(j) for j in job_indices]
        self.workers = max(1, workers)
        self.running: dict[int, subprocess.Popen[bytes]] = {}
        self.ended: set[int] = {j.job_index for j in ctx.plan.jobs} - set(job_indices)

    def _ready(self) -> list[int]:
        return [j.job_index for j in self.pending if set(j.depends_on) <= self.ended]

    def _launch(self, job_index: int) -> None:
        job = self.ctx.plan.job(job_index)
        log = self.ctx.dir.job_log_path(job_index, job.attempt)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as fh:
            proc = subprocess.Popen(
                worker_command(str(self.ctx.dir.root), job_index, str(self.ctx.store.path)),
                stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=str(self.ctx.dir.root),
            )
        self.running[job_index] = proc
        self.ctx.store.update_job(self.ctx.batch_id, job_index, backend_id=process_id(proc.pid),
                                  state=State.RUNNING, started=time.time())
        logger.info("job %d started: pid %d", job_index, proc.pid)

    def _reap(self) -> bool:
        done = False
        for j, proc in list(self.running.items()):
            rc = proc.poll()
            if rc is None:
                continue
            del self.running[j]
            self.ended.add(j)
            done = True
            # the worker's kernel (same process group) must not outlive it
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            # the verdict only applies to tasks the worker left without a final status
            sync(self.ctx, {j: (State.LOST, describe_exit(rc))})
            logger.info("job %d ended (rc %s)", j, rc)
        return done

    def run(self) -> None:
        while self.pending or self.running:
            for j in self._ready():
                if len(self.running) >= self.workers:
                    break
                self.pending = [p for p in self.pending if p.job_index != j]
                self._launch(j)
            if not self._reap():
                time.sleep(0.05)
        sync(self.ctx)

    def cancel(self) -> None:
        for proc in self.running.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + 5
        for proc in self.running.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        verdicts = {j: (State.CANCELLED, "cancelled by the user") for j in self.running}
        verdicts.update({j.job_index: (State.CANCELLED, "cancelled before it started")
                         for j in self.pending})
        sync(self.ctx, verdicts)
        for j in list(self.running) + [p.job_index for p in self.pending]:
            self.ctx.store.update_job(self.ctx.batch_id, j, state=State.CANCELLED,
                                      finished=time.time())


def main(argv: Sequence[str] | None = None) -> int:
    from .profiles import Profile

    p = argparse.ArgumentParser(prog="python -m tramway_jupyter.backends.local_runner")
    p.add_argument("batch_dir")
    p.add_argument("jobs", nargs="+", type=int)
    p.add_argument("--store", required=True)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    bd = BatchDir(args.batch_dir)
    plan = bd.read_plan()
    ctx = BatchContext(plan.batch_id, bd, Store(args.store), Profile(name="local"))
    disp = Dispatcher(ctx, args.jobs, args.workers)

    def _on_term(signum: int, frame: object) -> None:
        raise _Cancel()

    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    try:
        disp.run()
    except _Cancel:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        logger.warning("cancelled: stopping %d running job(s)", len(disp.running))
        disp.cancel()
        return 143
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
