"""Cluster access as labs have it, against the testbed: a bastion (ProxyJump, strict host keys on
every hop), an ssh-agent, a passphrase-protected key asked once, and no secret in any file written.

The testbed (``scripts/infra/start-infra.sh``) adds a bastion sshd (127.0.0.1:2223, forwarding
allowed, its own host key in ``keys/known_hosts_bastion``), and ``keys/id_passphrase``: the test key
with a test-only passphrase. The agent is started here (``ssh-agent -D -a SOCK``, ``ssh-add``).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tramway_jupyter.backends import holder, ssh, ssh_auth
from tramway_jupyter.backends.prompts import PromptUnavailableError, no_prompter
from tramway_jupyter.demo import demo_pipeline
from tramway_jupyter.exceptions import BackendUnavailableError, HostKeyError
from tramway_jupyter.orchestration.submit import submit

from .conftest import _missing
from .helpers import data_files, light_pipeline

pytestmark = [pytest.mark.slurm, pytest.mark.ssh]

NEEDED = ("INFRA_BASTION_PORT", "INFRA_BASTION_KNOWN_HOSTS", "INFRA_BASTION_HOSTKEY_SHA256",
          "INFRA_KNOWN_HOSTS_ALL", "INFRA_SSH_KEY_ENCRYPTED", "INFRA_SSH_KEY_PASSPHRASE")


@pytest.fixture
def access(infra: dict[str, str]) -> dict[str, str]:
    """The testbed's bastion and passphrase key (a failure in CI when they are missing)."""
    lacking = [k for k in NEEDED if not infra.get(k)]
    if lacking:
        _missing(f"the testbed has no bastion/passphrase key ({', '.join(lacking)} not in"
                 " infra.env): rerun `bash scripts/infra/start-infra.sh`")
    import socket

    try:
        with socket.create_connection(("127.0.0.1", int(infra["INFRA_BASTION_PORT"])), 3):
            pass
    except OSError as exc:
        _missing(f"bastion sshd not reachable on 127.0.0.1:{infra['INFRA_BASTION_PORT']} ({exc})")
    ssh_auth.forget_keys()
    yield infra
    ssh_auth.forget_keys()
    ssh.close_connections()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty home: no ~/.ssh/id_* keys, no agent, unless a test puts them there."""
    h = tmp_path / "home"
    (h / ".ssh").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    ssh.close_connections()
    yield h
    ssh.close_connections()
    holder.stop()  # a login that asked was made in the holder: not kept for the next test


@pytest.fixture
def agent(access: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A real ssh-agent holding the test key; SSH_AUTH_SOCK points to it."""
    if shutil.which("ssh-agent") is None or shutil.which("ssh-add") is None:
        _missing("ssh-agent/ssh-add not installed (openssh-client)")
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", access["INFRA_SSH_KEY"]], env=env, check=True,
                       stdin=subprocess.DEVNULL, timeout=30)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        yield sock
    finally:
        proc.terminate()
        proc.wait(10)


class CountingPrompter:
    """Answers every question with ``answer`` and counts the calls (a user at a prompt)."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.calls: list[str] = []

    def __call__(self, title: str, prompts: list[tuple[str, bool]]) -> list[str]:
        self.calls.append(title)
        return [self.answer for _ in prompts]


def _write_config(home: Path, infra: dict[str, str], *, key: str | None = None,
                  bastion_known_hosts: str | None = None) -> None:
    ident = f"  IdentityFile {key}\n  IdentitiesOnly yes\n" if key else ""
    (home / ".ssh" / "config").write_text(
        "Host tj-bastion\n  HostName 127.0.0.1\n"
        f"  Port {infra['INFRA_BASTION_PORT']}\n  User {infra['INFRA_SSH_USER']}\n{ident}"
        f"  UserKnownHostsFile {bastion_known_hosts or infra['INFRA_BASTION_KNOWN_HOSTS']}\n"
        "Host tj-cluster\n  HostName 127.0.0.1\n"
        f"  Port {infra['INFRA_SSH_PORT']}\n  User {infra['INFRA_SSH_USER']}\n{ident}"
        f"  UserKnownHostsFile {infra['INFRA_SSH_KNOWN_HOSTS']}\n"
        "  ProxyJump tj-bastion\n"
    )


def _direct(infra: dict[str, str], **kw: Any) -> ssh.SSHConnection:
    kw.setdefault("known_hosts", infra["INFRA_SSH_KNOWN_HOSTS"])
    return ssh.SSHConnection(infra["INFRA_SSH_HOST"], int(infra["INFRA_SSH_PORT"]),
                             infra["INFRA_SSH_USER"], **kw)


def _jump(infra: dict[str, str]) -> str:
    return f"{infra['INFRA_SSH_USER']}@127.0.0.1:{infra['INFRA_BASTION_PORT']}"


def test_quickstart_pipeline_through_a_proxyjump_alias(access, home, profile, store, tmp_path):
    """A profile naming only an alias whose ~/.ssh/config entry jumps through the bastion; the
    cluster's sshd forbids forwarding, the bastion allows it."""
    from tramway_jupyter.analysis import write_simulation

    _write_config(home, access, key=access["INFRA_SSH_KEY"])
    prof = profile.replace(host="tj-cluster", port=None, user=None, identity_file=None,
                           known_hosts=None, stage_data=True)
    conn = ssh.get_connection(prof)
    assert isinstance(conn, ssh.SSHConnection) and conn.proxy_jump == "tj-bastion"
    paths = write_simulation(tmp_path / "data", n_files=2, n_rois=4, seed=0)
    batch = submit(demo_pipeline(), [str(p) for p in paths], profile=prof, store=store,
                   batches_root=tmp_path / "batches")
    batch.wait(timeout=240)
    results = batch.results()
    assert results.ok, results
    assert len(results.get("median_diffusivity")) == 8 and len(results.get("n_cells")) == 2
    assert batch.backend.conn is conn
    hop = conn._jump
    assert hop is not None and hop.connects >= 1 and hop.port == int(access["INFRA_BASTION_PORT"])
    assert conn.connects >= 1
    # the hop's host key was checked against the bastion's known_hosts, the target's against its own
    assert access["INFRA_BASTION_KNOWN_HOSTS"] in hop.known_hosts


