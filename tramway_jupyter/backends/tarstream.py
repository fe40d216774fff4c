"""Tar streams between this machine and the cluster: build, fetch, parse and extract them.

The pure helpers behind :meth:`.connection.Connection.put_tar` /
:meth:`.connection.Connection.get_tar` and the Slurm backend's polling: the remote shell line of an
incremental fetch (:func:`tar_fetch_line`), the split of its output (:func:`split_prefixed_output`),
safe iteration over an untrusted archive (:func:`iter_tar_files`) and atomic local writes
(:func:`write_file_atomic`, :func:`extract_tar`). :class:`TarFetchSink` takes a fetch's output as
it arrives and hands its files over one at a time, so a gather holds one file in memory, not the
archive (three copies of it, when the output was first gathered whole).
"""

from __future__ import annotations

import io
import os
import shlex
import tarfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any

from ..exceptions import BackendError

#: what separates a fetch's prefix output from its tar: the marker, the remote time, a newline
MARKER = b"\0TJSTAMP "


def tar_fetch_line(remote_dir: str, members: Iterable[str], since: float | None,
                   prefix_cmd: str = "") -> str:
    """The remote shell line of an incremental fetch (prefix output, a time stamp, then a tar).

    Output: ``<prefix output>`` + ``\\0TJSTAMP <remote epoch>\\n`` + tar bytes. Files are those
    under ``members`` (relative paths) modified after ``since`` (remote epoch), with a 2 s overlap
    so that a file written during the previous listing is not missed (duplicates are harmless).
    """
    q = shlex.quote(str(remote_dir))
    paths = " ".join(shlex.quote("./" + m.lstrip("/")) for m in members) or "."
    newer = "" if since is None else f" -newermt @{max(0.0, since - 2.0):.3f}"
    pre = f"{{ {prefix_cmd} ; }} ; " if prefix_cmd else ""
    return (
        f"{pre}cd -- {q} 2>/dev/null || {{ printf '\\0TJSTAMP 0\\n'; exit 0; }}; "
        f"printf '\\0TJSTAMP %s\\n' \"$(date +%s.%N)\"; "
        f"find {paths} -type f{newer} ! -name '.*.tmp' -print0 2>/dev/null"
        f" | tar -c -f - --null -T - 2>/dev/null; exit 0"
    )


def split_prefixed_output(out: bytes) -> tuple[bytes, float, bytes]:
    """Split the output of :func:`tar_fetch_line` into (prefix output, remote time, tar bytes)."""
    marker = MARKER
    i = out.find(marker)
    if i < 0:
        return out, 0.0, b""
    j = out.index(b"\n", i)
    try:
        stamp = float(out[i + len(marker) : j])
    except ValueError:
        stamp = 0.0
    return out[:i], stamp, out[j + 1 :]


def safe_member_name(m: tarfile.TarInfo) -> str | None:
    """The relative name of a regular file of an untrusted archive, or None to skip it (absolute
    names, ``..``, links and devices)."""
    name = PurePosixPath(m.name)
    parts = [p for p in name.parts if p not in (".", "")]
    if not m.isfile() or name.is_absolute() or ".." in parts or not parts:
        return None
    return "/".join(parts)


