"""The connection holder against an in-process SSH server (paramiko's server side) that asks a
key (protected by a passphrase) and then a one-time code: the real holder daemon, its socket,
its prompts relayed to the client, its counters. The testbed's OpenSSH + PAM version is in
tests/integration/test_holder.py.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import paramiko
import pytest

from tramway_jupyter.backends import holder, ssh
from tramway_jupyter.backends.profiles import Profile
from tramway_jupyter.exceptions import PromptUnavailableError, WrongSecretError

CODE = "424242"
PASSPHRASE = "correct horse 7"


class _Server(paramiko.ServerInterface):
    def __init__(self, client_key: paramiko.PKey, log: list[str]) -> None:
        self.client_key, self.log, self.key_ok = client_key, log, False

    def get_allowed_auths(self, username: str) -> str:
        return "keyboard-interactive" if self.key_ok else "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if key == self.client_key:
            self.key_ok = True
            return paramiko.AUTH_PARTIALLY_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_auth_interactive(self, username: str, submethods: str) -> Any:
        if not self.key_ok:
            return paramiko.AUTH_FAILED
        return paramiko.InteractiveQuery("", "", ("Verification code: ", False))

    def check_auth_interactive_response(self, responses: Sequence[str]) -> int:
        self.log.append("code " + ("ok" if list(responses) == [CODE] else "refused"))
        return paramiko.AUTH_SUCCESSFUL if list(responses) == [CODE] else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: Any, command: bytes) -> bool:
        threading.Thread(target=_run, args=(channel, command), daemon=True).start()
        return True


def _run(channel: Any, command: bytes) -> None:
    p = subprocess.Popen(["/bin/sh", "-c", command.decode()], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdin = p.stdin
    assert stdin is not None

    def pump() -> None:  # stdin as it comes (a command may end without reading it)
        try:
            while data := channel.recv(1 << 16):
                stdin.write(data)
            stdin.close()
        except (OSError, ValueError):
            pass

    threading.Thread(target=pump, daemon=True).start()
    assert p.stdout is not None and p.stderr is not None
    out = p.stdout.read()
    err = p.stderr.read()
    p.wait()
    channel.sendall(out)
    channel.sendall_stderr(err)
    channel.send_exit_status(p.returncode)
    channel.close()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    d = tmp_path_factory.mktemp("sshd")
    host_key = paramiko.RSAKey.generate(2048)
    client_key = paramiko.RSAKey.generate(2048)
    client_key.write_private_key_file(str(d / "id_rsa"), password=PASSPHRASE)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    port = lsock.getsockname()[1]
    (d / "known_hosts").write_text(
        f"[127.0.0.1]:{port} {host_key.get_name()} {host_key.get_base64()}\n")
    log: list[str] = []
    transports: list[paramiko.Transport] = []

    def serve() -> None:
        while True:
            try:
                s, _ = lsock.accept()
            except OSError:
                return
            t = paramiko.Transport(s)
            t.add_server_key(host_key)
            t.start_server(server=_Server(client_key, log))
            transports.append(t)
            log.append("connection")

    threading.Thread(target=serve, daemon=True).start()
    yield {"port": port, "dir": d, "log": log, "transports": transports}
    lsock.close()
    for t in transports:
        t.close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    h = tmp_path / "h"
    monkeypatch.setenv("TRAMWAY_JUPYTER_HOME", str(h))
    monkeypatch.delenv(holder.ENV_IDLE, raising=False)
    ssh.close_connections()
    yield h
    ssh.close_connections()
    holder.stop()


def _profile(sshd: dict[str, Any], **kw: Any) -> Profile:
    return Profile(name="twofa", backend="slurm", host="127.0.0.1", port=sshd["port"],
                   user="me", identity_file=str(sshd["dir"] / "id_rsa"),
                   known_hosts=str(sshd["dir"] / "known_hosts"), holder=True, **kw)


class Recorder:
    def __init__(self, code: str = CODE) -> None:
        self.code = code
        self.calls: list[tuple[str, list[tuple[str, bool]]]] = []

    def __call__(self, title: str, prompts: Sequence[tuple[str, bool]]) -> list[str]:
        self.calls.append((title, list(prompts)))
        return [PASSPHRASE if "assphrase" in p else self.code for p, _ in prompts]


def test_login_once_then_every_process_reuses_it(sshd, home, tmp_path):
    prof = _profile(sshd, holder_idle=60)
    rec = Recorder()
    facts = holder.login(prof, prompter=rec)
    assert facts["active"] and facts["logins"] == 1 and facts["prompts"] == 2
    # a passphrase, then the code: both masked, asked once
    assert [p for _, ps in rec.calls for p in ps] == [
        (f"Enter passphrase for key '{sshd['dir'] / 'id_rsa'}': ", False), ("Verification code: ", False)]
    d = holder.holder_dir()
    assert d == home / "holder" and stat.S_IMODE(d.stat().st_mode) == 0o700
    assert holder.status()["idle_timeout"] == 60
    # this process: commands and tar streams through the holder, no prompt
    conn = ssh.get_connection(prof)
    assert isinstance(conn, holder.HeldConnection)
    assert conn.check("echo hi; echo err >&2").strip() == "hi"
    rc, out, err = conn.run(["sh", "-c", "cat; exit 3"], input="stdin text")
    assert (rc, out, err) == (3, "stdin text", "")
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "a.txt").write_text("A" * 200_000)
    assert conn.put_tar(tmp_path / "up", str(tmp_path / "remote")) > 200_000
    _, files = conn.get_tar(str(tmp_path / "remote"), tmp_path / "down", ["a.txt"])
    assert (tmp_path / "down" / "a.txt").read_text() == "A" * 200_000
    # another process, with no one to ask: the held login serves it
    p = subprocess.run(
        [sys.executable, "-c", "from tramway_jupyter.backends import holder;"
         "from tramway_jupyter.backends.profiles import Profile;"
         f"c = holder.HeldConnection(Profile(name='x', host='127.0.0.1', port={sshd['port']},"
         f" user='me', identity_file={str(sshd['dir'] / 'id_rsa')!r},"
         f" known_hosts={str(sshd['dir'] / 'known_hosts')!r}), prompter=None);"
         "print(c.check(['echo', 'other process']), end='')"],
        capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert p.returncode == 0 and p.stdout == "other process\n", (
        p.stderr, sshd["log"], (d / "holder.log").read_text())
    st = holder.status()
    assert [(h["logins"], h["prompts"]) for h in st["held"]] == [(1, 2)]
    assert len(rec.calls) == 2 and sshd["log"].count("code ok") >= 1
    # nothing secret in the holder's files
    for f in d.iterdir():
        if f.is_file():
            text = f.read_bytes()
            assert PASSPHRASE.encode() not in text and CODE.encode() not in text, f


def test_wrong_code_and_no_one_to_ask(sshd, home):
    prof = _profile(sshd)
    with pytest.raises(WrongSecretError,
                       match=f"SSH authentication to me@127.0.0.1:{sshd['port']} failed: the code"):
        holder.login(prof, prompter=Recorder(code="000000"))
    with pytest.raises(PromptUnavailableError, match="tramway-jupyter login"):
        holder.HeldConnection(prof, prompter=None).run("true")
    assert not holder.holds(prof)


def test_logout_ends_the_login(sshd, home):
    prof = _profile(sshd)
    rec = Recorder()
    holder.login(prof, prompter=rec)
    assert holder.holds(prof)
    assert holder.logout(prof) is True
    assert holder.status() is None  # it held nothing else
    with pytest.raises(PromptUnavailableError, match="tramway-jupyter login"):
        holder.HeldConnection(prof, prompter=None).run("true")
    holder.login(prof, prompter=rec)
    assert len(rec.calls) == 4  # passphrase and code asked again after the logout
