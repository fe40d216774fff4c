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

This module is what the local backend uses: the settings, the socket's place, the fingerprint,
the client (:func:`dispatch`, :func:`status`, :func:`stop`, starting the daemon on demand) and the
command line above. The daemon itself is :mod:`.pool_server`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..exceptions import PoolError
from .user_daemon import daemon_main, idle_seconds, private_dir, wait_gone

ENV_WARM_POOL = "TRAMWAY_JUPYTER_WARM_POOL"
ENV_IDLE = "TRAMWAY_JUPYTER_POOL_IDLE"
DEFAULT_IDLE_TIMEOUT = 600.0
#: Environment variables that change what an import does: part of the fingerprint.
IMPORT_ENV = ("PYTHONPATH", "PYTHONHASHSEED", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
              "MKL_NUM_THREADS", "MPLBACKEND", "MPLCONFIGDIR", "LD_LIBRARY_PATH", "LD_PRELOAD")
#: The matplotlib backend a worker's shell sets by default (``jobs.shell_engine._INLINE``).
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
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
    return idle_seconds(ENV_IDLE, getattr(profile, "pool_idle_timeout", None), DEFAULT_IDLE_TIMEOUT,
                        PoolError)


def pool_dir() -> Path:
    """The daemon's private directory (0700, owned by this user), created if needed."""
    return private_dir("pool", PoolError)


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
    env["MPLBACKEND"] = env["MPLBACKEND"] or INLINE_BACKEND  # what a worker's shell sets by default
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
            wait_gone(int(reply.get("daemon", 0)))
            _start_daemon(idle)
            continue
        raise PoolError(str(reply.get("error", reply)))
    raise PoolError("the pool daemon could not be started")


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
    wait_gone(int(reply.get("pid", 0)), timeout)
    return True


# -- entry point ------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    def serve(idle: float, detach: bool) -> None:
        from .pool_server import serve as run

        run(idle, daemonize=detach)

    return daemon_main(argv, module="tramway_jupyter.backends.pool", what="pool",
                       description="The warm local worker pool (a fork server).", stop=stop,
                       status=status, serve=serve, idle_timeout=idle_timeout)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
