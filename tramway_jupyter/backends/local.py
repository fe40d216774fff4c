"""``local``: a pool of worker processes on this machine, run by a detached dispatcher.

By default the dispatcher and its workers are forked by the per-user warm pool (:mod:`.pool`),
which has the heavy modules imported already; with ``warm_pool = false`` (or
``TRAMWAY_JUPYTER_WARM_POOL=0``), or if the pool cannot be reached, each batch starts its own
``python -m tramway_jupyter.backends.local_runner``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import warnings

from ..exceptions import PoolError
from ..jobs.states import ACTIVE_VALUES, State
from ..jobs.sync import sync
from .base import Backend, JobVerdict, register_backend
from .context import BatchContext
from .local_runner import parse_mem
from .procs import is_alive, process_id, signal_group
from .profiles import Profile, cpu_count, default_workers

logger = logging.getLogger("tramway_jupyter.local")


def resolve_local_profile(profile: Profile) -> Profile:
    """Check ``mem``; cap ``workers`` to the CPU count (with a warning) unless the profile says
    ``oversubscribe`` (only for the backends whose workers run on this machine)."""
    parse_mem(profile.mem)  # ValueError on a malformed size, before anything is created
    if profile.backend not in ("local", "inline") or profile.workers is None:
        return profile
    cpus = cpu_count()
    n = int(profile.workers)
    if n <= cpus or profile.oversubscribe:
        return profile
    warnings.warn(f"--workers {n} is more than the {cpus} CPU(s) of this machine: using {cpus} "
                  f"worker(s) (pass --oversubscribe to run {n})", UserWarning, stacklevel=3)
    return profile.replace(workers=cpus)


#: How long a poll waits for a dispatcher being started by a live process before judging.
LAUNCH_GRACE = 120.0


class LocalBackend(Backend):
    name = "local"
    local = True

    @property
    def workers(self) -> int:
        return default_workers(self.profile.workers)

    def _start_dispatcher(self, batch: BatchContext, argv: list[str], log: str) -> int:
        """Start the batch's detached dispatcher; return its pid."""
        from . import pool

        root = str(batch.dir.root)
        if pool.enabled(self.profile):
            try:
                return pool.dispatch(argv, cwd=root, log=log, profile=self.profile)
            except (PoolError, OSError, ValueError, subprocess.SubprocessError) as exc:
                logger.warning("warm worker pool unavailable (%s): starting cold workers", exc)
        with open(log, "ab") as fh:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tramway_jupyter.backends.local_runner", *argv],
                stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=root)
        # keep a reference so the Popen object does not warn; the process is detached
        self._procs = [*getattr(self, "_procs", []), proc]
        return proc.pid

    def submit(self, batch: BatchContext, job_indices: list[int]) -> None:
        if not job_indices:
            return
        now = time.time()
        for j in job_indices:
            batch.store.update_job(batch.batch_id, j, state=State.QUEUED, submitted=now)
        log = batch.dir.root / "logs" / "dispatcher.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        argv = [str(batch.dir.root), *map(str, job_indices), "--store", str(batch.store.path),
                "--workers", str(self.workers)]
        mem = parse_mem(self.profile.mem)
        if mem:
            argv += ["--mem", str(mem)]
        # Starting a dispatcher can take a second or more (the warm pool's daemon starts and
        # imports first): a poll meanwhile, from another thread or process, must not take the
        # queued jobs for lost. It waits while this process is alive and launching.
        batch.store.update_batch_meta(batch.batch_id, launching=[process_id(os.getpid()), now])
        ident = process_id(self._start_dispatcher(batch, argv, str(log)))
        meta = batch.store.get_batch(batch.batch_id).meta
        batch.store.update_batch_meta(batch.batch_id, launching=None,
                                      dispatchers=[*meta.get("dispatchers", []), ident])

    def _dispatchers(self, batch: BatchContext) -> list[str]:
        return list(batch.store.get_batch(batch.batch_id).meta.get("dispatchers", []))

    def poll(self, batch: BatchContext) -> dict[int, JobVerdict]:
        for p in getattr(self, "_procs", []):
            p.poll()  # reap our own children
        meta = batch.store.get_batch(batch.batch_id).meta
        if any(is_alive(d) for d in meta.get("dispatchers", [])):
            return {}
        launching = meta.get("launching")
        if launching and is_alive(launching[0]) and time.time() - launching[1] < LAUNCH_GRACE:
            return {}  # a dispatcher is being started
        # No dispatcher left: any job still marked active, whose worker is gone, was lost.
        verdicts: dict[int, JobVerdict] = {}
        for j in batch.store.jobs(batch.batch_id):
            if j.state in ACTIVE_VALUES and not is_alive(j.backend_id):
                verdicts[j.job_index] = (
                    State.LOST, "the local dispatcher process is gone (killed or machine restarted)")
        return verdicts

    def cancel(self, batch: BatchContext, job_indices: list[int] | None = None) -> None:
        if job_indices is None:
            dispatchers = [d for d in self._dispatchers(batch) if is_alive(d)]
            for d in dispatchers:
                signal_group(d)
            deadline = time.time() + 15
            while time.time() < deadline and any(is_alive(d) for d in dispatchers):
                for p in getattr(self, "_procs", []):
                    p.poll()
                time.sleep(0.05)
            job_indices = [j.job_index for j in batch.store.jobs(batch.batch_id)
                           if j.state in ACTIVE_VALUES]
        verdicts = {j: (State.CANCELLED, "cancelled by the user") for j in job_indices}
        sync(batch, verdicts)
        for row in batch.store.jobs(batch.batch_id):
            if row.job_index in job_indices:
                signal_group(row.backend_id)
                batch.store.update_job(batch.batch_id, row.job_index, state=State.CANCELLED,
                                       finished=time.time())


register_backend("local", LocalBackend)