def test_unknown_bastion_key_is_refused_with_its_fingerprint(access, home, tmp_path):
    empty = tmp_path / "known_hosts_empty"
    empty.write_text("")
    _write_config(home, access, key=access["INFRA_SSH_KEY"], bastion_known_hosts=str(empty))
    conn = ssh.SSHConnection("tj-cluster")
    with pytest.raises(HostKeyError) as exc:
        conn.run(["true"])
    msg = str(exc.value)
    assert access["INFRA_BASTION_HOSTKEY_SHA256"] in msg, msg
    assert "jump host" in msg and "unknown" in msg
    assert f"ssh-keyscan -p {access['INFRA_BASTION_PORT']}" in msg
    assert conn.connects == 0 and empty.read_text() == ""  # nothing added behind the user's back
    # the same with the profile's `jump` key and the cluster's known_hosts only; with the bastion's
    # key known too, it goes through
    bare = _direct(access, identity_file=access["INFRA_SSH_KEY"], jump=_jump(access))
    with pytest.raises(HostKeyError, match=re.escape(access["INFRA_BASTION_HOSTKEY_SHA256"])):
        bare.run(["true"])
    ok = _direct(access, identity_file=access["INFRA_SSH_KEY"], jump=_jump(access),
                 known_hosts=access["INFRA_KNOWN_HOSTS_ALL"])
    try:
        assert ok.check(["id", "-un"]).strip() == access["INFRA_SSH_USER"]
    finally:
        ok.close()


def test_unknown_target_key_behind_the_bastion_is_refused(access, home, tmp_path):
    kh = tmp_path / "bastion_only"
    kh.write_text(Path(access["INFRA_BASTION_KNOWN_HOSTS"]).read_text())
    conn = _direct(access, identity_file=access["INFRA_SSH_KEY"], jump=_jump(access),
                   known_hosts=str(kh))
    with pytest.raises(HostKeyError) as exc:
        conn.run(["true"])
    assert access["INFRA_SSH_HOSTKEY_SHA256"] in str(exc.value)
    assert conn._jump is not None and conn._jump.connects == 1  # the bastion was fine
    conn.close()


def test_agent_only_authentication(access, home, agent):
    """No identity file anywhere (an empty ~/.ssh): the agent's key logs in, directly and on
    both hops through the bastion; without the agent the failure says what was offered."""
    assert not list((home / ".ssh").glob("id_*"))
    direct = _direct(access)
    through = _direct(access, jump=_jump(access), known_hosts=access["INFRA_KNOWN_HOSTS_ALL"])
    try:
        assert direct.check(["id", "-un"]).strip() == access["INFRA_SSH_USER"]
        assert through.check(["id", "-un"]).strip() == access["INFRA_SSH_USER"]
    finally:
        direct.close()
        through.close()
    os.environ.pop("SSH_AUTH_SOCK")
    alone = _direct(access)
    with pytest.raises(BackendUnavailableError, match="no key .no agent, no readable key file"):
        alone.run(["true"])


