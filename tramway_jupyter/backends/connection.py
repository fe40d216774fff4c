"""The interface every backend talks to for commands and files, and its local implementation.

A :class:`Connection` runs commands and moves tar streams between this machine and the cluster's
login node, so :mod:`.slurm` never imports paramiko:

* ``run(argv, input=None, timeout=None) -> (rc, stdout, stderr)``: ``argv`` is a list (each
  argument is ``shlex.quote``d, so names with spaces, quotes or ``$(...)`` are never interpreted)
  or a shell line that the caller built from quoted pieces;
* ``put_tar(local_dir, remote_dir, members)``: one tar stream up;
* ``get_tar(remote_dir, local_dir, members, since=...)``: one tar stream down, incremental (only
  files modified since the remote time returned by the previous call), extracted as it arrives;
* ``exec_to(argv, sink)``: a command whose output goes to ``sink`` as it arrives (an
  :class:`OutputSink`, such as :class:`.tarstream.TarFetchSink`), for outputs too big to hold;
* ``close()``.

``round_trips`` counts the commands executed (each is one SSH round trip), so callers and tests can
check "one round trip per poll". :class:`LocalConnection` runs them here (Jupyter on the login
node); :class:`.ssh.SSHConnection` over SSH.
"""

from __future__ import annotations

import abc
import os
import shlex
import subprocess
import tarfile
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Protocol

from ..exceptions import RemoteCommandError
from .tarstream import (
    TarFetchSink,
    _CountingWriter,
    _reset_owner,
    tar_fetch_line,
    write_file_atomic,
)

StdinWriter = Callable[[IO[bytes]], None]
Command = Sequence[str] | str


class OutputSink(Protocol):
    """Where :meth:`Connection.exec_to` puts a command's standard output, as it arrives."""

    def write(self, data: bytes) -> None:
        """The next piece of the output."""

    def restart(self) -> None:
        """The command is being run again from its start (the connection dropped): forget what
        was written."""


class _CountedSink:
    def __init__(self, sink: OutputSink, conn: Connection) -> None:
        self.sink, self.conn = sink, conn

    def write(self, data: bytes) -> None:
        self.conn.bytes_down += len(data)
        self.sink.write(data)

    def restart(self) -> None:
        self.sink.restart()


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

    def _exec_to(self, line: str, sink: OutputSink, timeout: float | None,
                 retry: bool) -> tuple[int, bytes]:
        """Run a shell line, its stdout to ``sink`` as it arrives; return (rc, stderr). This
        default gathers the output first; connections override it to stream."""
        rc, out, err = self._exec(line, None, timeout, retry)
        sink.write(out)
        return rc, err

    def exec_to(self, argv: Command, sink: OutputSink, timeout: float | None = None, *,
                retry: bool = True) -> tuple[int, bytes]:
        """Run ``argv`` (no stdin) with its standard output going to ``sink`` as it arrives, so
        that an output of any size is never held whole; return (rc, stderr bytes)."""
        self.round_trips += 1
        return self._exec_to(quote_command(argv), _CountedSink(sink, self), timeout, retry)

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
            raise RemoteCommandError(self.where, shorten(quote_command(argv)), rc, err)
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
        channel (:class:`.tarstream.TarFetchSink` keeps it apart). Returns (remote time of this
        snapshot, files).
        """
        root = Path(local_dir)
        made: set[Path] = set()
        written: dict[str, None] = {}  # in order, once (a re-run stream hands files again)

        def extract(name: str, content: bytes) -> None:
            write_file_atomic(root / name, content, made)
            written[name] = None

        sink = TarFetchSink(extract, self.where)
        try:
            rc, err = self.exec_to(tar_fetch_line(remote_dir, members, since, prefix_cmd), sink)
        except BaseException:
            sink.abort()
            raise
        _, stamp = sink.finish()
        if rc != 0:
            raise RemoteCommandError(self.where, f"tar -c in {remote_dir}", rc,
                                     err.decode("utf-8", "replace"))
        return stamp, list(written)


def shorten(s: str, n: int = 300) -> str:
    """``s``, cut to ``n`` characters with "..." (command lines in messages)."""
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

    def _exec_to(self, line: str, sink: OutputSink, timeout: float | None,
                 retry: bool) -> tuple[int, bytes]:
        with subprocess.Popen(["/bin/sh", "-c", line], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=self.env) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            err: list[bytes] = []
            stderr = proc.stderr
            drain = threading.Thread(target=lambda: err.append(stderr.read()), daemon=True)
            drain.start()
            killed = threading.Event()

            def kill() -> None:
                killed.set()
                proc.kill()

            timer = threading.Timer(timeout, kill) if timeout else None
            if timer is not None:
                timer.start()
            try:
                fd = proc.stdout.fileno()
                while chunk := os.read(fd, 1 << 20):
                    sink.write(chunk)
                rc = proc.wait()
            finally:
                if timer is not None:
                    timer.cancel()
            drain.join()
            if killed.is_set():
                raise subprocess.TimeoutExpired(line, timeout or 0.0)
            return rc, b"".join(err)
