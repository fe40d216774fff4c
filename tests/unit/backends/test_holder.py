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


class Sessions:
    """Session channels open at once on the test server, and its ``MaxSessions`` (0: none)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open = self.peak = self.refused = self.limit = 0

    def opened(self) -> bool:
        with self.lock:
            if self.limit and self.open >= self.limit:
                self.refused += 1
                return False
            self.open += 1
            self.peak = max(self.peak, self.open)
            return True

    def closed(self) -> None:
        with self.lock:
            self.open -= 1


SESSIONS = Sessions()


class _Server(paramiko.ServerInterface):
    def __init__(self, client_key: paramiko.PKey, log: list[str]) -> None:
        self.client_key, self.log, self.key_ok = client_key, log, False

    def get_allowed_auths(self, username: str) -> str:
        return "keyboard-interactive" if self.key_ok else "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if key == self.client_key:
            self.key_ok = True
            if username == "keyonly":  # a user with no second factor
                return paramiko.AUTH_SUCCESSFUL
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
        if not SESSIONS.opened():
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
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
    try:
        channel.sendall(out)
        channel.sendall_stderr(err)
        channel.send_exit_status(p.returncode)
    except OSError:
        pass  # the client went away (a test ended, a connection closed)
    finally:
        channel.close()
        SESSIONS.closed()


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
    fields: dict[str, Any] = dict(
        name="twofa", backend="slurm", host="127.0.0.1", port=sshd["port"], user="me",
        identity_file=str(sshd["dir"] / "id_rsa"), known_hosts=str(sshd["dir"] / "known_hosts"),
        holder=True)
    return Profile(**{**fields, **kw})


class Recorder:
    def __init__(self, code: str = CODE) -> None:
        self.code = code
        self.calls: list[tuple[str, list[tuple[str, bool]]]] = []

    def __call__(self, title: str, prompts: Sequence[tuple[str, bool]]) -> list[str]:
        self.calls.append((title, list(prompts)))
        return [PASSPHRASE if "assphrase" in p else self.code for p, _ in prompts]


def test_login_once_then_every_process_reuses_it(sshd, home, tmp_path, capsys):
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
    # `tramway-jupyter login` with no profile lists what is held
    from tramway_jupyter.cli import main as cli_main

    assert cli_main(["login"]) == 0
    out = capsys.readouterr().out
    assert f"me@127.0.0.1:{sshd['port']}: held; logged in 0 min ago, last used 0 min ago" in out
    assert "until no command used them for 0.0167 h" in out, out
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
    with pytest.raises(PromptUnavailableError, match="log in once with `tramway-jupyter login twofa`"):
        holder.HeldConnection(prof, prompter=None).run("true")
    assert not holder.holds(prof)


def test_logout_ends_the_login(sshd, home):
    prof = _profile(sshd)
    rec = Recorder()
    holder.login(prof, prompter=rec)
    assert holder.holds(prof)
    assert holder.logout(prof) is True
    assert holder.status() is None  # it held nothing else
    from tramway_jupyter.cli import main as cli_main

    holder.login(prof, prompter=rec)
    assert cli_main(["logout", "--all"]) == 0 and holder.status() is None  # the holder stopped
    assert cli_main(["logout"]) == 2  # a profile, or --all
    with pytest.raises(PromptUnavailableError, match="tramway-jupyter login"):
        holder.HeldConnection(prof, prompter=None).run("true")
    holder.login(prof, prompter=rec)
    assert len(rec.calls) == 6  # passphrase and code asked again after each logout


def test_a_login_that_asks_goes_to_the_holder_by_itself(sshd, home, tmp_path):
    """``holder`` unset: the first login that needs a passphrase and a code is made in the
    holder (asked once, of the prompter given), and another process then finds it held."""
    prof = _profile(sshd, holder=None)
    rec = Recorder()
    conn = ssh.get_connection(prof, prompter=rec)
    assert isinstance(conn, ssh.SSHConnection)  # direct, until a login asks
    assert conn.check(["echo", "first"]) == "first\n"
    assert [p for _, ps in rec.calls for p, _ in ps] == [
        f"Enter passphrase for key '{sshd['dir'] / 'id_rsa'}': ", "Verification code: "]
    assert holder.holds(prof) and conn.connects == 0  # made in the holder, not here
    assert conn.check(["echo", "again"]) == "again\n" and len(rec.calls) == 2
    # another process, no one to ask there: it finds the login held, and asks nothing
    code = ("from tramway_jupyter.backends import ssh, holder;"
            "from tramway_jupyter.backends.profiles import Profile;"
            f"p = Profile(name='x', backend='slurm', host='127.0.0.1', port={sshd['port']},"
            f" user='me', identity_file={str(sshd['dir'] / 'id_rsa')!r},"
            f" known_hosts={str(sshd['dir'] / 'known_hosts')!r});"
            "c = ssh.get_connection(p);"
            "print(type(c).__name__, c.check(['echo', 'other']), end='')")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL, env=dict(os.environ))
    assert p.returncode == 0 and p.stdout == "HeldConnection other\n", p.stderr
    assert [(h["logins"], h["prompts"]) for h in holder.status()["held"]] == [(1, 2)]


def test_no_prompt_needed_no_holder(sshd, home, tmp_path):
    """A login that asks nothing (an unencrypted key, no second factor) stays direct: no holder."""
    import paramiko as pm

    key = pm.PKey.from_path(str(sshd["dir"] / "id_rsa"), password=PASSPHRASE.encode())
    plain = tmp_path / "id_plain"
    key.write_private_key_file(str(plain))
    prof = _profile(sshd, holder=None, user="keyonly", identity_file=str(plain))
    rec = Recorder()
    conn = ssh.get_connection(prof, prompter=rec)
    assert conn.check(["echo", "direct"]) == "direct\n"
    assert conn.connects == 1 and not rec.calls and holder.status() is None


def test_a_failed_first_login_holds_nothing(sshd, home):
    prof = _profile(sshd, port=1)  # nothing listens there
    with pytest.raises(holder.HolderError, match="cannot connect to me@127.0.0.1:1 "):
        holder.login(prof, prompter=Recorder())
    assert holder.status()["held"] == []  # no entry left behind
    assert holder.logout(prof) is False


@pytest.mark.parametrize("ours", [ssh.MAX_SESSIONS, 2])
def test_more_commands_at_once_than_the_server_allows(sshd, home, tmp_path, monkeypatch, ours):
    """16 commands at once on one connection, against a server allowing 2 sessions (OpenSSH:
    MaxSessions, 10 by default): a refused session is asked for again on the same connection
    (no new login, which could need a code); at most MAX_SESSIONS are open at once."""
    from concurrent.futures import ThreadPoolExecutor

    key = paramiko.PKey.from_path(str(sshd["dir"] / "id_rsa"), password=PASSPHRASE.encode())
    key.write_private_key_file(str(tmp_path / "id_plain"))
    monkeypatch.setattr(ssh, "MAX_SESSIONS", ours)
    conn = ssh.SSHConnection("127.0.0.1", sshd["port"], "keyonly", str(tmp_path / "id_plain"),
                             str(sshd["dir"] / "known_hosts"))
    conn.check("true")
    for name, value in (("limit", 2), ("open", 0), ("peak", 0), ("refused", 0)):
        monkeypatch.setattr(SESSIONS, name, value)
    try:
        with ThreadPoolExecutor(16) as pool:
            outs = list(pool.map(lambda i: conn.check(f"sleep 0.1; echo {i}"), range(16)))
    finally:
        conn.close()
    assert outs == [f"{i}\n" for i in range(16)]
    assert conn.connects == 1 and SESSIONS.peak <= 2  # refused sessions did not reconnect
    if ours > 2:  # the server's limit was met: its refusals were waited out, and learnt
        assert SESSIONS.refused > 0 and conn._sessions.limit < ours
