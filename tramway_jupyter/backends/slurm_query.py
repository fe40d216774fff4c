"""What Slurm says of a batch's arrays: the poll query, its parsers, and Slurm's states in ours.

Nothing here runs a command; the golden tests (``tests/golden/``) pin the query line and parse
real outputs of the test cluster (Slurm 22.05):

* ``scontrol -o show job ID`` lists every task of an array, running or finished, for MinJobAge
  (300 s) even without accounting; values may contain spaces, so split only before ``Key=``.
* ``sacct`` only works with accounting (slurmdbd); ``-P`` avoids truncated states.
* jobcomp/filetxt lines are ``Key=Value`` records written when a job ends.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..jobs.states import FINAL_STATES, State
from .tarstream import tar_fetch_line

#: Slurm job states -> our states (final ones say how a job ended without writing a status).
SLURM_STATES: dict[str, State] = {
    "PENDING": State.QUEUED,
    "CONFIGURING": State.QUEUED,
    "REQUEUED": State.QUEUED,
    "REQUEUE_FED": State.QUEUED,
    "REQUEUE_HOLD": State.QUEUED,
    "RESV_DEL_HOLD": State.QUEUED,
    "SUSPENDED": State.RUNNING,
    "STOPPED": State.RUNNING,
    "RUNNING": State.RUNNING,
    "COMPLETING": State.RUNNING,
    "SIGNALING": State.RUNNING,
    "STAGE_OUT": State.RUNNING,
    "RESIZING": State.RUNNING,
    "COMPLETED": State.DONE,
    "FAILED": State.FAILED,
    "TIMEOUT": State.FAILED,
    "OUT_OF_MEMORY": State.FAILED,
    "DEADLINE": State.FAILED,
    "CANCELLED": State.CANCELLED,
    "NODE_FAIL": State.LOST,
    "BOOT_FAIL": State.LOST,
    "PREEMPTED": State.LOST,
    "REVOKED": State.LOST,
    "SPECIAL_EXIT": State.FAILED,
}

FINAL_SLURM_STATES = frozenset(
    s for s, v in SLURM_STATES.items() if v in FINAL_STATES
)

#: End states where the job is not at fault (its node failed, it was preempted): its tasks are
#: submitted again, up to the profile's ``max_requeue`` times (see :func:`requeue_decision`).
REQUEUE_STATES = frozenset({"PREEMPTED", "NODE_FAIL", "BOOT_FAIL"})

_WHY = {
    "TIMEOUT": "over its walltime (Slurm TIMEOUT); not retried automatically: raise the "
               "profile's walltime, then retry",
    "OUT_OF_MEMORY": "out of memory (Slurm OUT_OF_MEMORY); not retried automatically: raise the "
                     "profile's mem, then retry",
    "NODE_FAIL": "its node failed (Slurm NODE_FAIL)",
    "BOOT_FAIL": "its node failed to boot (Slurm BOOT_FAIL)",
    "PREEMPTED": "preempted by Slurm",
    "DEADLINE": "past its deadline (Slurm DEADLINE)",
    "CANCELLED": "cancelled (scancel)",
}


# ---------------------------------------------------------------------------------------------
# state queries
_KEY_SPLIT = re.compile(r"\s+(?=[A-Za-z][A-Za-z0-9_/:]*=)")


def parse_scontrol_line(line: str) -> dict[str, str]:
    """One ``scontrol -o show job`` record -> {key: value} (values may contain spaces)."""
    d: dict[str, str] = {}
    for tok in _KEY_SPLIT.split(line.strip()):
        k, _, v = tok.partition("=")
        d.setdefault(k, v)
    return d


@dataclass(frozen=True)
class SlurmRecord:
    """What Slurm says about one array element (or plain job)."""

    array_job_id: str
    task_id: str | None  # array index, None for a plain job
    state: str  # Slurm state word, e.g. "COMPLETED"
    exit_code: str = ""  # "3:0" = exit status 3; "0:9" = killed by signal 9
    reason: str = ""
    source: str = "scontrol"

    @property
    def key(self) -> str:
        return self.array_job_id if self.task_id is None else f"{self.array_job_id}_{self.task_id}"

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_SLURM_STATES

    @property
    def requeueable(self) -> bool:
        """Whether the job ended for a reason of the cluster's, not its own (requeue it)."""
        return self.state in REQUEUE_STATES

    def verdict(self) -> tuple[State, str]:
        """Our state for a job that ended in this Slurm state, and a plain-words reason."""
        state = SLURM_STATES.get(self.state, State.LOST)
        code, _, sig = self.exit_code.partition(":")
        exit_words = ""
        if sig and sig != "0":
            exit_words = f", killed by signal {sig}"
        elif code and code != "0":
            exit_words = f", exit code {code}"
        if self.state == "COMPLETED":
            return State.LOST, (f"Slurm job {self.key} COMPLETED but the worker did not write a"
                                " final status (killed or crashed?)")
        why = _WHY.get(self.state, f"ended {self.state}")
        reason = f"Slurm job {self.key} {why}{exit_words}"
        if self.reason and self.reason not in ("None", "(null)"):
            reason += f" [{self.reason}]"
        return state, reason


