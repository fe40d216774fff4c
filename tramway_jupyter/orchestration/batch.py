"""``Batch``: the handle on one submitted batch, from any process, at any time after submission.

Everything it knows comes from the store and the batch directory, so a new kernel (or the
Jupyter server, or the CLI) re-attaches to a batch by id alone.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from ..backends.context import BatchContext
from ..backends.profiles import default_workers
from ..exceptions import BackendUnavailableError, TramwayJupyterError
from ..jobs.batchdir import BatchDir
from ..jobs.rerun import RerunReport
from ..jobs.results import Results, TaskResult
from ..jobs.states import ACTIVE_STATES, FINAL_VALUES, RETRYABLE_STATES, State, batch_state
from ..jobs.store import BatchRow, JobRow, Store, TaskRow, job_rows
from ..jobs.sync import sync

POLL_START = 0.02  # doubling: the end of a short (warm) batch is seen within tens of ms
POLL_MAX_LOCAL = 1.0


class Batch:
    def __init__(self, batch_id: str, store: Store | None = None, *,
                 backend: Any = None) -> None:
        """Attach to a batch by id; ``backend``: the one that submitted it (else made from the
        batch's profile on first use)."""
        self.store = store or Store()
        row = self.store.get_batch(batch_id)
        self.batch_id = row.batch_id
        self.dir = BatchDir(row.batch_dir)
        self._backend: Any = backend
        self._ctx: BatchContext | None = None
        self._poll_failures = 0
        # the progress widget refreshes from a thread while the user may call wait()
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        c = self.counts()
        counts = ", ".join(f"{n} {s}" for s, n in sorted(c.items()))
        return f"<Batch {self.batch_id} [{batch_state(c).value}] {counts}>"

    def _repr_html_(self) -> str:
        info = self.info()
        counts = ", ".join(f"{n} {s}" for s, n in sorted(info.counts.items()))
        return (f"<b>Batch {html.escape(self.batch_id)}</b> ({html.escape(info.profile)}, "
                f"{info.n_tasks} tasks): <b>{info.state.value}</b> — {counts}")

    # -- plumbing -------------------------------------------------------------------------
    @property
    def profile(self) -> Any:
        from ..backends.profiles import Profile

        meta = self.info().meta
        return Profile.from_record(meta.get("profile") or {"name": "local", "backend": "local"})

    @property
    def backend(self) -> Any:
        if self._backend is None:
            from ..backends.base import get_backend

            profile = self.profile
            self._backend = get_backend(profile.backend)(profile)
        return self._backend

    @property
    def ctx(self) -> BatchContext:
        if self._ctx is None:
            self._ctx = BatchContext(self.batch_id, self.dir, self.store, self.profile)
        return self._ctx

    # -- views ----------------------------------------------------------------------------
    def info(self) -> BatchRow:
        return self.store.get_batch(self.batch_id)

    def counts(self) -> dict[str, int]:
        return self.info().counts

    @property
    def state(self) -> State:
        return batch_state(self.counts())

    def is_active(self) -> bool:
        return any(self.counts().get(s.value, 0) for s in ACTIVE_STATES)

    def resume_note(self) -> str | None:
        """Which tasks were not run again because an earlier batch did them (None if none)."""
        origins = self.store.cached_origins(self.batch_id)
        if not origins:
            return None
        n = sum(origins.values())
        where = ", ".join(f"{k} ({v})" if len(origins) > 1 else k for k, v in origins.items())
        return (f"{n} of {self.info().n_tasks} task(s) already done (same template, parameters "
                f"and input files) were reused from batch {where}; --force runs them again")

    def jobs(self) -> list[JobRow]:
        return self.store.jobs(self.batch_id)

    def tasks(self, states: list[str] | None = None) -> list[TaskRow]:
        return self.store.tasks(self.batch_id, states=states)

    def task_status(self, task_id: str) -> dict[str, Any]:
        """The full status of a task (error with traceback and cell source, host, paths...)."""
        row = self.store.task(self.batch_id, task_id)
        st = self.dir.read_status(task_id, row.job_index)
        fields = msgspec.to_builtins(st) if st is not None else {}
        requeued = (self.info().meta.get("requeue_notes") or {}).get(task_id, [])
        return {**row.to_dict(), **{k: v for k, v in fields.items() if v is not None},
                "state": row.state, "requeued": requeued}

    def task_log(self, task_id: str) -> str:
        """The log of the job attempt that ran this task (worker log and process output)."""
        row = self.store.task(self.batch_id, task_id)
        logs = self.dir.root / "logs"
        parts = []
        own = self.dir.task_log_path(task_id)
        for path in [own] * own.is_file() + sorted(
                logs.glob(f"job-{row.job_index}-a{row.attempt}.*")):
            parts.append(f"==> {path.name} <==\n{path.read_text(errors='replace')}")
        return "\n".join(parts) if parts else f"(no log yet for job {row.job_index})"

    def notebook_path(self, task_id: str) -> Path:
        return self.dir.notebook_path(task_id)

    # -- actions --------------------------------------------------------------------------
    def refresh(self) -> dict[str, int]:
        """Poll the backend once and bring the store up to date; return the counts."""
        with self._lock:
            return self._refresh()

    def _refresh(self) -> dict[str, int]:
        try:
            verdicts = self.backend.poll(self.ctx)
            self._poll_failures = 0
        except TramwayJupyterError:
            self._poll_failures += 1
            if self._poll_failures >= 5:
                raise BackendUnavailableError(
                    f"batch {self.batch_id}: {self._poll_failures} polls in a row failed"
                ) from None
            verdicts = {}
        take = getattr(self.backend, "take_requeue_candidates", None)
        requeue = take(self.batch_id) if take is not None and verdicts else {}
        chosen = self._plan_requeue(requeue, verdicts) if requeue else {}
        sync(self.ctx, verdicts)
        if chosen:
            rows = [r for r in self.store.tasks(self.batch_id, states=[State.LOST.value])
                    if r.task_id in chosen]
            if rows:
                self._resubmit(rows, None, notes={r.task_id: chosen[r.task_id] for r in rows})
        return self.counts()

    def _plan_requeue(self, requeue: dict[int, str],
                      verdicts: dict[int, tuple[State, str]]) -> dict[str, str]:
        """Tasks of jobs lost to the cluster (PREEMPTED, NODE_FAIL) to submit again, with a note
        each ("requeued after NODE_FAIL (1/1)"), up to the profile's ``max_requeue`` per task.
        The verdicts' reasons say what was decided; the counts are kept in the batch's meta."""
        from ..backends.slurm_query import requeue_decision

        max_requeue = int(getattr(self.profile, "max_requeue", 1))
        meta = self.info().meta
        counts: dict[str, int] = dict(meta.get("requeues") or {})
        plan = self.ctx.plan
        chosen: dict[str, str] = {}
        for job_index, slurm_state in requeue.items():
            try:
                job = plan.job(job_index)
            except KeyError:
                continue
            notes = {t: requeue_decision(slurm_state, counts.get(t, 0), max_requeue)
                     for t in job.task_ids}
            state, reason = verdicts[job_index]
            if any(notes.values()):
                note = next(n for n in notes.values() if n)
                verdicts[job_index] = (state, f"{reason}; {note}")
            else:
                verdicts[job_index] = (state, f"{reason}; not requeued again (max_requeue = "
                                              f"{max_requeue}): `retry` runs it again")
            for t, n in notes.items():
                if n:
                    chosen[t] = f"{n}: {reason}"
        if chosen:
            for t in chosen:
                counts[t] = counts.get(t, 0) + 1
            log = dict(meta.get("requeue_notes") or {})
            for t, n in chosen.items():
                log[t] = [*log.get(t, []), n]
            self.store.update_batch_meta(self.batch_id, requeues=counts, requeue_notes=log)
        return chosen

    def wait(self, timeout: float | None = None, *, progress: Any = None) -> Batch:
        """Poll until no task is pending, queued or running (or ``timeout`` seconds)."""
        delay = POLL_START
        end = None if timeout is None else time.monotonic() + timeout
        cap = POLL_MAX_LOCAL if getattr(self.backend, "local", True) else self.profile.poll_interval_max
        while True:
            counts = self.refresh()
            if progress is not None:
                progress(counts)
            if not any(counts.get(s.value, 0) for s in ACTIVE_STATES):
                return self
            if end is not None and time.monotonic() >= end:
                raise TimeoutError(f"batch {self.batch_id} still active after {timeout} s: {counts}")
            time.sleep(delay)
            delay = min(cap, delay * 2)

    def as_completed(self, timeout: float | None = None) -> Iterator[TaskResult]:
        """Yield each task's result as soon as it is final (done, failed, lost or cancelled),
        in the order they end, like ``concurrent.futures.as_completed``: tasks already ended
        first, then the others as they end, until none is pending, queued or running.

        Each is a :class:`~tramway_jupyter.jobs.results.TaskResult` (``r.get("maps")`` loads a
        record). On a cluster, the files of the tasks that ended are fetched as they end (one
        incremental tar stream per poll that saw some end). ``timeout``: seconds, then
        ``TimeoutError``. Each task is yielded once (a retry that ends it again is not).
        """
        results = Results(self.batch_id, self.dir, self.store)
        end = None if timeout is None else time.monotonic() + timeout
        local = getattr(self.backend, "local", True)
        cap = POLL_MAX_LOCAL if local else self.profile.poll_interval_max
        seen: set[str] = set()
        after = 0
        delay = POLL_START
        while True:
            counts = self.refresh()
            ended, after = self.store.ended_since(self.batch_id, after)
            new = [t for t in dict.fromkeys(ended) if t not in seen]
            if new:
                if not local:
                    self.backend.fetch(self.ctx)
                rows = self.store.tasks_by_id(self.batch_id, new)
                for tid in new:
                    row = rows.get(tid)
                    if row is not None and row.state in FINAL_VALUES:
                        seen.add(tid)
                        yield results.result(row)
                delay = POLL_START
            if not any(counts.get(s.value, 0) for s in ACTIVE_STATES):
                ended, after = self.store.ended_since(self.batch_id, after)
                if not [t for t in ended if t not in seen]:
                    return
                continue
            if end is not None and time.monotonic() >= end:
                raise TimeoutError(f"batch {self.batch_id} still active after {timeout} s: "
                                   f"{counts}")
            time.sleep(delay if end is None else max(0.0, min(delay, end - time.monotonic())))
            delay = min(cap, delay * 2)

    def cancel(self, job_indices: list[int] | None = None) -> None:
        """Stop the batch (or some of its jobs); unfinished tasks end ``cancelled``."""
        with self._lock:
            self.backend.cancel(self.ctx, job_indices)

    def retry(self, *, tasks_per_job: int | None = None) -> int:
        """Run again the tasks that failed, were lost or cancelled; return how many."""
        with self._lock:
            return self._retry(tasks_per_job)

    def _retry(self, tasks_per_job: int | None) -> int:
        self._refresh()
        rows = self.store.tasks(self.batch_id, states=list(RETRYABLE_STATES))
        if not rows:
            return 0
        return self._resubmit(rows, tasks_per_job)

    def _resubmit(self, rows: list[TaskRow], tasks_per_job: int | None,
                  notes: dict[str, str] | None = None) -> int:
        """Submit these tasks again as new jobs (next attempt); ``notes`` become their error
        line while they wait (e.g. why they were requeued)."""
        from ..jobs.plan import group_jobs

        notes = notes or {}
        plan = self.ctx.reload_plan()
        meta = self.info().meta
        attempt = max(r.attempt for r in rows) + 1
        new_plan = group_jobs(plan, [r.task_id for r in rows],
                              tasks_per_job=tasks_per_job or meta.get("tasks_per_job"),
                              workers=default_workers(meta.get("workers")),
                              backend=self.profile.backend, attempt=attempt)
        new_jobs = new_plan.jobs[len(plan.jobs):]
        self.dir.write_plan(new_plan)
        self.ctx.reload_plan()
        self.store.add_jobs(self.batch_id, job_rows(new_jobs))
        job_of = {t: j.job_index for j in new_jobs for t in j.task_ids}
        self.store.update_tasks(self.batch_id, [{
            "task_id": r.task_id, "state": State.PENDING, "attempt": attempt,
            "job_index": job_of[r.task_id], "started": None, "finished": None, "duration": None,
            "error": notes.get(r.task_id)} for r in rows])
        self.backend.submit(self.ctx, [j.job_index for j in new_jobs])
        return len(rows)

    def results(self, *, refresh: bool = True) -> Results:
        """Gather: one row per task, the recorded objects, the output notebooks (read lazily).

        On a running batch: the results so far (``results.partial``), the tasks still pending,
        queued or running shown as such."""
        if refresh:
            if self.is_active():  # a finished batch's store already agrees with its status files
                self.refresh()
            self.backend.fetch(self.ctx)
        return Results(self.batch_id, self.dir, self.store)

    def rerun(self, task_id: str, *, keep: bool = False) -> RerunReport:
        """Re-run one task here from its provenance record; compare its records (see
        :func:`~tramway_jupyter.jobs.rerun.rerun_task`)."""
        from ..jobs.rerun import rerun_task

        self.backend.fetch(self.ctx)  # the task's record and results, from the cluster
        return rerun_task(self.dir.root, task_id, keep=keep)

    def delete(self, *, purge: bool = False) -> None:
        """Cancel what still runs, clean remote copies, hide the batch from listings."""
        if self.is_active():
            self.cancel()
        self.backend.cleanup(self.ctx)
        self.store.delete_batch(self.batch_id, purge=purge)
