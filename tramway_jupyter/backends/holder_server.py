"""The connection holder's daemon (``python -m tramway_jupyter.backends.holder serve``;
:mod:`.holder` has the client, the protocol and what the holder guarantees).

It binds its Unix socket in the 0700 :func:`~.holder.holder_dir`, serves each client connection
in a thread after checking the peer's uid, keeps one :class:`PromptingConnection` per connection
key, logs in with the prompts relayed to the client that asked (``P``/``A`` frames), and runs
commands on the authenticated transport. It exits after its idle timeout (no request running or
received), on ``stop``, when the last held connection is logged out, or when its socket is
removed or replaced. Answers to prompts are never logged nor kept beyond the login (a key
loaded with its passphrase stays in memory, for reconnections).
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO, Any

from ..exceptions import BackendConnectionError, RemoteCommandError
from .holder import HolderError, key_of, socket_path, where_of
from .holder_frames import recv_frame, send_frame, send_json
from .prompts import Prompter
from .ssh import SSHConnection

logger = logging.getLogger("tramway_jupyter.holder")
_OUT_CHUNK = 1 << 20


class _LoginNeeded(Exception):
    """The client that asked cannot answer prompts (no terminal, no dialog)."""


class _ClientShim:
    """``paramiko`` as :class:`PromptingConnection`'s parent sees it: the same module, except
    that ``SSHClient().connect`` gets the relaying transport and the unlocked key.

    A stand-in until ``SSHConnection(..., prompter=...)`` (the bastion branch) lands."""

    def __init__(self, paramiko: Any, conn: PromptingConnection) -> None:
        self._paramiko, self._conn = paramiko, conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._paramiko, name)

    def SSHClient(self) -> Any:  # noqa: N802 - paramiko's name
        client = self._paramiko.SSHClient()
        connect = client.connect
        conn = self._conn

        def connect_relayed(*args: Any, **kw: Any) -> Any:
            kw["transport_factory"] = conn.make_transport
            pkey = conn.unlocked_key()
            if pkey is not None:
                kw["pkey"] = pkey
            return connect(*args, **kw)

        client.connect = connect_relayed
        return client


class PromptingConnection(SSHConnection):
    """An SSH connection whose logins ask :attr:`prompter` for a key's passphrase and for
    keyboard-interactive answers (one-time codes), and say clearly what was refused."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.prompter: Prompter | None = None
        self.logins = 0
        self.prompts_asked = 0
        self._pkey: Any = None
        self._flags: set[str] = set()

    # -- hooks used by _ClientShim --------------------------------------------------------
    def _ask(self, title: str, prompts: Sequence[tuple[str, bool]]) -> list[str]:
        if self.prompter is None:
            raise _LoginNeeded()
        self.prompts_asked += 1
        answers = list(self.prompter(title, list(prompts)))
        if len(answers) != len(prompts):
            raise _LoginNeeded()
        return answers

    def unlocked_key(self) -> Any:
        """The first identity file that needs a passphrase, unlocked (asked once, kept in memory)."""
        if self._pkey is not None:
            return self._pkey
        paramiko = self._paramiko
        for path in self.identity_files:
            try:
                paramiko.PKey.from_path(path)
                continue  # not encrypted: paramiko loads it itself
            except (paramiko.PasswordRequiredException, TypeError):  # TypeError: a PEM key
                pass
            except (OSError, paramiko.SSHException, ValueError):
                continue
            try:
                (secret,) = self._ask(f"Key {path} for {self.where}",
                                      [(f"Passphrase for {path}: ", False)])
            except _LoginNeeded:
                self._flags.add("login_needed")
                raise HolderError(self._login_hint(f"the key {path} needs its passphrase")) from None
            try:
                self._pkey = paramiko.PKey.from_path(path, password=secret.encode())
            except paramiko.SSHException:
                raise HolderError(f"the passphrase for {path} was refused (log in again with "
                                  "`tramway-jupyter login PROFILE`)") from None
            return self._pkey
        return None

    def make_transport(self, sock: Any, **kw: Any) -> Any:
        conn, paramiko = self, self._paramiko

        class RelayTransport(paramiko.Transport):  # type: ignore[misc, name-defined]
            def auth_interactive_dumb(self, username: str, handler: Any = None,
                                      submethods: str = "") -> Any:
                def relay(title: str, instructions: str, prompts: Any) -> list[str]:
                    if not prompts:
                        return []
                    head = " ".join(x for x in (title, instructions) if x).strip()
                    try:
                        return conn._ask(head or f"Login to {conn.where}",
                                         [(str(p), bool(e)) for p, e in prompts])
                    except Exception:  # no one to ask, or they gave up: fail this login
                        conn._flags.add("login_needed")
                        return ["" for _ in prompts]

                try:
                    return self.auth_interactive(username, relay, submethods)
                except paramiko.AuthenticationException:
                    conn._flags.add("code_refused")
                    raise

        return RelayTransport(sock, **kw)

    def _login_hint(self, what: str) -> str:
        return (f"{what} to log in to {self.where}, and there is no one to ask here: log in"
                " once with `tramway-jupyter login PROFILE` (or from Lab's dialog)")

    def _connect(self) -> Any:
        self._flags.clear()
        real = self._paramiko
        self._paramiko = _ClientShim(real, self)
        try:
            client = super()._connect()
        except BackendConnectionError as exc:
            if "login_needed" in self._flags and not isinstance(exc, HolderError):
                raise HolderError(self._login_hint("a one-time code is needed")) from exc
            if "code_refused" in self._flags:
                raise HolderError(f"the one-time code was refused by {self.where} (log in again"
                                  " with `tramway-jupyter login PROFILE`)") from exc
            raise
        finally:
            self._paramiko = real
        self.logins += 1
        return client