def requeue_decision(slurm_state: str, n_requeued: int, max_requeue: int) -> str | None:
    """The note of an automatic resubmission of a task whose job ended in ``slurm_state``.

    ``None``: not resubmitted (the job's own fault, like TIMEOUT or OUT_OF_MEMORY, or already
    resubmitted ``max_requeue`` times).
    """
    if slurm_state not in REQUEUE_STATES or n_requeued >= max_requeue:
        return None
    return f"requeued after {slurm_state} ({n_requeued + 1}/{max_requeue})"


def parse_scontrol_jobs(text: str) -> list[SlurmRecord]:
    """All records of ``scontrol -o show job`` output (one line per job/array element)."""
    recs = []
    for line in text.splitlines():
        if "JobId=" not in line:
            continue
        d = parse_scontrol_line(line)
        state = d.get("JobState", "").split()[0] if d.get("JobState") else ""
        array = d.get("ArrayJobId")
        task = d.get("ArrayTaskId")
        if array and task is not None and task.isdigit():
            recs.append(SlurmRecord(array, task, state, d.get("ExitCode", ""), d.get("Reason", "")))
        elif array and task:
            # pending elements not yet split off: "ArrayTaskId=4-9%2" or "1,3,5-7"
            for k in expand_indices(task):
                recs.append(SlurmRecord(array, str(k), state, d.get("ExitCode", ""),
                                        d.get("Reason", "")))
        else:
            recs.append(SlurmRecord(d.get("JobId", ""), None, state, d.get("ExitCode", ""),
                                    d.get("Reason", "")))
    return recs


def expand_indices(spec: str) -> list[int]:
    """``"0-3,7,9-10%2"`` -> ``[0, 1, 2, 3, 7, 9, 10]``."""
    spec = spec.split("%")[0].strip("[]")
    out: list[int] = []
    for part in spec.split(","):
        if not part:
            continue
        if "-" in part:
            a, _, b = part.partition("-")
            b = b.split(":")[0]
            out.extend(range(int(a), int(b) + 1))
        elif part.isdigit():
            out.append(int(part))
    return out


def parse_sacct(text: str) -> list[SlurmRecord]:
    """``sacct -n -X -P -o JobID,State,ExitCode,Reason`` -> records (``CANCELLED by 0`` -> CANCELLED)."""
    recs = []
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 3 or not parts[0]:
            continue
        jid, state, code = parts[0], parts[1].split()[0] if parts[1] else "", parts[2]
        reason = parts[3] if len(parts) > 3 else ""
        array, _, task = jid.partition("_")
        if task and not task.isdigit():
            for k in expand_indices(task):
                recs.append(SlurmRecord(array, str(k), state, code, reason, "sacct"))
        else:
            recs.append(SlurmRecord(array, task or None, state, code, reason, "sacct"))
    return recs


