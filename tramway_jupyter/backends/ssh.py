"""Connections: where Slurm commands run. A local shell (Jupyter on the login node) or SSH (paramiko).

Both speak the same small interface, so :mod:`.slurm` never imports paramiko:

* ``run(argv, input=None, timeout=None) -> (rc, stdout, stderr)``: ``argv`` is a list (each
  argument is ``shlex.quote``d, so names with spaces, quotes or ``$(...)`` are never interpreted)
  or a shell line that the caller built from quoted pieces;
* ``put_tar(local_dir, remote_dir, members)``: one tar stream up;
* ``get_tar(remote_dir, local_dir, members, since=...)``: one tar stream down, incremental (only
  files modified since the remote time returned by the previous call);
* ``close()``.

``round_trips`` counts the commands executed (each is one SSH round trip), so callers and tests can
check "one round trip per poll".

SSH is strict about host keys: the key must be in known_hosts (``known_hosts`` of the profile, else
``~/.ssh/known_hosts`` and the ``UserKnownHostsFile`` of ``~/.ssh/config``); an unknown or changed
key raises :class:`~tramway_jupyter.exceptions.HostKeyError` with its SHA256 fingerprint and the
command that accepts it. Never ``AutoAddPolicy``. ``~/.ssh/config`` is honoured (HostName, User,
Port, IdentityFile, ProxyJump, ProxyCommand), as are the SSH agent and the usual key files.
"""

from __future__ import annotations

import abc
import base64
import hashlib
import logging
import os
import select
import shlex
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..exceptions import (
    BackendUnavailableError,
    HostKeyError,
    MissingDependencyError,
    RemoteCommandError,
)
from .tarstream import (
    _CountingWriter,
    _reset_owner,
    extract_tar,
    split_prefixed_output,
    tar_fetch_line,
)

if TYPE_CHECKING:
    from .profiles import Profile

logger = logging.getLogger(__name__)

StdinWriter = Callable[[IO[bytes]], None]
Command = Sequence[str] | str


def quote_command(argv: Command) -> str:
    """A shell line for ``argv``: every element of a list is quoted; a string is used as is."""
    if isinstance(argv, str):
        return argv
    return " ".join(shlex.quote(str(a)) for a in argv)


