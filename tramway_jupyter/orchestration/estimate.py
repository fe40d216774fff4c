"""What a run would do and cost, before it is submitted: the ``DryRun`` and its arithmetic.

The model: each stage's task time is ``a + b * n``, ``n`` the task's translocation count, fitted
by least squares on the pilot's tasks (a ratio ``t / n`` with one point). The tasks' times are
summed into their jobs, the jobs of a stage are dealt in order to the effective parallelism
(the first free slot takes the next job), and the stages follow one another (a stage starts
when the one before it has ended: an upper bound, as a per-ROI task may start as soon as its
file's task is done). Each job pays a start-up overhead, measured by the pilot or assumed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence

import msgspec

#: Job start-up assumed when the pilot did not measure it (s): a worker process, the setup cell.
ASSUMED_JOB_OVERHEAD = 2.0


class StageEstimate(msgspec.Struct, frozen=True):
    """One stage of a dry run: its tasks, jobs and estimated time."""

    stage: str
    per: str
    tasks: int  # all tasks of the stage
    reused: int  # done in an earlier batch, not run again (resume)
    jobs: int
    depends_on: tuple[str, ...] = ()  # stages whose tasks this one's tasks wait for
    fit_a: float | None = None  # s, the time of a task of no translocation
    fit_b: float | None = None  # s per translocation
    pilot_tasks: int = 0  # tasks of this stage timed by the pilot (or the preview)
    task_seconds: float | None = None  # the sum of the estimated times of the tasks to run
    longest_task: float | None = None  # s
    wall_seconds: float | None = None  # the stage's share of the wall time


class ArrayEstimate(msgspec.Struct, frozen=True):
    """One ``sbatch --array`` the run would submit."""

    name: str
    stage: str
    size: int
    max_running: int | None = None
    after: tuple[str, ...] = ()  # arrays it waits for (afterok)


class DryRun(msgspec.Struct, frozen=True):
    """The plan of a run that was not submitted, and its estimate. Nothing was created."""

    profile: str
    backend: str
    tasks: int
    reused: int
    jobs: int
    stages: tuple[StageEstimate, ...]
    arrays: tuple[ArrayEstimate, ...] = ()
    parallelism: int = 1
    parallelism_source: str = ""  # where the parallelism comes from (workers, max_running...)
    wall_seconds: float | None = None
    core_hours: float | None = None
    job_overhead: float | None = None  # s per job
    start_time: str | None = None  # Slurm: sbatch --test-only's expected start
    start_nodes: str | None = None
    suggested_walltime: str | None = None  # Slurm: --time from the pilot (with a margin)
    suggested_mem: str | None = None  # Slurm: --mem from the pilot's peak RSS x 1.5
    peak_rss: int | None = None  # bytes, the pilot worker's peak resident memory
    assumptions: tuple[str, ...] = ()
    text: str = ""

    def __str__(self) -> str:
        return self.text


# -- fit and extrapolation ----------------------------------------------------------------
def fit_linear(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """``(a, b)`` of ``t = a + b * n`` over ``(n, t)`` points: least squares, else a ratio.

    One point (or points of a single ``n``) gives the ratio ``b = t / n``, ``a = 0`` (``a = t``
    when ``n`` is 0). A negative slope or intercept from noisy points is clamped to 0 with the
    fit of the remaining parameter (a time never decreases with the input, nor is negative).
    """
    if not points:
        raise ValueError("fit_linear needs at least one (n, t) point")
    ns = [float(n) for n, _ in points]
    ts = [max(0.0, float(t)) for _, t in points]
    mean_n = sum(ns) / len(ns)
    mean_t = sum(ts) / len(ts)
    var = sum((n - mean_n) ** 2 for n in ns)
    if len(points) < 2 or var == 0.0:
        return (0.0, mean_t / mean_n) if mean_n > 0 else (mean_t, 0.0)
    b = sum((n - mean_n) * (t - mean_t) for n, t in zip(ns, ts, strict=True)) / var
    a = mean_t - b * mean_n
    if b < 0:  # no growth measured: a constant
        return mean_t, 0.0
    if a < 0:  # through the origin
        sxx = sum(n * n for n in ns)
        return 0.0, sum(n * t for n, t in zip(ns, ts, strict=True)) / sxx
    return a, b


def extrapolate(fit: tuple[float, float], n: float) -> float:
    """The estimated time (s) of a task of ``n`` translocations."""
    a, b = fit
    return max(0.0, a + b * float(n))


def schedule(job_seconds: Sequence[float], parallelism: int) -> float:
    """Wall time of jobs dealt in order to ``parallelism`` slots (the first free takes the next)."""
    if not job_seconds:
        return 0.0
    slots = [0.0] * max(1, int(parallelism))
    for s in job_seconds:
        i = min(range(len(slots)), key=slots.__getitem__)
        slots[i] += s
    return max(slots)


def sample_indices(sizes: Sequence[float], k: int) -> list[int]:
    """``k`` indices spread across ``sizes``: the smallest, the largest, the median, then the
    quantiles in between (by sorted size)."""
    if k <= 0 or not sizes:
        return []
    order = sorted(range(len(sizes)), key=lambda i: (sizes[i], i))
    if k >= len(order):
        return order
    picks: list[int] = []
    for q in [0.0, 1.0, 0.5] + [j / (k - 1) for j in range(1, k - 1)] if k > 1 else [0.0]:
        i = order[round(q * (len(order) - 1))]
        if i not in picks:
            picks.append(i)
        if len(picks) == k:
            break
    for i in order:  # ties: fill up with the next unpicked
        if len(picks) == k:
            break
        if i not in picks:
            picks.append(i)
    return picks


# -- Slurm ------------------------------------------------------------------------------
_TEST_ONLY = re.compile(
    r"Job\s+(?P<job>\d+)\s+to start at\s+(?P<time>\S+)\s+using\s+(?P<cpus>\d+)\s+processors?"
    r"\s+on\s+(?:nodes?\s+)?(?P<nodes>\S+)(?:\s+in partition\s+(?P<partition>\S+))?")


def parse_test_only(output: str) -> dict[str, str] | None:
    """Parse ``sbatch --test-only``: ``{"job", "time", "cpus", "nodes"[, "partition"]}``."""
    m = _TEST_ONLY.search(output)
    if m is None:
        return None
    return {k: v for k, v in m.groupdict().items() if v is not None}


def sbatch_test_only_argv(*, partition: str | None, account: str | None, walltime: str | None,
                   mem: str | None, cpus_per_task: int | None, array_size: int,
                   max_running: int | None = None) -> list[str]:
    """``sbatch --test-only`` with a batch's resources (an array of ``array_size``)."""
    argv = ["sbatch", "--test-only", "--job-name", "tj-dry-run"]
    if array_size > 1:
        argv.append(f"--array=0-{array_size - 1}" + (f"%{max_running}" if max_running else ""))
    for opt, value in (("--partition", partition), ("--account", account),
                       ("--time", walltime), ("--mem", mem)):
        if value:
            argv += [opt, str(value)]
    if cpus_per_task:
        argv += ["--cpus-per-task", str(cpus_per_task)]
    argv += ["--wrap", "true"]
    return argv


