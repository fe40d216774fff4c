"""Connections: quoting, tar streams, host-key messages and ~/.ssh/config (no network here)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import time

import paramiko
import pytest

from tramway_jupyter.backends import ssh, tarstream
from tramway_jupyter.backends.profiles import Profile
from tramway_jupyter.exceptions import HostKeyError


def test_quote_command_list_and_line():
    assert ssh.quote_command(["echo", "a b", "$(id)"]) == "echo 'a b' '$(id)'"
    assert ssh.quote_command("echo $HOME") == "echo $HOME"


def test_local_run_never_interprets_arguments(tmp_path):
    conn = ssh.LocalConnection()
    marker = tmp_path / "pwned"
    rc, out, _ = conn.run(["echo", f"$(touch {marker})", "it's; `true`"])
    assert rc == 0 and out == f"$(touch {marker}) it's; `true`\n"
    assert not marker.exists()
    assert conn.round_trips == 1


def test_check_names_the_host_on_failure():
    with pytest.raises(Exception, match="localhost"):
        ssh.LocalConnection().check(["false"])


def test_put_and_get_tar_round_trip_incremental(tmp_path):
    src, remote, back = tmp_path / "src", tmp_path / "remote dir $x", tmp_path / "back"
    (src / "status").mkdir(parents=True)
    (src / "status" / "a b'c.json").write_text('{"state": "done"}')
    (src / "plan.json").write_text("{}")
    conn = ssh.LocalConnection()
    n = conn.put_tar(src, str(remote))
    assert n > 0 and (remote / "status" / "a b'c.json").exists()
    stamp, files = conn.get_tar(str(remote), back, ["status", "missing"])
    assert files == ["status/a b'c.json"] and stamp > 0
    assert conn.round_trips == 2
    # nothing changed since: nothing comes back (but files changed meanwhile do)
    _, again = conn.get_tar(str(remote), back, ["status"], since=stamp + 5)
    assert again == []
    time.sleep(0.05)
    (remote / "status" / "new.json").write_text("{}")
    _, newer = conn.get_tar(str(remote), back, ["status"], since=stamp)
    assert "status/new.json" in newer


def test_get_tar_of_missing_directory_is_empty(tmp_path):
    stamp, files = ssh.LocalConnection().get_tar(str(tmp_path / "nope"), tmp_path / "o", ["status"])
    assert files == [] and stamp == 0.0


def _tar(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind in entries:
            ti = tarfile.TarInfo(name)
            if kind == "file":
                ti.size = 2
                tar.addfile(ti, io.BytesIO(b"ok"))
            else:
                ti.type = tarfile.SYMTYPE
                ti.linkname = "/etc/passwd"
                tar.addfile(ti)
    return buf.getvalue()


def test_extract_tar_refuses_escapes(tmp_path):
    data = _tar([("../evil", "file"), ("/abs", "file"), ("link", "symlink"), ("ok/x.json", "file")])
    assert tarstream.extract_tar(data, tmp_path / "d") == ["ok/x.json"]
    assert not (tmp_path / "evil").exists()


def test_split_prefixed_output():
    out = b"@@TJ scontrol\nJobId=1\n\0TJSTAMP 123.5\n" + b"TARDATA"
    assert tarstream.split_prefixed_output(out) == (b"@@TJ scontrol\nJobId=1\n", 123.5, b"TARDATA")


def test_tar_fetch_line_quotes_paths():
    line = tarstream.tar_fetch_line("/scratch/a b/$(id)", ["status", "x'y"], 100.0)
    assert "'/scratch/a b/$(id)'" in line and "-newermt @98.000" in line
    assert "'./x'\"'\"'y'" in line


@pytest.fixture
def host_key(tmp_path):
    """A throw-away ed25519 key made with ssh-keygen, and its fingerprint as ssh-keygen shows it."""
    if shutil.which("ssh-keygen") is None:
        # openssh-client is installed by the testbed scripts: in CI its absence is a failure
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off"):
            pytest.fail("ssh-keygen not installed (openssh-client)", pytrace=False)
        pytest.skip("ssh-keygen not installed")
    path = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", f"{path}.pub"], check=True,
                         capture_output=True, text=True).stdout
    return paramiko.Ed25519Key.from_private_key_file(str(path)), out.split()[1]


def test_fingerprint_matches_openssh_format(host_key):
    key, expected = host_key
    assert ssh.fingerprint_sha256(key) == expected


def test_unknown_host_key_message_has_fingerprint_and_fix(tmp_path, host_key):
    key, fp = host_key
    policy = ssh._unknown_host_policy(str(tmp_path / "known_hosts"), 2222)
    with pytest.raises(HostKeyError) as exc:
        policy.missing_host_key(None, "[10.0.0.1]:2222", key)
    msg = str(exc.value)
    assert fp in msg
    assert "ssh-keyscan -p 2222 -t ssh-ed25519 10.0.0.1 >> " in msg


def test_ssh_config_is_honoured(tmp_path):
    cfg = tmp_path / "config"
    cfg.write_text(
        "Host maestro\n  HostName maestro.example.org\n  User jdoe\n  Port 2200\n"
        "  IdentityFile ~/.ssh/id_lab\n  ProxyJump jdoe@gateway.example.org:22\n"
    )
    conn = ssh.SSHConnection("maestro", ssh_config=cfg)  # lazy: does not connect
    assert (conn.hostname, conn.user, conn.port) == ("maestro.example.org", "jdoe", 2200)
    assert conn.identity_files[0].endswith("/.ssh/id_lab")
    assert conn.proxy_jump == "jdoe@gateway.example.org:22"
    assert conn.where == "jdoe@maestro.example.org:2200"
    # explicit profile values win over the config
    conn2 = ssh.SSHConnection("maestro", 2201, "other", ssh_config=cfg)
    assert (conn2.port, conn2.user) == (2201, "other")
    jump = ssh._jump_connection(conn.proxy_jump, cfg)
    assert (jump.hostname, jump.user, jump.port) == ("gateway.example.org", "jdoe", 22)


def test_get_connection_is_reused_per_profile():
    ssh.close_connections()
    a = Profile(name="a", backend="slurm", host="h.example.org", user="u")
    b = Profile(name="b", backend="slurm", host="h.example.org", user="u")
    try:
        assert ssh.get_connection(a) is ssh.get_connection(b)
        assert isinstance(ssh.get_connection(Profile(name="l", backend="slurm")), ssh.LocalConnection)
    finally:
        ssh.close_connections()


def test_expand_path_uses_remote_home_and_user():
    conn = ssh.LocalConnection()
    conn._home, conn._user = "/home/u", "u"
    assert conn.expand_path("~/scratch") == "/home/u/scratch"
    assert conn.expand_path("/scratch/{user}/tj") == "/scratch/u/tj"
    assert conn.expand_path("/abs") == "/abs"
