"""The Slurm backend: one ``sbatch --array`` per stage, over SSH or on the login node itself.

* **submit**: writes ``slurm/<name>.sh|.json|.map`` into the batch directory, then ONE round trip
  stages the directory to ``<scratch>/<batch_id>`` (one tar stream) and submits every array in
  order (later stages wait for earlier ones with ``--dependency=afterany``: the worker itself fails
  a task whose upstream task did not succeed). Each job's Slurm id ``ARRAY_K`` goes to the store,
  so a new kernel re-attaches from the store alone.
* **poll**: ONE round trip for the whole batch: ``scontrol -o show job`` per array (``sacct`` when
  scontrol no longer knows it), then a tar of the status files changed since the previous poll.
  Status files are the truth; Slurm's final state only explains jobs that ended without one.
* **cancel**: ``scancel`` (arrays, or elements), the status files in the same round trip, then
  ``cancelled`` for every task that had not ended.
* **fetch**: one incremental tar stream of results, notebooks, logs, outputs and status files.
* **cleanup**: cancels what may still run and removes the remote copy.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import time
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from ..exceptions import BackendError, SubmitError
from ..jobs.batchdir import atomic_write_text
from ..jobs.journal import journal_job_index
from ..jobs.plan import hash_file
from ..jobs.states import State
from ..jobs.sync import sync
from . import container as ctr
from . import slurm_commands as sc
from .base import Backend, JobVerdict, register_backend
from .context import BatchContext
from .ssh import Connection, get_connection
from .tarstream import (
    iter_tar_files,
    split_prefixed_output,
    tar_fetch_line,
    write_file_atomic,
)

logger = logging.getLogger(__name__)

#: Directories the workers produce on the cluster (never staged up, fetched back).
PRODUCED = ("status", "results", "notebooks", "logs", "outputs")
ACTIVE = ("pending", "queued", "running")
DATA_DIR = ".data"


def _safe(s: str, n: int = 40) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s)[:n] or "x"


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

    def _sh(self, line: str) -> list[str]:
        """Run a composite line with /bin/sh whatever the login shell (csh users exist)."""
        return ["/bin/sh", "-c", line]

    # -- submit ---------------------------------------------------------------------------
    def worker_command(self, batch: BatchContext, index_path: str) -> str:
        """The shell line that runs the worker for ``@index_path`` (in a container if asked)."""
        rdir = self.remote_dir(batch)
        p = self.profile
        args = ["-m", "tramway_jupyter.worker", rdir, "@" + index_path]
        for local, remote in sorted(p.path_map.items()):
            args += ["--path-map", f"{local}={remote}"]
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

    def plan_submissions(
        self, batch: BatchContext, job_indices: list[int]
    ) -> tuple[list[sc.ArraySubmission], dict[str, tuple[str, ...]]]:
        """Group jobs into arrays (one per stage, split beyond max_array_size) and dependencies."""
        plan = batch.plan
        p = self.profile
        wanted = set(job_indices)
        jobs = [j for j in plan.jobs if j.job_index in wanted]
        if len(jobs) != len(wanted):
            missing = sorted(wanted - {j.job_index for j in jobs})
            raise SubmitError(f"batch {batch.batch_id}: jobs {missing} are not in plan.json")
        stage_order = {s.name: i for i, s in enumerate(plan.stages)}
        by_stage: dict[str, list[Any]] = {}
        for j in sorted(jobs, key=lambda j: (stage_order.get(j.stage, 0), j.job_index)):
            by_stage.setdefault(j.stage, []).append(j)
        slurm_dir = batch.dir.root / "slurm"
        seq = len(list(slurm_dir.glob("*.sh"))) if slurm_dir.exists() else 0
        store_jobs = {r.job_index: r for r in batch.store.jobs(batch.batch_id)}
        array_of_job: dict[int, str] = {}
        subs: list[sc.ArraySubmission] = []
        deps: dict[str, tuple[str, ...]] = {}
        rdir = self.remote_dir(batch)
        size = max(1, int(p.max_array_size))
        for stage, sjobs in by_stage.items():
            for c in range(0, len(sjobs), size):
                chunk = sjobs[c : c + size]
                name = f"{seq:03d}-{_safe(stage)}-{c // size}"
                seq += 1
                local_deps: list[str] = []
                known: list[str] = []
                for j in chunk:
                    for d in j.depends_on:
                        if d in array_of_job:
                            if array_of_job[d] not in local_deps:
                                local_deps.append(array_of_job[d])
                        else:
                            row = store_jobs.get(d)
                            if (row is not None and row.state in ACTIVE and row.backend_id
                                    and row.backend_id not in known):
                                known.append(row.backend_id)
                index_path = f"slurm/{name}.json"
                sub = sc.ArraySubmission(
                    name=name,
                    job_name=_safe(f"tj-{batch.batch_id}-{stage}", 80),
                    job_indices=tuple(j.job_index for j in chunk),
                    attempts=tuple(j.attempt for j in chunk),
                    remote_dir=rdir,
                    worker_command=self.worker_command(batch, index_path),
                    partition=p.partition,
                    account=p.account,
                    walltime=p.walltime,
                    cpus_per_task=p.cpus_per_task,
                    mem=p.mem,
                    max_running=p.max_running,
                    extra_options=tuple(p.sbatch_options),
                    depends_on=tuple(known),
                )
                subs.append(sub)
                if local_deps:
                    deps[name] = tuple(local_deps)
                for j in chunk:
                    array_of_job[j.job_index] = name
        return subs, deps

    def submit(self, batch: BatchContext, job_indices: list[int]) -> None:
        if not job_indices:
            return
        subs, deps = self.plan_submissions(batch, job_indices)
        root = batch.dir.root
        (root / "slurm").mkdir(exist_ok=True)
        for sub in subs:
            atomic_write_text(root / sub.script_path, sc.sbatch_script(sub))
            atomic_write_text(root / sub.index_path, sc.index_file(sub))
            atomic_write_text(root / sub.map_path, sc.map_file(sub))
        extra = self._stage_data(batch) if self.profile.stage_data else {}
        members = [n for n in sorted(os.listdir(root))
                   if n not in PRODUCED and not n.startswith(".")]
        rdir = self.remote_dir(batch)
        q = shlex.quote(rdir)
        mkdirs = " ".join(shlex.quote(f"{rdir}/{d}") for d in PRODUCED)
        fetch = f"{self._image_fetch} && " if self._image_fetch else ""
        line = (
            f"{fetch}mkdir -p -- {q} {mkdirs} && tar -x -f - -C {shlex.quote(self.scratch())}"
            f" --no-same-owner --no-same-permissions && cd -- {q} && "
            + sc.submit_line(subs, deps)
        )
        arcs = {str(root / m): f"{batch.batch_id}/{m}" for m in members}
        arcs.update(extra)
        local = batch.dir.journal_path(None)
        if local.exists():  # tasks resumed from earlier batches: upstream of what runs there
            arcs[str(local)] = f"{batch.batch_id}/status/{local.name}"
        rc, out, err = self._put_and_run(line, arcs)
        ids = sc.parse_submit_output(out)
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
                self.conn.run(sc.scancel_argv(done))
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

    def _put_and_run(self, line: str, arcnames: dict[str, str]) -> tuple[int, str, str]:
        import tarfile

        from .tarstream import _reset_owner

        def write(fh: Any) -> None:
            with tarfile.open(fileobj=fh, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for src, arc in arcnames.items():
                    tar.add(src, arcname=arc, filter=_reset_owner)

        rc, out, err = self.conn.exec_bytes(self._sh(line), write, retry=False)
        return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def _stage_data(self, batch: BatchContext) -> dict[str, str]:
        """Upload data files (content-addressed under ``<scratch>/.data``), skipping known hashes.

        Writes ``data_map.json`` ({local path: remote path}) for the worker. Returns tar
        arcnames (relative to scratch) of the files still to send.
        """
        sources = sorted({t.source for t in batch.plan.tasks if t.source}
                         | {t.roi_file for t in batch.plan.tasks if t.roi_file})
        hashes = {s: hash_file(s) for s in sources if os.path.isfile(s)}
        scratch = self.scratch()
        rc, out, _ = self.conn.run(self._sh(
            f"cd -- {shlex.quote(scratch + '/' + DATA_DIR)} 2>/dev/null && ls -1 || true"))
        present = set(out.split())
        data_map: dict[str, str] = {}
        send: dict[str, str] = {}
        for src, h in hashes.items():
            arc = f"{DATA_DIR}/{h}/{Path(src).name}"
            data_map[src] = f"{scratch}/{arc}"
            if h not in present:
                send[src] = arc
        atomic_write_text(batch.dir.root / "data_map.json", json.dumps(data_map, indent=1))
        logger.info("batch %s: %d data file(s), %d to upload", batch.batch_id, len(hashes),
                    len(send))
        return send

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
        prefix = self._query_line(arrays)
        rdir = self.remote_dir(batch)
        since = self._status_since.get(batch.batch_id)
        rc, out, err = self.conn.exec_bytes(
            self._sh(tar_fetch_line(rdir, ["status"], since, prefix)))
        if rc != 0:
            raise BackendError(f"poll of batch {batch.batch_id} failed on {self.host} (exit {rc}):"
                               f" {err.decode('utf-8', 'replace')[-500:]}")
        text, stamp, data = split_prefixed_output(out)
        self._merge_incoming(batch, data)
        if stamp:
            self._status_since[batch.batch_id] = stamp
        records = self._records(text.decode("utf-8", "replace"))
        return self._verdicts(batch, active, records)

    def _query_line(self, arrays: list[str]) -> str:
        """scontrol per array; if Slurm forgot it (MinJobAge), sacct; else the jobcomp file."""
        ids = [str(int(a)) for a in arrays]
        return (
            "echo '@@TJ scontrol'; jc=; for j in " + " ".join(ids) + "; do"
            " scontrol -o show job \"$j\" 2>/dev/null && continue;"
            " sacct -n -X -P -j \"$j\" -o JobID,State,ExitCode,Reason 2>/dev/null"
            " | sed 's/^/SACCT|/' | grep . && continue;"
            " [ -n \"$jc\" ] || jc=$(scontrol show config 2>/dev/null"
            " | sed -n 's/^JobCompLoc *= *//p');"
            " [ -r \"$jc\" ] && grep -E \"(^| )(ArrayJobId|JobId)=$j \" \"$jc\" | sed 's/^/JOBCOMP|/';"
            " done; echo '@@TJ end'"
        )

    @staticmethod
    def _records(text: str) -> dict[str, sc.SlurmRecord]:
        body = sc.split_sections(text).get("scontrol", "").splitlines()
        scontrol = "\n".join(x for x in body if not x.startswith(("SACCT|", "JOBCOMP|")))
        sacct = "\n".join(x[6:] for x in body if x.startswith("SACCT|"))
        jobcomp = "\n".join(x[8:] for x in body if x.startswith("JOBCOMP|"))
        return sc.merge_records(sc.parse_scontrol_jobs(scontrol), sc.parse_sacct(sacct),
                                sc.parse_jobcomp(jobcomp))

    def _verdicts(self, batch: BatchContext, active: list[Any],
                  records: dict[str, sc.SlurmRecord]) -> dict[int, JobVerdict]:
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
                want = sc.SLURM_STATES.get(rec.state, State.QUEUED)
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

    def _merge_incoming(self, batch: BatchContext, data: bytes) -> list[str]:
        """Write the files of a fetched tar, then bring the store up to date with its journals.

        A job's status journal has one writer, the job's worker on the cluster, and only grows:
        the fetched copy replaces the local one whole. Verdicts decided here are in
        ``status/local.jsonl``, which the cluster never has. Identical files are not rewritten.
        """
        root = batch.dir.root
        made: set[Path] = set()
        names = []
        jobs = []
        for name, content in iter_tar_files(data):
            dest = root / name
            if name.startswith("status/"):
                job = journal_job_index(name[len("status/"):])
                if job is None:
                    continue  # the cluster has nothing else to say in status/
                try:
                    if dest.read_bytes() == content:
                        continue
                except FileNotFoundError:
                    pass
                jobs.append(job)
            write_file_atomic(dest, content, made)
            names.append(name)
        if jobs:  # the store learns what the cluster's workers wrote
            sync(batch, jobs=jobs)
        return names

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
        line = " ".join(shlex.quote(a) for a in sc.scancel_argv(ids))
        since = self._status_since.get(batch.batch_id)
        rc, out, err = self.conn.exec_bytes(
            self._sh(tar_fetch_line(self.remote_dir(batch), ["status"], since,
                                    f"{line} 2>&1 1>/dev/null | sed 's/^/SCANCEL|/'")))
        text, stamp, data = split_prefixed_output(out)
        self._merge_incoming(batch, data)
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
        rc, out, err = self.conn.exec_bytes(
            self._sh(tar_fetch_line(self.remote_dir(batch), list(PRODUCED), since)))
        if rc != 0:
            raise BackendError(f"fetch of batch {batch.batch_id} from {self.host} failed (exit"
                               f" {rc}): {err.decode('utf-8', 'replace')[-500:]}")
        _, stamp, data = split_prefixed_output(out)
        names = self._merge_incoming(batch, data)
        if stamp:
            self._fetch_since[batch.batch_id] = stamp
        logger.info("batch %s: fetched %d file(s) (%d bytes) from %s", batch.batch_id,
                    len(names), len(data), self.host)

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
