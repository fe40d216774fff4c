"""Strict host keys: fingerprints as OpenSSH shows them, the messages and the fixes they name,
and a paramiko client that trusts known_hosts only."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import paramiko
import pytest

from tramway_jupyter.backends import host_keys
from tramway_jupyter.exceptions import HostKeyError


def _keygen(path):
    """A throw-away ed25519 key made with ssh-keygen, and its fingerprint as ssh-keygen shows it."""
    if shutil.which("ssh-keygen") is None:
        # openssh-client is installed by the testbed scripts: in CI its absence is a failure
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off"):
            pytest.fail("ssh-keygen not installed (openssh-client)", pytrace=False)
        pytest.skip("ssh-keygen not installed")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", f"{path}.pub"], check=True,
                         capture_output=True, text=True).stdout
    return paramiko.Ed25519Key.from_private_key_file(str(path)), out.split()[1]


@pytest.fixture
def host_key(tmp_path):
    return _keygen(tmp_path / "k")


def test_fingerprint_matches_openssh_format(host_key):
    key, expected = host_key
    assert host_keys.fingerprint_sha256(key) == expected


def test_known_hosts_name():
    assert host_keys.known_hosts_name("c.example.org", 22) == "c.example.org"
    assert host_keys.known_hosts_name("10.0.0.1", 2222) == "[10.0.0.1]:2222"


def test_unknown_host_key_message_has_fingerprint_and_fix(tmp_path, host_key):
    key, fp = host_key
    policy = host_keys.reject_unknown_host_policy(str(tmp_path / "known_hosts"), 2222)
    with pytest.raises(HostKeyError) as exc:
        policy.missing_host_key(None, "[10.0.0.1]:2222", key)
    msg = str(exc.value)
    assert fp in msg
    assert "ssh-keyscan -p 2222 -t ssh-ed25519 10.0.0.1 >> " in msg


def test_changed_host_key_message_names_both_keys_and_the_fix(tmp_path, host_key):
    expected, fp_expected = host_key
    offered, fp_offered = _keygen(tmp_path / "other")
    kh = str(tmp_path / "my known_hosts")
    msg = str(host_keys.changed_host_error("10.0.0.1", 2222, expected, offered, kh))
    assert "[10.0.0.1]:2222 has CHANGED" in msg
    assert fp_expected in msg and fp_offered in msg and "man-in-the-middle" in msg
    assert f"ssh-keygen -R '[10.0.0.1]:2222' -f '{kh}' && ssh-keyscan -p 2222" in msg


def test_client_trusts_known_hosts_only_and_adds_nothing(tmp_path, host_key):
    key, fp = host_key
    known, other, unknown = tmp_path / "known_hosts", tmp_path / "global_known_hosts", "[h]:2200"
    other.write_text(f"[g]:2200 {key.get_name()} {key.get_base64()}\n")
    client = paramiko.SSHClient()
    host_keys.use_known_hosts_only(client, [str(known), str(other)], 2200)
    assert client.get_host_keys().lookup("[g]:2200") is not None  # read from the second file
    policy = client._policy
    assert not isinstance(policy, (paramiko.AutoAddPolicy, paramiko.WarningPolicy))
    with pytest.raises(HostKeyError, match=re.escape(fp)):
        policy.missing_host_key(client, unknown, key)
    assert client.get_host_keys().lookup(unknown) is None
    assert not known.exists()  # nothing written behind the user's back