def suggest_walltime(longest_task: float, *, margin: float = 2.0) -> str:
    """``--time``: ``margin`` x the longest task, rounded up to a minute, as ``H:MM:SS``."""
    minutes = max(1, math.ceil(margin * max(0.0, longest_task) / 60.0))
    return f"{minutes // 60}:{minutes % 60:02d}:00"


def suggest_mem(peak_rss: int, *, margin: float = 1.5) -> str:
    """``--mem``: ``margin`` x the peak resident memory, rounded up to a MiB (``NNNM``)."""
    return f"{max(1, math.ceil(margin * peak_rss / 2 ** 20))}M"


# -- the summary --------------------------------------------------------------------------
def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {sec:02d} s"


def summary_text(d: DryRun) -> str:
    lines = [f"Dry run (nothing submitted): profile {d.profile} ({d.backend}), {d.tasks} task(s)"
             + (f", {d.reused} already done (would be reused)" if d.reused else "")
             + f", {d.jobs} job(s) to run"]
    for s in d.stages:
        extra = f", after {', '.join(s.depends_on)}" if s.depends_on else ""
        est = (f"; ~{duration_text(s.task_seconds)} of task time, longest task "
               f"{duration_text(s.longest_task)}" if s.task_seconds is not None else "")
        lines.append(f"  stage {s.stage} (per {s.per}): {s.tasks} task(s), {s.reused} reused, "
                     f"{s.jobs} job(s){extra}{est}")
    for a in d.arrays:
        lines.append(f"  sbatch array {a.name}: {a.size} element(s)"
                     + (f", %{a.max_running} at once" if a.max_running else "")
                     + (f", afterok {', '.join(a.after)}" if a.after else ""))
    if d.wall_seconds is not None:
        lines.append(f"Estimate: wall time ~{duration_text(d.wall_seconds)} with parallelism "
                     f"{d.parallelism} ({d.parallelism_source}); "
                     f"{d.core_hours:.3g} core-hour(s)")
    else:
        lines.append("Estimate: none (no timing: run with --pilot K)")
    if d.start_time:
        lines.append(f"Slurm expects it to start at {d.start_time}"
                     + (f" on {d.start_nodes}" if d.start_nodes else "") + " (sbatch --test-only)")
    if d.suggested_walltime or d.suggested_mem:
        lines.append("Suggested for Slurm: " + ", ".join(
            x for x in (f"--time {d.suggested_walltime}" if d.suggested_walltime else "",
                        f"--mem {d.suggested_mem}" if d.suggested_mem else "") if x))
    if d.assumptions:
        lines.append("Assumptions:")
        lines += [f"  - {a}" for a in d.assumptions]
    return "\n".join(lines)


def stage_dependencies(stage_names: Iterable[str],
                       task_stage: Mapping[str, str],
                       task_deps: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """The stages each stage's tasks wait for, in stage order."""
    order = list(stage_names)
    deps: dict[str, set[str]] = {s: set() for s in order}
    for tid, ds in task_deps.items():
        for d in ds:
            if d in task_stage and task_stage[d] != task_stage[tid]:
                deps[task_stage[tid]].add(task_stage[d])
    return {s: tuple(x for x in order if x in deps[s]) for s in order}
