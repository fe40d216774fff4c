"""The resolved profile travels with the batch: a re-attach gets the same class and values."""

from __future__ import annotations

from tramway_jupyter.backends.profiles import Profile
from tramway_jupyter.capture.pipeline import Pipeline
from tramway_jupyter.jobs.recover import rebuild
from tramway_jupyter.jobs.store import Store
from tramway_jupyter.orchestration.batch import Batch
from tramway_jupyter.orchestration.submit import submit


class LabInline(Profile):
    """A profile subclass (TRamWAy's Maestro way) with a method of its own."""

    backend = "inline"
    workers = 2

    def describe(self) -> str:
        return f"{self.name}: {self.workers} workers"


def test_reattach_and_rebuilt_store_keep_the_profile_subclass(tmp_path):
    data = tmp_path / "a.rpt.txt"
    data.write_text("1 0.0 0.0 0.0\n1 0.1 0.0 0.04\n")
    pipe = Pipeline.from_cells([("setup", "x = 1"), ("stage work --per file", "y = x + 1")])
    store_path = tmp_path / "store.sqlite"
    batch = submit(pipe, str(data), profile=LabInline, store=Store(store_path),
                   batches_root=tmp_path / "batches").wait(60)
    assert batch.counts() == {"done": 1}

    again = Batch(batch.batch_id, Store(store_path))  # a new kernel, the server, the CLI
    assert type(again.profile) is LabInline and again.profile.describe() == "labinline: 2 workers"

    rebuilt = tmp_path / "rebuilt.sqlite"  # `tramway-jupyter doctor`: from batch.json alone
    rebuild(rebuilt, [tmp_path / "batches"], damaged=False)
    assert type(Batch(batch.batch_id, Store(rebuilt)).profile) is LabInline
