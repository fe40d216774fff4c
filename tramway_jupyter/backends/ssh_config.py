"""Where a profile's host leads: its ``~/.ssh/config`` entry merged with the profile's own values.

A profile may name only an alias of ``~/.ssh/config``: HostName, Port, User, IdentityFile,
IdentitiesOnly, UserKnownHostsFile, ProxyJump and ProxyCommand come from there; a value the profile
sets wins. Pure lookups: nothing here connects.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = "~/.ssh/config"
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


@dataclass
class HostConfig:
    """How to reach one host: the resolved address, keys, known_hosts files and proxies."""

    hostname: str
    port: int = 22
    user: str | None = None
    #: key files to offer (``~`` expanded); empty: the agent and the usual ``~/.ssh/id_*``
    identity_files: list[str] = field(default_factory=list)
    #: offer only ``identity_files`` (plus the agent), not the usual key files
    identities_only: bool = False
    #: known_hosts files, the first one the user's own (named in host-key messages)
    known_hosts: list[str] = field(default_factory=lambda: [os.path.expanduser(DEFAULT_KNOWN_HOSTS)])
    #: ``[user@]host[:port][,...]`` hops to go through, or None
    proxy_jump: str | None = None
    #: a command whose stdin/stdout is the connection (``%h``, ``%p``, ``%r`` not yet expanded)
    proxy_command: str | None = None


def lookup_ssh_config(host: str, path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The ``~/.ssh/config`` (or ``path``) options of ``host``, lower-case keys as paramiko gives
    them; only ``{"hostname": host}`` when there is no config or it cannot be parsed (logged)."""
    import paramiko

    p = Path(os.path.expanduser(str(path) if path else DEFAULT_CONFIG))
    if not p.exists():
        return {"hostname": host}
    try:
        cfg = paramiko.SSHConfig.from_path(str(p))
    except Exception as exc:  # noqa: BLE001 - a broken config is reported, not fatal
        logger.warning("cannot parse %s: %s", p, exc)
        return {"hostname": host}
    return dict(cfg.lookup(host))


def resolve_host(
    host: str,
    port: int | None = None,
    user: str | None = None,
    identity_file: str | None = None,
    known_hosts: str | None = None,
    ssh_config: str | os.PathLike[str] | None = None,
) -> HostConfig:
    """``host`` (a name or a config alias) resolved through the config; explicit values win."""
    cfg = lookup_ssh_config(host, ssh_config)
    files = [identity_file] if identity_file else list(cfg.get("identityfile", []))
    if known_hosts:
        kh = [os.path.expanduser(known_hosts)]
    else:
        ukh = cfg.get("userknownhostsfile", DEFAULT_KNOWN_HOSTS)
        kh = [os.path.expanduser(p) for p in str(ukh).split()]
    proxy_jump: str | None = cfg.get("proxyjump")
    return HostConfig(
        hostname=cfg.get("hostname", host),
        port=int(port if port is not None else cfg.get("port", 22)),
        user=user or cfg.get("user"),
        identity_files=[os.path.expanduser(f) for f in files if f],
        identities_only=bool(identity_file) or cfg.get("identitiesonly", "no") == "yes",
        known_hosts=kh,
        proxy_jump=None if proxy_jump == "none" else proxy_jump,
        proxy_command=cfg.get("proxycommand"),
    )


@dataclass(frozen=True)
class JumpHop:
    """The hop next to the target of a ``ProxyJump``, and the hops before it (or None)."""

    host: str
    port: int | None
    user: str | None
    through: str | None


def parse_proxy_jump(spec: str) -> JumpHop:
    """Split ``[user@]host[:port][,...]``: the last hop is the one that opens the channel to the
    target; it is itself reached through the earlier hops (``through``)."""
    hops = [h.strip() for h in spec.split(",") if h.strip()]
    if not hops:
        raise ValueError(f"empty ProxyJump: {spec!r}")
    last, earlier = hops[-1], hops[:-1]
    user, _, hostport = last.rpartition("@")
    host, _, port = hostport.partition(":")
    return JumpHop(host, int(port) if port else None, user or None,
                   ",".join(earlier) if earlier else None)


def expand_proxy_command(command: str, hostname: str, port: int, user: str | None) -> str:
    """A ``ProxyCommand`` with ``%h``, ``%p`` and ``%r`` replaced (as ssh does)."""
    return (command.replace("%h", hostname).replace("%p", str(port)).replace("%r", user or ""))
