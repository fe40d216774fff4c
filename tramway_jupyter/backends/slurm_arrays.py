"""Slurm job arrays, as pure functions: plan them, write their files, build their sbatch lines.

Nothing here runs a command; the golden tests (``tests/golden/``) pin the text they produce.

One array element finds its job through ONE file, ``slurm/<name>.jobs``: line ``K + 1`` holds
``JOB_INDEX ATTEMPT`` of element ``K``. The batch script reads the line of
``$SLURM_ARRAY_TASK_ID``, sends its output to the job attempt's log (``logs/job-J-aK.log``) and
runs the worker with the job index as its last argument. The worker itself never looks at
Slurm's environment, so a container started with ``--cleanenv`` runs it the same way.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from ..exceptions import SubmitError
from ..jobs.plan_model import Job, Plan
from .profiles import Profile

_JOB_ID = re.compile(r"\d+(_\d+)?")


@dataclass(frozen=True)
class ArraySubmission:
    """One ``sbatch --array`` of a stage (or of a slice of it, or of a retry)."""

    name: str  # file stem under slurm/ (e.g. "001-infer-0")
    job_name: str  # Slurm job name
    job_indices: tuple[int, ...]  # plan job index of array element k
    attempts: tuple[int, ...]  # attempt of each job
    remote_dir: str  # the remote batch directory
    worker_command: str  # shell line running the worker; the script appends the job index
    partition: str | None = None
    account: str | None = None
    walltime: str | None = None
    cpus_per_task: int | None = None
    mem: str | None = None
    max_running: int | None = None
    mail_type: str | None = None  # sbatch --mail-type (checked by the profile)
    mail_user: str | None = None
    extra_options: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()  # Slurm ids already queued (array ids or "A_k")
    after: tuple[str, ...] = ()  # names of arrays submitted before it on the same line

    @property
    def script_path(self) -> str:
        return f"slurm/{self.name}.sh"

    @property
    def jobs_path(self) -> str:
        return f"slurm/{self.name}.jobs"


def _safe(s: str, n: int = 40) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s)[:n] or "x"


def plan_arrays(
    plan: Plan,
    job_indices: Iterable[int],
    profile: Profile,
    *,
    remote_dir: str,
    worker_command: str,
    first_seq: int = 0,
    live_ids: Mapping[int, str] | None = None,
) -> list[ArraySubmission]:
    """Group jobs into arrays: one per stage, in stage order, split beyond ``max_array_size``.

    ``first_seq`` numbers the arrays after those of earlier submissions of the batch;
    ``live_ids`` gives the Slurm id of each job still queued or running from an earlier
    submission (an upstream job of this one is waited for by its id; one that already ended
    is not waited for). An upstream job in this submission is waited for by its array's name.
    """
    live = live_ids or {}
    wanted = set(job_indices)
    jobs = [j for j in plan.jobs if j.job_index in wanted]
    if len(jobs) != len(wanted):
        missing = sorted(wanted - {j.job_index for j in jobs})
        raise SubmitError(f"batch {plan.batch_id}: jobs {missing} are not in plan.json")
    stage_order = {s.name: i for i, s in enumerate(plan.stages)}
    by_stage: dict[str, list[Job]] = {}
    for j in sorted(jobs, key=lambda j: (stage_order.get(j.stage, 0), j.job_index)):
        by_stage.setdefault(j.stage, []).append(j)
    size = max(1, int(profile.max_array_size))
    seq = first_seq
    array_of_job: dict[int, str] = {}
    subs: list[ArraySubmission] = []
    for stage, sjobs in by_stage.items():
        for c in range(0, len(sjobs), size):
            chunk = sjobs[c : c + size]
            name = f"{seq:03d}-{_safe(stage)}-{c // size}"
            seq += 1
            after: list[str] = []
            known: list[str] = []
            for j in chunk:
                for d in j.depends_on:
                    if d in array_of_job:
                        if array_of_job[d] not in after:
                            after.append(array_of_job[d])
                    elif d in live and live[d] not in known:
                        known.append(live[d])
            subs.append(ArraySubmission(
                name=name,
                job_name=_safe(f"tj-{plan.batch_id}-{stage}", 80),
                job_indices=tuple(j.job_index for j in chunk),
                attempts=tuple(j.attempt for j in chunk),
                remote_dir=remote_dir,
                worker_command=worker_command,
                partition=profile.partition,
                account=profile.account,
                walltime=profile.walltime,
                cpus_per_task=profile.cpus_per_task,
                mem=profile.mem,
                max_running=profile.max_running,
                mail_type=profile.mail_type,
                mail_user=profile.mail_user,
                extra_options=tuple(profile.sbatch_options),
                depends_on=tuple(known),
                after=tuple(after),
            ))
            for j in chunk:
                array_of_job[j.job_index] = name
    return subs


def array_spec(n: int, max_running: int | None = None) -> str:
    """``0-(n-1)`` with the ``%N`` throttle."""
    if n < 1:
        raise ValueError("an array needs at least one element")
    spec = "0" if n == 1 else f"0-{n - 1}"
    if max_running:
        spec += f"%{int(max_running)}"
    return spec


def sbatch_argv(sub: ArraySubmission) -> list[str]:
    """The ``sbatch`` command line of a submission (every option here, none in the script).

    Dependencies on Slurm ids already known are here; those on arrays of the same submit line
    are added by :func:`submit_line`.
    """
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
    if sub.mail_type:
        argv.append(f"--mail-type={sub.mail_type}")
    if sub.mail_user:
        argv.append(f"--mail-user={sub.mail_user}")
    if sub.depends_on:
        argv.append("--dependency=afterany:" + ":".join(check_ids(sub.depends_on)))
    argv.extend(sub.extra_options)
    argv.append(sub.script_path)
    return argv


def sbatch_script(sub: ArraySubmission) -> str:
    """The batch script: read this element's job, log to ``logs/job-J-aK.log``, run the worker."""
    jobs = shlex.quote(sub.jobs_path)
    return (
        "#!/bin/bash\n"
        f"# tramway-jupyter: {sub.job_name}, {len(sub.job_indices)} job(s); options on the sbatch line\n"
        f"# {sub.jobs_path} holds one 'JOB_INDEX ATTEMPT' line per array element.\n"
        f"cd {shlex.quote(sub.remote_dir)} || exit 97\n"
        f"read -r TJ_JOB TJ_ATTEMPT < <(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" {jobs})\n"
        '[ -n "$TJ_JOB" ] || { echo "no job for array element $SLURM_ARRAY_TASK_ID"; exit 98; }\n'
        'exec >>"logs/job-${TJ_JOB}-a${TJ_ATTEMPT}.log" 2>&1\n'
        'echo "tramway-jupyter: job ${TJ_JOB} attempt ${TJ_ATTEMPT} = Slurm'
        ' ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} on $(hostname) at $(date -Is)"\n'
        f'{sub.worker_command} "$TJ_JOB"\n'
    )


