"""Warm local workers: a per-user fork server that outlives a run.

``python -m tramway_jupyter.backends.pool serve [--idle-timeout S]`` (started on demand by
:class:`~tramway_jupyter.backends.local.LocalBackend`; ``stop`` / ``status`` talk to it).

Starting a worker process costs more than a short task: importing IPython, numpy, scipy, pandas
and matplotlib takes a second or more. The pool daemon imports them once, then, for each local
batch, *forks* the batch's dispatcher (:mod:`.local_runner`), which forks the batch's serving
workers from that same pre-imported image. A re-run from a kernel thus starts no Python at all.

What does not leak from one batch to the next:

* The daemon never runs user code nor creates an IPython shell: every batch's dispatcher and
  workers are fresh forks of a process that only imported libraries. Modules imported by a
  batch's setup cell, its namespace, its figures, die with that batch's workers; each batch's
  setup runs anew (and within a batch, the engines reset the namespace between tasks).
* The daemon records a fingerprint of the environment when it starts (:func:`fingerprint`:
  ``sys.executable``, the Python version, the mtimes of the site-packages and ``PYTHONPATH``
  directories, which change when a distribution is installed, upgraded or removed, the
  tramway_jupyter version and the newest mtime of its source files, and the environment
  variables read at import time such as ``OMP_NUM_THREADS``). Every client sends its own; a
  daemon whose fingerprint differs exits and the client starts a new one, so a changed package
  or a changed tramway_jupyter is never served from stale modules.
* The dispatcher takes the client's environment variables and working directory, as if it had
  been started from the client.

The daemon listens on a Unix socket in a 0700 directory owned by the user (``<data_home>/pool``,
see :mod:`tramway_jupyter.paths`), exits after ``pool_idle_timeout`` seconds without a request
(profile key; env ``TRAMWAY_JUPYTER_POOL_IDLE``; default 600 s) or when its socket is removed.
The batches it started run on as detached sessions: they depend neither on the daemon nor on
the kernel that asked for them.
Opt out with the profile key ``warm_pool = false`` or ``TRAMWAY_JUPYTER_WARM_POOL=0``: each
batch then starts its own dispatcher and worker processes.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import logging
import os
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..exceptions import PoolError
from ..paths import data_home
from .procs import run_forked_child

logger = logging.getLogger("tramway_jupyter.pool")

ENV_WARM_POOL = "TRAMWAY_JUPYTER_WARM_POOL"
ENV_IDLE = "TRAMWAY_JUPYTER_POOL_IDLE"
DEFAULT_IDLE_TIMEOUT = 600.0
#: What the daemon imports once for every worker it forks.
HEAVY_MODULES = (
    "numpy", "scipy", "scipy.optimize", "scipy.sparse", "scipy.spatial", "scipy.stats",
    "pandas", "matplotlib", "matplotlib.pyplot", "IPython", "IPython.core.interactiveshell",
    "tramway_jupyter.analysis", "tramway_jupyter.jobs.shell_engine", "tramway_jupyter.jobs.worker",
    "tramway_jupyter.jobs.record", "tramway_jupyter.backends.local_runner",
)
#: Environment variables that change what an import does: part of the fingerprint.
IMPORT_ENV = ("PYTHONPATH", "PYTHONHASHSEED", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
              "MKL_NUM_THREADS", "MPLBACKEND", "MPLCONFIGDIR", "LD_LIBRARY_PATH", "LD_PRELOAD")
#: The matplotlib backend a worker's shell sets by default (``jobs.shell_engine._INLINE``).
_INLINE = "module://matplotlib_inline.backend_inline"
_CONNECT_TIMEOUT = 120.0  # the first request waits for the daemon's imports


# -- settings ---------------------------------------------------------------------------------
def enabled(profile: Any = None) -> bool:
    if not hasattr(os, "fork") or not hasattr(socket, "AF_UNIX"):
        return False  # a fork server needs both (not on Windows)
    env = os.environ.get(ENV_WARM_POOL)
    if env is not None and env.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    return bool(getattr(profile, "warm_pool", True))


def idle_timeout(profile: Any = None) -> float:
    env = os.environ.get(ENV_IDLE)
    if env:
        try:
            return max(0.0, float(env))
        except ValueError:
            raise PoolError(f"{ENV_IDLE} must be a number of seconds, got {env!r}") from None
    value = getattr(profile, "pool_idle_timeout", None)
    return float(value) if value is not None else DEFAULT_IDLE_TIMEOUT


def pool_dir() -> Path:
    """The daemon's private directory (0700, owned by this user), created if needed."""
    d = data_home() / "pool"
    if len(str(d / "pool.sock")) > 100:  # AF_UNIX paths are limited to ~107 bytes
        run = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
        tag = hashlib.sha256(str(data_home()).encode()).hexdigest()[:12]
        d = Path(run) / f"tramway-jupyter-{os.getuid()}-{tag}"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = d.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise PoolError(f"{d} is not a directory owned by this user: not using it")
    if st.st_mode & 0o077:
        os.chmod(d, 0o700)
    return d


