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
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO, Any

from ..exceptions import BackendConnectionError, PromptUnavailableError, RemoteCommandError
from . import user_daemon
from .holder import key_of, socket_path, where_of
from .holder_frames import recv_frame, send_frame, send_json
from .prompts import Prompter
from .ssh import SSHConnection
from .ssh_auth import forget_keys
from .user_daemon import PrivateSocket, peer_uid

logger = logging.getLogger("tramway_jupyter.holder")
_OUT_CHUNK = 1 << 20
#: Seconds a holder that holds no login (its first one failed, say) waits before exiting.
EMPTY_EXIT = 60.0


class _LoginNeeded(Exception):
    """The client that asked cannot answer prompts (no terminal, no dialog)."""


class PromptingConnection(SSHConnection):
    """An SSH connection whose logins (every hop's too) ask :attr:`asker`, the prompter of the
    client being served, for passphrases and one-time codes; with no one to ask, the error says
    how to log in. Counts its logins and the prompts asked (``status`` shows them)."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params["host"], params.get("port"), params.get("user"),
                         params.get("identity_file"), params.get("known_hosts"),
                         jump=params.get("jump"), prompter=self._ask)
        self.asker: Prompter | None = None
        self.logins = 0
        self.prompts_asked = 0

    def _ask(self, title: str, prompts: list[tuple[str, bool]]) -> list[str]:
        if self.asker is None:
            raise PromptUnavailableError(
                f"{title}: a passphrase or code is needed and there is no one to ask here: log in"
                " once with `tramway-jupyter login PROFILE` (or from Lab's dialog)")
        self.prompts_asked += 1
        try:
            return self.asker(title, prompts)
        except _LoginNeeded:
            raise PromptUnavailableError(f"{title}: the login was not answered (dismissed, or "
                                         "no one to ask where the command runs)") from None

    def _connect(self) -> Any:
        client = super()._connect()
        self.logins += 1
        return client


class Held:
    """One held connection: its lock (one login at a time) and its counters."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.key = key_of(params)
        self.where = where_of(params)
        self.lock = threading.Lock()
        self.conn = PromptingConnection(params)
        self.users = 0  # requests being served (under the daemon's held_lock)
        self.logged_in_at: float | None = None  # wall clock of the last login
        self.used_at: float | None = None  # wall clock of the last request

    def active(self) -> bool:
        client = self.conn._client
        t = client.get_transport() if client is not None else None
        return bool(t is not None and t.is_active() and t.is_authenticated())

    def facts(self) -> dict[str, Any]:
        return {"key": self.key, "where": self.where, "active": self.active(),
                "logins": self.conn.logins, "prompts": self.conn.prompts_asked,
                "logged_in_at": self.logged_in_at, "used_at": self.used_at}


class _FrameSink:
    """A command's stdout to the client, as ``O`` frames; ``Z`` when the command starts again."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        for i in range(0, len(data), _OUT_CHUNK):
            send_frame(self.sock, b"O", view[i:i + _OUT_CHUNK])

    def restart(self) -> None:
        send_frame(self.sock, b"Z")


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
        self.listener = PrivateSocket(self.path)
        self.sock = self.listener.sock

    def _socket_is_mine(self) -> bool:
        return self.listener.is_mine()

    def _unlink(self) -> None:
        self.listener.unlink()

    def run(self) -> None:
        logger.info("holder %d: idle timeout %.0f s", os.getpid(), self.idle)
        try:
            while not self.stopping.is_set():
                ready, _, _ = select.select([self.sock], [], [], 0.5)
                if not ready:
                    if self.stopping.is_set():
                        logger.info("stopped")
                        return
                    quiet = time.monotonic() - self.last
                    if not self.busy and quiet > self.idle:
                        logger.info("idle for %.0f s: exiting", self.idle)
                        return
                    if not self.busy and not self.held and quiet > EMPTY_EXIT:
                        logger.info("holding nothing for %.0f s: exiting", EMPTY_EXIT)
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
            uid = peer_uid(conn)  # the directory is 0700 already; check anyway
            if uid is not None and uid != os.getuid():
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
            h.users += 1
            return h

    def _login(self, h: Held, conn: socket.socket, interactive: bool) -> bool:
        """Log ``h`` in unless it is; whether it logged in."""
        with h.lock:
            if h.active():
                return False
            if h.conn.logins:
                logger.warning("the connection to %s was lost: logging in again", h.where)
            h.conn.asker = _relay(conn) if interactive else None
            try:
                h.conn._transport_with_backoff()
            finally:
                h.conn.asker = None
            h.logged_in_at = time.time()
            logger.info("logged in to %s (login %d, %d prompt(s) asked so far)", h.where,
                        h.conn.logins, h.conn.prompts_asked)
            return True

    def _handle(self, conn: socket.socket, msg: dict[str, Any]) -> None:
        op = msg.get("op")
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
                forget_keys()  # a passphrase is asked again at the next login (any profile's)
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
        h.used_at = time.time()
        try:
            self._serve_request(h, conn, op, msg)
        finally:
            with self.held_lock:
                h.users -= 1
                if not h.conn.logins and not h.users and self.held.get(h.key) is h:
                    del self.held[h.key]  # its first login failed: nothing is held

    def _serve_request(self, h: Held, conn: socket.socket, op: str, msg: dict[str, Any]) -> None:
        try:
            logged_in = self._login(h, conn, bool(msg.get("interactive")))
            idle = msg.get("idle_timeout")
            if (logged_in or op == "login") and idle is not None:
                self.idle = float(idle)  # the profile logging in sets it, not every command
            if op == "login":
                send_json(conn, b"K", h.facts())
                return
            rc, out, err = self._exec(h, conn, msg)
        except RemoteCommandError as exc:
            send_json(conn, b"F", {"error": str(exc), "kind": "remote"})
            return
        except BackendConnectionError as exc:
            send_json(conn, b"F", {"error": str(exc), "kind": "login", "type": type(exc).__name__})
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
            view = memoryview(data)
            for i in range(0, len(data), _OUT_CHUNK):
                send_frame(conn, kind, view[i:i + _OUT_CHUNK])
        send_json(conn, b"X", {"rc": rc})

    def _exec(self, h: Held, conn: socket.socket, msg: dict[str, Any]) -> tuple[int, bytes, bytes]:
        """Run the command; stdout goes to the client as it arrives (``O`` frames), so the
        holder never holds a big output (a gather) whole; stderr comes back at the end."""
        line, timeout, retry = str(msg["line"]), msg.get("timeout"), bool(msg.get("retry", True))
        if not msg.get("stdin"):
            rc, err = h.conn._exec_to(line, _FrameSink(conn), timeout, retry)
            return rc, b"", err

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


def serve(idle: float, *, daemonize: bool = False) -> None:
    """Run the holder until it exits (idle, stopped, logged out, or its socket gone)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("paramiko").setLevel(logging.WARNING)
    if daemonize:
        user_daemon.daemonize()
    daemon = Daemon(idle)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    daemon.run()
