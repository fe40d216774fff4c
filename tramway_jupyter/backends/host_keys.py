"""Strict host-key checking for SSH: a host's key must already be in known_hosts.

An unknown key or a changed key raises :class:`~tramway_jupyter.exceptions.HostKeyError` naming
the key's SHA256 fingerprint (as ``ssh-keygen -l`` shows it) and the command that accepts it after
the user has checked it. Nothing is ever added to known_hosts behind the user's back: never
paramiko's ``AutoAddPolicy``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
from collections.abc import Sequence
from typing import Any

from ..exceptions import HostKeyError


def fingerprint_sha256(key: Any) -> str:
    """OpenSSH-style ``SHA256:...`` fingerprint of a paramiko key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    """The name of ``host:port`` in known_hosts: ``host``, or ``[host]:port`` off port 22."""
    return host if port == 22 else f"[{host}]:{port}"


def accept_hint(host: str, port: int, keytype: str, known_hosts: str) -> str:
    """The commands that add the host's key to ``known_hosts``, for the user to run."""
    p = "" if port == 22 else f"-p {port} "
    return (
        f"ssh-keyscan {p}-t {keytype} {shlex.quote(host)} >> {shlex.quote(known_hosts)}"
        f"   (or connect once with: ssh {p}{shlex.quote(host)} and answer yes)"
    )


def use_known_hosts_only(client: Any, files: Sequence[str], port: int) -> None:
    """Make a paramiko ``SSHClient`` trust only the keys of the existing ``files``, and refuse
    (:func:`reject_unknown_host_policy`) a host that is in none. The first file is the user's
    own known_hosts, the one the messages name."""
    primary = files[0]
    for kh in files:
        if os.path.exists(kh):
            client.load_host_keys(kh) if kh == primary else client.get_host_keys().load(kh)
    client.set_missing_host_key_policy(reject_unknown_host_policy(primary, port))


def unknown_host_error(hostname: str, port: int, key: Any, known_hosts: str) -> HostKeyError:
    """The error for a key not in ``known_hosts`` (``hostname`` as paramiko names it)."""
    host = hostname
    if host.startswith("["):
        host = host[1:].split("]")[0]
    return HostKeyError(
        f"host key of {hostname} is unknown (not in {known_hosts}): refusing to connect."
        f" The server offered a {key.get_name()} key with fingerprint {fingerprint_sha256(key)}."
        f" If that is the fingerprint your cluster's administrators publish, accept it with:\n  "
        + accept_hint(host, port, key.get_name(), known_hosts)
    )


def changed_host_error(hostname: str, port: int, expected: Any, offered: Any,
                       known_hosts: str) -> HostKeyError:
    """The error for a server whose key differs from the one ``known_hosts`` has for it."""
    name = known_hosts_name(hostname, port)
    return HostKeyError(
        f"host key of {name} has CHANGED: known_hosts ({known_hosts}) expects"
        f" {expected.get_name()} {fingerprint_sha256(expected)}, the server"
        f" offered {offered.get_name()} {fingerprint_sha256(offered)}. This can be a"
        f" reinstalled server or a man-in-the-middle attack: check with your cluster's"
        f" administrators. If the new key is right, replace it with:\n  ssh-keygen -R"
        f" {shlex.quote(name)} -f {shlex.quote(known_hosts)} && "
        + accept_hint(hostname, port, offered.get_name(), known_hosts)
    )


def reject_unknown_host_policy(known_hosts: str, port: int) -> Any:
    """A paramiko ``MissingHostKeyPolicy`` that raises :func:`unknown_host_error`."""
    import paramiko

    class _Reject(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            raise unknown_host_error(hostname, port, key, known_hosts)

    return _Reject()
