"""GET /tramway/api/batches/<id> at scale: one page of tasks, filters, sort, totals, counts, and
clear 400s; a poll of an expanded 20,000-task batch stays under 100 KB."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from .fixtures import add_large_batch, large_task_state
from .test_handlers import error, get

N = 1000  # tasks of the batch most tests page through


@pytest.fixture
def big(tramway_store, jp_root_dir):
    add_large_batch(tramway_store, "b-big", jp_root_dir / "batches", N, name="big")
    return tramway_store


def expected_ids(n: int) -> list[str]:
    return [f"{large_task_state(i, n)[0]}-f{i // 100:04d}-r{i % 100:02d}" for i in range(n)]


def expected_counts(n: int) -> tuple[Counter, dict[str, Counter]]:
    per_state: Counter = Counter()
    per_stage: dict[str, Counter] = {}
    for i in range(n):
        stage, state = large_task_state(i, n)
        per_state[state] += 1
        per_stage.setdefault(stage, Counter())[state] += 1
    return per_state, per_stage


async def test_default_is_first_page_with_counts(jp_fetch, big):
    data = await get(jp_fetch, "batches", "b-big")
    assert [t["task_id"] for t in data["tasks"]] == expected_ids(N)[:100]
    assert (data["total"], data["offset"], data["limit"]) == (N, 0, 100)
    assert (data["sort"], data["order"], data["state"], data["stage"]) == (
        "rowid",
        "asc",
        None,
        None,
    )
    per_state, per_stage = expected_counts(N)
    assert data["batch"]["counts"] == dict(per_state)
    assert data["batch"]["n_tasks"] == N
    # per stage x state, stages in pipeline order (not alphabetical)
    assert list(data["stages"]) == ["tessellate", "infer"]
    assert data["stages"] == {k: dict(v) for k, v in per_stage.items()}
    # jobs: counted, and listed one page at a time
    assert data["n_jobs"] == N // 50
    assert data["job_counts"] == {"done": 4, "running": 16}
    assert [j["job_index"] for j in data["jobs"]] == list(range(20))
    # a task of the listing has what a row of the sidebar shows
    page = await get(jp_fetch, "batches", "b-big", params={"offset": 300, "limit": 10})
    failed = next(t for t in page["tasks"] if t["state"] == "failed")
    assert failed["error"].startswith("ValueError: ROI") and failed["duration"] is not None


async def test_pages_cover_every_task_once(jp_fetch, big):
    seen: list[str] = []
    for offset in range(0, N, 300):
        page = await get(jp_fetch, "batches", "b-big", params={"offset": offset, "limit": 300})
        assert page["total"] == N and page["offset"] == offset and page["limit"] == 300
        seen += [t["task_id"] for t in page["tasks"]]
    assert seen == expected_ids(N)
    past = await get(jp_fetch, "batches", "b-big", params={"offset": N + 5})
    assert past["tasks"] == [] and past["total"] == N
    assert (await get(jp_fetch, "batches", "b-big", params={"limit": 0}))["tasks"] == []
    top = await get(jp_fetch, "batches", "b-big", params={"limit": 1000})
    assert len(top["tasks"]) == N


async def test_state_and_stage_filters_with_totals(jp_fetch, big):
    per_state, per_stage = expected_counts(N)
    failed = await get(jp_fetch, "batches", "b-big", params={"state": "failed", "limit": 1000})
    assert failed["total"] == per_state["failed"] == len(failed["tasks"])
    assert {t["state"] for t in failed["tasks"]} == {"failed"}
    assert failed["state"] == ["failed"]
    # repeatable and comma-separated
    both = await get(
        jp_fetch,
        "batches",
        "b-big",
        params=[("state", "running"), ("state", "queued"), ("limit", "1000")],
    )
    comma = await get(
        jp_fetch, "batches", "b-big", params={"state": "running,queued", "limit": 1000}
    )
    assert both["tasks"] == comma["tasks"]
    assert both["total"] == per_state["running"] + per_state["queued"] == len(both["tasks"])
    # stage, and stage x state; totals agree with the counts in the same reply
    infer = await get(jp_fetch, "batches", "b-big", params={"stage": "infer"})
    assert infer["total"] == sum(per_stage["infer"].values())
    assert {t["stage"] for t in infer["tasks"]} == {"infer"}
    cell = await get(jp_fetch, "batches", "b-big", params={"stage": "tessellate", "state": "done"})
    assert cell["total"] == cell["stages"]["tessellate"]["done"] == N // 5
    none = await get(
        jp_fetch, "batches", "b-big", params={"stage": "tessellate", "state": "failed"}
    )
    assert none["total"] == 0 and none["tasks"] == []


async def test_sort_and_order(jp_fetch, big):
    desc = await get(
        jp_fetch, "batches", "b-big", params={"sort": "duration", "order": "desc", "state": "done"}
    )
    durations = [t["duration"] for t in desc["tasks"]]
    assert durations == sorted(durations, reverse=True) and durations[0] == 99.9
    by_id = await get(jp_fetch, "batches", "b-big", params={"sort": "task_id", "limit": 1000})
    ids = [t["task_id"] for t in by_id["tasks"]]
    assert ids == sorted(expected_ids(N))
    last = await get(jp_fetch, "batches", "b-big", params={"order": "desc", "limit": 3})
    assert [t["task_id"] for t in last["tasks"]] == expected_ids(N)[::-1][:3]
    # a filtered, sorted, offset page
    page = await get(
        jp_fetch,
        "batches",
        "b-big",
        params={"state": "failed", "sort": "task_id", "order": "desc", "offset": 10, "limit": 5},
    )
    failed_ids = sorted((i for i in expected_ids(N) if i.startswith("infer")), reverse=True)
    failed_ids = [
        tid for tid in failed_ids if large_task_state(expected_ids(N).index(tid), N)[1] == "failed"
    ]
    assert [t["task_id"] for t in page["tasks"]] == failed_ids[10:15]
    assert page["total"] == len(failed_ids)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "1001"}, "'limit' must be between 0 and 1000, got 1001"),
        ({"limit": "-1"}, "'limit' must be between 0 and 1000"),
        ({"limit": "ten"}, "'limit' must be an integer, got 'ten'"),
        ({"offset": "-5"}, "'offset' must be >= 0, got -5"),
        ({"offset": "1.5"}, "'offset' must be an integer"),
        ({"sort": "colour"}, "cannot sort tasks by 'colour'"),
        ({"order": "up"}, "'order' must be asc or desc"),
        ({"state": "exploded"}, "unknown state(s) ['exploded']"),
        ({"stage": "nope"}, "has no stage 'nope'; its stages: ['tessellate', 'infer']"),
        ({"tasks": "maybe"}, "'tasks' must be 0 or 1"),
        ({"stat": "failed"}, "unknown query parameter(s) ['stat']"),
        ({"jobs_limit": "5000"}, "'jobs_limit' must be between 0 and 1000"),
    ],
)
async def test_bad_parameters_are_400(jp_fetch, big, params, message):
    code, msg = await error(jp_fetch, "batches", "b-big", params=params)
    assert code == 400
    assert message in msg


async def test_parameter_given_twice_is_400_and_cache_buster_is_ignored(jp_fetch, big):
    code, msg = await error(jp_fetch, "batches", "b-big", params=[("offset", 1), ("offset", 2)])
    assert code == 400 and "give 'offset' once" in msg
    # JupyterLab's ServerConnection appends a bare timestamp to GETs (cache: no-store)
    data = await get(jp_fetch, "batches", "b-big", params=[("limit", 2), ("1767225600000", "")])
    assert len(data["tasks"]) == 2


async def test_counts_only(jp_fetch, big):
    per_state, per_stage = expected_counts(N)
    for data in (
        await get(jp_fetch, "batches", "b-big", "counts"),
        await get(jp_fetch, "batches", "b-big", params={"tasks": "0"}),
    ):
        assert "tasks" not in data and "jobs" not in data
        assert data["batch"]["counts"] == dict(per_state)
        assert data["stages"] == {k: dict(v) for k, v in per_stage.items()}
        assert data["n_jobs"] == N // 50
    code, msg = await error(jp_fetch, "batches", "b-big", "counts", params={"limit": 5})
    assert code == 400 and "this route takes none" in msg
    assert (await error(jp_fetch, "batches", "nope", "counts"))[0] == 404


async def test_jobs_are_paged(jp_fetch, big):
    data = await get(jp_fetch, "batches", "b-big", "jobs", params={"offset": 2, "limit": 3})
    assert [j["job_index"] for j in data["jobs"]] == [2, 3, 4]
    assert data["total"] == N // 50
    running = await get(jp_fetch, "batches", "b-big", "jobs", params={"state": "running"})
    assert running["total"] == 16 and {j["state"] for j in running["jobs"]} == {"running"}
    detail = await get(jp_fetch, "batches", "b-big", params={"jobs_offset": 18, "jobs_limit": 5})
    assert [j["job_index"] for j in detail["jobs"]] == [18, 19]
    code, msg = await error(jp_fetch, "batches", "b-big", "jobs", params={"limit": "x"})
    assert code == 400 and "'limit' must be an integer" in msg


async def test_new_routes_need_authentication(jp_fetch, big):
    for path in (("batches", "b-big", "counts"), ("batches", "b-big", "jobs")):
        code, _ = await error(jp_fetch, *path, headers={"Authorization": ""})
        assert code == 403


async def test_poll_of_a_20000_task_batch_is_small(jp_fetch, tramway_store, jp_root_dir):
    """What the sidebar costs per poll of an expanded 20,000-task batch: kilobytes, not
    megabytes (the full listing this replaced was ~8 MB here)."""
    n = 20_000
    add_large_batch(tramway_store, "b-huge", jp_root_dir / "batches", n, name="huge")
    r = await jp_fetch("tramway", "api", "batches", "b-huge")
    data = json.loads(r.body)
    assert len(r.body) < 100_000, len(r.body)
    assert len(data["tasks"]) == data["limit"] == 100 and data["total"] == n
    assert len(data["jobs"]) == 100 and data["n_jobs"] == n // 50
    # the sidebar's poll: counts + the visible window, no job list
    r = await jp_fetch(
        "tramway",
        "api",
        "batches",
        "b-huge",
        params={"offset": 12_000, "limit": 100, "jobs_limit": 0},
    )
    data = json.loads(r.body)
    assert len(r.body) < 100_000, len(r.body)
    assert len(data["tasks"]) == 100 and data["tasks"][0]["task_id"] == expected_ids(n)[12_000]
    r = await jp_fetch("tramway", "api", "batches", "b-huge", "counts")
    assert len(r.body) < 2_000, len(r.body)
    assert json.loads(r.body)["batch"]["n_tasks"] == n
