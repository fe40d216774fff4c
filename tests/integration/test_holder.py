"""One login serves the day: the connection holder against the testbed's second-factor sshd
(``scripts/infra/tj2fa.sh``: public key, then a TOTP one-time code by keyboard-interactive).

The tests know the TOTP secret (a test-only value in infra.env) and compute the codes with the
standard library. They count the prompts (a prompter that records its calls, and the holder's own
login and prompt counters) and grep every file written for the codes.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import os
import queue
import re
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tramway_jupyter.backends import holder, ssh
from tramway_jupyter.backends.profiles import Profile
from tramway_jupyter.exceptions import PromptUnavailableError, WrongSecretError
from tramway_jupyter.orchestration.submit import submit

from .conftest import _missing, make_profile
from .helpers import data_files, light_pipeline

pytestmark = [pytest.mark.ssh, pytest.mark.slurm]


def totp(secret: str, at: float | None = None, step: int = 30) -> str:
    """RFC 6238 (HMAC-SHA1, 6 digits), as PAM's Google Authenticator module checks it."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // step)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


class RecordingPrompter:
    """Answers a key's passphrase with ``passphrase`` and every other prompt with a one-time code
    (the right one by default), and records the calls."""

    def __init__(self, secret: str, wrong: bool = False, passphrase: str | None = None) -> None:
        self.secret, self.wrong, self.passphrase = secret, wrong, passphrase
        self.calls: list[tuple[str, list[tuple[str, bool]]]] = []
        self.given: list[str] = []

    def __call__(self, title: str, prompts: Sequence[tuple[str, bool]]) -> list[str]:
        self.calls.append((title, list(prompts)))
        if self.passphrase is not None and "passphrase" in prompts[0][0]:
            return [self.passphrase]
        code = totp(self.secret)
        if self.wrong:  # a code valid in none of the windows the server accepts
            valid = {totp(self.secret, time.time() + k * 30) for k in range(-4, 5)}
            code = next(c for c in (f"{(int(code) + d) % 1_000_000:06d}"
                                    for d in range(500_000, 600_000)) if c not in valid)
        self.given.append(code)
        return [code for _ in prompts]


@pytest.fixture
def infra2fa(infra: dict[str, str]) -> dict[str, str]:
    if "INFRA_2FA_PORT" not in infra:
        _missing("the second-factor sshd is not in infra.env: run scripts/infra/start-infra.sh")
    return infra


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A data home of its own (the holder's socket, its log, the store, the batches)."""
    h = tmp_path / "h"
    monkeypatch.setenv("TRAMWAY_JUPYTER_HOME", str(h))
    monkeypatch.setenv("TRAMWAY_JUPYTER_HOLDER_IDLE", "300")
    monkeypatch.delenv("TRAMWAY_JUPYTER_STORE", raising=False)
    monkeypatch.delenv("TRAMWAY_JUPYTER_BATCHES", raising=False)
    ssh.close_connections()
    yield h
    ssh.close_connections()
    holder.stop()


@pytest.fixture
def prof2fa(infra2fa: dict[str, str], scratch: str, profile: Profile) -> Profile:
    # `profile` (the plain sshd) is requested so that conftest cleans this scratch up through it
    return make_profile(infra2fa, scratch, name="twofa", port=int(infra2fa["INFRA_2FA_PORT"]),
                        known_hosts=infra2fa["INFRA_2FA_KNOWN_HOSTS"], holder=True)


def _held(prof: Profile) -> dict[str, Any]:
    st = holder.status()
    assert st is not None, "no holder running"
    (facts,) = [h for h in st["held"] if h["key"] == holder.key_of(holder.conn_params(prof))]
    return facts


def _profiles_toml(path: Path, prof: Profile) -> Path:
    keys = ("backend", "host", "port", "user", "identity_file", "known_hosts", "scratch",
            "python", "partition", "walltime", "poll_interval_max", "stage_data", "holder")
    lines = [f"[profiles.{prof.name}]"]
    for k in keys:
        v = getattr(prof, k)
        lines.append(f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v)}"
                     if not isinstance(v, str) else f'{k} = "{v}"')
    path.write_text("\n".join(lines) + "\n")
    return path


def _cli(args: list[str], tmp_path: Path, profiles: Path, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tramway_jupyter.cli", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=kw.pop("timeout", 180),
                          stdin=subprocess.DEVNULL,
                          env={**os.environ, "TRAMWAY_JUPYTER_PROFILES": str(profiles)}, **kw)


