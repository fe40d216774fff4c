"""Every /tramway/api/ route through a real jupyter_server (pytest-jupyter's jp_fetch)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from tornado.httpclient import HTTPClientError

from tramway_jupyter.jobs.store import Store

from . import fakes
from .fixtures import add_batch


async def get(jp_fetch, *path, **kw):
    r = await jp_fetch("tramway", "api", *path, **kw)
    assert r.code == 200
    return json.loads(r.body)


async def post(jp_fetch, *path, body=None):
    r = await jp_fetch(
        "tramway", "api", *path, method="POST", body=json.dumps(body) if body is not None else "{}"
    )
    assert r.code == 200
    return json.loads(r.body)


async def error(jp_fetch, *path, **kw):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("tramway", "api", *path, **kw)
    body = json.loads(e.value.response.body) if e.value.response and e.value.response.body else {}
    return e.value.code, body.get("message", "")


async def test_list_batches(jp_fetch):
    data = await get(jp_fetch, "batches")
    ids = [b["batch_id"] for b in data["batches"]]
    assert ids == ["b-fail", "b-mixed", "b-done", "b-outside"]  # newest first
    mixed = data["batches"][1]
    assert mixed["counts"] == {"done": 1, "failed": 1, "running": 1, "queued": 1}
    assert mixed["state"] == "running"
    assert mixed["n_tasks"] == 4
    assert mixed["progress"] == pytest.approx(0.5)
    assert mixed["profile"] == "local" and mixed["created"] == 2000.0
    assert data["batches"][2]["state"] == "done"


async def test_batch_eta(jp_fetch, tramway_store):
    """A running batch carries its ETA (seconds) from its done tasks; a finished one none."""
    data = await get(jp_fetch, "batches")
    eta = {b["batch_id"]: b["eta"] for b in data["batches"]}
    assert eta["b-mixed"] == pytest.approx(4.0)  # 2 left (running, queued) x 2 s, 1 running
    tramway_store.update_tasks("b-mixed", [{"task_id": "infer-sim0-r0", "duration": 6.0}])
    data = await get(jp_fetch, "batches")
    eta = {b["batch_id"]: b["eta"] for b in data["batches"]}
    assert eta["b-mixed"] == pytest.approx(12.0)  # 2 left x 6 s, 1 running
    assert eta["b-done"] is None


async def test_batch_detail_and_state_filter(jp_fetch):
    data = await get(jp_fetch, "batches", "b-mixed")
    assert data["batch"]["batch_id"] == "b-mixed"
    assert [j["job_index"] for j in data["jobs"]] == [0, 1]
    tasks = {t["task_id"]: t for t in data["tasks"]}
    assert len(tasks) == 4
    failed = tasks["infer-sim0-r1"]
    assert failed["state"] == "failed" and failed["attempt"] == 1
    assert failed["error"].startswith("ValueError: ROI 1")
    assert failed["duration"] == 1.5
    only = await get(jp_fetch, "batches", "b-mixed", params={"state": "failed"})
    assert [t["task_id"] for t in only["tasks"]] == ["infer-sim0-r1"]
    two = await get(jp_fetch, "batches", "b-mixed", params={"state": "running,queued"})
    assert {t["state"] for t in two["tasks"]} == {"running", "queued"}
    # a unique prefix of the id works, as in the CLI
    assert (await get(jp_fetch, "batches", "b-mi"))["batch"]["batch_id"] == "b-mixed"


async def test_task_status_with_traceback(jp_fetch):
    data = await get(jp_fetch, "batches", "b-mixed", "tasks", "infer-sim0-r1")
    assert data["task"]["state"] == "failed"
    err = data["status"]["error"]
    assert err["ename"] == "ValueError" and err["cell_index"] == 3
    assert "Traceback" in err["traceback"]
    assert data["attempts"][0]["attempt"] == 1


async def test_task_log(jp_fetch):
    data = await get(jp_fetch, "batches", "b-mixed", "tasks", "infer-sim0-r0", "log")
    assert data["path"] == "logs/job-0-a1.log"
    assert "job 0 attempt 1" in data["log"] and data["truncated"] is False


async def test_task_log_starts_with_what_the_task_printed(jp_fetch):
    data = await get(jp_fetch, "batches", "b-mixed", "tasks", "infer-sim0-r1", "log")
    assert data["path"] == "logs/task-infer-sim0-r1.log, logs/job-0-a1.log", data["path"]
    assert data["log"].index("printed by infer-sim0-r1") < data["log"].index("job 0 attempt 1")


async def test_task_notebook_relative_to_server_root(jp_fetch):
    data = await get(jp_fetch, "batches", "b-mixed", "tasks", "infer-sim0-r0", "notebook")
    assert data["path"] == "batches/b-mixed/notebooks/infer-sim0-r0.ipynb"
    # the contents API (what docmanager:open uses) finds it
    r = await jp_fetch("api", "contents", *data["path"].split("/"))
    assert r.code == 200


async def test_task_notebook_missing_or_outside_root(jp_fetch):
    code, msg = await error(jp_fetch, "batches", "b-mixed", "tasks", "infer-sim1-r0", "notebook")
    assert code == 404 and "no output notebook yet" in msg
    code, msg = await error(jp_fetch, "batches", "b-outside", "tasks", "infer-sim0-r0", "notebook")
    assert code == 409 and "outside the Jupyter server root" in msg


async def test_not_found_and_validation(jp_fetch):
    assert (await error(jp_fetch, "batches", "nope"))[0] == 404
    assert (await error(jp_fetch, "batches", "b-mixed", "tasks", "nope"))[0] == 404
    assert (await error(jp_fetch, "batches", "b-mixed", "tasks", "nope", "log"))[0] == 404
    code, msg = await error(jp_fetch, "batches", "b-mixed", params={"state": "exploded"})
    assert code == 400 and "unknown state" in msg
    code, msg = await error(
        jp_fetch, "batches", "b-mixed", "cancel", method="POST", body=json.dumps({"jobs": ["x"]})
    )
    assert code == 400
    code, _ = await error(jp_fetch, "batches", "b-mixed", "cancel", method="POST", body="{not json")
    assert code == 400
    code, _ = await error(
        jp_fetch, "batches", "b-mixed", "cancel", method="POST", body=json.dumps({"jobs": [7]})
    )
    assert code == 404


@pytest.mark.parametrize(
    "task_id",
    ["..%2F..%2F..%2Fetc%2Fpasswd", "..", "%2E%2E", "..%5C..%5Cetc", "%2Fetc%2Fpasswd"],
)
async def test_path_traversal_refused(jp_fetch, task_id):
    for tail in ((), ("log",), ("notebook",)):
        with pytest.raises(HTTPClientError) as e:
            await jp_fetch("tramway", "api", "batches", "b-mixed", "tasks", task_id, *tail)
        assert e.value.code in (400, 404)
        assert b"root:" not in (e.value.response.body or b"")


async def test_path_traversal_from_store_refused(jp_fetch, tramway_store):
    """A notebook path written in the store that points outside the batch dir is not followed."""
    tramway_store.update_tasks(
        "b-done", [{"task_id": "infer-sim0-r0", "notebook": "../../../../../../etc/passwd"}]
    )
    code, _ = await error(jp_fetch, "batches", "b-done", "tasks", "infer-sim0-r0", "notebook")
    assert code == 404


async def test_unauthenticated_is_403(jp_fetch):
    for path in (
        ("batches",),
        ("batches", "b-mixed"),
        ("batches", "b-mixed", "tasks", "infer-sim0-r1"),
    ):
        code, _ = await error(jp_fetch, *path, headers={"Authorization": ""})
        assert code == 403
    code, _ = await error(
        jp_fetch,
        "batches",
        "b-mixed",
        "cancel",
        method="POST",
        body="{}",
        headers={"Authorization": ""},
    )
    assert code == 403


async def test_cancel_batch(jp_fetch):
    fakes.CALLS.clear()
    data = await post(jp_fetch, "batches", "b-mixed", "cancel")
    assert fakes.CALLS == [("cancel", "b-mixed", None)]
    assert data["batch"]["counts"] == {"done": 1, "failed": 1, "cancelled": 2}
    # nothing left to cancel: conflict
    code, msg = await error(jp_fetch, "batches", "b-mixed", "cancel", method="POST", body="{}")
    assert code == 409 and "nothing to cancel" in msg


async def test_cancel_one_job(jp_fetch):
    fakes.CALLS.clear()
    data = await post(jp_fetch, "batches", "b-mixed", "jobs", "1", "cancel")
    assert fakes.CALLS == [("cancel", "b-mixed", [1])]
    assert data["batch"]["counts"]["cancelled"] == 2


async def test_cancel_jobs_in_body(jp_fetch):
    fakes.CALLS.clear()
    data = await post(jp_fetch, "batches", "b-mixed", "cancel", body={"jobs": [1, 1]})
    assert fakes.CALLS == [("cancel", "b-mixed", [1])]
    assert data["cancelled"] == [1]


async def test_retry(jp_fetch):
    fakes.CALLS.clear()
    code, msg = await error(jp_fetch, "batches", "b-mixed", "retry", method="POST", body="{}")
    assert code == 409 and "still running" in msg
    data = await post(jp_fetch, "batches", "b-fail", "retry")
    assert data["retried"] == 1
    assert data["batch"]["counts"] == {"done": 1, "queued": 1}
    assert fakes.CALLS == [("retry", "b-fail", None)]


async def test_unexpected_error_is_500_and_logged(jp_fetch, jp_serverapp, caplog, monkeypatch):
    service = jp_serverapp.web_app.settings["tramway_service"]

    def boom():
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(service, "list_batches", boom)
    code, msg = await error(jp_fetch, "batches")
    assert code == 500 and "disk on fire" in msg


async def test_concurrent_reads_while_a_batch_writes(jp_fetch, tramway_store, jp_root_dir):
    """Readers (the server) never fail or see a torn batch while another connection writes."""
    writer_store = Store(tramway_store.path)  # its own connections, as a kernel would have
    n = 40
    states = ["queued"] * n
    add_batch(writer_store, "b-live", jp_root_dir / "batches", states, name="live", created=4000.0)
    tids = [t.task_id for t in writer_store.tasks("b-live")]
    stop = threading.Event()
    errors: list[BaseException] = []

    def write():
        try:
            i = 0
            while not stop.is_set() and i < 4 * n:
                tid = tids[i % n]
                state = ("running", "done")[(i // n) % 2]
                writer_store.update_tasks(
                    "b-live", [{"task_id": tid, "state": state, "started": time.time()}]
                )
                i += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        seen = set()
        for _ in range(30):
            listing = await get(jp_fetch, "batches")
            live = next(b for b in listing["batches"] if b["batch_id"] == "b-live")
            assert live["n_tasks"] == n  # never a torn count
            detail = await get(jp_fetch, "batches", "b-live")
            assert len(detail["tasks"]) == n
            seen.add(tuple(sorted(live["counts"].items())))
    finally:
        stop.set()
        writer.join()
    assert not errors
    assert len(seen) > 1  # the reads really overlapped the writes