def socket_path() -> Path:
    return pool_dir() / "pool.sock"


# -- fingerprint ------------------------------------------------------------------------------
def _package_mtime() -> tuple[float, int]:
    root = Path(__file__).resolve().parents[1]
    newest, count = 0.0, 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in ("__pycache__", "labextension", "static")]
        for name in filenames:
            if name.endswith(".py"):
                try:
                    newest = max(newest, os.stat(os.path.join(dirpath, name)).st_mtime)
                except OSError:
                    continue
                count += 1
    return newest, count


def _site_dirs() -> list[str]:
    import site
    import sysconfig

    dirs = set(site.getsitepackages()) if hasattr(site, "getsitepackages") else set()
    user = site.getusersitepackages() if hasattr(site, "getusersitepackages") else None
    if isinstance(user, str):
        dirs.add(user)
    for key in ("purelib", "platlib"):
        dirs.add(sysconfig.get_paths()[key])
    dirs.update(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)
    return sorted(dirs)


def fingerprint() -> str:
    """What a warm worker's imported modules depend on (see the module's docstring)."""
    from .._version import __version__

    parts: list[str] = [sys.executable, sys.version, __version__, str(Path(__file__).resolve())]
    for d in _site_dirs():
        try:
            parts.append(f"{d}:{os.stat(d).st_mtime_ns}")
        except OSError:
            parts.append(f"{d}:-")
    newest, count = _package_mtime()
    parts.append(f"src:{newest!r}:{count}")
    env = {k: os.environ.get(k) for k in IMPORT_ENV}
    env["MPLBACKEND"] = env["MPLBACKEND"] or _INLINE  # what a worker's shell sets by default
    parts += [f"{k}={v}" for k, v in env.items()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


# -- client -----------------------------------------------------------------------------------
def _request(msg: dict[str, Any], *, timeout: float = _CONNECT_TIMEOUT,
             path: Path | None = None) -> dict[str, Any]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(path or socket_path()))
        s.sendall(json.dumps(msg).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    if not data:
        raise PoolError("the pool daemon closed the connection without an answer")
    reply: dict[str, Any] = json.loads(data)
    return reply


def _start_daemon(idle: float) -> None:
    d = pool_dir()
    with open(d / "pool.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:  # another client may have started it while we waited for the lock
            if _request({"op": "ping"}, timeout=_CONNECT_TIMEOUT).get("ok"):
                return
        except (OSError, ValueError, PoolError):
            pass
        sock = d / "pool.sock"
        try:
            sock.unlink()
        except FileNotFoundError:
            pass
        with open(d / "pool.log", "ab") as log:
            # the launched process forks the daemon and exits: nothing is left to reap here
            subprocess.run([sys.executable, "-m", "tramway_jupyter.backends.pool", "serve",
                            "--idle-timeout", str(idle), "--daemonize"],
                           stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=str(d),
                           check=True, timeout=60)
        deadline = time.monotonic() + 30
        while not sock.exists():
            if time.monotonic() > deadline:
                raise PoolError(f"the pool daemon did not start: see {d / 'pool.log'}")
            time.sleep(0.005)


def dispatch(argv: Sequence[str], *, cwd: str, log: str, profile: Any = None) -> int:
    """Have the warm pool fork a dispatcher running ``local_runner ARGV``; return its pid."""
    idle = idle_timeout(profile)
    msg = {"op": "dispatch", "argv": list(argv), "cwd": cwd, "log": log,
           "env": dict(os.environ), "fingerprint": fingerprint(), "idle_timeout": idle}
    for _attempt in range(3):
        try:
            reply = _request(msg)
        except (FileNotFoundError, ConnectionRefusedError):
            _start_daemon(idle)
            continue
        except (OSError, ValueError) as exc:
            raise PoolError(f"cannot talk to the pool daemon: {exc}") from exc
        if reply.get("ok"):
            return int(reply["pid"])
        if reply.get("stale"):  # the daemon exits: start one matching this environment
            _wait_gone(int(reply.get("daemon", 0)))
            _start_daemon(idle)
            continue
        raise PoolError(str(reply.get("error", reply)))
    raise PoolError("the pool daemon could not be started")


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while pid and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)


def status() -> dict[str, Any] | None:
    """The running daemon's pid, fingerprint, idle timeout and children; None if none runs."""
    try:
        return _request({"op": "ping"}, timeout=5)
    except (OSError, ValueError, PoolError):
        return None


def stop(timeout: float = 10.0) -> bool:
    """Stop the pool daemon (the batches it started run on); return whether one was running."""
    try:
        reply = _request({"op": "stop"}, timeout=timeout)
    except (OSError, ValueError, PoolError):
        return False
    _wait_gone(int(reply.get("pid", 0)), timeout)
    return True


# -- daemon -----------------------------------------------------------------------------------
def _preimport() -> None:
    os.environ.setdefault("MPLBACKEND", _INLINE)  # as a worker's shell sets it before pyplot
    import importlib

    for name in HEAVY_MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a missing optional library: the worker imports what it needs
            logger.info("not pre-imported: %s (%s)", name, exc)


class Daemon:
    def __init__(self, idle: float) -> None:
        self.idle = idle
        self.path = socket_path()
        self.fingerprint = fingerprint()
        self.children: set[int] = set()
        self.last = time.monotonic()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)
        try:
            self.sock.bind(str(self.path))
        finally:
            os.umask(old)
        self.inode = os.stat(self.path).st_ino
        self.sock.listen(64)

    def _reap(self) -> None:
        for pid in list(self.children):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.children.discard(pid)

    def _socket_is_mine(self) -> bool:
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    def _unlink(self) -> None:
        try:
            if os.stat(self.path).st_ino == self.inode:
                os.unlink(self.path)
        except OSError:
            pass

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
        if hasattr(socket, "SO_PEERCRED"):  # the directory is 0700 already; check anyway
            _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
            if uid != os.getuid():
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


def _daemonize() -> None:
    """Detach: the launching process exits at once, the daemon runs in its own session."""
    if os.fork():
        os._exit(0)
    os.setsid()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tramway_jupyter.backends.pool",
                                description="The warm local worker pool (a fork server).")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the pool daemon")
    s.add_argument("--idle-timeout", type=float, default=None)
    s.add_argument("--daemonize", action="store_true")
    sub.add_parser("stop", help="stop the pool daemon")
    sub.add_parser("status", help="show the pool daemon")
    args = p.parse_args(argv)
    if args.cmd == "stop":
        print("pool stopped" if stop() else "no pool running")
        return 0
    if args.cmd == "status":
        st = status()
        print(json.dumps(st) if st else "no pool running")
        return 0
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    idle = args.idle_timeout if args.idle_timeout is not None else idle_timeout()
    if args.daemonize:
        _daemonize()
    daemon = Daemon(idle)  # bind first: clients queue on the socket while we import
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    _preimport()
    daemon.run()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