def _files_with(root: Path, secrets: list[str]) -> list[str]:
    pats = [re.compile(rb"(?<![0-9])" + s.encode() + rb"(?![0-9])") for s in secrets]
    hits = []
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            data = p.read_bytes()
            hits += [f"{p}: {s}" for s, pat in zip(secrets, pats, strict=True)
                     if pat.search(data)]
    return hits


def test_one_login_serves_batches_in_two_processes(infra2fa, prof2fa, home, tmp_path, conn,
                                                   scratch):
    """A key with a passphrase, then a one-time code: both asked once, for two batches (one of
    them in another process) and the polls of a third process."""
    passphrase = infra2fa["INFRA_SSH_KEY_PASSPHRASE"]
    prof2fa = dataclasses.replace(prof2fa, identity_file=infra2fa["INFRA_SSH_KEY_ENCRYPTED"])
    rec = RecordingPrompter(infra2fa["INFRA_2FA_TOTP_SECRET"], passphrase=passphrase)
    facts = holder.login(prof2fa, prompter=rec)
    assert facts["active"] and facts["logins"] == 1
    # the passphrase, then the code, each asked once, through the relay, as masked prompts
    assert [len(ps) for _, ps in rec.calls] == [1, 1], rec.calls
    (pass_q, pass_echo), (code_q, code_echo) = rec.calls[0][1][0], rec.calls[1][1][0]
    assert "passphrase" in pass_q and "code" in code_q.lower() and not (pass_echo or code_echo)
    # the socket is the user's only
    d = holder.holder_dir()
    assert stat.S_IMODE(d.stat().st_mode) == 0o700 and d.stat().st_uid == os.getuid()
    assert holder.socket_path().stat().st_uid == os.getuid()

    # batch 1, in this process: get_connection goes through the holder, asks nothing
    conn2 = ssh.get_connection(prof2fa)
    assert isinstance(conn2, holder.HeldConnection)
    data = data_files(tmp_path / "data", ["a.rpt.txt", "b.rpt.txt"])
    batch = submit(light_pipeline(per_roi=False), [str(p) for p in data], profile=prof2fa,
                   batches_root=home / "batches")
    batch.wait(timeout=180)
    assert batch.results().ok
    # batch 2, in another process (the CLI, no terminal): the same login, no prompt
    profiles = _profiles_toml(tmp_path / "profiles.toml", prof2fa)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%%tramway stage s --per file\nprint(source)")]
    nbformat.write(nb, str(tmp_path / "nb.ipynb"))
    p = _cli(["run", str(tmp_path / "nb.ipynb"), "--data", str(data[0]), "--profile", "twofa"],
             tmp_path, profiles)
    assert p.returncode == 0, p.stdout + p.stderr
    held = _held(prof2fa)
    assert held["logins"] == 1 and held["prompts"] == 2, held
    assert len(rec.calls) == 2
    # polling batch 1 from yet another process asks nothing either
    p = _cli(["status", batch.batch_id], tmp_path, profiles)
    assert p.returncode == 0, p.stdout + p.stderr
    assert _held(prof2fa)["logins"] == 1

    # no secret in any file written here (store, batches, holder log) nor on the cluster
    assert rec.given and not _files_with(tmp_path, [*rec.given, passphrase])
    log = (d / "holder.log").read_text()
    assert "logged in to" in log and all(c not in log for c in [*rec.given, passphrase])
    for secret in (rec.given[0], passphrase):
        rc, out, _ = conn.run(["grep", "-rlwF", "-e", secret, "--", scratch])
        assert rc == 1 and not out, out


def test_wrong_code_is_refused_with_a_clear_message(infra2fa, prof2fa, home):
    rec = RecordingPrompter(infra2fa["INFRA_2FA_TOTP_SECRET"], wrong=True)
    with pytest.raises(WrongSecretError) as err:
        holder.login(prof2fa, prompter=rec)
    msg = str(err.value)
    assert (f"SSH authentication to hpcuser@127.0.0.1:{infra2fa['INFRA_2FA_PORT']} failed: the"
            " code or password given was refused") in msg, msg
    assert len(rec.calls) == 1  # asked once, not retried
    # without anyone to ask, a command says how to log in, and does not hang
    with pytest.raises(PromptUnavailableError, match="`tramway-jupyter login twofa`"):
        holder.HeldConnection(prof2fa, prompter=None).run("true")
    assert not _files_with(home, rec.given)


