"""The local dispatcher: runs a batch's jobs on N worker processes, detached from the kernel.

``python -m tramway_jupyter.backends.local_runner BATCH_DIR --store PATH --workers N JOB...``

It is started in its own session by :class:`LocalBackend`, so a kernel restart does not stop a
batch. It keeps up to N worker processes (``python -m tramway_jupyter.worker BATCH_DIR serve``,
the same worker that runs a job everywhere, reading job indices on stdin so that its kernel stays
warm from one job to the next), hands each a job once the jobs it depends on have ended, and
watches them: a worker that dies (``kill -9``, crash) has the unfinished tasks of its job marked
``lost`` at once, and a new worker takes the next jobs. SIGTERM cancels everything it runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import selectors
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


def worker_command(batch_dir: str, store: str | None) -> list[str]:
    """A worker that serves jobs read on stdin (one warm kernel for all its jobs)."""
    cmd = [sys.executable, "-m", "tramway_jupyter.worker", batch_dir, "serve"]
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


class _Worker:
    def __init__(self, n: int, proc: subprocess.Popen[bytes]) -> None:
        self.n = n
        self.proc = proc
        self.ident = process_id(proc.pid)
        self.job: int | None = None
        self.buffer = b""


class Dispatcher:
    """Hand ready jobs to up to N serving worker processes; watch them."""

    def __init__(self, ctx: BatchContext, job_indices: Sequence[int], workers: int) -> None:
        self.ctx = ctx
        self.pending = [ctx.plan.job(j) for j in job_indices]
        self.max_workers = max(1, workers)
        self.workers: list[_Worker] = []
        self.sel = selectors.DefaultSelector()
        self.ended: set[int] = {j.job_index for j in ctx.plan.jobs} - set(job_indices)
        self._spawned = 0

    @property
    def running(self) -> dict[int, _Worker]:
        return {w.job: w for w in self.workers if w.job is not None}

    def _ready(self) -> list[int]:
        return [j.job_index for j in self.pending if set(j.depends_on) <= self.ended]

    def _spawn(self) -> _Worker:
        log = self.ctx.dir.root / "logs" / f"worker-{self._spawned}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as fh:
            proc = subprocess.Popen(
                worker_command(str(self.ctx.dir.root), str(self.ctx.store.path)),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=fh,
                start_new_session=True, cwd=str(self.ctx.dir.root),
            )
        w = _Worker(self._spawned, proc)
        self._spawned += 1
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        self.sel.register(proc.stdout, selectors.EVENT_READ, w)
        self.workers.append(w)
        logger.info("worker %d started: pid %d", w.n, proc.pid)
        return w

    def _assign(self, w: _Worker, job_index: int) -> None:
        self.pending = [p for p in self.pending if p.job_index != job_index]
        w.job = job_index
        self.ctx.store.update_job(self.ctx.batch_id, job_index, backend_id=w.ident,
                                  state=State.RUNNING, started=time.time())
        assert w.proc.stdin is not None
        w.proc.stdin.write(f"{job_index}\n".encode())
        w.proc.stdin.flush()
        logger.info("job %d -> worker %d", job_index, w.n)

    def _job_ended(self, job_index: int, verdict: str | None) -> None:
        self.ended.add(job_index)
        # the verdict only applies to tasks the worker left without a final status
        sync(self.ctx, {job_index: (State.LOST, verdict)} if verdict else None)

    def _schedule(self) -> None:
        for j in self._ready():
            idle = [w for w in self.workers if w.job is None]
            if idle:
                self._assign(idle[0], j)
            elif len(self.workers) < self.max_workers:
                self._assign(self._spawn(), j)
            else:
                break

    def _read(self, timeout: float) -> None:
        for key, _ in self.sel.select(timeout):
            w: _Worker = key.data
            try:
                chunk = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                self._retire(w)
                continue
            w.buffer += chunk
            while b"\n" in w.buffer:
                line, w.buffer = w.buffer.split(b"\n", 1)
                parts = line.decode(errors="replace").split()
                if len(parts) == 3 and parts[0] == "done" and w.job == int(parts[1]):
                    job, w.job = w.job, None
                    self._job_ended(job, "worker reported the job done without a final status"
                                    " for this task")
                    logger.info("job %d ended on worker %d (%s task(s) not done)", job, w.n,
                                parts[2])

    def _retire(self, w: _Worker) -> None:
        assert w.proc.stdout is not None  # a pipe, see _spawn
        self.sel.unregister(w.proc.stdout)
        rc = w.proc.wait()
        try:  # the worker's kernel (same process group) must not outlive it
            os.killpg(w.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.workers.remove(w)
        if w.job is not None:
            logger.warning("worker %d died during job %d: %s", w.n, w.job, describe_exit(rc))
            self._job_ended(w.job, describe_exit(rc))

    def _stop_idle_workers(self) -> None:
        if self._ready() or any(w.job is not None for w in self.workers):
            return
        if self.pending:  # jobs still waiting for dependencies: keep the kernels warm
            return
        for w in self.workers:
            if w.proc.stdin and not w.proc.stdin.closed:
                w.proc.stdin.close()  # EOF: the worker shuts its kernel down and exits

    def run(self) -> None:
        while self.pending or any(w.job is not None for w in self.workers):
            self._schedule()
            self._read(0.2)
            if self.pending and not self._ready() and not any(
                    w.job is not None for w in self.workers):
                raise RuntimeError(f"jobs {[j.job_index for j in self.pending]} wait for jobs "
                                   "that will never run")
        self._stop_idle_workers()
        deadline = time.time() + 30
        while self.workers and time.time() < deadline:
            self._read(0.2)
        for w in list(self.workers):
            w.proc.kill()
            self._retire(w)

    def cancel(self) -> None:
        running = self.running
        for w in self.workers:
            try:
                os.killpg(w.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + 5
        for w in self.workers:
            try:
                w.proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                os.killpg(w.proc.pid, signal.SIGKILL)
        verdicts = {j: (State.CANCELLED, "cancelled by the user") for j in running}
        verdicts.update({j.job_index: (State.CANCELLED, "cancelled before it started")
                         for j in self.pending})
        sync(self.ctx, verdicts)
        for j in verdicts:
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
