"""The server's background refresher: active batches only, back-off on failures."""

from __future__ import annotations

import logging
import time
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


def _warnings(caplog) -> int:
    return sum("refreshing batch b failed" in m for m in caplog.messages)


async def test_refreshes_active_batches_with_back_off(caplog):
    """Each assertion is on a change the tick must make (none holds before it)."""
    caplog.set_level(logging.INFO, logger="tramway_jupyter.server.refresher")
    service = FakeService()
    with ThreadPoolExecutor(1) as pool:
        r = BatchRefresher(service, pool, interval=10, max_interval=60)
        assert service.calls == [] and r._failures == {} and _warnings(caplog) == 0
        await r.tick()
        assert service.calls == ["a", "b"]
        assert r._failures == {"b": 1} and r._next["b"] - time.monotonic() > 15  # 20 s
        assert _warnings(caplog) == 1
        await r.tick()  # "b" failed: it waits (20 s), "a" is refreshed again
        assert service.calls == ["a", "b", "a"]
        r._next["b"] = 0  # pretend the back-off delay has passed; "b" fails again
        await r.tick()
        assert service.calls == ["a", "b", "a", "a", "b"]
        assert r._failures == {"b": 2} and r._next["b"] - time.monotonic() > 35  # 40 s
        assert _warnings(caplog) == 1  # logged once per streak, not at every poll
        service.failing.clear()
        r._next["b"] = 0
        await r.tick()
        assert service.calls[-2:] == ["a", "b"] and r._failures == {} and "b" not in r._next
        assert any("batch b refreshes again" in m for m in caplog.messages)
        service.failing.add("b")
        r._next["b"] = 0
        await r.tick()  # a new streak: logged again
        assert r._failures == {"b": 1} and "b" in r._next and _warnings(caplog) == 2
        service.active = []
        n_calls = len(service.calls)
        await r.tick()  # no active batch: nothing refreshed, the back-off state forgotten
        assert len(service.calls) == n_calls and r._next == {} and r._failures == {}
