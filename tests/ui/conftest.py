"""A real ``jupyter lab`` (with the tramway-jupyter server and lab extensions) driven by
pytest-playwright on Debian's chromium: Playwright's own browser download is not reachable here
(scripts/setup-lab-tests.sh installs it)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("TRAMWAY_TEST_ARTIFACTS", REPO / "test-artifacts"))
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


def pytest_collection_modifyitems(config, items):
    """Mark these tests ``browser`` and run them last: pytest-playwright's sync API keeps an
    event loop running in the main thread, which breaks asyncio tests run after it."""
    here = Path(__file__).parent
    mine = [i for i in items if Path(str(i.fspath)).is_relative_to(here)]
    for item in mine:
        item.add_marker(pytest.mark.browser)
    items[:] = [i for i in items if i not in mine] + mine


def _require(ok: bool, why: str) -> None:
    if ok:
        return
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off"):  # in CI a missing piece is a failure, never a skip
        pytest.fail(why + " (run scripts/setup-lab-tests.sh)")
    pytest.skip(why)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    _require(Path(CHROMIUM).exists(), f"no chromium at {CHROMIUM}")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1366, "height": 820}}


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _labextension_source() -> Path | None:
    built = REPO / "tramway_jupyter" / "labextension"
    return built if (built / "package.json").exists() else None


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """Start jupyter lab on a free port with its own config, settings, store and batches."""
    root = tmp_path_factory.mktemp("lab")
    nbdir = root / "notebooks"
    nbdir.mkdir()
    from tramway_jupyter.analysis import write_simulation

    write_simulation(nbdir / "data", n_files=2, n_rois=2, seed=0, n_translocations=2000)

    settings = root / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    config = root / "config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "ServerApp": {"jpserver_extensions": {"tramway_jupyter": True}},
                "TramwayServer": {"refresh_interval": 2.0},
            }
        )
    )
    data = root / "data"
    (data / "labextensions").mkdir(parents=True)
    src = _labextension_source()
    if src is not None:  # the in-tree build wins over an installed copy
        (data / "labextensions" / "tramway-jupyter").symlink_to(src)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_PATH=str(data),
        JUPYTER_RUNTIME_DIR=str(root / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(root / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(root / "workspaces"),
        TRAMWAY_JUPYTER_STORE=str(root / "store.sqlite"),
        TRAMWAY_JUPYTER_BATCHES=str(nbdir / "batches"),
        TRAMWAY_JUPYTER_PROFILES=str(root / "profiles.toml"),
        # its own data home: the connection holder's socket and log (test_login_dialog)
        TRAMWAY_JUPYTER_HOME=str(root / "home"),
        TRAMWAY_JUPYTER_HOLDER_IDLE="300",
    )
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={nbdir}",
        "--LabApp.news_url=None",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log_path = root / "lab.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=nbdir, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_for_lab(proc, base, token, log_path)
            yield {"base": base, "token": token, "root": nbdir, "log": log_path, "env": env}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            if ARTIFACTS.exists():
                shutil.copy(log_path, ARTIFACTS / "lab.log")


def _wait_for_lab(proc: subprocess.Popen, base: str, token: str, log_path: Path) -> None:
    """Until the server answers on our API (so the extension is loaded), or 60 s."""
    deadline = time.monotonic() + 60
    while True:
        try:
            req = urllib.request.Request(
                f"{base}/tramway/api/batches", headers={"Authorization": f"token {token}"}
            )
            if urllib.request.urlopen(req, timeout=2).status == 200:
                return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("jupyter lab did not start:\n" + log_path.read_text())
        time.sleep(0.2)


# pytest-jupyter's autouse loop fixtures (if a root conftest loads it as a plugin) clash with
# pytest-playwright's sync API ("Cannot close a running event loop"): neutralise them here.
@pytest.fixture(autouse=True)
def jp_asyncio_loop():
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup():
    yield
