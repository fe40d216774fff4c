"""The server's background refresher: active batches only, back-off on failures."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tramway_jupyter.server.refresher import BatchRefresher


class FakeService:
    def __init__(self):
        self.active = ["a", "b"]
        self.calls: list[str] = []
        self.failing = {"b"}

    def active_batch_ids(self):
        return list(self.active)

    def refresh(self, batch_id):
        self.calls.append(batch_id)
        if batch_id in self.failing:
            raise OSError("ssh: host unreachable")


async def test_refreshes_active_batches_with_back_off(caplog):
    service = FakeService()
    with ThreadPoolExecutor(1) as pool:
        r = BatchRefresher(service, pool, interval=10, max_interval=60)
        await r.tick()
        assert service.calls == ["a", "b"]
        await r.tick()  # "b" failed: it waits (20 s), "a" is refreshed again
        assert service.calls == ["a", "b", "a"]
        assert r._failures == {"b": 1}
        service.failing.clear()
        r._next["b"] = 0  # pretend the back-off delay has passed
        await r.tick()
        assert service.calls[-2:] == ["a", "b"] and r._failures == {}
        service.active = []
        await r.tick()
        assert service.calls[-1] == "b" and not r._next
    assert sum("refreshing batch b failed" in m for m in caplog.messages) <= 1