class Connection(abc.ABC):
    """Runs commands and moves tar streams between this machine and the cluster's login node."""

    #: ``user@host:port`` (or ``localhost``), for messages
    where: str = "localhost"

    def __init__(self) -> None:
        self.round_trips = 0
        self.bytes_up = 0
        self.bytes_down = 0
        self._home: str | None = None
        self._user: str | None = None

    # -- the one primitive ----------------------------------------------------------------
    @abc.abstractmethod
    def _exec(
        self, line: str, stdin: bytes | StdinWriter | None, timeout: float | None, retry: bool
    ) -> tuple[int, bytes, bytes]:
        """Run a shell line remotely; feed ``stdin``; return (rc, stdout, stderr) bytes."""

    def exec_bytes(
        self,
        argv: Command,
        input: bytes | StdinWriter | None = None,
        timeout: float | None = None,
        *,
        retry: bool = True,
    ) -> tuple[int, bytes, bytes]:
        """Like :meth:`run` but with bytes out (``input`` may be a function writing to stdin)."""
        self.round_trips += 1
        rc, out, err = self._exec(quote_command(argv), input, timeout, retry)
        self.bytes_down += len(out)
        return rc, out, err

    def run(
        self,
        argv: Command,
        input: str | bytes | None = None,
        timeout: float | None = None,
        *,
        retry: bool = True,
    ) -> tuple[int, str, str]:
        """Run ``argv`` (list: quoted; str: a shell line) and return (rc, stdout, stderr).

        ``retry=False`` for commands that must not run twice (``sbatch``): after a dropped
        connection they raise instead of being re-sent.
        """
        data = input.encode() if isinstance(input, str) else input
        rc, out, err = self.exec_bytes(argv, data, timeout, retry=retry)
        return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def check(self, argv: Command, input: str | bytes | None = None,
              timeout: float | None = None, *, retry: bool = True) -> str:
        """Run and return stdout; raise :class:`RemoteCommandError` naming the host on failure."""
        rc, out, err = self.run(argv, input, timeout, retry=retry)
        if rc != 0:
            raise RemoteCommandError(self.where, _short(quote_command(argv)), rc, err)
        return out

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the connection."""

    # -- facts about the other side -------------------------------------------------------
    def home_and_user(self) -> tuple[str, str]:
        """The remote ``$HOME`` and user name (one round trip, then cached)."""
        if self._home is None or self._user is None:
            out = self.check('printf "%s\\n" "$HOME"; id -un')
            lines = out.splitlines()
            if len(lines) < 2:
                raise RemoteCommandError(self.where, "printf $HOME; id -un", 0, out)
            self._home, self._user = lines[0], lines[1]
        return self._home, self._user

    def expand_path(self, path: str) -> str:
        """Expand a leading ``~`` and ``{user}`` with the remote home and user name."""
        if path.startswith("~") or "{user}" in path or "$HOME" in path:
            home, user = self.home_and_user()
            if path == "~" or path.startswith("~/"):
                path = home + path[1:]
            path = path.replace("$HOME", home).replace("{user}", user)
        return path

    # -- tar streams ----------------------------------------------------------------------
    def put_tar(
        self,
        local_dir: str | os.PathLike[str],
        remote_dir: str,
        members: Iterable[str] | None = None,
        *,
        arcnames: dict[str, str] | None = None,
    ) -> int:
        """Copy ``members`` (paths relative to ``local_dir``; default: all of it) to ``remote_dir``.

        One command, one tar stream. ``arcnames`` maps absolute local files to paths relative to
        ``remote_dir`` (to send files from elsewhere in the same stream). Returns bytes sent.
        """
        root = Path(local_dir)
        names = sorted(os.listdir(root)) if members is None else list(members)
        counter = _CountingWriter()

        def write(fh: IO[bytes]) -> None:
            counter.inner = fh
            with tarfile.open(fileobj=counter, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for name in names:
                    tar.add(str(root / name), arcname=name, filter=_reset_owner)
                for src, arc in (arcnames or {}).items():
                    tar.add(src, arcname=arc, filter=_reset_owner)

        q = shlex.quote(str(remote_dir))
        line = f"mkdir -p -- {q} && tar -x -f - -C {q} --no-same-owner --no-same-permissions"
        rc, _, err = self.exec_bytes(line, write, retry=False)
        if rc != 0:
            raise RemoteCommandError(self.where, f"tar -x into {remote_dir}", rc,
                                     err.decode("utf-8", "replace"))
        self.bytes_up += counter.count
        return counter.count

    def get_tar(
        self,
        remote_dir: str,
        local_dir: str | os.PathLike[str],
        members: Iterable[str],
        *,
        since: float | None = None,
        prefix_cmd: str = "",
    ) -> tuple[float, list[str]]:
        """Bring back the files under ``members`` of ``remote_dir`` modified after ``since``.

        One command, one tar stream. ``since`` is a time *of the remote clock* as returned by the
        previous call (so clock skew does not matter); files are written locally atomically.
        ``prefix_cmd``, if given, is a shell line run first whose stdout goes on stderr's side
        channel: see :func:`.tarstream.split_prefixed_output`. Returns (remote time of this snapshot, files).
        """
        rc, out, err = self.exec_bytes(tar_fetch_line(remote_dir, members, since, prefix_cmd))
        if rc != 0:
            raise RemoteCommandError(self.where, f"tar -c in {remote_dir}", rc,
                                     err.decode("utf-8", "replace"))
        _, stamp, data = split_prefixed_output(out)
        return stamp, extract_tar(data, local_dir)


def _short(s: str, n: int = 300) -> str:
    return s if len(s) <= n else s[: n - 3] + "..."


# ---------------------------------------------------------------------------------------------
class LocalConnection(Connection):
    """Commands on this machine (Jupyter on the login node): ``subprocess`` with a list of args."""

    where = "localhost"

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__()
        self.env = env  # None: inherit this process's environment

    def _exec(
        self, line: str, stdin: bytes | StdinWriter | None, timeout: float | None, retry: bool
    ) -> tuple[int, bytes, bytes]:
        argv = ["/bin/sh", "-c", line]
        if stdin is None or isinstance(stdin, bytes):
            if stdin is None:
                p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                   timeout=timeout, env=self.env)
            else:
                p = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout,
                                   env=self.env)
            return p.returncode, p.stdout, p.stderr
        with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=self.env) as proc:
            assert proc.stdin is not None
            stdin(proc.stdin)
            out, err = proc.communicate(timeout=timeout)  # flushes and closes stdin
            return proc.returncode, out, err


# ---------------------------------------------------------------------------------------------
def fingerprint_sha256(key: Any) -> str:
    """OpenSSH-style ``SHA256:...`` fingerprint of a paramiko key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def _accept_hint(host: str, port: int, keytype: str, known_hosts: str) -> str:
    p = "" if port == 22 else f"-p {port} "
    return (
        f"ssh-keyscan {p}-t {keytype} {shlex.quote(host)} >> {shlex.quote(known_hosts)}"
        f"   (or connect once with: ssh {p}{shlex.quote(host)} and answer yes)"
    )


