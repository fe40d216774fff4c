"""Pure builders and parsers for Slurm: the sbatch script and argv, and the state queries.

Nothing here runs a command; everything is tested with golden files (``tests/golden/``).
Facts from the test cluster (Slurm 22.05, see ``notes/slurm-ssh-testbed.md``):

* ``scontrol -o show job ID`` lists every task of an array, running or finished, for MinJobAge
  (300 s) even without accounting; values may contain spaces, so split only before ``Key=``.
* ``sacct`` only works with accounting (slurmdbd); ``-P`` avoids truncated states.
* jobcomp/filetxt lines are ``Key=Value`` records written when a job ends.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from ..jobs.states import State

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
    s for s, v in SLURM_STATES.items() if v in (State.DONE, State.FAILED, State.CANCELLED, State.LOST)
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
# submission
@dataclass(frozen=True)
class ArraySubmission:
    """One ``sbatch --array`` of a stage (or of a slice of it, or of a retry)."""

    name: str  # file stem under slurm/ (e.g. "s1-per_roi-a2-0")
    job_name: str  # Slurm job name
    job_indices: tuple[int, ...]  # plan job index of array element k
    attempts: tuple[int, ...]  # attempt of each job
    remote_dir: str  # the remote batch directory
    worker_command: str  # shell line launching the worker on "@slurm/<name>.json"
    partition: str | None = None
    account: str | None = None
    walltime: str | None = None
    cpus_per_task: int | None = None
    mem: str | None = None
    max_running: int | None = None
    extra_options: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = field(default=())  # Slurm ids (array ids or "A_k")

    @property
    def script_path(self) -> str:
        return f"slurm/{self.name}.sh"

    @property
    def index_path(self) -> str:
        return f"slurm/{self.name}.json"

    @property
    def map_path(self) -> str:
        return f"slurm/{self.name}.map"


def array_spec(n: int, max_running: int | None = None) -> str:
    """``0-(n-1)`` with the ``%N`` throttle."""
    if n < 1:
        raise ValueError("an array needs at least one element")
    spec = "0" if n == 1 else f"0-{n - 1}"
    if max_running:
        spec += f"%{int(max_running)}"
    return spec


def sbatch_argv(sub: ArraySubmission) -> list[str]:
    """The ``sbatch`` command line of a submission (every option here, none in the script)."""
    argv = [
        "sbatch",
        "--parsable",
        f"--job-name={sub.job_name}",
        f"--array={array_spec(len(sub.job_indices), sub.max_running)}",
        f"--chdir={sub.remote_dir}",
        f"--output={sub.remote_dir}/logs/slurm-%A_%a.out",
        f"--error={sub.remote_dir}/logs/slurm-%A_%a.out",
    ]
    if sub.partition:
        argv.append(f"--partition={sub.partition}")
    if sub.account:
        argv.append(f"--account={sub.account}")
    if sub.walltime:
        argv.append(f"--time={sub.walltime}")
    if sub.cpus_per_task:
        argv.append(f"--cpus-per-task={int(sub.cpus_per_task)}")
    if sub.mem:
        argv.append(f"--mem={sub.mem}")
    if sub.depends_on:
        argv.append("--dependency=afterany:" + ":".join(sub.depends_on))
    argv.extend(sub.extra_options)
    argv.append(sub.script_path)
    return argv


def sbatch_script(sub: ArraySubmission) -> str:
    """The batch script: find this element's job, log to ``logs/job-J-aK.log``, run the worker."""
    return (
        "#!/bin/bash\n"
        f"# tramway-jupyter: {sub.job_name}, {len(sub.job_indices)} job(s); options on the sbatch line\n"
        "# slurm/NAME.map holds one 'JOB_INDEX ATTEMPT' line per array element.\n"
        f"cd {shlex.quote(sub.remote_dir)} || exit 97\n"
        f"read -r TJ_JOB TJ_ATTEMPT < <(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" {shlex.quote(sub.map_path)})\n"
        "export TJ_JOB TJ_ATTEMPT\n"
        'exec >>"logs/job-${TJ_JOB}-a${TJ_ATTEMPT}.log" 2>&1\n'
        'echo "tramway-jupyter: job ${TJ_JOB} attempt ${TJ_ATTEMPT} = Slurm'
        ' ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} on $(hostname) at $(date -Is)"\n'
        f"{sub.worker_command}\n"
    )


def index_file(sub: ArraySubmission) -> str:
    """The JSON list the worker indexes with ``$SLURM_ARRAY_TASK_ID`` (``@slurm/NAME.json``)."""
    return "[" + ",".join(str(j) for j in sub.job_indices) + "]\n"


