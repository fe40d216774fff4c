"""Fixtures for the integration tests against the real test infrastructure.

``bash scripts/infra/start-infra.sh`` starts a single-node Slurm, a loopback sshd for ``hpcuser``
and the container stand-in, and writes ``$INFRA_DIR/infra.env`` (default ``<repo>/.infra``).
Without it these tests are skipped with the reason, except in CI (``CI`` set), where a missing
service is a failure.
"""

from __future__ import annotations

import os
import shlex
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

from tramway_jupyter.backends import ssh
from tramway_jupyter.backends.profiles import Profile
from tramway_jupyter.jobs.store import Store

REPO = Path(__file__).resolve().parents[2]


def _infra_env() -> tuple[dict[str, str] | None, str]:
    d = Path(os.environ.get("INFRA_DIR") or REPO / ".infra")
    path = d / "infra.env"
    if not path.exists():
        return None, f"{path} not found: run `bash scripts/infra/start-infra.sh` (as root) first"
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("export ") and "=" in line:
            k, _, v = line[7:].partition("=")
            env[k] = " ".join(shlex.split(v)) if v else ""
    try:
        with socket.create_connection((env["INFRA_SSH_HOST"], int(env["INFRA_SSH_PORT"])), 3):
            pass
    except (OSError, KeyError) as exc:
        return None, f"sshd of the test infrastructure not reachable ({exc}): run start-infra.sh"
    return env, ""


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off"):
        pytest.fail(f"test infrastructure missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def infra() -> dict[str, str]:
    env, reason = _infra_env()
    if env is None:
        _missing(reason)
    assert env is not None
    return env


@pytest.fixture
def scratch(infra: dict[str, str]) -> str:
    """A scratch directory of its own on the cluster for each test."""
    return f"{infra['INFRA_REMOTE_SCRATCH']}/it-{uuid.uuid4().hex[:8]}"


def make_profile(infra: dict[str, str], scratch: str, **kw: Any) -> Profile:
    d: dict[str, Any] = dict(
        name="testcluster", backend="slurm", host=infra["INFRA_SSH_HOST"],
        port=int(infra["INFRA_SSH_PORT"]), user=infra["INFRA_SSH_USER"],
        identity_file=infra["INFRA_SSH_KEY"], known_hosts=infra["INFRA_SSH_KNOWN_HOSTS"],
        scratch=scratch, python=infra["INFRA_REMOTE_PYTHON"], partition=infra["INFRA_SLURM_PARTITION"],
        walltime="00:10:00", poll_interval_max=2.0, stage_data=True,
    )
    d.update(kw)
    return Profile(**d)


@pytest.fixture
def profile(infra: dict[str, str], scratch: str) -> Profile:
    return make_profile(infra, scratch)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store.sqlite")


@pytest.fixture
def conn(profile: Profile) -> ssh.Connection:
    return ssh.get_connection(profile)


@pytest.fixture(autouse=True)
def _no_leftover_jobs(request: pytest.FixtureRequest) -> Any:
    """Nothing of a test may keep running on the cluster after it."""
    yield
    if "infra" not in request.fixturenames:
        return
    prof: Profile | None = request.node.funcargs.get("profile")
    sc: str | None = request.node.funcargs.get("scratch")
    if prof is None or sc is None:
        return
    c = ssh.get_connection(prof)
    # cancel this test's jobs (those working in its scratch) that are still queued or running
    c.run("squeue -h -u \"$(id -un)\" -o '%A %Z' | awk -v d=" + shlex.quote(sc + "/")
          + " 'index($2 \"/\", d) == 1 {print $1}' | sort -u | xargs -r scancel 2>/dev/null; true")
    c.run(["rm", "-rf", "--", sc])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here) and not any(
            item.iter_markers(name=m) for m in ("slurm", "ssh", "container")
        ):
            item.add_marker(pytest.mark.ssh)
