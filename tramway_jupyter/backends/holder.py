"""One login serves the day: the per-user connection holder (client side).

The holder is a per-user daemon (:mod:`.holder_server`, ``python -m
tramway_jupyter.backends.holder serve``) that keeps one authenticated SSH transport per
connection (keyed as :func:`.ssh.connection_key`) and runs commands on it for every process of
the user: kernels, CLI runs, the server extension's refresher. Like OpenSSH's ControlMaster, it
listens on a Unix socket in a 0700 directory owned by the user (``<data_home>/holder``) and checks
the peer's uid. It exits after ``holder_idle`` seconds without a request (profile key; env
``TRAMWAY_JUPYTER_HOLDER_IDLE``; default 8 h) or when the last profile is logged out.

A paramiko transport cannot move between processes, so the login happens *inside* the holder:
its prompts (a key's passphrase, a one-time code) travel to the client that asked, as ``P``
frames, and the client answers with its :data:`~.prompts.Prompter`. Secrets stay in memory.

Protocol: one socket connection per request; frames are ``type (1 byte) + length (4 bytes, big
endian) + payload``. Client to holder: ``R`` the request (JSON), ``I`` stdin bytes (an empty
``I`` ends stdin), ``A`` answers to a prompt (JSON). Holder to client: ``P`` a prompt (JSON),
``O``/``E`` stdout/stderr bytes (stdout as it arrives), ``Z`` forget the output so far (the
command is sent again after a dropped connection), ``X`` the exit status (JSON), ``F`` a failure
(JSON), ``K`` the answer to a control request (JSON).

:class:`HeldConnection` is a :class:`~.connection.Connection` whose ``_exec`` goes through the
holder, so every backend operation (including the tar streams) works unchanged.
"""

from __future__ import annotations

import fcntl
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..exceptions import (
    BackendConnectionError,
    HolderError,
    HostKeyError,
    PromptUnavailableError,
    RemoteCommandError,
    WrongSecretError,
)
from .connection import Connection, OutputSink, StdinWriter, shorten
from .holder_frames import FrameWriter, recv_frame, send_frame, send_json
from .prompts import Prompter, ask_here
from .user_daemon import daemon_main, idle_seconds, private_dir, private_dir_path, wait_gone

ENV_IDLE = "TRAMWAY_JUPYTER_HOLDER_IDLE"
DEFAULT_IDLE_TIMEOUT = 8 * 3600.0
#: The profile fields that say where and as whom to connect (:func:`.ssh.connection_key`'s).
CONN_FIELDS = ("host", "port", "user", "identity_file", "known_hosts", "jump")


# -- settings ---------------------------------------------------------------------------------
def idle_timeout(profile: Any = None) -> float:
    return idle_seconds(ENV_IDLE, getattr(profile, "holder_idle", None), DEFAULT_IDLE_TIMEOUT,
                        HolderError)


def holder_dir() -> Path:
    """The holder's private directory (0700, owned by this user), created if needed."""
    return private_dir("holder", HolderError)


def socket_path() -> Path:
    return holder_dir() / "holder.sock"


def conn_params(profile: Any) -> dict[str, Any]:
    """Where and as whom a profile connects (what the holder needs to build its connection)."""
    return {f: getattr(profile, f, None) for f in CONN_FIELDS}


def key_of(params: dict[str, Any]) -> str:
    """The holder's key for a connection: :func:`.ssh.connection_key`'s fields, as JSON."""
    return json.dumps([params.get(f) for f in CONN_FIELDS])


def where_of(params: dict[str, Any]) -> str:
    user = params.get("user")
    return f"{user + '@' if user else ''}{params.get('host')}:{params.get('port') or 22}"


# -- who is asking ---------------------------------------------------------------------------
_CONTEXT = threading.local()


def prompt_context() -> dict[str, Any]:
    """While a prompter is called by a :class:`HeldConnection`: the profile and host asking."""
    return dict(getattr(_CONTEXT, "facts", {}))


# -- client -----------------------------------------------------------------------------------
def _open(timeout: float | None = None, path: Path | None = None) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(path or socket_path()))
    except OSError:
        s.close()
        raise
    return s


def _control(op: str, timeout: float = 10.0, **kw: Any) -> dict[str, Any]:
    s = _open(timeout)
    try:
        send_json(s, b"R", {"op": op, **kw})
        kind, payload = recv_frame(s)
    finally:
        s.close()
    reply: dict[str, Any] = json.loads(payload)
    if kind == b"F":
        raise HolderError(str(reply.get("error")))
    return reply