def map_file(sub: ArraySubmission) -> str:
    return "".join(f"{j} {a}\n" for j, a in zip(sub.job_indices, sub.attempts, strict=True))


def submit_line(subs: Sequence[ArraySubmission], deps: dict[str, tuple[str, ...]]) -> str:
    """One shell line submitting every array in order; dependencies on arrays of the same line.

    ``deps`` maps a submission name to the names (in ``subs``, earlier) it must wait for; their ids
    are only known remotely, in shell variables. Prints ``NAME ID`` per array; stops at the first
    refusal (``set -e`` semantics by ``&&``).
    """
    parts = []
    order = [s.name for s in subs]
    for i, sub in enumerate(subs):
        argv = sbatch_argv(replace(sub, depends_on=()))
        words = [shlex.quote(a) for a in argv]
        after = [str(d) for d in sub.depends_on]
        for d in after:
            if not re.fullmatch(r"\d+(_\d+)?", d):
                raise ValueError(f"not a Slurm job id: {d!r}")
        after += [f"${{J{order.index(n)}}}" for n in deps.get(sub.name, ())]
        if after:
            words.insert(-1, '"--dependency=afterany:' + ":".join(after) + '"')
        parts.append(f"J{i}=$({' '.join(words)}) && J{i}=${{J{i}%%;*}}"
                     f" && echo {shlex.quote(sub.name)} \"$J{i}\"")
    return " && ".join(parts)


_SUBMITTED = re.compile(r"^(\S+)\s+(\d+)\s*$")


def parse_submit_output(out: str) -> dict[str, str]:
    """``NAME ID`` lines printed by :func:`submit_line` -> {name: array job id}."""
    res = {}
    for line in out.splitlines():
        m = _SUBMITTED.match(line.strip())
        if m:
            res[m.group(1)] = m.group(2)
    return res


def parse_sbatch_parsable(out: str) -> str:
    """``sbatch --parsable`` prints ``ID`` or ``ID;cluster``."""
    line = out.strip().splitlines()[-1] if out.strip() else ""
    jid = line.split(";")[0].strip()
    if not jid.isdigit():
        raise ValueError(f"unexpected sbatch output: {out.strip()[:200]!r}")
    return jid


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


def parse_squeue(text: str) -> list[SlurmRecord]:
    """``squeue -h -r -t all -o '%i|%T|%r'`` -> records (no exit codes in squeue)."""
    recs = []
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 2 or not parts[0]:
            continue
        jid, state = parts[0], parts[1]
        reason = parts[2] if len(parts) > 2 else ""
        array, _, task = jid.partition("_")
        if task and not task.isdigit():
            for k in expand_indices(task):
                recs.append(SlurmRecord(array, str(k), state, "", reason, "squeue"))
        else:
            recs.append(SlurmRecord(array, task or None, state, "", reason, "squeue"))
    return recs


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


def query_line(array_ids: Sequence[str], *, sacct: bool = True) -> str:
    """One shell line printing every record of these arrays: scontrol, then sacct if available.

    Sections are separated by ``@@TJ <name>`` lines (see :func:`split_sections`).
    """
    ids = [str(int(a)) for a in array_ids]  # ids are numeric: never interpolate anything else
    lines = ["echo '@@TJ scontrol'"]
    if ids:
        lines.append(f"for j in {' '.join(ids)}; do scontrol -o show job \"$j\" 2>/dev/null; done")
    if sacct and ids:
        lines.append("echo '@@TJ sacct'")
        lines.append(f"sacct -n -X -P -j {','.join(ids)} -o JobID,State,ExitCode,Reason 2>/dev/null")
    lines.append("echo '@@TJ end'")
    return "; ".join(lines)


def split_sections(text: str) -> dict[str, str]:
    """Output of :func:`query_line` -> {"scontrol": ..., "sacct": ...}."""
    out: dict[str, list[str]] = {}
    cur: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("@@TJ "):
            cur = out.setdefault(line[5:].strip(), [])
            continue
        if cur is not None:
            cur.append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def scancel_argv(ids: Sequence[str]) -> list[str]:
    """``scancel`` of array ids or ``A_k`` elements (validated: digits and one underscore)."""
    for i in ids:
        if not re.fullmatch(r"\d+(_\d+)?", str(i)):
            raise ValueError(f"not a Slurm job id: {i!r}")
    return ["scancel", *[str(i) for i in ids]]