def test_logout_ends_the_login(infra2fa, prof2fa, home, tmp_path):
    rec = RecordingPrompter(infra2fa["INFRA_2FA_TOTP_SECRET"])
    holder.login(prof2fa, prompter=rec)
    quiet = holder.HeldConnection(prof2fa, prompter=None)
    assert quiet.check(["id", "-un"]).strip() == infra2fa["INFRA_SSH_USER"]
    # the tar streams go through the holder too
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "x.txt").write_text("hello")
    remote = f"{infra2fa['INFRA_REMOTE_SCRATCH']}/holder-{os.getpid()}"
    try:
        assert quiet.put_tar(tmp_path / "up", remote) > 0
        _, files = quiet.get_tar(remote, tmp_path / "down", ["x.txt"])
        assert (tmp_path / "down" / "x.txt").read_text() == "hello", files
    finally:
        quiet.run(["rm", "-rf", "--", remote])
    p = _cli(["logout", "twofa"], tmp_path, _profiles_toml(tmp_path / "profiles.toml", prof2fa))
    assert p.returncode == 0 and "logged out of twofa" in p.stdout, p.stdout + p.stderr
    assert holder.status() is None  # it held nothing else: it exited
    with pytest.raises(PromptUnavailableError, match="tramway-jupyter login"):
        quiet.run("true")
    holder.login(prof2fa, prompter=rec)  # a new login asks again
    assert len(rec.calls) == 2 and _held(prof2fa)["logins"] == 1


