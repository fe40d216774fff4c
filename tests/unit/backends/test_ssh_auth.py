"""Key files for SSH authentication: a passphrase asked once per process (the decrypted key kept,
never the passphrase), a wrong one refused clearly, unreadable files skipped; no secret logged."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess

import pytest

from tramway_jupyter.backends import ssh, ssh_auth
from tramway_jupyter.backends.prompts import PromptUnavailableError, no_prompter

PASSPHRASE = "unit-test-passphrase-93"


@pytest.fixture
def encrypted_key(tmp_path):
    if shutil.which("ssh-keygen") is None:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off"):
            pytest.fail("ssh-keygen not installed (openssh-client)", pytrace=False)
        pytest.skip("ssh-keygen not installed")
    path = tmp_path / "id_lab"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", PASSPHRASE, "-f", str(path)],
                   check=True)
    ssh_auth.forget_keys()
    yield str(path)
    ssh_auth.forget_keys()


class CountingPrompter:
    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.calls: list[tuple[str, list[tuple[str, bool]]]] = []

    def __call__(self, title: str, prompts: list[tuple[str, bool]]) -> list[str]:
        self.calls.append((title, prompts))
        return [self.answer for _ in prompts]


def test_passphrase_is_asked_once_per_process(encrypted_key, caplog):
    ask = CountingPrompter(PASSPHRASE)
    plan = ssh_auth.AuthPlan("jdoe@maestro:22", prompter=ask)
    with caplog.at_level(logging.DEBUG):
        key = ssh_auth.load_key_file(encrypted_key, plan)
        again = ssh_auth.load_key_file(encrypted_key, ssh_auth.AuthPlan("other:22", prompter=ask))
    assert key is not None and again is key
    assert len(ask.calls) == 1
    title, questions = ask.calls[0]
    assert encrypted_key in title and "jdoe@maestro:22" in title
    assert questions == [(f"Enter passphrase for key '{encrypted_key}': ", False)]
    assert PASSPHRASE not in caplog.text
    assert all(PASSPHRASE not in repr(v) for v in vars(plan).values())
    ssh_auth.forget_keys()
    ssh_auth.load_key_file(encrypted_key, plan)
    assert len(ask.calls) == 2  # logout forgets the key


def test_wrong_passphrase_is_refused_clearly_and_not_kept(encrypted_key, caplog):
    ask = CountingPrompter("not-it")
    with caplog.at_level(logging.DEBUG), pytest.raises(ssh_auth.WrongSecretError) as exc:
        ssh_auth.load_key_file(encrypted_key, ssh_auth.AuthPlan("jdoe@maestro:22", prompter=ask))
    assert str(exc.value).startswith(f"wrong passphrase for the SSH key {encrypted_key}")
    assert "not-it" not in str(exc.value) and "not-it" not in caplog.text
    good = CountingPrompter(PASSPHRASE)
    assert ssh_auth.load_key_file(encrypted_key, ssh_auth.AuthPlan("h:22", prompter=good))
    assert len(good.calls) == 1


def test_nobody_to_ask_refuses_and_unreadable_keys_are_skipped(encrypted_key, tmp_path):
    with pytest.raises(PromptUnavailableError, match="needs a passphrase/code"):
        ssh_auth.load_key_file(encrypted_key, ssh_auth.AuthPlan("h:22", prompter=no_prompter()))
    plain = tmp_path / "id_plain"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(plain)], check=True)
    ask = CountingPrompter("x")
    assert ssh_auth.load_key_file(str(plain), ssh_auth.AuthPlan("h:22", prompter=ask)) is not None
    assert ssh_auth.load_key_file(str(tmp_path / "missing"), ssh_auth.AuthPlan("h:22")) is None
    (tmp_path / "junk").write_text("not a key\n")
    assert ssh_auth.load_key_file(str(tmp_path / "junk"), ssh_auth.AuthPlan("h:22")) is None
    assert ask.calls == []


def test_key_files_offered_lazily_after_the_agent(encrypted_key, tmp_path, monkeypatch):
    """With no agent, the identity files (and no default key when IdentitiesOnly) are the
    candidates, and an encrypted one is decrypted only when reached."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    ask = CountingPrompter(PASSPHRASE)
    plan = ssh_auth.AuthPlan("h:22", [encrypted_key], identities_only=True, prompter=ask)
    cands = ssh_auth._candidates(plan)
    assert ask.calls == []  # nothing read yet
    label, key = next(cands)
    assert label == f"key file {encrypted_key}" and len(ask.calls) == 1
    assert next(cands, None) is None


