"""The local dispatcher: runs a batch's jobs on N worker processes, detached from the kernel.

``python -m tramway_jupyter.backends.local_runner BATCH_DIR --store PATH --workers N JOB...``

It is started in its own session by :class:`LocalBackend`, so a kernel restart does not stop a
batch. It keeps up to N worker processes (``python -m tramway_jupyter.worker BATCH_DIR serve``,
the same worker that runs a job everywhere, reading job indices on stdin so that its kernel stays
warm from one job to the next), hands each a job once the jobs it depends on have ended, and
watches them: a worker that dies (``kill -9``, crash, memory limit) has the task it was running
marked ``lost`` at once; the tasks of that job it had not started go back to the queue, and a new
worker takes them. SIGTERM cancels everything it runs.

With ``--mem SIZE`` each worker runs under an address-space limit (``RLIMIT_AS``); a task that
hits it is reported "over its memory limit (SIZE): raise --mem". Started by the warm pool
(:mod:`.pool`), the dispatcher and its workers are forks of the pool's pre-imported process
rather than new Python processes (``fork_workers``).
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
from ..jobs.memory_limit import memory_message
from ..jobs.states import State
from ..jobs.status import TaskError
from ..jobs.store import Store
from ..jobs.sync import sync
from .context import BatchContext
from .procs import process_id, run_forked_child

logger = logging.getLogger("tramway_jupyter.local_runner")


class _Cancel(BaseException):
    pass


_UNITS = {"": 1 << 20, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_mem(size: str | int | None) -> int | None:
    """Bytes of a memory size as Slurm writes it: ``2G``, ``500M``, ``2GB``, ``1.5G``, ``4096``
    (a bare number is megabytes, as for ``sbatch --mem``)."""
    if size is None or size == "":
        return None
    if isinstance(size, int):
        return size
    text = str(size).strip().upper().replace(" ", "")
    if text.endswith("IB"):
        text = text[:-2]
    elif text.endswith("B"):
        text = text[:-1]
    unit = text[-1] if text and text[-1] in "KMGT" else ""
    try:
        value = float(text[:-1] if unit else text)
    except ValueError:
        raise ValueError(f"memory size {size!r}: expected a number with an optional unit "
                         "K, M, G or T, e.g. 2G or 500M") from None
    if value <= 0:
        raise ValueError(f"memory size {size!r} must be positive")
    return int(value * _UNITS[unit])


def worker_command(batch_dir: str, store: str | None, mem: int | None = None) -> list[str]:
    """A worker that serves jobs read on stdin (one warm kernel for all its jobs)."""
    cmd = [sys.executable, "-m", "tramway_jupyter.worker", batch_dir, "serve"]
    if store:
        cmd += ["--store", store]
    if mem:
        cmd += ["--mem", str(mem)]
    return cmd


_CANCEL_SIGNALS = {signal.SIGTERM, signal.SIGINT}


class ForkedWorker:
    """A serving worker forked from this (pre-imported) process; the subset of ``Popen`` used."""

    def __init__(self, argv: list[str], log: str) -> None:
        r_in, w_in = os.pipe()
        r_out, w_out = os.pipe()
        log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        sys.stdout.flush()
        sys.stderr.flush()
        # no SIGTERM (cancel) between fork and setsid: the child would run the parent's handler
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _CANCEL_SIGNALS)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            def prepare() -> None:
                os.setsid()
                for sig in _CANCEL_SIGNALS:
                    signal.signal(sig, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
                os.dup2(r_in, 0)
                os.dup2(w_out, 1)
                os.dup2(log_fd, 2)
                os.closerange(3, 1 << 16)  # siblings' pipes, the dispatcher's store, selector

            from ..jobs.worker import main as worker_main

            run_forked_child(prepare, lambda: worker_main(argv))
        self.pid = pid
        os.close(r_in)
        os.close(w_out)
        os.close(log_fd)
        self.stdin = os.fdopen(w_in, "wb")
        self.stdout = os.fdopen(r_out, "rb")
        self.returncode: int | None = None
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)  # a pending cancel is raised here

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -signal.SIGKILL
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0)
            time.sleep(0.005)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def describe_exit(rc: int) -> str:
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return f"worker process killed by {name}"
    return f"worker process exited with code {rc} before finishing its tasks"


class _Worker:
    def __init__(self, n: int, proc: subprocess.Popen[bytes] | ForkedWorker) -> None:
        self.n = n
        self.proc = proc
        self.ident = process_id(proc.pid)
        self.job: int | None = None
        self.buffer = b""


class Dispatcher:
    """Hand ready jobs to up to N serving worker processes; watch them."""

    def __init__(self, ctx: BatchContext, job_indices: Sequence[int], workers: int, *,
                 fork: bool = False, mem: int | None = None) -> None:
        self.ctx = ctx
        self.fork = fork
        self.mem = mem
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
        cmd = worker_command(str(self.ctx.dir.root), str(self.ctx.store.path), self.mem)
        proc: subprocess.Popen[bytes] | ForkedWorker
        if self.fork:  # cwd: the dispatcher's, the batch directory
            self.ctx.store.close()  # sqlite: no connection may be open across a fork
            proc = ForkedWorker(cmd[3:], str(log))
        else:
            with open(log, "ab") as fh:
                proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=fh, start_new_session=True,
                                        cwd=str(self.ctx.dir.root))
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

    def _worker_died(self, w: _Worker, rc: int) -> None:
        """Only the task the worker was running is lost; the job's other tasks are requeued."""
        assert w.job is not None
        reason = describe_exit(rc)
        if self.mem and rc in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS):
            reason += f" (perhaps {memory_message(self.mem)})"
        job = self.ctx.plan.job(w.job)
        statuses = self.ctx.dir.read_statuses(job.task_ids, jobs=[job.job_index])

        def final(tid: str) -> bool:
            st = statuses.get(tid)
            return st is not None and st.ended(job.attempt)

        running = [tid for tid in job.task_ids if not final(tid) and (st := statuses.get(tid))
                   and st.state is State.RUNNING and st.attempt == job.attempt]
        left = [tid for tid in job.task_ids if not final(tid) and tid not in running]
        logger.warning("worker %d died during job %d: %s", w.n, w.job, reason)
        if not running or not left:  # no progress to keep: the whole job ends lost
            self._job_ended(w.job, reason)
            return
        now = time.time()
        for tid in running:
            self.ctx.dir.write_status(tid, statuses[tid].replace(
                state=State.LOST, finished=now, error=TaskError.job_ended(State.LOST, reason)))
        sync(self.ctx, jobs=[job.job_index])
        self.ctx.store.update_job(self.ctx.batch_id, job.job_index, state=State.QUEUED)
        self.pending.insert(0, job)
        logger.info("job %d: %d task(s) lost, %d requeued", job.job_index, len(running),
                    len(left))

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
            self._worker_died(w, rc)

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
                try:
                    os.killpg(w.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    w.proc.kill()
        verdicts = {j: (State.CANCELLED, "cancelled by the user") for j in running}
        verdicts.update({j.job_index: (State.CANCELLED, "cancelled before it started")
                         for j in self.pending})
        sync(self.ctx, verdicts)
        for j in verdicts:
            self.ctx.store.update_job(self.ctx.batch_id, j, state=State.CANCELLED,
                                      finished=time.time())


def main(argv: Sequence[str] | None = None, *, fork_workers: bool = False) -> int:
    """Run the dispatcher; ``fork_workers``: fork the workers from this (pre-imported) process."""
    from .profiles import Profile, default_workers

    p = argparse.ArgumentParser(prog="python -m tramway_jupyter.backends.local_runner")
    p.add_argument("batch_dir")
    p.add_argument("jobs", nargs="+", type=int)
    p.add_argument("--store", required=True)
    p.add_argument("--workers", type=int, default=default_workers())
    p.add_argument("--mem", type=int, default=None, help="per-worker memory limit (bytes)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    bd = BatchDir(args.batch_dir)
    plan = bd.read_plan()
    ctx = BatchContext(plan.batch_id, bd, Store(args.store), Profile(name="local"))
    disp = Dispatcher(ctx, args.jobs, args.workers, fork=fork_workers, mem=args.mem)

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