def test_passphrase_asked_once_and_a_wrong_one_refused(access, home):
    key, secret = access["INFRA_SSH_KEY_ENCRYPTED"], access["INFRA_SSH_KEY_PASSPHRASE"]
    wrong = CountingPrompter("not-the-passphrase")
    conn = _direct(access, identity_file=key, prompter=wrong)
    with pytest.raises(ssh_auth.WrongSecretError) as exc:
        conn.run(["true"])
    assert f"wrong passphrase for the SSH key {key}" in str(exc.value)
    assert len(wrong.calls) == 1  # refused, not asked again in a loop
    nobody = _direct(access, identity_file=key, prompter=no_prompter("in this test"))
    with pytest.raises(PromptUnavailableError, match="tramway-jupyter login PROFILE"):
        nobody.run(["true"])

    ask = CountingPrompter(secret)
    # two hops with the same key: one question
    conn = _direct(access, identity_file=key, jump=_jump(access),
                   known_hosts=access["INFRA_KNOWN_HOSTS_ALL"], prompter=ask)
    assert conn.check(["id", "-un"]).strip() == access["INFRA_SSH_USER"]
    conn.close()
    again = _direct(access, identity_file=key, prompter=ask)  # a new connection, same process
    assert again.check(["true"]) == ""
    again.close()
    assert len(ask.calls) == 1 and key in ask.calls[0]


def test_no_secret_in_any_file_written(access, home, profile, store, tmp_path, scratch, caplog):
    """A batch with the passphrase key: the passphrase is asked once, then found nowhere: not in
    the batch directory (logs included), the store, the remote batch directory or the log."""
    key, secret = access["INFRA_SSH_KEY_ENCRYPTED"], access["INFRA_SSH_KEY_PASSPHRASE"]
    ask = CountingPrompter(secret)
    caplog.set_level(logging.DEBUG)
    prof = profile.replace(identity_file=key)
    ssh.close_connections()
    ssh.get_connection(prof, prompter=ask).check(["true"])  # the login
    data = data_files(tmp_path / "data", ["a.txt", "b.txt"], n_rois=2)
    batch = submit(light_pipeline(), [str(p) for p in data], profile=prof, store=store,
                   batches_root=tmp_path / "batches")
    batch.wait(timeout=120)
    assert batch.results().ok
    assert len(ask.calls) == 1
    needle = secret.encode()
    hits = [p for p in tmp_path.rglob("*") if p.is_file() and needle in p.read_bytes()]
    assert hits == [], hits
    assert secret not in caplog.text
    # the login asked, so it was made in the connection holder (profile key `holder` unset)
    assert holder.holds(prof)
    assert secret not in (holder.holder_dir() / "holder.log").read_text()
    rc, out, _ = batch.backend.conn.run(["grep", "-rlF", "--", secret, scratch])
    assert rc == 1 and out == "", out  # grep: 1 = no match


def test_profiles_check_shows_the_round_trip_time(access, tmp_path, capsys):
    """Through the delay proxy (40 ms each way) the check measures about 80 ms and says what a
    slow link costs; directly, a few ms."""
    import json

    from tramway_jupyter.backends.cli import add_subcommands

    if not access.get("INFRA_DELAY_PORT"):
        _missing("the testbed has no delay proxy (INFRA_DELAY_PORT): rerun start-infra.sh")
    f = tmp_path / "profiles.toml"
    common = (f'backend = "slurm"\nhost = "127.0.0.1"\nuser = "{access["INFRA_SSH_USER"]}"\n'
              f'identity_file = "{access["INFRA_SSH_KEY"]}"\n'
              f'known_hosts = "{access["INFRA_SSH_KNOWN_HOSTS"]}"\nscratch = "~/scratch/check"\n'
              f'partition = "debug"\npython = "{access["INFRA_REMOTE_PYTHON"]}"\n')
    f.write_text(f'[profiles.slow]\n{common}port = {access["INFRA_DELAY_PORT"]}\n'
                 f'[profiles.lan]\n{common}port = {access["INFRA_SSH_PORT"]}\n')
    import argparse

    p = argparse.ArgumentParser()
    add_subcommands(p.add_subparsers(dest="cmd"))
    rtt = {}
    for name in ("slow", "lan"):
        args = p.parse_args(["profiles", name, "--check", "--file", str(f), "--json"])
        assert args.func(args) == 0
        checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)[name]["checks"]}
        detail = checks["round trip"]["detail"]
        rtt[name] = float(re.match(r"(\d+) ms \(median of 3 `true` commands\)", detail).group(1))
        if name == "slow":
            assert "a slow link" in detail
    expected = 2 * float(access.get("INFRA_DELAY_MS", 40))
    assert expected * 0.9 <= rtt["slow"] <= expected * 4 + 400, rtt  # ~2 round trips a command
    assert rtt["lan"] < rtt["slow"] - expected * 0.5, rtt