def test_jump_hops_inherit_known_hosts_keys_and_prompter(tmp_path):
    cfg = tmp_path / "config"
    cfg.write_text("Host bastion\n  HostName 10.0.0.1\n  Port 2223\n  User ops\n"
                   "Host cluster\n  HostName 10.0.0.2\n  ProxyJump bastion\n"
                   "Host loop\n  HostName 10.0.0.3\n  ProxyJump loop\n")
    ask = CountingPrompter("x")
    conn = ssh.SSHConnection("cluster", identity_file="/keys/id", known_hosts=str(tmp_path / "kh"),
                             ssh_config=cfg, prompter=ask)
    hop = ssh._jump_connection(conn.proxy_jump or "", cfg, conn)
    assert (hop.hostname, hop.port, hop.user) == ("10.0.0.1", 2223, "ops")
    # its own known_hosts first (named in messages), then the target's: checked as strictly
    assert hop.known_hosts == [os.path.expanduser("~/.ssh/known_hosts"), str(tmp_path / "kh")]
    assert hop.identity_files == ["/keys/id"] and hop.prompter is ask
    # the profile's `jump` wins over the config's ProxyJump, and drops its ProxyCommand
    j = ssh.SSHConnection("cluster", jump="u@gw:22,bastion", ssh_config=cfg)
    assert j.proxy_jump == "u@gw:22,bastion" and j.proxy_command is None
    hop = ssh._jump_connection(j.proxy_jump, cfg, j)
    assert (hop.hostname, hop.proxy_jump) == ("10.0.0.1", "u@gw:22")
    # a jump host that jumps through itself is stopped, with the fix
    loop = ssh.SSHConnection("loop", ssh_config=cfg)
    with pytest.raises(Exception, match="ProxyJump none"):
        for _ in range(ssh.MAX_HOPS + 2):
            loop = ssh._jump_connection(loop.proxy_jump or "", cfg, loop)


def test_profile_jump_key_reaches_the_connection():
    from tramway_jupyter.backends.profiles import Profile

    ssh.close_connections()
    try:
        p = Profile(name="j", backend="slurm", host="h.example.org", jump="ops@gw.example.org:2222")
        conn = ssh.get_connection(p)
        assert isinstance(conn, ssh.SSHConnection) and conn.proxy_jump == "ops@gw.example.org:2222"
        assert ssh.get_connection(p.replace(jump=None)) is not conn
    finally:
        ssh.close_connections()


class _TwoFactorServer:
    """A real SSH server (paramiko's server side) on loopback that wants the key, then a
    one-time code by keyboard-interactive, as an OpenSSH + PAM TOTP set-up does."""

    def __init__(self, tmp_path, client_pub: str, code: str) -> None:
        import socket
        import threading

        import paramiko

        hk = tmp_path / "server_hk"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hk)], check=True)
        self.host_key = paramiko.Ed25519Key.from_private_key_file(str(hk))
        self.client_blob = client_pub.split()[1]
        self.code = code
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.known_hosts = tmp_path / "kh_2fa"
        pub = (tmp_path / "server_hk.pub").read_text()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {pub}")
        self.transports: list = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import paramiko

        outer = self

        class Iface(paramiko.ServerInterface):
            key_ok = False

            def get_allowed_auths(self, username):
                return "keyboard-interactive" if self.key_ok else "publickey"

            def check_auth_publickey(self, username, key):
                if key.get_base64() == outer.client_blob:
                    self.key_ok = True
                    return paramiko.AUTH_PARTIALLY_SUCCESSFUL
                return paramiko.AUTH_FAILED

            def check_auth_interactive(self, username, submethods):
                if not self.key_ok:
                    return paramiko.AUTH_FAILED
                q = paramiko.InteractiveQuery("", "")
                q.add_prompt("Verification code: ", False)
                return q

            def check_auth_interactive_response(self, responses):
                return (paramiko.AUTH_SUCCESSFUL if list(responses) == [outer.code]
                        else paramiko.AUTH_FAILED)

        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            t = paramiko.Transport(conn)
            t.add_server_key(self.host_key)
            t.start_server(server=Iface())
            self.transports.append(t)

    def close(self) -> None:
        self.sock.close()
        for t in self.transports:
            t.close()


def test_keyboard_interactive_code_after_the_key(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    key = tmp_path / "id_user"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    server = _TwoFactorServer(tmp_path, (tmp_path / "id_user.pub").read_text(), "424242")
    try:
        ask = CountingPrompter("424242")
        conn = ssh.SSHConnection("127.0.0.1", server.port, "jdoe", str(key),
                                 str(server.known_hosts), prompter=ask)
        with caplog.at_level(logging.DEBUG):
            assert conn._transport().is_authenticated()
        assert ask.calls == [(f"jdoe@127.0.0.1:{server.port}",
                              [("Verification code: ", False)])]
        assert "424242" not in caplog.text
        conn.close()
        wrong = CountingPrompter("000000")
        conn = ssh.SSHConnection("127.0.0.1", server.port, "jdoe", str(key),
                                 str(server.known_hosts), prompter=wrong)
        with pytest.raises(ssh_auth.WrongSecretError, match="the code or password given was refused"):
            conn.run(["true"])
        assert len(wrong.calls) == 1  # not asked again in a loop
        nobody = ssh.SSHConnection("127.0.0.1", server.port, "jdoe", str(key),
                                   str(server.known_hosts), prompter=no_prompter())
        with pytest.raises(PromptUnavailableError, match="tramway-jupyter login PROFILE"):
            nobody.run(["true"])
    finally:
        server.close()
