"""Batch events behind notifications: the watcher over successive views of the batches, the
ring of events, and ``GET events`` with the server's own refresher noticing store changes."""

from __future__ import annotations

import asyncio
import json

import msgspec
import pytest

from tramway_jupyter.jobs.store import Store
from tramway_jupyter.server.events import BatchWatcher, EventLog
from tramway_jupyter.server.payloads import BatchInfo, EventList

from .fixtures import add_batch
from .test_handlers import error, get


def info(batch_id: str, **counts: int) -> BatchInfo:
    """A batch as ``GET batches`` lists it, with these task counts (its state follows)."""
    from tramway_jupyter.jobs.store_rows import BatchRow

    row = BatchRow(batch_id=batch_id, name=f"name of {batch_id}", created=0.0, batch_dir="/x",
                   backend="local", profile="local", notebook=None, counts=counts)
    return msgspec.convert(row.to_dict(), BatchInfo)


def kinds(events) -> list[tuple[str, str, int]]:
    return [(e.batch_id, e.kind, e.n_failed) for e in events]


def test_nothing_for_batches_finished_or_failing_before_the_start():
    w = BatchWatcher(EventLog())
    start = [info("done", done=4), info("failed", done=3, failed=1),
             info("cancelled", cancelled=2), info("failing", done=1, failed=1, running=2)]
    assert w.observe(start) == []  # the baseline
    assert w.observe(start) == []  # nothing changed
    # the batch that was already failing ends: that is news, its old failures are not
    ended = w.observe([*start[:3], info("failing", done=2, failed=2)])
    assert kinds(ended) == [("failing", "ended", 2)]
    assert w.log.latest == 1


def test_ended_done_ended_with_failures_and_first_failure():
    w = BatchWatcher(EventLog())
    w.observe([])
    assert w.observe([info("a", queued=4), info("b", running=2, pending=2)]) == []
    assert w.observe([info("a", done=1, running=3), info("b", done=2, running=2)]) == []
    first = w.observe([info("a", done=1, failed=1, running=2), info("b", done=3, running=1)])
    assert kinds(first) == [("a", "failing", 1)]
    assert first[0].state == "running" and first[0].n_tasks == 4
    assert "1 of 4 tasks failed so far" in first[0].message
    # more failures of a batch already reported as failing: no new event
    assert w.observe([info("a", done=1, failed=1, lost=1, running=1),
                      info("b", done=3, running=1)]) == []
    end = w.observe([info("a", done=2, failed=1, lost=1), info("b", done=4)])
    assert kinds(end) == [("a", "ended", 2), ("b", "ended", 0)]
    assert end[0].state == "failed" and end[0].message == (
        'Batch "name of a" ended: 2 of 4 tasks failed')
    assert end[1].state == "done" and "all 4 tasks done" in end[1].message
    assert [e.id for e in end] == [2, 3]
    assert w.observe([info("a", done=2, failed=1, lost=1), info("b", done=4)]) == []  # once


def test_a_batch_started_and_ended_between_two_views_and_a_retry():
    w = BatchWatcher(EventLog())
    w.observe([])
    quick = w.observe([info("q", done=1, failed=1)])  # never seen running: still news
    assert kinds(quick) == [("q", "ended", 1)]
    retried = w.observe([info("q", done=1, queued=1)])
    assert retried == []
    again = w.observe([info("q", done=1, failed=1)])  # the retry failed again: a new end
    assert kinds(again) == [("q", "ended", 1)]
    cancelled = w.observe([info("q", done=1, failed=1), info("c", cancelled=3, done=1)])
    assert kinds(cancelled) == [("c", "ended", 0)]
    assert cancelled[0].message == 'Batch "name of c" was cancelled: 1 of 4 tasks done'


def test_the_log_keeps_the_last_events():
    log = EventLog(capacity=3)
    for i in range(5):
        log.add(info(f"b{i}", done=1), "ended")
    page = log.after(0)
    assert [e.id for e in page.events] == [3, 4, 5] and page.latest == 5
    assert [e.id for e in log.after(4).events] == [5]
    assert log.after(5).events == [] and log.after(9).latest == 5
    assert EventLog().log_id != log.log_id