def test_cli_login_asks_in_the_terminal_once(infra2fa, prof2fa, home, tmp_path):
    """``tramway-jupyter login PROFILE`` in a terminal: the code asked masked, then held."""
    import pty
    import select

    profiles = _profiles_toml(tmp_path / "profiles.toml", prof2fa)
    pid, fd = pty.fork()
    if pid == 0:  # the child, on the pty as its controlling terminal
        os.environ["TRAMWAY_JUPYTER_PROFILES"] = str(profiles)
        os.execv(sys.executable, [sys.executable, "-m", "tramway_jupyter.cli", "login", "twofa"])
    seen, code = b"", ""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if select.select([fd], [], [], 0.5)[0]:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            if not code and b"code" in seen.lower():
                code = totp(infra2fa["INFRA_2FA_TOTP_SECRET"])
                os.write(fd, code.encode() + b"\n")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = seen.decode("utf-8", "replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "Verification code" in text and "logged in to hpcuser@127.0.0.1:" in text, text
    assert code and code not in text  # masked: not echoed
    held = _held(prof2fa)
    assert held["active"] and held["logins"] == 1 and held["prompts"] == 1
    # the next command, from a process with no terminal, needs no code
    assert holder.HeldConnection(prof2fa, prompter=None).check("true") == ""


def test_server_login_waits_for_the_lab_dialog(infra2fa, prof2fa, home):
    """The server's connections ask its prompt board (what Lab's dialog shows and answers)."""
    import threading

    from tramway_jupyter.server.prompts import PromptBoard

    board = PromptBoard(timeout=60)
    conn = holder.HeldConnection(prof2fa, prompter=board)
    result: dict[str, Any] = {}

    def refresh() -> None:  # as the refresher's thread would
        try:
            result["out"] = conn.check(["id", "-un"])
        except Exception as exc:
            result["error"] = exc

    t = threading.Thread(target=refresh, daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while not board.list().prompts and time.monotonic() < deadline:
        time.sleep(0.05)
    (p,) = board.list().prompts
    assert p.profile == "twofa" and p.where.endswith(f":{infra2fa['INFRA_2FA_PORT']}")
    assert [(f.text.strip(), f.echo) for f in p.prompts] == [("Verification code:", False)]
    code = totp(infra2fa["INFRA_2FA_TOTP_SECRET"])
    assert board.answer(p.id, {"answers": [code]}).ok
    t.join(30)
    assert result.get("out", "").strip() == infra2fa["INFRA_SSH_USER"], result
    assert not board.list().prompts and _held(prof2fa)["logins"] == 1
    assert not _files_with(home, [code])


KERNEL_CODE = """\
from tramway_jupyter.backends import ssh
from tramway_jupyter.backends.profiles import Profile
p = Profile(name="twofa", backend="slurm", host="127.0.0.1", port={port}, user={user!r},
            identity_file={key!r}, known_hosts={known_hosts!r})
c = ssh.get_connection(p)
print("user:", c.check(["id", "-un"]).strip())
"""


def _run_in_kernel(code: str, env: dict[str, str], answer: Any = None) -> tuple[str, list]:
    """Run ``code`` in a real ipykernel; ``answer(prompt)`` answers its input requests."""
    import jupyter_client

    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3", env=env)
    asked: list[tuple[str, bool]] = []
    try:
        kc.execute(code, allow_stdin=answer is not None)
        out: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if answer is not None:
                try:
                    req = kc.get_stdin_msg(timeout=0.05)
                    asked.append((req["content"]["prompt"], req["content"]["password"]))
                    kc.input(answer(req["content"]["prompt"]))
                except queue.Empty:  # nothing asked now
                    pass
            try:
                msg = kc.get_iopub_msg(timeout=0.05)
            except queue.Empty:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            if msg["msg_type"] == "error":
                out.append("\n".join(msg["content"]["traceback"]))
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle" \
                    and msg["parent_header"].get("msg_type") == "execute_request":
                return "".join(out), asked
        raise AssertionError(f"the kernel did not finish in 120 s: {''.join(out)}")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_a_notebook_asks_once_and_the_next_kernel_finds_the_login_held(infra2fa, home):
    """``holder`` unset: in a notebook, the first connection needs the key's passphrase and a
    one-time code; both are asked in the notebook (masked), the login is made in the holder,
    and another kernel then connects asking nothing."""
    passphrase = infra2fa["INFRA_SSH_KEY_PASSPHRASE"]
    code = KERNEL_CODE.format(port=int(infra2fa["INFRA_2FA_PORT"]),
                              user=infra2fa["INFRA_SSH_USER"],
                              key=infra2fa["INFRA_SSH_KEY_ENCRYPTED"],
                              known_hosts=infra2fa["INFRA_2FA_KNOWN_HOSTS"])
    env = {**os.environ, "TRAMWAY_JUPYTER_HOME": str(home)}
    given: list[str] = []

    def answer(prompt: str) -> str:
        given.append(passphrase if "passphrase" in prompt else
                     totp(infra2fa["INFRA_2FA_TOTP_SECRET"]))
        return given[-1]

    out, asked = _run_in_kernel(code, env, answer)
    assert f"user: {infra2fa['INFRA_SSH_USER']}" in out, out
    assert [("passphrase" in p, "code" in p.lower(), masked) for p, masked in asked] == [
        (True, False, True), (False, True, True)], asked
    out, asked = _run_in_kernel(code, env)  # another kernel; it could not even be asked
    assert f"user: {infra2fa['INFRA_SSH_USER']}" in out and not asked, out
    st = holder.status()
    assert st is not None and [(h["logins"], h["prompts"]) for h in st["held"]] == [(1, 2)]
    assert not _files_with(home, given)


def test_more_commands_at_once_than_the_clusters_max_sessions(infra2fa, prof2fa, home):
    """Processes' commands share the holder's one connection; the 2FA sshd allows 4 sessions
    per connection (``MaxSessions``, 10 by default in OpenSSH): 16 commands at once all run,
    on one login, the refused sessions waited out instead of a new login (a new code)."""
    from concurrent.futures import ThreadPoolExecutor

    limit = int(infra2fa.get("INFRA_2FA_MAX_SESSIONS", "0"))
    assert 0 < limit < ssh.MAX_SESSIONS, "the 2FA sshd should allow fewer sessions than we open"
    rec = RecordingPrompter(infra2fa["INFRA_2FA_TOTP_SECRET"])
    holder.login(prof2fa, prompter=rec)
    quiet = holder.HeldConnection(prof2fa, prompter=None)
    with ThreadPoolExecutor(16) as pool:
        outs = list(pool.map(lambda i: quiet.check(f"sleep 0.3; echo {i}"), range(16)))
    assert outs == [f"{i}\n" for i in range(16)]
    held = _held(prof2fa)
    assert held["logins"] == 1 and len(rec.calls) == 1, held
    log = (holder.holder_dir() / "holder.log").read_text()
    assert "logging in again" not in log, log
