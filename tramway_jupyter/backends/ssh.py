"""Connections over SSH (paramiko), and the one connection per profile that backends share.

:class:`SSHConnection` is a :class:`~.connection.Connection`: one transport reused, keep-alives,
reconnection with back-off, and commands that must not run twice (``sbatch``) never re-sent. It
is strict about host keys (:mod:`.host_keys`: known_hosts only, never ``AutoAddPolicy``) and
honours ``~/.ssh/config`` (:mod:`.ssh_config`: HostName, User, Port, IdentityFile, ProxyJump,
ProxyCommand, and a profile's ``jump``), the SSH agent and the usual key files. Every hop of a
``ProxyJump`` is an :class:`SSHConnection` of its own, so its host key is checked as strictly as the
target's. Passphrases, passwords and one-time codes are asked through a :data:`.prompts.Prompter`
(:mod:`.ssh_auth`). :func:`get_connection` gives a profile its connection (local or SSH), reused
across calls.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..exceptions import (
    BackendUnavailableError,
    HostKeyError,
    MissingDependencyError,
    RemoteCommandError,
)
from .connection import (
    Command,
    Connection,
    LocalConnection,
    OutputSink,
    StdinWriter,
    quote_command,
    shorten,
)
from .host_keys import changed_host_error, use_known_hosts_only
from .prompts import Prompter, ask_here
from .ssh_auth import AuthPlan, make_client
from .ssh_config import expand_proxy_command, parse_proxy_jump, resolve_host

if TYPE_CHECKING:
    from .profiles import Profile

__all__ = [
    "Command",
    "Connection",
    "LocalConnection",
    "SSHConnection",
    "StdinWriter",
    "close_connections",
    "connection_key",
    "get_connection",
    "quote_command",
]

logger = logging.getLogger(__name__)


#: Seconds spent retrying a host that has not answered yet in this process.
FIRST_CONNECT_FOR = 2.0
#: The most hops a ProxyJump chain may have (a ``Host *`` rule jumping to itself loops).
MAX_HOPS = 8
#: Commands run at once on one connection (OpenSSH's sshd allows 10 sessions per connection by
#: default, ``MaxSessions``): more wait their turn instead of being refused. The connection
#: holder carries every process's commands on one connection, so this is reached there first.
MAX_SESSIONS = 8
#: Waits (s) before opening a session again when the server refused one: the connection is fine,
#: so it is kept (a new login may need a code), and fewer sessions are opened at once from then on.
SESSION_RETRY_WAITS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0)


class _SessionSlots:
    """At most ``limit`` sessions at once on a connection; a refusal by the server lowers the
    limit to what it allowed (the sessions of ours it had open), so commands queue here. A
    refusal may also come from a race (a session closed here, not yet there): the limit grows
    back by one every ``regrow`` sessions without a refusal, up to ``most``."""

    def __init__(self, most: int, regrow: int = 64) -> None:
        self.most = self.limit = most
        self.regrow = regrow
        self.open = 0
        self._served = 0
        self._cond = threading.Condition()

    def acquire(self) -> None:
        with self._cond:
            while self.open >= self.limit:
                self._cond.wait()
            self.open += 1

    def release(self) -> None:
        with self._cond:
            self.open -= 1
            self._served += 1
            if self._served >= self.regrow and self.limit < self.most:
                self.limit += 1
                self._served = 0
            self._cond.notify_all()

    def refused(self) -> None:
        """The server refused one more session than the others of ours it has open."""
        with self._cond:
            self.limit = max(1, min(self.limit, self.open - 1))
            self._served = 0


class _LoginHandoff(Exception):
    """A login of a connection with a ``handoff`` needs a passphrase or a code: it goes to the
    connection holder instead (raised by the prompter before anything is asked or run)."""


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
        jump: str | None = None,
        prompter: Prompter | None = None,
        handoff: Callable[[], Connection] | None = None,
        nodelay: bool = True,
        connect_timeout: float = 15.0,
        keepalive: int = 15,
        reconnect_for: float = 60.0,
        _hops: int = 0,
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
        hc = resolve_host(host, port, user, identity_file, known_hosts, ssh_config)
        self.hostname: str = hc.hostname
        self.port: int = hc.port
        self.user: str | None = hc.user
        self.identity_files = hc.identity_files
        self.identities_only = hc.identities_only
        self.known_hosts = hc.known_hosts
        #: hops to go through: the profile's ``jump`` wins over the config's ProxyJump
        self.proxy_jump: str | None = jump or hc.proxy_jump
        self.proxy_command: str | None = None if jump else hc.proxy_command
        #: asked for passphrases, passwords and codes (None: :func:`.prompts.default_prompter`)
        self.prompter = prompter
        #: when set, a login that needs a prompt is not made here: the commands go to the
        #: connection this returns (the connection holder's) from then on
        self._handoff = handoff
        self._handed: Connection | None = None
        #: TCP_NODELAY on the socket: without it a command waits ~40 ms for a delayed ACK
        self.nodelay = nodelay
        self._sessions = _SessionSlots(MAX_SESSIONS)
        self._ssh_config = ssh_config
        self._hops = _hops
        self.connect_timeout = connect_timeout
        self.keepalive = keepalive
        self.reconnect_for = reconnect_for
        self.connects = 0
        self._client: Any = None
        self._jump: SSHConnection | None = None
        self._lock = threading.RLock()
        self.where = f"{self.user + '@' if self.user else ''}{self.hostname}:{self.port}"

    # -- connection management ------------------------------------------------------------
    def auth_prompter(self) -> Prompter | None:
        """Who the logins of this connection (and of its jump hops) ask."""
        if self._handoff is None:
            return self.prompter

        def hand_off(title: str, prompts: list[tuple[str, bool]]) -> list[str]:
            raise _LoginHandoff(title)

        return hand_off

    def _connect(self) -> Any:
        paramiko = self._paramiko
        client = make_client(AuthPlan(self.where, list(self.identity_files), self.identities_only,
                                      self.auth_prompter()))
        use_known_hosts_only(client, self.known_hosts, self.port)  # never AutoAddPolicy
        sock: Any = None
        if self.proxy_jump:
            if self._jump is None:
                self._jump = _jump_connection(self.proxy_jump, self._ssh_config, self)
            try:
                transport = self._jump._transport_with_backoff()
            except HostKeyError as exc:
                raise HostKeyError(f"on the way to {self.where} through the jump host"
                                   f" {self._jump.where}: {exc}") from None
            except BackendUnavailableError as exc:
                raise type(exc)(f"cannot reach {self.where} through the jump host"
                                f" {self._jump.where}: {exc}") from None
            try:
                sock = transport.open_channel("direct-tcpip", (self.hostname, self.port), ("", 0),
                                              timeout=self.connect_timeout)
            except paramiko.ChannelException as exc:
                raise BackendUnavailableError(
                    f"the jump host {self._jump.where} could not open a connection to"
                    f" {self.hostname}:{self.port} ({exc}): is forwarding allowed there"
                    f" (AllowTcpForwarding) and the target's address right as seen from it?"
                ) from None
        elif self.proxy_command:
            sock = paramiko.ProxyCommand(expand_proxy_command(
                self.proxy_command, self.hostname, self.port, self.user))
        try:
            client.connect(
                self.hostname,
                port=self.port,
                username=self.user,
                look_for_keys=False,
                allow_agent=False,
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                sock=sock,
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise changed_host_error(self.hostname, self.port, exc.expected_key, exc.key,
                                     self.known_hosts[0]) from None
        except (HostKeyError, BackendUnavailableError):
            client.close()
            raise
        except paramiko.AuthenticationException as exc:
            client.close()
            raise BackendUnavailableError(
                f"SSH authentication to {self.where} failed ({exc}); keys tried:"
                f" {self.identity_files or 'agent and ~/.ssh/id_*'}"
            ) from exc
        except BaseException:
            client.close()
            raise
        transport = client.get_transport()
        if transport is not None and self.keepalive:
            transport.set_keepalive(self.keepalive)
        if transport is not None and self.nodelay and isinstance(transport.sock, socket.socket):
            # a command's request and answer are small packets: with Nagle's algorithm each
            # waits for the peer's delayed ACK (~40 ms on Linux), 20 times the command itself
            transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connects += 1
        via = f" through {self._jump.where}" if self._jump is not None else ""
        logger.info("connected to %s%s", self.where, via)
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
        """The transport, reconnecting with back-off for ``reconnect_for`` seconds once the
        host has answered (a dropped link comes back); a host that never answered is not waited
        for (a wrong host name or port, a host down): two tries, then the error."""
        window = self.reconnect_for if self.connects else min(self.reconnect_for, FIRST_CONNECT_FOR)
        deadline = time.monotonic() + window
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
                        f" {window:.0f} s"
                    ) from exc
                logger.log(logging.WARNING if self.connects else logging.DEBUG,
                           "connection to %s failed (%s); retrying in %.1f s",
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
        if self._handed is None:
            try:
                return self._exec_here(line, stdin, timeout, retry)
            except _LoginHandoff:  # raised while logging in: nothing was asked nor run yet
                self._hand_off()
        assert self._handed is not None
        return self._handed._exec(line, stdin, timeout, retry)

    def _exec_to(self, line: str, sink: OutputSink, timeout: float | None,
                 retry: bool) -> tuple[int, bytes]:
        if self._handed is None:
            try:
                rc, _, err = self._exec_here(line, None, timeout, retry, sink)
                return rc, err
            except _LoginHandoff:
                self._hand_off()
        assert self._handed is not None
        return self._handed._exec_to(line, sink, timeout, retry)

    def _hand_off(self) -> None:
        with self._lock:
            if self._handed is not None or self._handoff is None:
                return
            self.close()
            logger.info("the login to %s asks for a passphrase or a code: logging in through the"
                        " connection holder, so that it serves every process until idle or"
                        " `tramway-jupyter logout`", self.where)
            self._handed = self._handoff()

    def _exec_here(
        self, line: str, stdin: bytes | StdinWriter | None, timeout: float | None, retry: bool,
        sink: OutputSink | None = None,
    ) -> tuple[int, bytes, bytes]:
        """Run ``line`` on this connection (stdout returned, or written to ``sink``); a command
        cut by a dropped connection is sent again once if ``retry``."""
        paramiko = self._paramiko
        for attempt in (1, 2):
            transport = self._transport_with_backoff()
            try:
                if attempt == 2 and sink is not None:
                    sink.restart()
                return self._exec_on(transport, line, stdin, timeout, sink)
            except (OSError, EOFError, paramiko.SSHException) as exc:
                if isinstance(exc, TimeoutError) and transport.is_active():
                    raise RemoteCommandError(self.where, shorten(line), -1,
                                             f"timed out after {timeout} s") from exc
                with self._lock:
                    self._drop()
                if not retry or attempt == 2:
                    maybe = "" if retry else (" (not re-sent: it may or may not have run there;"
                                              " check with squeue before submitting again)")
                    raise BackendUnavailableError(
                        f"connection to {self.where} lost while running {shorten(line, 120)!r}"
                        f" ({type(exc).__name__}: {exc}){maybe}"
                    ) from exc
                logger.warning("connection to %s lost (%s); reconnecting", self.where, exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _open_session(self, transport: Any, line: str) -> Any:
        """A session channel, holding one of :attr:`_sessions` (the caller releases it). One the
        server refused (more at once than its ``MaxSessions``) lowers the number opened at once
        and is asked for again, on the same connection."""
        paramiko = self._paramiko
        self._sessions.acquire()
        for wait in (*SESSION_RETRY_WAITS, None):
            try:
                return transport.open_session(timeout=self.connect_timeout)
            except paramiko.SSHException as exc:
                if not transport.is_active():  # the link dropped: the caller reconnects
                    self._sessions.release()
                    raise
                # refused (paramiko keeps one refusal's ChannelException per transport: a
                # concurrent one gets "Unable to open channel." instead)
                self._sessions.refused()
                self._sessions.release()
                if wait is None:
                    raise RemoteCommandError(
                        self.where, shorten(line), -1,
                        f"the server refused a session ({exc}) for {sum(SESSION_RETRY_WAITS):.0f}"
                        " s: too many commands at once for its MaxSessions?") from None
                logger.debug("%s refused a session (%s): %d at once from now on", self.where,
                             exc, self._sessions.limit)
                time.sleep(wait)
                self._sessions.acquire()
            except BaseException:
                self._sessions.release()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _exec_on(self, transport: Any, line: str, stdin: bytes | StdinWriter | None,
                 timeout: float | None, sink: OutputSink | None = None
                 ) -> tuple[int, bytes, bytes]:
        chan = self._open_session(transport, line)
        try:
            return self._exec_on_channel(chan, transport, line, stdin, timeout, sink)
        finally:
            chan.close()
            self._sessions.release()

    def _exec_on_channel(self, chan: Any, transport: Any, line: str,
                         stdin: bytes | StdinWriter | None, timeout: float | None,
                         sink: OutputSink | None) -> tuple[int, bytes, bytes]:
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
                if sink is None:
                    out += chan.recv(1 << 20)
                else:
                    sink.write(chan.recv(1 << 20))
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

    def sftp(self) -> Any:
        """A paramiko SFTP client on this connection (for tools and benchmarks)."""
        try:
            return self._transport_with_backoff().open_sftp_client()
        except _LoginHandoff:
            raise BackendUnavailableError(
                f"{self.where} asks for a passphrase or a code, which only the connection holder"
                " can ask: SFTP does not go through it") from None


def _jump_connection(spec: str, ssh_config: str | os.PathLike[str] | None,
                     target: SSHConnection | None = None) -> SSHConnection:
    """The connection to the hop of a ``ProxyJump`` next to the target (see
    :func:`.ssh_config.parse_proxy_jump`); it goes through the earlier hops itself.

    A hop is resolved through ``~/.ssh/config`` like any host. From the ``target`` it inherits
    the prompter, the target's known_hosts files (after its own, which messages name: every hop
    is checked as strictly as the target) and, when its config names no key, the target's
    identity files."""
    hop = parse_proxy_jump(spec)
    hops = (target._hops + 1) if target is not None else 1
    if hops > MAX_HOPS:
        raise BackendUnavailableError(
            f"ProxyJump chain longer than {MAX_HOPS} hops at {spec!r}: does a `Host *` rule of"
            " ~/.ssh/config make the jump host jump through itself? (add `ProxyJump none` to it)")
    conn = SSHConnection(hop.host, hop.port, hop.user, ssh_config=ssh_config,
                         prompter=target.auth_prompter() if target is not None else None,
                         _hops=hops)
    if hop.through:
        conn.proxy_jump, conn.proxy_command = hop.through, None
    if target is not None:
        conn.nodelay = target.nodelay
        conn.known_hosts = list(dict.fromkeys(conn.known_hosts + target.known_hosts))
        if not conn.identity_files and target.identity_files:
            conn.identity_files = list(target.identity_files)
    return conn


# ---------------------------------------------------------------------------------------------
_CONNECTIONS: dict[tuple[Any, ...], Connection] = {}
_CONN_LOCK = threading.Lock()


def connection_key(profile: Profile) -> tuple[Any, ...]:
    return (profile.host, profile.port, profile.user, profile.identity_file, profile.known_hosts,
            profile.jump)


def _use_holder(profile: Profile) -> bool:
    """Whether commands go through the connection holder (:mod:`.holder`) from the start: the
    profile says ``holder = true``, or (``holder`` unset) a running holder holds its login."""
    from . import holder

    if profile.holder is None:
        return holder.holds(profile)
    return bool(profile.holder)


def get_connection(profile: Profile, prompter: Prompter | None = None) -> Connection:
    """The connection of a profile, reused across calls (one per host/user/port/keys/jump).

    Through the per-user connection holder when the profile says ``holder = true`` or is logged
    in there; with ``holder`` unset (the default), direct until a login needs a passphrase or a
    code, then through the holder, so that this one login serves every process of the user.
    ``prompter`` asks for the passphrases and codes (default: the one fitting where the question
    comes, :func:`.prompts.ask_here`)."""
    key = connection_key(profile)
    with _CONN_LOCK:
        conn = _CONNECTIONS.get(key)
        if conn is None:
            if profile.is_remote and _use_holder(profile):
                from .holder import HeldConnection

                conn = HeldConnection(profile, prompter=prompter or ask_here)
            elif profile.is_remote:
                conn = SSHConnection(profile.host, profile.port, profile.user,
                                     profile.identity_file, profile.known_hosts, jump=profile.jump,
                                     prompter=prompter,
                                     handoff=_holder_handoff(profile, prompter)
                                     if profile.holder is None else None)
            else:
                conn = LocalConnection()
            _CONNECTIONS[key] = conn
        return conn


def _holder_handoff(profile: Profile, prompter: Prompter | None) -> Callable[[], Connection]:
    def handoff() -> Connection:
        from .holder import HeldConnection

        return HeldConnection(profile, prompter=prompter or ask_here)

    return handoff


def close_connections() -> None:
    """Close every cached connection (at interpreter exit, or in tests)."""
    with _CONN_LOCK:
        for conn in _CONNECTIONS.values():
            conn.close()
        _CONNECTIONS.clear()
