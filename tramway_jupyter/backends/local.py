"""``local``: a pool of worker processes on this machine, run by a detached dispatcher."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from ..jobs.context import BatchContext
from ..jobs.states import State
from ..jobs.sync import sync
from .base import Backend, JobVerdict, register_backend
from .procs import is_alive, process_id, signal_group


class LocalBackend(Backend):
    name = "local"
    local = True

    @property
    def workers(self) -> int:
        return int(self.profile.workers or os.cpu_count() or 1)

    def submit(self, batch: BatchContext, job_indices: list[int]) -> None:
        if not job_indices:
            return
        now = time.time()
        for j in job_indices:
            batch.store.update_job(batch.batch_id, j, state=State.QUEUED, submitted=now)
        log = batch.dir.root / "logs" / "dispatcher.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "tramway_jupyter.backends.local_runner", str(batch.dir.root),
               *map(str, job_indices), "--store", str(batch.store.path),
               "--workers", str(self.workers)]
        with open(log, "ab") as fh:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fh,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    cwd=str(batch.dir.root))
        ident = process_id(proc.pid)
        meta = batch.store.get_batch(batch.batch_id).meta
        batch.store.update_batch_meta(batch.batch_id,
                                      dispatchers=[*meta.get("dispatchers", []), ident])
        # keep a reference so the Popen object does not warn; the process is detached
        self._procs = [*getattr(self, "_procs", []), proc]

    def _dispatchers(self, batch: BatchContext) -> list[str]:
        return list(batch.store.get_batch(batch.batch_id).meta.get("dispatchers", []))

    def poll(self, batch: BatchContext) -> dict[int, JobVerdict]:
        for p in getattr(self, "_procs", []):
            p.poll()  # reap our own children
        if any(is_alive(d) for d in self._dispatchers(batch)):
            return {}
        # No dispatcher left: any job still marked active, whose worker is gone, was lost.
        verdicts: dict[int, JobVerdict] = {}
        for j in batch.store.jobs(batch.batch_id):
            if j.state in ("pending", "queued", "running") and not is_alive(j.backend_id):
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
                           if j.state in ("pending", "queued", "running")]
        verdicts = {j: (State.CANCELLED, "cancelled by the user") for j in job_indices}
        sync(batch, verdicts)
        for row in batch.store.jobs(batch.batch_id):
            if row.job_index in job_indices:
                signal_group(row.backend_id)
                batch.store.update_job(batch.batch_id, row.job_index, state=State.CANCELLED,
                                       finished=time.time())


register_backend("local", LocalBackend)