class Held:
    """One held connection: its lock (one login at a time) and its counters."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.key = key_of(params)
        self.where = where_of(params)
        self.lock = threading.Lock()
        self.conn = PromptingConnection(params["host"], params.get("port"), params.get("user"),
                                        params.get("identity_file"), params.get("known_hosts"))

    def active(self) -> bool:
        client = self.conn._client
        t = client.get_transport() if client is not None else None
        return bool(t is not None and t.is_active() and t.is_authenticated())

    def facts(self) -> dict[str, Any]:
        return {"key": self.key, "where": self.where, "active": self.active(),
                "logins": self.conn.logins, "prompts": self.conn.prompts_asked}


def _relay(sock: socket.socket) -> Prompter:
    def ask(title: str, prompts: Sequence[tuple[str, bool]]) -> list[str]:
        send_json(sock, b"P", {"title": title, "prompts": [[p, e] for p, e in prompts]})
        kind, payload = recv_frame(sock)
        reply = json.loads(payload) if kind == b"A" else {}
        if reply.get("refused") or "answers" not in reply:
            raise _LoginNeeded()
        return [str(a) for a in reply["answers"]]

    return ask


class Daemon:
    """The accept loop; one thread per client connection."""

    def __init__(self, idle: float) -> None:
        self.idle = idle
        self.path = socket_path()
        self.held: dict[str, Held] = {}
        self.held_lock = threading.Lock()
        self.busy = 0
        self.last = time.monotonic()
        self.stopping = threading.Event()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)
        try:
            self.sock.bind(str(self.path))
        finally:
            os.umask(old)
        self.inode = os.stat(self.path).st_ino
        self.sock.listen(64)

    def _socket_is_mine(self) -> bool:
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    def _unlink(self) -> None:
        if self._socket_is_mine():
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def run(self) -> None:
        logger.info("holder %d: idle timeout %.0f s", os.getpid(), self.idle)
        try:
            while not self.stopping.is_set():
                ready, _, _ = select.select([self.sock], [], [], 0.5)
                if not ready:
                    if self.stopping.is_set():
                        logger.info("stopped")
                        return
                    if not self.busy and time.monotonic() - self.last > self.idle:
                        logger.info("idle for %.0f s: exiting", self.idle)
                        return
                    if not self._socket_is_mine():
                        logger.info("%s removed or replaced: exiting", self.path)
                        return
                    continue
                conn, _ = self.sock.accept()
                self.last = time.monotonic()
                threading.Thread(target=self._serve, args=(conn,), daemon=True).start()
        finally:
            self._unlink()
            self.sock.close()
            for h in list(self.held.values()):
                h.conn.close()

    def _serve(self, conn: socket.socket) -> None:
        with self.held_lock:
            self.busy += 1
        try:
            if hasattr(socket, "SO_PEERCRED"):  # the directory is 0700 already; check anyway
                _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(
                    socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
                if uid != os.getuid():
                    logger.warning("refused a request from uid %d", uid)
                    return
            kind, payload = recv_frame(conn)
            if kind != b"R":
                return
            self._handle(conn, json.loads(payload))
        except (OSError, EOFError) as exc:
            logger.info("client went away: %s", exc)
        except Exception:
            logger.exception("request failed")
        finally:
            with self.held_lock:
                self.busy -= 1
                self.last = time.monotonic()
            conn.close()

    def _entry(self, params: dict[str, Any]) -> Held:
        key = key_of(params)
        with self.held_lock:
            h = self.held.get(key)
            if h is None:
                h = self.held[key] = Held(params)
            return h

    def _login(self, h: Held, conn: socket.socket, interactive: bool) -> None:
        with h.lock:
            if h.active():
                return
            if h.conn.logins:
                logger.warning("the connection to %s was lost: logging in again", h.where)
            h.conn.prompter = _relay(conn) if interactive else None
            try:
                h.conn._transport_with_backoff()
            finally:
                h.conn.prompter = None
            logger.info("logged in to %s (login %d, %d prompt(s) asked so far)", h.where,
                        h.conn.logins, h.conn.prompts_asked)

    def _handle(self, conn: socket.socket, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        if msg.get("idle_timeout") is not None:
            self.idle = float(msg["idle_timeout"])
        if op == "ping":
            with self.held_lock:
                held = [h.facts() for h in self.held.values()]
            send_json(conn, b"K", {"pid": os.getpid(), "idle_timeout": self.idle, "held": held})
            return
        if op == "stop":
            self._unlink()
            self.stopping.set()
            send_json(conn, b"K", {"pid": os.getpid()})
            return
        if op == "logout":
            key = key_of(msg["conn"])
            with self.held_lock:
                h = self.held.pop(key, None)
                exiting = not self.held
            if h is not None:
                h.conn.close()
                logger.info("logged out of %s", h.where)
            if exiting:
                self._unlink()
                self.stopping.set()
            send_json(conn, b"K", {"pid": os.getpid(), "was_held": h is not None,
                                   "exiting": exiting})
            return
        if op not in ("login", "exec"):
            send_json(conn, b"F", {"error": f"unknown op {op!r}", "kind": "usage"})
            return
        h = self._entry(msg["conn"])
        try:
            self._login(h, conn, bool(msg.get("interactive")))
            if op == "login":
                send_json(conn, b"K", h.facts())
                return
            rc, out, err = self._exec(h, conn, msg)
        except RemoteCommandError as exc:
            send_json(conn, b"F", {"error": str(exc), "kind": "remote"})
            return
        except BackendConnectionError as exc:
            send_json(conn, b"F", {"error": str(exc), "kind": "login"})
            return
        except (OSError, EOFError):
            raise  # the client went away
        except Exception as exc:
            logger.exception("%s on %s failed", op, h.where)
            send_json(conn, b"F", {"error": f"the connection holder failed ({type(exc).__name__}:"
                                            f" {exc}); see {self.path.parent / 'holder.log'}",
                                   "kind": "internal"})
            return
        for kind, data in ((b"O", out), (b"E", err)):
            for i in range(0, len(data), _OUT_CHUNK):
                send_frame(conn, kind, data[i:i + _OUT_CHUNK])
        send_json(conn, b"X", {"rc": rc})

    def _exec(self, h: Held, conn: socket.socket, msg: dict[str, Any]) -> tuple[int, bytes, bytes]:
        line, timeout, retry = str(msg["line"]), msg.get("timeout"), bool(msg.get("retry", True))
        if not msg.get("stdin"):
            return h.conn._exec(line, None, timeout, retry)

        def pump(fh: IO[bytes]) -> None:
            while True:
                kind, data = recv_frame(conn)
                if kind != b"I":
                    raise EOFError(f"expected stdin, got frame {kind!r}")
                if not data:
                    return
                fh.write(data)

        if retry:  # a command that may be re-sent needs its whole stdin at hand
            buf = bytearray()

            class Sink:
                def write(self, data: bytes) -> int:
                    buf.extend(data)
                    return len(data)

            pump(Sink())  # type: ignore[arg-type]
            return h.conn._exec(line, bytes(buf), timeout, retry)
        return h.conn._exec(line, pump, timeout, retry)


def _daemonize() -> None:
    """Detach: the launching process exits at once, the daemon runs in its own session."""
    if os.fork():
        os._exit(0)
    os.setsid()


def serve(idle: float, *, daemonize: bool = False) -> None:
    """Run the holder until it exits (idle, stopped, logged out, or its socket gone)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("paramiko").setLevel(logging.WARNING)
    if daemonize:
        _daemonize()
    daemon = Daemon(idle)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    daemon.run()