# -- GET events, with the server's refresher watching a real store ------------------------
@pytest.fixture
def jp_server_config(tramway_store):
    from .fakes import fake_batch_factory

    return {
        "ServerApp": {
            "jpserver_extensions": {"tramway_jupyter": True},
            "allow_unauthenticated_access": False,
        },
        "TramwayServer": {
            "store_path": str(tramway_store.path),
            "refresh_interval": 0.05,
            "batch_factory": fake_batch_factory,
        },
    }


async def events_after(jp_fetch, after: int, n: int) -> dict:
    """``GET events?after=`` until it lists ``n`` events (the refresher ticks every 0.05 s)."""
    for _ in range(200):
        data = await get(jp_fetch, "events", params={"after": str(after)})
        if len(data["events"]) >= n:
            return data
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {n} events after {after}: {data}")


async def test_get_events_on_batch_end_and_first_failure(jp_fetch, tramway_store, jp_root_dir):
    start = await events_after(jp_fetch, 0, 0)
    await asyncio.sleep(0.3)  # several ticks: finished batches of the fixture stay quiet
    quiet = await get(jp_fetch, "events")
    assert quiet["events"] == [] and quiet["latest"] == 0 and quiet["log_id"] == start["log_id"]

    store = Store(tramway_store.path)  # another connection, as a worker's refresh writes
    # "b-mixed" (1 failure, running at the start) ends; a new batch starts, then fails once
    store.update_tasks("b-mixed", [{"task_id": "infer-sim1-r0", "state": "done"},
                                   {"task_id": "infer-sim1-r1", "state": "failed"}])
    add_batch(store, "b-new", jp_root_dir / "batches", ["running"] * 4, name="new", created=4e3)
    first = await events_after(jp_fetch, 0, 1)
    assert [(e["batch_id"], e["kind"], e["state"], e["n_failed"], e["n_tasks"])
            for e in first["events"]] == [("b-mixed", "ended", "failed", 2, 4)]
    assert first["events"][0]["batch_name"] == "mixed" and first["latest"] == 1
    assert set(first["events"][0]) == {"id", "batch_id", "batch_name", "kind", "state",
                                       "n_failed", "n_tasks", "message", "at"}

    store.update_tasks("b-new", [{"task_id": "infer-sim0-r0", "state": "failed"}])
    failing = await events_after(jp_fetch, 1, 1)
    assert [(e["id"], e["batch_id"], e["kind"], e["n_failed"]) for e in failing["events"]] == [
        (2, "b-new", "failing", 1)]
    store.update_tasks("b-new", [{"task_id": f"infer-sim{i // 2}-r{i % 2}", "state": "done"}
                                 for i in range(1, 4)])
    ended = await events_after(jp_fetch, 2, 1)
    assert [(e["id"], e["kind"], e["state"]) for e in ended["events"]] == [(3, "ended", "failed")]
    assert ended["events"][0]["message"] == 'Batch "new" ended: 1 of 4 tasks failed'
    every = await get(jp_fetch, "events")
    assert [e["id"] for e in every["events"]] == [1, 2, 3] and every["latest"] == 3
    r = await jp_fetch("tramway", "api", "events")  # exactly of the payload's types
    assert msgspec.json.decode(r.body, type=EventList, strict=True).latest == 3
    store.close()

    code, msg = await error(jp_fetch, "events", params={"after": "-1"})
    assert code == 400 and "'after' must be >= 0" in msg
    code, msg = await error(jp_fetch, "events", params={"since": "1"})
    assert code == 400 and "unknown query parameter" in msg


async def test_get_events_needs_authentication(jp_fetch):
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("tramway", "api", "events", headers={"Authorization": ""})
    assert e.value.code == 403
    assert json.loads((await jp_fetch("tramway", "api", "events")).body)["latest"] == 0
