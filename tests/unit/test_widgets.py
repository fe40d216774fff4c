"""ProgressWidget / ProfilePicker / ResultsView against tiny stand-ins for Batch and Results."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import ipywidgets  # noqa: F401  - in the test extra: a missing one fails, never skips
import pandas as pd
import pytest

from tramway_jupyter.widgets import (
    ProfilePicker,
    ProgressWidget,
    ResultsView,
    counts_text,
    estimate_remaining,
    format_seconds,
    segments_html,
)


@dataclass
class StandInBatch:
    """Walks through a list of count snapshots, one per refresh()."""

    snapshots: list[dict[str, int]]
    batch_id: str = "b123"
    created: float = 1000.0
    failures: list[SimpleNamespace] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    i: int = 0

    def info(self):
        return SimpleNamespace(
            created=self.created, name="my analysis", profile="local", counts=self.counts()
        )

    def counts(self):
        return dict(self.snapshots[min(self.i, len(self.snapshots) - 1)])

    def refresh(self):
        self.calls.append("refresh")
        self.i += 1
        return self.counts()

    def tasks(self, states=None):
        return [t for t in self.failures if states is None or t.state in states]

    def cancel(self, job_indices=None):
        self.calls.append("cancel")
        c = self.counts()
        c["cancelled"] = c.pop("running", 0) + c.pop("queued", 0) + c.get("cancelled", 0)
        self.snapshots.append(c)
        self.i = len(self.snapshots) - 1

    def retry(self):
        self.calls.append("retry")
        c = self.counts()
        n = c.pop("failed", 0)
        self.snapshots += [dict(c, queued=n), dict(c, done=c.get("done", 0) + n)]
        self.i = len(self.snapshots) - 2
        return n


def failure(tid, roi, msg):
    return SimpleNamespace(
        task_id=tid, source="sim0.rpt.txt", roi_index=roi, state="failed", error=msg
    )


def test_helpers():
    assert format_seconds(None) == "–"
    assert format_seconds(42) == "42 s"
    assert format_seconds(125) == "2 min 05 s"
    assert format_seconds(3 * 3600 + 60) == "3 h 01 min"
    assert estimate_remaining({"queued": 4}, 10) is None
    assert estimate_remaining({"done": 2, "queued": 2}, 10) == pytest.approx(10)
    assert counts_text({"done": 1, "running": 2, "pending": 1, "failed": 1}) == (
        "1/5 done · 2 running · 1 queued · 1 failed"
    )
    bar = segments_html({"done": 1, "failed": 1})
    assert "tramway-seg-done" in bar and "width:50.000%" in bar and "--jp-error-color1" in bar


def test_progress_updates_then_summarises_failures():
    clock = iter(range(1010, 2000, 10)).__next__
    batch = StandInBatch(
        [
            {"queued": 4},
            {"running": 2, "queued": 2},
            {"done": 2, "running": 2},
            {"done": 3, "failed": 1},
        ],
        failures=[failure("infer-sim0-r1", 1, "ValueError: no translocations")],
    )
    pw = ProgressWidget(batch, start=False, clock=clock)
    assert pw.finished == 0 and pw.total == 4
    assert pw.active and not pw.cancel_button.disabled and pw.retry_button.disabled
    pw.update()
    assert pw.finished == 0 and "2 running" in pw.counts_label.value
    pw.update()
    assert pw.finished == 2 and "width:50.000%" in pw.bar.value
    assert "remaining" in pw.time_label.value
    pw.update()
    assert not pw.active
    assert pw.finished == 4 and pw.outcome == "failed"
    assert pw.cancel_button.disabled and not pw.retry_button.disabled
    assert "3/4 done, 1 failed" in pw.summary.value
    assert "infer-sim0-r1" in pw.summary.value and "no translocations" in pw.summary.value


def test_background_thread_runs_until_done_without_blocking():
    batch = StandInBatch([{"queued": 2}, {"running": 2}, {"done": 1, "running": 1}, {"done": 2}])
    t0 = time.monotonic()
    pw = ProgressWidget(batch, interval=0.01, max_interval=0.02)
    assert time.monotonic() - t0 < 0.5  # the constructor returns at once
    pw.wait(timeout=5)
    assert pw._thread is not None and not pw._thread.is_alive()
    assert pw.outcome == "done"
    assert "Finished: 2/2 tasks done" in pw.summary.value
    assert batch.calls.count("refresh") == 3


def test_refresh_error_keeps_last_state():
    batch = StandInBatch([{"running": 1}])

    def broken():
        raise OSError("ssh: connection refused")

    batch.refresh = broken
    pw = ProgressWidget(batch, start=False)
    pw.update()
    assert "connection refused" in pw.message.value
    assert "1 running" in pw.counts_label.value


def test_cancel_and_retry_buttons():
    batch = StandInBatch([{"running": 1, "queued": 1, "done": 1}])
    pw = ProgressWidget(batch, start=False)
    pw._in_thread = lambda fn: fn()  # run button actions synchronously
    pw.cancel_button.click()
    assert "cancel" in batch.calls
    assert pw.counts.get("cancelled") == 2 and not pw.active and pw.outcome == "cancelled"
    assert not pw.retry_button.disabled

    batch = StandInBatch([{"done": 3, "failed": 1}], failures=[failure("t", 0, "boom")])
    pw = ProgressWidget(batch, start=False, interval=0.01, max_interval=0.01)
    pw._in_thread = lambda fn: fn()
    pw.retry_button.click()
    assert "retry" in batch.calls and "retrying 1 task" in pw.message.value
    pw.wait(timeout=5)
    assert pw.counts == {"done": 4} and pw.outcome == "done"


def test_close_stops_thread():
    gate = threading.Event()

    class Slow(StandInBatch):
        def refresh(self):
            gate.wait(1)
            return self.counts()

    pw = ProgressWidget(Slow([{"running": 1}]), interval=0.01)
    pw.close()
    gate.set()
    pw.wait(timeout=5)
    assert not pw._thread.is_alive()


def test_profile_picker():
    prof = SimpleNamespace(
        to_dict=lambda: {"backend": "slurm", "host": "cluster", "partition": "a"}
    )
    pp = ProfilePicker({"cluster": prof}, value="cluster", workers=8)
    assert pp.dropdown.options == ("local", "cluster")
    assert pp.value == "cluster" and pp.profile is prof
    assert "backend=slurm" in pp.details.value
    assert pp.run_kwargs() == {"profile": prof, "workers": 8}
    pp.dropdown.value = "local"
    assert pp.run_kwargs() == {"profile": "local", "workers": 8}
    assert "local cores" in pp.details.value


def test_profile_picker_shows_walltime_of_a_profiles_file(tmp_path, monkeypatch):
    """The picker reads profiles.toml through the api and shows its walltime (it looked up
    "time" once, so the walltime never showed)."""
    toml = tmp_path / "profiles.toml"
    toml.write_text(
        '[profiles.cluster]\nbackend = "slurm"\nhost = "cluster.example.org"\n'
        'walltime = "02:00:00"\nmem = "4G"\n'
    )
    monkeypatch.setenv("TRAMWAY_JUPYTER_PROFILES", str(toml))
    pp = ProfilePicker(value="cluster")
    assert "cluster" in pp.dropdown.options and pp.profile.walltime == "02:00:00"
    assert "walltime=02:00:00" in pp.details.value
    assert "mem=4G" in pp.details.value and "host=cluster.example.org" in pp.details.value


class StandInResults:
    def __init__(self):
        self.plotted = []

    def table(self):
        return pd.DataFrame(
            [
                {
                    "task_id": "a",
                    "stage": "infer",
                    "source": "sim0.rpt.txt",
                    "roi_index": 0,
                    "state": "done",
                    "duration": 1.0,
                    "error": "",
                    "notebook": "n/a.ipynb",
                },
                {
                    "task_id": "b",
                    "stage": "infer",
                    "source": "sim0.rpt.txt",
                    "roi_index": 1,
                    "state": "failed",
                    "duration": 2.0,
                    "error": "ValueError: x",
                    "notebook": None,
                },
            ]
        )

    def plot_maps(self, name="maps", variable="diffusivity", **kw):
        self.plotted.append((name, variable))
        if name != "maps":
            raise LookupError(f"no task recorded {name!r}")
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2)
        return fig


def test_results_view_table_filter_and_maps():
    res = StandInResults()
    rv = ResultsView(res)
    assert "tramway-results-table" in rv.table.value
    assert ">a<" in rv.table.value and ">b<" in rv.table.value
    rv.filter.value = "failed"
    assert ">a<" not in rv.table.value and "ValueError: x" in rv.table.value
    rv.plot_button.click()
    assert res.plotted == [("maps", "diffusivity")]
    rv.record.value = "other"
    rv.plot()
    assert res.plotted[-1] == ("other", "diffusivity")
