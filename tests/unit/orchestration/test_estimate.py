"""The estimate's arithmetic: the fit, the extrapolation, the schedule, sbatch --test-only."""

from __future__ import annotations

import pytest

from tramway_jupyter.orchestration.estimate import (
    extrapolate,
    fit_linear,
    parse_test_only,
    sample_indices,
    sbatch_test_only_argv,
    schedule,
    stage_dependencies,
    suggest_mem,
    suggest_walltime,
)


def test_fit_least_squares_recovers_a_line() -> None:
    pts = [(n, 0.5 + 0.01 * n) for n in (10, 40, 160, 640)]
    a, b = fit_linear(pts)
    assert a == pytest.approx(0.5) and b == pytest.approx(0.01)
    assert extrapolate((a, b), 1000) == pytest.approx(10.5)


def test_fit_one_point_is_a_ratio() -> None:
    assert fit_linear([(100, 2.0)]) == (0.0, pytest.approx(0.02))
    assert fit_linear([(0, 3.0)]) == (3.0, 0.0)  # no size: a constant
    assert fit_linear([(50, 1.0), (50, 3.0)]) == (0.0, pytest.approx(0.04))


def test_fit_clamps_a_decreasing_or_negative_fit() -> None:
    a, b = fit_linear([(10, 2.0), (100, 1.0)])  # noise: time fell with the size
    assert (a, b) == (pytest.approx(1.5), 0.0)
    a, b = fit_linear([(10, 0.0), (20, 1.0)])  # the line crosses 0 at n = 10
    assert a == 0.0 and b > 0
    assert extrapolate((0.0, 0.01), -5) == 0.0
    with pytest.raises(ValueError):
        fit_linear([])


def test_schedule_deals_jobs_to_free_slots() -> None:
    assert schedule([], 4) == 0.0
    assert schedule([1, 1, 1, 1], 2) == 2
    assert schedule([4, 1, 1, 1, 1], 2) == 4  # the long job's slot takes no more
    assert schedule([3, 3, 3], 1) == 9
    assert schedule([1, 2], 10) == 2


def test_sample_spans_the_sizes() -> None:
    sizes = [50, 10, 400, 20, 100]
    assert sample_indices(sizes, 1) == [1]  # the smallest
    assert sample_indices(sizes, 2) == [1, 2]  # smallest, largest
    assert sample_indices(sizes, 3) == [1, 2, 0]  # + the median
    assert sorted(sample_indices(sizes, 9)) == [0, 1, 2, 3, 4]
    assert sample_indices(sizes, 0) == []
    assert len(set(sample_indices([5, 5, 5, 5], 3))) == 3  # ties still give k tasks


def test_parse_test_only() -> None:
    out = ("sbatch: Job 1234 to start at 2026-11-30T08:15:00 using 4 processors on nodes "
           "node[1-2] in partition debug\n")
    assert parse_test_only(out) == {"job": "1234", "time": "2026-11-30T08:15:00", "cpus": "4",
                                    "nodes": "node[1-2]", "partition": "debug"}
    old = "allocation 5 to start at 2026-01-01T00:00:00 using 1 processors on c1"
    assert parse_test_only(old) is None
    assert parse_test_only("sbatch: Job 7 to start at Now using 1 processor on c1") == {
        "job": "7", "time": "Now", "cpus": "1", "nodes": "c1"}
    assert parse_test_only("sbatch: error: Batch job submission failed") is None


def test_test_only_argv_carries_the_resources() -> None:
    argv = sbatch_test_only_argv(partition="debug", account=None, walltime="0:10:00", mem="500M",
                          cpus_per_task=2, array_size=12, max_running=4)
    assert argv == ["sbatch", "--test-only", "--job-name", "tj-dry-run", "--array=0-11%4",
                    "--partition", "debug", "--time", "0:10:00", "--mem", "500M",
                    "--cpus-per-task", "2", "--wrap", "true"]
    assert "--array" not in " ".join(sbatch_test_only_argv(
        partition=None, account=None, walltime=None, mem=None, cpus_per_task=None, array_size=1))


def test_suggestions_have_a_margin() -> None:
    assert suggest_walltime(10) == "0:01:00"  # at least a minute
    assert suggest_walltime(45) == "0:02:00"  # 90 s up to 2 min
    assert suggest_walltime(3600) == "2:00:00"
    assert suggest_mem(100 * 2 ** 20) == "150M"
    assert suggest_mem(1) == "1M"


def test_stage_dependencies() -> None:
    deps = stage_dependencies(["prep", "work"], {"p0": "prep", "w0": "work", "w1": "work"},
                              {"p0": (), "w0": ("p0",), "w1": ("p0",)})
    assert deps == {"prep": (), "work": ("prep",)}