def _unknown_host_policy(known_hosts: str, port: int) -> Any:
    import paramiko

    class _Reject(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            host = hostname
            if host.startswith("["):
                host = host[1:].split("]")[0]
            fp = fingerprint_sha256(key)
            raise HostKeyError(
                f"host key of {hostname} is unknown (not in {known_hosts}): refusing to connect."
                f" The server offered a {key.get_name()} key with fingerprint {fp}. If that is"
                f" the fingerprint your cluster's administrators publish, accept it with:\n  "
                + _accept_hint(host, port, key.get_name(), known_hosts)
            )

    return _Reject()


class SSHConnection(Connection):
    """Commands over SSH (paramiko): one transport reused, keep-alives, reconnect with back-off."""

    def __init__(
        self,
        host: str,
        port: int | None = None,
        user: str | None = None,
        identity_file: str | None = None,
        known_hosts: str | None = None,
        *,
        ssh_config: str | os.PathLike[str] | None = None,
        connect_timeout: float = 15.0,
        keepalive: int = 15,
        reconnect_for: float = 60.0,
    ) -> None:
        super().__init__()
        try:
            import paramiko
        except ImportError as exc:  # pragma: no cover - paramiko is in the [lab] extra
            raise MissingDependencyError(
                "the Slurm-over-SSH backend needs paramiko: pip install 'tramway-jupyter[lab]'"
            ) from exc
        self._paramiko = paramiko
        self.alias = host
        cfg = _lookup_ssh_config(host, ssh_config)
        self.hostname: str = cfg.get("hostname", host)
        self.port: int = int(port if port is not None else cfg.get("port", 22))
        self.user: str | None = user or cfg.get("user")
        files = [identity_file] if identity_file else list(cfg.get("identityfile", []))
        self.identity_files = [os.path.expanduser(f) for f in files if f]
        self.identities_only = bool(identity_file) or cfg.get("identitiesonly", "no") == "yes"
        if known_hosts:
            self.known_hosts = [os.path.expanduser(known_hosts)]
        else:
            ukh = cfg.get("userknownhostsfile", "~/.ssh/known_hosts")
            self.known_hosts = [os.path.expanduser(p) for p in str(ukh).split()]
        self.proxy_jump: str | None = cfg.get("proxyjump")
        if self.proxy_jump == "none":
            self.proxy_jump = None
        self.proxy_command: str | None = cfg.get("proxycommand")
        self._ssh_config = ssh_config
        self.connect_timeout = connect_timeout
        self.keepalive = keepalive
        self.reconnect_for = reconnect_for
        self.connects = 0
        self._client: Any = None
        self._jump: SSHConnection | None = None
        self._lock = threading.RLock()
        self.where = f"{self.user + '@' if self.user else ''}{self.hostname}:{self.port}"

    # -- connection management ------------------------------------------------------------
    def _connect(self) -> Any:
        paramiko = self._paramiko
        client = paramiko.SSHClient()
        primary = self.known_hosts[0]
        for kh in self.known_hosts:
            if os.path.exists(kh):
                client.load_host_keys(kh) if kh == primary else client.get_host_keys().load(kh)
        client.set_missing_host_key_policy(_unknown_host_policy(primary, self.port))
        sock: Any = None
        if self.proxy_jump:
            self._jump = _jump_connection(self.proxy_jump, self._ssh_config)
            transport = self._jump._transport()
            sock = transport.open_channel("direct-tcpip", (self.hostname, self.port), ("", 0))
        elif self.proxy_command:
            cmd = (self.proxy_command.replace("%h", self.hostname)
                   .replace("%p", str(self.port)).replace("%r", self.user or ""))
            sock = paramiko.ProxyCommand(cmd)
        try:
            client.connect(
                self.hostname,
                port=self.port,
                username=self.user,
                key_filename=self.identity_files or None,
                look_for_keys=not self.identities_only,
                allow_agent=True,
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                sock=sock,
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            name = known_hosts_name(self.hostname, self.port)
            raise HostKeyError(
                f"host key of {name} has CHANGED: known_hosts ({primary}) expects"
                f" {exc.expected_key.get_name()} {fingerprint_sha256(exc.expected_key)}, the server"
                f" offered {exc.key.get_name()} {fingerprint_sha256(exc.key)}. This can be a"
                f" reinstalled server or a man-in-the-middle attack: check with your cluster's"
                f" administrators. If the new key is right, replace it with:\n  ssh-keygen -R"
                f" {shlex.quote(name)} -f {shlex.quote(primary)} && "
                + _accept_hint(self.hostname, self.port, exc.key.get_name(), primary)
            ) from None
        except HostKeyError:
            client.close()
            raise
        except paramiko.AuthenticationException as exc:
            client.close()
            raise BackendUnavailableError(
                f"SSH authentication to {self.where} failed ({exc}); keys tried:"
                f" {self.identity_files or 'agent and ~/.ssh/id_*'}"
            ) from exc
        transport = client.get_transport()
        if transport is not None and self.keepalive:
            transport.set_keepalive(self.keepalive)
        self.connects += 1
        logger.info("connected to %s", self.where)
        return client

    def _transport(self) -> Any:
        with self._lock:
            t = self._client.get_transport() if self._client is not None else None
            if t is None or not t.is_active():
                self._drop()
                self._client = self._connect()
                t = self._client.get_transport()
            return t

    def _drop(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # pragma: no cover - best effort
                pass
        self._client = None

    def _transport_with_backoff(self) -> Any:
        deadline = time.monotonic() + self.reconnect_for
        delay = 0.5
        while True:
            try:
                return self._transport()
            except (HostKeyError, BackendUnavailableError):
                raise
            except (OSError, EOFError, self._paramiko.SSHException) as exc:
                if time.monotonic() + delay > deadline:
                    raise BackendUnavailableError(
                        f"cannot connect to {self.where} ({type(exc).__name__}: {exc}); tried for"
                        f" {self.reconnect_for:.0f} s"
                    ) from exc
                logger.warning("connection to %s failed (%s); retrying in %.1f s",
                               self.where, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 8.0)

    def close(self) -> None:
        with self._lock:
            self._drop()
            if self._jump is not None:
                self._jump.close()
                self._jump = None

    # -- commands -------------------------------------------------------------------------
    def _exec(
        self, line: str, stdin: bytes | StdinWriter | None, timeout: float | None, retry: bool
    ) -> tuple[int, bytes, bytes]:
        paramiko = self._paramiko
        for attempt in (1, 2):
            transport = self._transport_with_backoff()
            try:
                return self._exec_on(transport, line, stdin, timeout)
            except (OSError, EOFError, paramiko.SSHException) as exc:
                if isinstance(exc, TimeoutError) and transport.is_active():
                    raise RemoteCommandError(self.where, _short(line), -1,
                                             f"timed out after {timeout} s") from exc
                with self._lock:
                    self._drop()
                if not retry or attempt == 2:
                    maybe = "" if retry else (" (not re-sent: it may or may not have run there;"
                                              " check with squeue before submitting again)")
                    raise BackendUnavailableError(
                        f"connection to {self.where} lost while running {_short(line, 120)!r}"
                        f" ({type(exc).__name__}: {exc}){maybe}"
                    ) from exc
                logger.warning("connection to %s lost (%s); reconnecting", self.where, exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _exec_on(self, transport: Any, line: str, stdin: bytes | StdinWriter | None,
                 timeout: float | None) -> tuple[int, bytes, bytes]:
        chan = transport.open_session(timeout=self.connect_timeout)
        try:
            chan.settimeout(timeout)
            chan.exec_command(line)
            if stdin is not None:
                if isinstance(stdin, bytes):
                    chan.sendall(stdin)
                else:
                    fh = chan.makefile_stdin("wb", 1 << 16)
                    stdin(fh)
                    fh.flush()
                chan.shutdown_write()
            out, err = bytearray(), bytearray()
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                got = False
                while chan.recv_ready():
                    out += chan.recv(1 << 20)
                    got = True
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(1 << 16)
                    got = True
                if (chan.exit_status_ready() and not chan.recv_ready()
                        and not chan.recv_stderr_ready() and (chan.eof_received or chan.closed)):
                    break
                if chan.closed and not got:
                    break
                if not got:
                    if deadline is not None and time.monotonic() > deadline:
                        raise TimeoutError(f"no answer within {timeout} s")
                    if not transport.is_active():
                        raise EOFError("transport closed")
                    select.select([chan], [], [], 0.5)
            rc = chan.recv_exit_status()
            return rc, bytes(out), bytes(err)
        finally:
            chan.close()

    def sftp(self) -> Any:
        """A paramiko SFTP client on this connection (for tools and benchmarks)."""
        return self._transport_with_backoff().open_sftp_client()


def _lookup_ssh_config(host: str, path: str | os.PathLike[str] | None) -> dict[str, Any]:
    import paramiko

    p = Path(os.path.expanduser(str(path) if path else "~/.ssh/config"))
    if not p.exists():
        return {"hostname": host}
    try:
        cfg = paramiko.SSHConfig.from_path(str(p))
    except Exception as exc:  # noqa: BLE001 - a broken config is reported, not fatal
        logger.warning("cannot parse %s: %s", p, exc)
        return {"hostname": host}
    return dict(cfg.lookup(host))


def _jump_connection(spec: str, ssh_config: str | os.PathLike[str] | None) -> SSHConnection:
    """The connection to the first hop of a ``ProxyJump`` (``[user@]host[:port][,next...]``)."""
    hops = [h.strip() for h in spec.split(",") if h.strip()]
    first, rest = hops[-1], hops[:-1]
    user, _, hostport = first.rpartition("@")
    host, _, port = hostport.partition(":")
    conn = SSHConnection(host, int(port) if port else None, user or None, ssh_config=ssh_config)
    if rest:
        conn.proxy_jump = ",".join(rest)
    return conn


# ---------------------------------------------------------------------------------------------
_CONNECTIONS: dict[tuple[Any, ...], Connection] = {}
_CONN_LOCK = threading.Lock()


def connection_key(profile: Profile) -> tuple[Any, ...]:
    return (profile.host, profile.port, profile.user, profile.identity_file, profile.known_hosts)


def get_connection(profile: Profile) -> Connection:
    """The connection of a profile, reused across calls (one per host/user/port/keys)."""
    key = connection_key(profile)
    with _CONN_LOCK:
        conn = _CONNECTIONS.get(key)
        if conn is None:
            if profile.is_remote:
                conn = SSHConnection(profile.host, profile.port, profile.user,
                                     profile.identity_file, profile.known_hosts)
            else:
                conn = LocalConnection()
            _CONNECTIONS[key] = conn
        return conn


def close_connections() -> None:
    """Close every cached connection (at interpreter exit, or in tests)."""
    with _CONN_LOCK:
        for conn in _CONNECTIONS.values():
            conn.close()
        _CONNECTIONS.clear()
