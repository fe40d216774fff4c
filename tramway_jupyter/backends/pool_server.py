"""The warm pool's daemon: a per-user fork server (started by ``python -m
tramway_jupyter.backends.pool serve``; :mod:`.pool` has the client and says what the pool
guarantees).

It binds its Unix socket (in the 0700 :func:`~.pool.pool_dir`) before importing the heavy
modules, so that clients queue while it imports; then it accepts one request at a time
(``ping``, ``stop``, ``dispatch``), checks the peer's uid, exits when a client's
:func:`~.pool.fingerprint` differs from its own, after its idle timeout, or when its socket is
removed or replaced, and forks each batch's dispatcher (:mod:`.local_runner`) into its own
session with the client's environment, working directory and log.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import sys
import time
from typing import Any

from . import user_daemon
from .pool import INLINE_BACKEND, fingerprint, socket_path
from .procs import run_forked_child
from .user_daemon import PrivateSocket, peer_uid

logger = logging.getLogger("tramway_jupyter.pool")

#: What the daemon imports once for every worker it forks.
HEAVY_MODULES = (
    "numpy", "scipy", "scipy.optimize", "scipy.sparse", "scipy.spatial", "scipy.stats",
    "pandas", "matplotlib", "matplotlib.pyplot", "IPython", "IPython.core.interactiveshell",
    "tramway_jupyter.analysis", "tramway_jupyter.jobs.shell_engine", "tramway_jupyter.jobs.worker",
    "tramway_jupyter.jobs.record", "tramway_jupyter.backends.local_runner",
)


def _preimport() -> None:
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)  # as a worker's shell sets it before pyplot
    import importlib

    for name in HEAVY_MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a missing optional library: the worker imports what it needs
            logger.info("not pre-imported: %s (%s)", name, exc)


class Daemon:
    """The accept loop on the socket it binds: one request at a time, each dispatch forked."""

    def __init__(self, idle: float) -> None:
        self.idle = idle
        self.path = socket_path()
        self.fingerprint = fingerprint()
        self.children: set[int] = set()
        self.last = time.monotonic()
        self.listener = PrivateSocket(self.path)
        self.sock = self.listener.sock

    def _reap(self) -> None:
        for pid in list(self.children):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.children.discard(pid)

    def _socket_is_mine(self) -> bool:
        return self.listener.is_mine()

    def _unlink(self) -> None:
        self.listener.unlink()

    def run(self) -> None:
        logger.info("pool daemon %d: fingerprint %s, idle timeout %.0f s", os.getpid(),
                    self.fingerprint, self.idle)
        try:
            while True:
                ready, _, _ = select.select([self.sock], [], [], 0.5)
                self._reap()
                if not ready:
                    if time.monotonic() - self.last > self.idle:
                        logger.info("idle for %.0f s: exiting", self.idle)
                        return
                    if not self._socket_is_mine():
                        logger.info("%s removed or replaced: exiting", self.path)
                        return
                    continue
                conn, _ = self.sock.accept()
                self.last = time.monotonic()
                try:
                    if not self._handle(conn):
                        return
                except Exception:
                    logger.exception("request failed")
                finally:
                    conn.close()
        finally:
            self._unlink()
            self.sock.close()

    def _handle(self, conn: socket.socket) -> bool:
        """Answer one request; return False when the daemon must exit."""
        conn.settimeout(10)
        uid = peer_uid(conn)  # the directory is 0700 already; check anyway
        if uid is not None and uid != os.getuid():
            logger.warning("refused a request from uid %d", uid)
            return True
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(1 << 20)
            if not chunk:
                return True
            data += chunk
        msg = json.loads(data)
        op = msg.get("op")
        me = {"pid": os.getpid(), "fingerprint": self.fingerprint, "idle_timeout": self.idle,
              "children": sorted(self.children)}
        if op == "ping":
            conn.sendall(json.dumps({"ok": True, **me}).encode() + b"\n")
            return True
        if op == "stop":
            self._unlink()
            conn.sendall(json.dumps({"ok": True, **me}).encode() + b"\n")
            return False
        if op != "dispatch":
            conn.sendall(json.dumps({"ok": False, "error": f"unknown op {op!r}"}).encode() + b"\n")
            return True
        if msg.get("fingerprint") != self.fingerprint:
            logger.info("client fingerprint %s differs: exiting for a fresh daemon",
                        msg.get("fingerprint"))
            self._unlink()
            conn.sendall(json.dumps({"ok": False, "stale": True, "daemon": os.getpid()}).encode()
                         + b"\n")
            return False
        if msg.get("idle_timeout") is not None:
            self.idle = float(msg["idle_timeout"])
        pid = self._fork_dispatcher(msg, conn)
        self.children.add(pid)
        conn.sendall(json.dumps({"ok": True, "pid": pid, "daemon": os.getpid()}).encode() + b"\n")
        return True

    def _fork_dispatcher(self, msg: dict[str, Any], conn: socket.socket) -> int:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            return pid

        def prepare() -> None:  # in the child
            os.setsid()
            self.sock.close()
            conn.close()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)
            os.environ.clear()
            os.environ.update(msg["env"])
            if sys.path and os.path.abspath(sys.path[0] or ".") == os.getcwd():
                sys.path[0] = msg["cwd"]  # `python -m` puts its cwd first, as a cold worker
            os.chdir(msg["cwd"])
            fd = os.open(msg["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.close(null)
            for h in list(logging.root.handlers):
                logging.root.removeHandler(h)

        def dispatch() -> int:
            from . import local_runner

            return local_runner.main(msg["argv"], fork_workers=True)

        run_forked_child(prepare, dispatch)


def serve(idle: float, *, daemonize: bool = False) -> None:
    """Run the daemon until it exits (idle, stopped, stale, or its socket gone)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if daemonize:
        user_daemon.daemonize()
    daemon = Daemon(idle)  # bind first: clients queue on the socket while we import
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    _preimport()
    daemon.run()