def jobs_file(sub: ArraySubmission) -> str:
    """``slurm/<name>.jobs``: line ``K + 1`` is ``JOB_INDEX ATTEMPT`` of array element ``K``."""
    return "".join(f"{j} {a}\n" for j, a in zip(sub.job_indices, sub.attempts, strict=True))


def submit_line(subs: Sequence[ArraySubmission]) -> str:
    """One shell line submitting every array in order, each after the arrays it waits for.

    The ids of the arrays of the same line (``sub.after``, by name) are only known remotely, in
    shell variables. Prints ``NAME ID`` per array; stops at the first refusal (``&&``).
    """
    parts = []
    order = [s.name for s in subs]
    for i, sub in enumerate(subs):
        argv = sbatch_argv(replace(sub, depends_on=()))
        words = [shlex.quote(a) for a in argv]
        after = list(check_ids(sub.depends_on))
        after += [f"${{J{order.index(n)}}}" for n in sub.after]
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


def check_ids(ids: Iterable[str]) -> list[str]:
    """Slurm job ids (``A`` or ``A_k``), refused unless digits and one underscore."""
    out = [str(i) for i in ids]
    for i in out:
        if not _JOB_ID.fullmatch(i):
            raise ValueError(f"not a Slurm job id: {i!r}")
    return out


def scancel_argv(ids: Sequence[str]) -> list[str]:
    """``scancel`` of array ids or ``A_k`` elements (validated)."""
    return ["scancel", *check_ids(ids)]