def status() -> dict[str, Any] | None:
    """The running holder's pid, idle timeout and held connections (with their login counts);
    None if none runs."""
    try:
        return _control("ping", timeout=5)
    except (OSError, EOFError, ValueError, HolderError):
        return None


def holds(profile: Any) -> bool:
    """Whether a running holder holds an authenticated connection for ``profile``."""
    if not (private_dir_path("holder") / "holder.sock").exists():
        return False
    st = status()
    if not st:
        return False
    key = key_of(conn_params(profile))
    return any(c["key"] == key and c["active"] for c in st.get("held", []))


def ensure_running(idle: float = DEFAULT_IDLE_TIMEOUT) -> None:
    """Start the holder unless one answers already (one start at a time, under a lock)."""
    if status() is not None:
        return
    d = holder_dir()
    with open(d / "holder.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if status() is not None:
            return
        sock = d / "holder.sock"
        try:
            sock.unlink()
        except FileNotFoundError:
            pass
        with open(d / "holder.log", "ab") as log:
            subprocess.run([sys.executable, "-m", "tramway_jupyter.backends.holder", "serve",
                            "--idle-timeout", str(idle), "--daemonize"],
                           stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=str(d),
                           check=True, timeout=60)
        deadline = time.monotonic() + 30
        while status() is None:
            if time.monotonic() > deadline:
                raise HolderError(f"the connection holder did not start: see {d / 'holder.log'}")
            time.sleep(0.01)


def stop(timeout: float = 10.0) -> bool:
    """Stop the holder (every held connection is closed); return whether one was running."""
    try:
        reply = _control("stop", timeout=timeout)
    except (OSError, EOFError, ValueError, HolderError):
        return False
    wait_gone(int(reply.get("pid", 0)), timeout)
    return True


def login(profile: Any, prompter: Prompter | None = None) -> dict[str, Any]:
    """Authenticate ``profile``'s connection in the holder (starting it), asking ``prompter``
    (default: the terminal's) for what the server asks. Returns the held connection's facts."""
    ensure_running(idle_timeout(profile))
    conn = HeldConnection(profile, prompter=prompter or ask_here)
    return conn.login()


def logout(profile: Any) -> bool:
    """Close ``profile``'s held connection (the next command logs in again); the holder exits
    when it holds no other. Returns whether it was held."""
    try:
        reply = _control("logout", conn=conn_params(profile))
    except (OSError, EOFError, ValueError):
        return False
    if reply.get("exiting"):
        wait_gone(int(reply.get("pid", 0)), 10.0)
    return bool(reply.get("was_held"))


#: login errors raised in the holder, raised again as themselves in the client
_LOGIN_ERRORS: dict[str, type[BackendConnectionError]] = {
    c.__name__: c for c in (WrongSecretError, PromptUnavailableError, HostKeyError, HolderError)}


class HeldConnection(Connection):
    """Commands through the connection holder: the same interface as an SSH connection, the
    login done once in the holder for every process of the user."""

    def __init__(self, profile: Any, prompter: Prompter | None = None, *,
                 start: bool = True) -> None:
        super().__init__()
        self.params = conn_params(profile)
        self.profile_name = str(getattr(profile, "name", ""))
        self.where = where_of(self.params)
        self.prompter = prompter
        self.idle = idle_timeout(profile)
        self.start = start

    def _session(self, request: dict[str, Any]) -> socket.socket:
        try:
            return _open()
        except (FileNotFoundError, ConnectionRefusedError):
            if not self.start:
                raise HolderError(f"no connection holder runs for {self.where}: log in with "
                                  "`tramway-jupyter login PROFILE`") from None
            ensure_running(self.idle)
            return _open()

    def _answer_prompts(self, s: socket.socket, payload: bytes) -> None:
        ask = json.loads(payload)
        if self.prompter is None:
            send_json(s, b"A", {"refused": True})
            return
        _CONTEXT.facts = {"profile": self.profile_name, "where": self.where}
        try:
            answers = self.prompter(str(ask.get("title", "")),
                                    [(str(p), bool(e)) for p, e in ask.get("prompts", [])])
        except (EOFError, KeyboardInterrupt):
            send_json(s, b"A", {"refused": True})
            raise
        except Exception:  # the prompter gave up (timed out, dismissed): the login fails
            send_json(s, b"A", {"refused": True})
            return
        finally:
            _CONTEXT.facts = {}
        send_json(s, b"A", {"answers": list(answers)})

    def _converse(self, s: socket.socket, request: dict[str, Any],
                  stdin: bytes | StdinWriter | None, sink: OutputSink | None = None
                  ) -> tuple[bytes, bytes, dict[str, Any]]:
        send_json(s, b"R", request)
        if stdin is not None:
            w = FrameWriter(s)
            if isinstance(stdin, bytes):
                w.write(stdin)
            else:
                stdin(_Binary(w))  # type: ignore[arg-type]
            w.flush()
            send_frame(s, b"I")
        out, err = bytearray(), bytearray()
        while True:
            kind, payload = recv_frame(s)
            if kind == b"O":
                if sink is None:
                    out += payload
                else:
                    sink.write(payload)
            elif kind == b"E":
                err += payload
            elif kind == b"Z":
                out.clear()
                err.clear()
                if sink is not None:
                    sink.restart()
            elif kind == b"P":
                self._answer_prompts(s, payload)
            elif kind in (b"X", b"K"):
                return bytes(out), bytes(err), json.loads(payload)
            elif kind == b"F":
                fail = json.loads(payload)
                if fail.get("kind") == "remote":
                    raise RemoteCommandError(self.where, shorten(request.get("line", "")), -1,
                                             str(fail.get("error")))
                cls = _LOGIN_ERRORS.get(str(fail.get("type")), HolderError)
                msg = str(fail.get("error"))
                if self.profile_name:  # the holder knows hosts, not profile names
                    msg = msg.replace("login PROFILE", f"login {self.profile_name}")
                raise cls(msg)
            else:
                raise HolderError(f"unexpected frame {kind!r} from the connection holder")

    def login(self) -> dict[str, Any]:
        """Make sure the holder's connection is authenticated (asking the prompter if needed)."""
        s = self._session({})
        try:
            _, _, reply = self._converse(s, {"op": "login", "conn": self.params,
                                             "interactive": self.prompter is not None,
                                             "idle_timeout": self.idle}, None)
        except (OSError, EOFError) as exc:
            raise HolderError(f"lost the connection holder while logging in to {self.where}:"
                              f" {exc}") from exc
        finally:
            s.close()
        return reply

    def _exec(
        self, line: str, stdin: bytes | StdinWriter | None, timeout: float | None, retry: bool
    ) -> tuple[int, bytes, bytes]:
        if stdin is not None:
            self.login()  # any prompt first: stdin is sent before the holder's answer is read
        s = self._session({})
        try:
            out, err, reply = self._converse(
                s, {"op": "exec", "conn": self.params, "line": line, "timeout": timeout,
                    "retry": retry, "stdin": stdin is not None,
                    "interactive": self.prompter is not None, "idle_timeout": self.idle},
                stdin)
        except (OSError, EOFError) as exc:
            raise HolderError(f"lost the connection holder while running {shorten(line, 120)!r}"
                              f" on {self.where}: {exc}") from exc
        finally:
            s.close()
        return int(reply["rc"]), out, err

    def _exec_to(self, line: str, sink: OutputSink, timeout: float | None,
                 retry: bool) -> tuple[int, bytes]:
        s = self._session({})
        try:
            _, err, reply = self._converse(
                s, {"op": "exec", "conn": self.params, "line": line, "timeout": timeout,
                    "retry": retry, "stdin": False, "interactive": self.prompter is not None,
                    "idle_timeout": self.idle}, None, sink)
        except (OSError, EOFError) as exc:
            raise HolderError(f"lost the connection holder while running {shorten(line, 120)!r}"
                              f" on {self.where}: {exc}") from exc
        finally:
            s.close()
        return int(reply["rc"]), err


class _Binary:
    """The file object a :data:`StdinWriter` writes to (``write``/``flush``/``close``)."""

    def __init__(self, w: FrameWriter) -> None:
        self.w = w

    def write(self, data: bytes) -> int:
        return self.w.write(bytes(data))

    def flush(self) -> None:
        self.w.flush()

    def close(self) -> None:
        self.w.flush()


# -- entry point ------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    def serve(idle: float, detach: bool) -> None:
        from .holder_server import serve as run

        run(idle, daemonize=detach)

    return daemon_main(argv, module="tramway_jupyter.backends.holder", what="holder",
                       description="The per-user SSH connection holder.", stop=stop,
                       status=status, serve=serve, idle_timeout=idle_timeout)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
