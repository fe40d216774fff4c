"""The Slurm backend: one ``sbatch --array`` per stage, over SSH or on the login node itself.

It orchestrates pure pieces: :mod:`.slurm_arrays` plans the arrays and writes their files and
sbatch lines, :mod:`.slurm_staging` says what goes to the cluster and uploads it,
:mod:`.slurm_query` builds the poll query and reads Slurm's answer.

* **submit**: writes ``slurm/<name>.sh|.jobs`` into the batch directory, then ONE round trip
  stages the directory to ``<scratch>/<batch_id>`` (one tar stream) and submits every array in
  order (later stages wait for earlier ones with ``--dependency=afterany``: the worker itself fails
  a task whose upstream task did not succeed). Each job's Slurm id ``ARRAY_K`` goes to the store,
  so a new kernel re-attaches from the store alone. Array element ``K`` runs the job of line
  ``K + 1`` of its ``.jobs`` file (see :mod:`.slurm_arrays`).
* **poll**: ONE round trip for the whole batch: ``scontrol -o show job`` per array (``sacct`` when
  scontrol no longer knows it), then a tar of the status files changed since the previous poll.
  Status files are the truth; Slurm's final state only explains jobs that ended without one.
* **cancel**: ``scancel`` (arrays, or elements), the status files in the same round trip, then
  ``cancelled`` for every task that had not ended.
* **fetch**: one incremental tar stream of results, notebooks, logs, outputs and status files.
* **cleanup**: cancels what may still run and removes the remote copy.
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from ..exceptions import BackendError, SubmitError
from ..jobs.batchdir import atomic_write_text
from ..jobs.journal import journal_job_index
from ..jobs.states import ACTIVE_VALUES, State
from ..jobs.sync import sync
from . import container as ctr
from . import slurm_arrays as sa
from . import slurm_query as sq
from . import slurm_staging as staging
from .base import Backend, JobVerdict, register_backend
from .context import BatchContext
from .ssh import Connection, get_connection
from .tarstream import TarFetchSink, tar_fetch_line, write_file_atomic

logger = logging.getLogger(__name__)

#: Job states (as the store writes them) of jobs Slurm may still run.
ACTIVE = ACTIVE_VALUES


class SlurmBackend(Backend):
    """Jobs on Slurm through a :class:`~tramway_jupyter.backends.ssh.Connection`."""

    name = "slurm"
    local = False

    def __init__(self, profile: Any, connection: Connection | None = None) -> None:
        super().__init__(profile)
        self._conn = connection
        self._status_since: dict[str, float] = {}
        self._fetch_since: dict[str, float] = {}
        self._scratch: str | None = None
        self._image_fetch: str | None = None  # downloads a registered image once, if needed
        self._requeue: dict[str, dict[int, str]] = {}  # batch -> {job: PREEMPTED/NODE_FAIL...}

    # -- plumbing -------------------------------------------------------------------------
    @property
    def conn(self) -> Connection:
        if self._conn is None:
            self._conn = get_connection(self.profile)
        return self._conn

    @property
    def host(self) -> str:
        return self.conn.where

    def scratch(self) -> str:
        """The remote scratch root, with ``~`` and ``{user}`` expanded (cached)."""
        if self._scratch is None:
            path = self.conn.expand_path(self.profile.scratch)
            if not path.startswith("/"):
                home, _ = self.conn.home_and_user()
                path = str(PurePosixPath(home) / path)
            self._scratch = path.rstrip("/") or "/"
        return self._scratch

    def remote_dir(self, batch: BatchContext) -> str:
        return str(PurePosixPath(self.scratch()) / batch.batch_id)

    # -- submit ---------------------------------------------------------------------------
    def worker_command(self, batch: BatchContext) -> str:
        """The shell line that runs the worker (in a container if asked), but for its last
        argument: the job index, which the batch script appends."""
        rdir = self.remote_dir(batch)
        p = self.profile
        args = ["-m", "tramway_jupyter.worker"]
        for local, remote in sorted(p.path_map.items()):
            args += ["--path-map", f"{local}={remote}"]
        args.append(rdir)
        if p.container:
            home, _ = self.conn.home_and_user()
            image = ctr.resolve_image(p.container, home, p.container_images)
            self._image_fetch = image.fetch_line
            runtime = p.container_runtime
            spec = ctr.ContainerSpec(
                image=image.path,
                runtime=runtime,
                options=tuple(p.container_options),
                binds=ctr.binds_for(self.scratch(), p.path_map),
                remote_dependencies=p.remote_dependencies,
                pwd=rdir,
            )
            return ctr.wrap([p.python, *args], spec)
        line = " ".join(shlex.quote(a) for a in [p.python, *args])
        return ctr.with_dependencies(line, p.remote_dependencies)

    def plan_submissions(self, batch: BatchContext, job_indices: list[int]) -> list[sa.ArraySubmission]:
        """The arrays of these jobs (:func:`.slurm_arrays.plan_arrays` with this batch's state)."""
        slurm_dir = batch.dir.root / "slurm"
        live = {r.job_index: r.backend_id for r in batch.store.jobs(batch.batch_id)
                if r.state in ACTIVE and r.backend_id}
        return sa.plan_arrays(
            batch.plan, job_indices, self.profile,
            remote_dir=self.remote_dir(batch),
            worker_command=self.worker_command(batch),
            first_seq=len(list(slurm_dir.glob("*.sh"))) if slurm_dir.exists() else 0,
            live_ids=live,
        )

    def submit(self, batch: BatchContext, job_indices: list[int]) -> None:
        if not job_indices:
            return
        subs = self.plan_submissions(batch, job_indices)
        root = batch.dir.root
        (root / "slurm").mkdir(exist_ok=True)
        for sub in subs:
            atomic_write_text(root / sub.script_path, sa.sbatch_script(sub))
            atomic_write_text(root / sub.jobs_path, sa.jobs_file(sub))
        scratch = self.scratch()
        extra = staging.stage_data(self.conn, batch, scratch) if self.profile.stage_data else {}
        rdir = self.remote_dir(batch)
        line = staging.upload_line(rdir, scratch, sa.submit_line(subs), first=self._image_fetch)
        arcs = staging.batch_arcnames(batch)
        arcs.update(extra)
        rc, out, err = staging.put_and_run(self.conn, line, arcs)
        ids = sa.parse_submit_output(out)
        now = time.time()
        for sub in subs:
            arr = ids.get(sub.name)
            if arr is None:
                continue
            for k, j in enumerate(sub.job_indices):
                batch.store.update_job(batch.batch_id, j, state=State.QUEUED,
                                       backend_id=f"{arr}_{k}", submitted=now, reason=None)
        if rc != 0 or len(ids) != len(subs):
            done = [ids[s.name] for s in subs if s.name in ids]
            if done:  # never leave half a batch running
                self.conn.run(sa.scancel_argv(done))
            msg = (f"sbatch failed on {self.host} for batch {batch.batch_id} (exit {rc}):"
                   f" {err.strip()[-1500:] or out.strip()[-500:]}")
            why = f"submission failed: {err.strip().splitlines()[-1] if err.strip() else rc}"
            sync(batch, {j: (State.FAILED, why) for sub in subs for j in sub.job_indices})
            for sub in subs:
                for j in sub.job_indices:
                    batch.store.update_job(batch.batch_id, j, state=State.FAILED, reason=why)
            raise SubmitError(msg)
        batch.store.update_batch_meta(
            batch.batch_id,
            slurm={"remote_dir": rdir, "host": self.host,
                   "arrays": {**self._arrays_meta(batch), **{s.name: ids[s.name] for s in subs}}},
        )
        logger.info("batch %s: %d array(s) submitted on %s: %s", batch.batch_id, len(subs),
                    self.host, ", ".join(ids.values()))

    def _arrays_meta(self, batch: BatchContext) -> dict[str, str]:
        meta = batch.store.get_batch(batch.batch_id).meta.get("slurm") or {}
        return dict(meta.get("arrays") or {})

    # -- poll -----------------------------------------------------------------------------
    def _active_jobs(self, batch: BatchContext, job_indices: Iterable[int] | None = None) -> list[Any]:
        wanted = None if job_indices is None else set(job_indices)
        return [r for r in batch.store.jobs(batch.batch_id)
                if r.state in ACTIVE and r.backend_id
                and (wanted is None or r.job_index in wanted)]

    def poll(self, batch: BatchContext) -> dict[int, JobVerdict]:
        active = self._active_jobs(batch)
        if not active:
            return {}
        arrays = sorted({r.backend_id.split("_")[0] for r in active}, key=int)
        rdir = self.remote_dir(batch)
        since = self._status_since.get(batch.batch_id)
        rc, text, err, stamp, _ = self._fetch_into(batch, sq.poll_line(rdir, arrays, since))
        if rc != 0:
            raise BackendError(f"poll of batch {batch.batch_id} failed on {self.host} (exit {rc}):"
                               f" {err.decode('utf-8', 'replace')[-500:]}")
        if stamp:
            self._status_since[batch.batch_id] = stamp
        records = sq.parse_query_output(text.decode("utf-8", "replace"))
        return self._verdicts(batch, active, records)

    def _verdicts(self, batch: BatchContext, active: list[Any],
                  records: dict[str, sq.SlurmRecord]) -> dict[int, JobVerdict]:
        plan = batch.plan
        known = {j.job_index for j in plan.jobs}
        if any(r.job_index not in known for r in active):
            plan = batch.reload_plan()  # jobs were appended (retry) since the plan was read
        verdicts: dict[int, JobVerdict] = {}
        known_arrays = {r.array_job_id for r in records.values()}
        for row in active:
            rec = records.get(row.backend_id)
            try:
                job = plan.job(row.job_index)
            except KeyError:
                continue
            if rec is None:
                if row.backend_id.split("_")[0] in known_arrays:
                    continue  # the array is known, this element not split off yet: pending
                if row.submitted and time.time() - row.submitted < 30:
                    continue
                verdicts[row.job_index] = (State.LOST, f"Slurm job {row.backend_id} is unknown"
                                           " to Slurm (purged, or the controller lost it)")
                continue
            if not rec.is_final:
                want = sq.SLURM_STATES.get(rec.state, State.QUEUED)
                if want is State.RUNNING and row.state != "running":
                    batch.store.update_job(batch.batch_id, row.job_index, state=State.RUNNING,
                                           started=time.time())
                continue
            unfinished = [t for t in job.task_ids
                          if not ((st := batch.dir.read_status(t, job.job_index))
                                  and st.ended(job.attempt))]
            if unfinished:
                verdicts[row.job_index] = rec.verdict()
                if rec.requeueable:
                    self._requeue.setdefault(batch.batch_id, {})[row.job_index] = rec.state
        return verdicts

    def take_requeue_candidates(self, batch_id: str) -> dict[int, str]:
        """Jobs of the last poll that ended for the cluster's reasons (PREEMPTED, NODE_FAIL...):
        ``{job_index: Slurm state}``; the batch decides which tasks to resubmit."""
        return self._requeue.pop(batch_id, {})

    def _fetch_into(self, batch: BatchContext, line: str
                    ) -> tuple[int, bytes, bytes, float, list[str]]:
        """Run a fetch line (:func:`.tarstream.tar_fetch_line`), its files written into the
        batch directory as they arrive, then bring the store up to date with the journals that
        changed. Returns (rc, prefix output, stderr, remote time, names of the files written)."""
        merge = _Incoming(batch.dir.root)
        sink = TarFetchSink(merge.file, self.host)
        try:
            try:
                rc, err = self.conn.exec_to(staging.sh(line), sink)
            except BaseException:
                sink.abort()
                raise
            prefix, stamp = sink.finish()
        finally:
            if merge.jobs:  # the store learns what the cluster's workers wrote, even if cut
                sync(batch, jobs=sorted(merge.jobs))
        return rc, prefix, err, stamp, list(merge.names)

    # -- cancel, fetch, cleanup -----------------------------------------------------------
    def cancel(self, batch: BatchContext, job_indices: list[int] | None = None) -> None:
        active = self._active_jobs(batch, job_indices)
        if not active:
            return
        every = self._active_jobs(batch)
        by_array: dict[str, list[str]] = {}
        for r in active:
            by_array.setdefault(r.backend_id.split("_")[0], []).append(r.backend_id)
        ids: list[str] = []
        for arr, elems in by_array.items():
            whole = [r for r in every if r.backend_id.split("_")[0] == arr]
            ids.extend([arr] if len(whole) == len(elems) else elems)
        line = " ".join(shlex.quote(a) for a in sa.scancel_argv(ids))
        since = self._status_since.get(batch.batch_id)
        _, text, _, _, _ = self._fetch_into(
            batch, tar_fetch_line(self.remote_dir(batch), ["status"], since,
                                  f"{line} 2>&1 1>/dev/null | sed 's/^/SCANCEL|/'"))
        complaints = [x[8:] for x in text.decode("utf-8", "replace").splitlines()
                      if x.startswith("SCANCEL|")]
        if complaints:
            logger.warning("scancel on %s: %s", self.host, "; ".join(complaints)[:500])
        verdicts = {r.job_index: (State.CANCELLED, f"cancelled by the user (scancel {r.backend_id})")
                    for r in active}
        sync(batch, verdicts)
        now = time.time()
        for r in active:
            batch.store.update_job(batch.batch_id, r.job_index, state=State.CANCELLED,
                                   finished=now, reason="cancelled by the user")

    def fetch(self, batch: BatchContext) -> None:
        since = self._fetch_since.get(batch.batch_id)
        before = self.conn.bytes_down
        rc, _, err, stamp, names = self._fetch_into(
            batch, tar_fetch_line(self.remote_dir(batch), list(staging.PRODUCED), since))
        if rc != 0:
            raise BackendError(f"fetch of batch {batch.batch_id} from {self.host} failed (exit"
                               f" {rc}): {err.decode('utf-8', 'replace')[-500:]}")
        if stamp:
            self._fetch_since[batch.batch_id] = stamp
        logger.info("batch %s: fetched %d file(s) (%d bytes) from %s", batch.batch_id,
                    len(names), self.conn.bytes_down - before, self.host)

    def cleanup(self, batch: BatchContext) -> None:
        if self._active_jobs(batch):
            self.cancel(batch)
        rdir = self.remote_dir(batch)
        scratch = self.scratch()
        if not batch.batch_id or PurePosixPath(rdir).parent != PurePosixPath(scratch):
            raise BackendError(f"refusing to remove {rdir!r} on {self.host}: not a batch directory")
        self.conn.check(["rm", "-rf", "--", rdir])

    def close(self) -> None:
        self._status_since.clear()
        self._fetch_since.clear()


register_backend("slurm", SlurmBackend)


class _Incoming:
    """Files of a fetch, written into a batch directory as they arrive (from the tar reader's
    thread): a job's status journal has one writer, the job's worker on the cluster, and only
    grows, so the fetched copy replaces the local one whole (verdicts decided here are in
    ``status/local.jsonl``, which the cluster never has); identical files are not rewritten.
    The same file handed twice (a stream sent again) is harmless."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: set[Path] = set()
        self.names: dict[str, None] = {}
        self.jobs: set[int] = set()

    def file(self, name: str, content: bytes) -> None:
        dest = self.root / name
        if name.startswith("status/"):
            job = journal_job_index(name[len("status/"):])
            if job is None:
                return  # the cluster has nothing else to say in status/
            try:
                if dest.read_bytes() == content:
                    return
            except FileNotFoundError:
                pass
            self.jobs.add(job)
        write_file_atomic(dest, content, self.made)
        self.names[name] = None
