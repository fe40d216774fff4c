"""REST tests of the server extension with pytest-jupyter (a real ServerApp, jp_fetch).

pytest-jupyter's fixtures and async hooks are imported here, not via a root ``pytest_plugins``,
so that they apply to this directory only (its autouse event-loop fixtures clash with
pytest-playwright's sync API in tests/ui).
"""

from __future__ import annotations

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403

from .fakes import fake_batch_factory
from .fixtures import make_store


@pytest.fixture
def tramway_store(tmp_path, jp_root_dir):
    return make_store(tmp_path / "store.sqlite", jp_root_dir / "batches", tmp_path / "outside")


@pytest.fixture
def jp_server_config(tramway_store):
    return {
        "ServerApp": {
            "jpserver_extensions": {"tramway_jupyter": True},
            "allow_unauthenticated_access": False,
        },
        "TramwayServer": {
            "store_path": str(tramway_store.path),
            "refresh_interval": 0,
            "batch_factory": fake_batch_factory,
        },
    }


@pytest.fixture(autouse=True)
def _no_process_prompter_left():
    """The extension installs its prompt board as the process prompter: not beyond its test."""
    yield
    from tramway_jupyter.backends.prompts import set_process_prompter

    set_process_prompter(None)
