"""The warm pool's own pieces: its directory, its fingerprint, its lifetime (a real daemon)."""

from __future__ import annotations

import os
import stat
import time

import pytest

from tramway_jupyter.backends import pool
from tramway_jupyter.backends.local import resolve_local_profile
from tramway_jupyter.backends.local_runner import parse_mem
from tramway_jupyter.backends.procs import is_alive
from tramway_jupyter.backends.profiles import Profile
from tramway_jupyter.cli import main as cli_main
from tramway_jupyter.jobs.memory_limit import format_mem, memory_message


@pytest.fixture
def own_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAMWAY_JUPYTER_HOME", str(tmp_path / "home"))
    yield tmp_path / "home"
    pool.stop()


def test_pool_dir_is_private(own_home):
    d = pool.pool_dir()
    st = d.stat()
    assert d == own_home / "pool" and stat.S_IMODE(st.st_mode) == 0o700
    assert st.st_uid == os.getuid()
    os.chmod(d, 0o755)
    assert stat.S_IMODE(pool.pool_dir().stat().st_mode) == 0o700


def test_fingerprint_follows_installed_packages_and_import_env(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setenv("PYTHONPATH", str(site))
    before = pool.fingerprint()
    assert pool.fingerprint() == before  # stable
    time.sleep(0.01)
    (site / "newpkg-1.0.dist-info").mkdir()  # what `pip install` does to a site directory
    after_install = pool.fingerprint()
    assert after_install != before
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert pool.fingerprint() != after_install


def test_settings_from_profile_and_env(monkeypatch):
    monkeypatch.delenv(pool.ENV_WARM_POOL, raising=False)
    monkeypatch.delenv(pool.ENV_IDLE, raising=False)
    assert pool.enabled(Profile()) and not pool.enabled(Profile(warm_pool=False))
    assert pool.idle_timeout(Profile()) == pool.DEFAULT_IDLE_TIMEOUT
    assert pool.idle_timeout(Profile(pool_idle_timeout=30)) == 30
    monkeypatch.setenv(pool.ENV_IDLE, "5")
    assert pool.idle_timeout(Profile(pool_idle_timeout=30)) == 5
    monkeypatch.setenv(pool.ENV_WARM_POOL, "0")
    assert not pool.enabled(Profile())


def test_daemon_exits_when_idle_and_stops_on_request(own_home, capsys):
    pool._start_daemon(idle=1.0)
    st = pool.status()
    assert st is not None and st["fingerprint"] == pool.fingerprint()
    assert stat.S_IMODE(pool.socket_path().stat().st_mode) & 0o077 == 0
    deadline = time.monotonic() + 30
    while is_alive(str(st["pid"])) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not is_alive(str(st["pid"])) and not pool.socket_path().exists()
    pool._start_daemon(idle=600)
    pid = pool.status()["pid"]
    assert cli_main(["pool", "status"]) == 0 and f"pid {pid}" in capsys.readouterr().out
    assert cli_main(["pool", "stop"]) == 0 and "stopped" in capsys.readouterr().out
    assert pool.status() is None and not is_alive(str(pid))
    assert pool.stop() is False


def test_mem_sizes():
    assert parse_mem("2G") == 2 << 30 and parse_mem("500M") == 500 << 20
    assert parse_mem("2GB") == 2 << 30 and parse_mem("1.5g") == 3 << 29
    assert parse_mem("4096") == 4096 << 20 and parse_mem(None) is None
    for bad in ("lots", "-1G", "0"):
        with pytest.raises(ValueError):
            parse_mem(bad)
    assert format_mem(2 << 30) == "2 GB" and format_mem(500 << 20) == "500 MB"
    assert memory_message(2 << 30) == "over its memory limit (2 GB): raise --mem"


def test_workers_cap_only_for_local_backends():
    from tramway_jupyter.backends.local import cpu_count

    with pytest.warns(UserWarning, match="--oversubscribe"):
        assert resolve_local_profile(Profile(workers=10_000)).workers == cpu_count()
    assert resolve_local_profile(Profile(workers=10_000, oversubscribe=True)).workers == 10_000
    slurm = Profile(name="c", backend="slurm", workers=10_000)
    assert resolve_local_profile(slurm).workers == 10_000
    with pytest.raises(ValueError, match="memory size"):
        resolve_local_profile(Profile(mem="two gigs"))


def test_daemon_exits_when_its_home_is_removed(own_home):
    import shutil

    pool._start_daemon(idle=600)
    pid = pool.status()["pid"]
    shutil.rmtree(own_home)  # e.g. a temporary home of a finished test or benchmark
    deadline = time.monotonic() + 10
    while is_alive(str(pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not is_alive(str(pid))