def iter_tar_files(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(relative name, content) of the regular files of a tar archive, in order.

    Absolute names, ``..``, links and devices are skipped (a tar from a remote host is not
    trusted).
    """
    if not data.strip(b"\0"):
        return
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for m in tar:
            name = safe_member_name(m)
            fh = tar.extractfile(m) if name is not None else None
            if name is not None and fh is not None:
                yield name, fh.read()


class _TarReader:
    """A tar stream fed by :meth:`feed` and read by a thread (``tarfile``'s stream mode) through
    a pipe: each complete file goes to ``on_file``; the pipe's buffer is the backpressure."""

    def __init__(self, on_file: Callable[[str, bytes], None]) -> None:
        self.on_file = on_file
        self.error: BaseException | None = None
        r, self._w = os.pipe()
        self._thread = threading.Thread(target=self._run, args=(r,), daemon=True,
                                        name="tramway-tar-reader")
        self._thread.start()

    def _run(self, r: int) -> None:
        with os.fdopen(r, "rb") as fh:  # closed at the end: a writer still feeding gets EPIPE
            try:
                with tarfile.open(fileobj=fh, mode="r|") as tar:
                    for m in tar:
                        name = safe_member_name(m)
                        f = tar.extractfile(m) if name is not None else None
                        if name is not None and f is not None:
                            self.on_file(name, f.read())
                while fh.read(1 << 16):  # the archive's zero padding
                    pass
            except BaseException as exc:  # raised again by close()
                self.error = exc

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._w, view)
            except BrokenPipeError:
                return  # the reader stopped (a corrupt archive): close() raises its error
            view = view[n:]

    def close(self, *, check: bool = True) -> None:
        if self._w >= 0:
            os.close(self._w)
            self._w = -1
        self._thread.join()
        if check and self.error is not None:
            raise self.error


class TarFetchSink:
    """The output of :func:`tar_fetch_line`, as it arrives (an output sink for
    :meth:`.connection.Connection.exec_to`): the prefix command's output and the remote time are
    kept; the tar's regular files go to ``on_file(name, content)`` as soon as each is complete
    (from a reader thread), so memory holds one file at a time. :meth:`finish` waits for the
    last file and returns ``(prefix output, remote time)``; it raises what the reader raised (a
    cut or corrupt archive)."""

    def __init__(self, on_file: Callable[[str, bytes], None], where: str = "the cluster") -> None:
        self.on_file = on_file
        self.where = where
        self._reset()

    def _reset(self) -> None:
        self.prefix = bytearray()
        self.stamp = 0.0
        self.tar_bytes = 0
        self._in_prefix = True
        self._reader: _TarReader | None = None

    def write(self, data: bytes) -> None:
        if self._in_prefix:
            start = max(0, len(self.prefix) - len(MARKER) - 64)  # where the marker may begin
            self.prefix += data
            i = self.prefix.find(MARKER, start)
            j = self.prefix.find(b"\n", i) if i >= 0 else -1
            if j < 0:
                return
            try:
                self.stamp = float(self.prefix[i + len(MARKER):j])
            except ValueError:
                self.stamp = 0.0
            rest = bytes(self.prefix[j + 1:])
            del self.prefix[i:]
            self._in_prefix = False
            data = rest
        if not data:
            return
        self.tar_bytes += len(data)
        if self._reader is None:
            self._reader = _TarReader(self.on_file)
        self._reader.feed(data)

    def restart(self) -> None:
        """The command runs again from the start: forget this output (files already handed
        over come again, which their handler takes as it takes duplicates)."""
        if self._reader is not None:
            self._reader.close(check=False)
        self._reset()

    def abort(self) -> None:
        """The command failed: stop the reader (the files already handed over stay)."""
        if self._reader is not None:
            reader, self._reader = self._reader, None
            reader.close(check=False)

    def finish(self) -> tuple[bytes, float]:
        if self._reader is not None:
            reader, self._reader = self._reader, None
            try:
                reader.close()
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise BackendError(
                    f"the tar stream from {self.where} was cut or is corrupt ({exc}); the files"
                    " before that point were kept: the next gather fetches the rest") from exc
        return bytes(self.prefix), self.stamp


def write_file_atomic(dest: Path, content: bytes, made: set[Path] | None = None) -> None:
    """Write ``dest`` through a temporary file and a rename: readers never see a partial file."""
    if made is None or dest.parent not in made:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if made is not None:
            made.add(dest.parent)
    tmp = dest.with_name(f".{dest.name}.tj-part")
    with open(tmp, "wb") as out:
        out.write(content)
    os.replace(tmp, dest)


def extract_tar(data: bytes, local_dir: str | os.PathLike[str]) -> list[str]:
    """Extract the regular files of a tar archive under ``local_dir``, each written atomically."""
    root = Path(local_dir)
    made: set[Path] = set()
    written = []
    for name, content in iter_tar_files(data):
        write_file_atomic(root / name, content, made)
        written.append(name)
    return written


class _CountingWriter(io.RawIOBase):
    def __init__(self) -> None:
        self.inner: IO[bytes] | None = None
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        assert self.inner is not None
        self.inner.write(b)
        n = len(b)
        self.count += n
        return n


def _reset_owner(ti: tarfile.TarInfo) -> tarfile.TarInfo:
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    return ti