def parse_jobcomp(text: str, array_ids: Iterable[str] | None = None) -> list[SlurmRecord]:
    """jobcomp/filetxt lines -> records (optionally only those of ``array_ids``)."""
    wanted = set(array_ids) if array_ids is not None else None
    recs = []
    for line in text.splitlines():
        if "JobId=" not in line:
            continue
        d = parse_scontrol_line(line)
        array = d.get("ArrayJobId") or d.get("JobId", "")
        task = d.get("ArrayTaskId")
        if array in ("", "0") or (task in (None, "", "4294967294")):
            array, task = d.get("JobId", ""), None
        if wanted is not None and array not in wanted:
            continue
        recs.append(SlurmRecord(array, task, d.get("JobState", ""), d.get("ExitCode", ""), "",
                                "jobcomp"))
    return recs


def merge_records(*sources: Iterable[SlurmRecord]) -> dict[str, SlurmRecord]:
    """Merge records by ``ARRAY_TASK`` key: earlier sources win, but a final state beats a live one."""
    out: dict[str, SlurmRecord] = {}
    for src in sources:
        for r in src:
            old = out.get(r.key)
            if old is None or (r.is_final and not old.is_final):
                out[r.key] = r
    return out


# ---------------------------------------------------------------------------------------------
# the poll query: one shell line for every array of a batch, and its parser
_BEGIN, _END = "@@TJ scontrol", "@@TJ end"


def query_line(array_ids: Sequence[str]) -> str:
    """The shell line printing what Slurm knows of these arrays, each from the first that knows.

    Per array: ``scontrol -o show job`` (jobs live or ended less than MinJobAge ago); else
    ``sacct`` (with accounting), its lines prefixed ``SACCT|``; else the lines of the jobcomp
    file (``JobCompLoc`` of ``scontrol show config``) prefixed ``JOBCOMP|``. The output sits
    between ``@@TJ scontrol`` and ``@@TJ end`` lines; :func:`parse_query_output` reads it.
    """
    ids = " ".join(shlex.quote(str(int(a))) for a in array_ids)  # numeric ids only
    return (
        f"echo {shlex.quote(_BEGIN)}; jc=; for j in {ids}; do"
        " scontrol -o show job \"$j\" 2>/dev/null && continue;"
        " sacct -n -X -P -j \"$j\" -o JobID,State,ExitCode,Reason 2>/dev/null"
        " | sed 's/^/SACCT|/' | grep . && continue;"
        " [ -n \"$jc\" ] || jc=$(scontrol show config 2>/dev/null"
        " | sed -n 's/^JobCompLoc *= *//p');"
        " [ -r \"$jc\" ] && grep -E \"(^| )(ArrayJobId|JobId)=$j \" \"$jc\" | sed 's/^/JOBCOMP|/';"
        f" done; echo {shlex.quote(_END)}"
    )


def poll_line(remote_dir: str, array_ids: Sequence[str], since: float | None) -> str:
    """The remote line of one poll: :func:`query_line`, then a tar of the status files changed
    since ``since`` (remote epoch; see :func:`.tarstream.tar_fetch_line`)."""
    return tar_fetch_line(remote_dir, ["status"], since, query_line(array_ids))


def parse_query_output(text: str) -> dict[str, SlurmRecord]:
    """The output of :func:`query_line` -> {``ARRAY_TASK``: record}, a final state winning."""
    body: list[str] = []
    inside = False
    for line in text.splitlines():
        if line.startswith("@@TJ "):
            inside = line == _BEGIN
        elif inside:
            body.append(line)
    scontrol = "\n".join(x for x in body if not x.startswith(("SACCT|", "JOBCOMP|")))
    sacct = "\n".join(x[6:] for x in body if x.startswith("SACCT|"))
    jobcomp = "\n".join(x[8:] for x in body if x.startswith("JOBCOMP|"))
    return merge_records(parse_scontrol_jobs(scontrol), parse_sacct(sacct), parse_jobcomp(jobcomp))
