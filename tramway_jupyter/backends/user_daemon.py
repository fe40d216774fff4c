"""What the per-user daemons share (the warm worker pool, the connection holder): a directory
only this user can enter, a Unix socket bound in it that only this user can reach (and whose
peers are checked), detaching from the launching process, waiting for one to exit, and their
``serve | stop | status`` command line."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import stat
import struct
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..paths import data_home


def idle_seconds(env_var: str, value: float | None, default: float,
                 error: type[Exception]) -> float:
    """A daemon's idle timeout: the environment variable ``env_var`` if set, else ``value`` (a
    profile's), else ``default``; ``error`` names a variable that is not a number."""
    env = os.environ.get(env_var)
    if env:
        try:
            return max(0.0, float(env))
        except ValueError:
            raise error(f"{env_var} must be a number of seconds, got {env!r}") from None
    return float(value) if value is not None else default


def private_dir_path(name: str) -> Path:
    """``<data_home>/<name>``, or a directory under ``$XDG_RUNTIME_DIR`` (else ``/tmp``) when
    the socket's path would pass the ~107 bytes AF_UNIX allows."""
    d = data_home() / name
    if len(str(d / f"{name}.sock")) > 100:
        run = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
        tag = hashlib.sha256(str(data_home()).encode()).hexdigest()[:12]
        d = Path(run) / f"tramway-jupyter-{name}-{os.getuid()}-{tag}"
    return d


def private_dir(name: str, error: type[Exception]) -> Path:
    """:func:`private_dir_path`, created 0700 if needed; ``error`` if it is not a directory of
    this user's (never used then)."""
    d = private_dir_path(name)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = d.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise error(f"{d} is not a directory owned by this user: not using it")
    if st.st_mode & 0o077:
        os.chmod(d, 0o700)
    return d


class PrivateSocket:
    """A listening Unix socket bound at ``path`` with mode 0600 (umask 077 while binding)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)
        try:
            self.sock.bind(str(path))
        finally:
            os.umask(old)
        self.inode = os.stat(path).st_ino
        self.sock.listen(64)

    def is_mine(self) -> bool:
        """Whether ``path`` is still this socket (not removed, nor replaced by another daemon)."""
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    def unlink(self) -> None:
        """Remove ``path`` if it is still this socket."""
        if self.is_mine():
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


def peer_uid(conn: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket (None where unknown)."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(
        socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return int(uid)


def daemonize() -> None:
    """Detach: the launching process exits at once, the daemon runs in its own session."""
    if os.fork():
        os._exit(0)
    os.setsid()


def wait_gone(pid: int, timeout: float = 10.0) -> None:
    """Wait until process ``pid`` has exited (at most ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while pid and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)


def daemon_main(argv: Sequence[str] | None, *, module: str, what: str, description: str,
                stop: Callable[[], bool], status: Callable[[], dict[str, Any] | None],
                serve: Callable[[float, bool], None], idle_timeout: Callable[[], float]) -> int:
    """``python -m MODULE serve [--idle-timeout S] [--daemonize] | stop | status``."""
    p = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help=f"run the {what}")
    s.add_argument("--idle-timeout", type=float, default=None)
    s.add_argument("--daemonize", action="store_true")
    sub.add_parser("stop", help=f"stop the {what}")
    sub.add_parser("status", help=f"show the {what}")
    args = p.parse_args(argv)
    if args.cmd == "stop":
        print(f"{what} stopped" if stop() else f"no {what} running")
        return 0
    if args.cmd == "status":
        st = status()
        print(json.dumps(st) if st else f"no {what} running")
        return 0
    serve(args.idle_timeout if args.idle_timeout is not None else idle_timeout(), args.daemonize)
    return 0
