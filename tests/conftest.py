"""Root fixtures: every test gets its own job store and data home (never the user's)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("tramway-home")
    old = {k: os.environ.get(k) for k in ("TRAMWAY_JUPYTER_HOME", "TRAMWAY_JUPYTER_PROFILES",
                                          "TRAMWAY_JUPYTER_POOL_IDLE",
                                          "TRAMWAY_JUPYTER_HOLDER_IDLE")}
    os.environ["TRAMWAY_JUPYTER_HOME"] = str(home)
    os.environ["TRAMWAY_JUPYTER_PROFILES"] = str(home / "profiles.toml")
    os.environ["TRAMWAY_JUPYTER_POOL_IDLE"] = "120"  # a warm pool left behind exits soon
    os.environ["TRAMWAY_JUPYTER_HOLDER_IDLE"] = "300"  # a connection holder too
    yield home
    from tramway_jupyter.backends import holder, pool

    pool.stop()  # the session's warm worker pool (if a test started one)
    holder.stop()  # the session's connection holder (a login that asked, see backends/ssh.py)
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def store(tmp_path: Path):
    from tramway_jupyter.jobs.store import Store

    return Store(tmp_path / "store.sqlite")
