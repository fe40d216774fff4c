"""Tar streams between this machine and the cluster: build, fetch, parse and extract them.

The pure helpers behind :meth:`.connection.Connection.put_tar` /
:meth:`.connection.Connection.get_tar` and the Slurm backend's polling: the remote shell line of an
incremental fetch (:func:`tar_fetch_line`), the split of its output (:func:`split_prefixed_output`),
safe iteration over an untrusted archive (:func:`iter_tar_files`) and atomic local writes
(:func:`write_file_atomic`, :func:`extract_tar`).
"""

from __future__ import annotations

import io
import os
import shlex
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any


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
    marker = b"\0TJSTAMP "
    i = out.find(marker)
    if i < 0:
        return out, 0.0, b""
    j = out.index(b"\n", i)
    try:
        stamp = float(out[i + len(marker) : j])
    except ValueError:
        stamp = 0.0
    return out[:i], stamp, out[j + 1 :]


def iter_tar_files(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(relative name, content) of the regular files of a tar archive, in order.

    Absolute names, ``..``, links and devices are skipped (a tar from a remote host is not
    trusted).
    """
    if not data.strip(b"\0"):
        return
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for m in tar:
            name = PurePosixPath(m.name)
            parts = [p for p in name.parts if p not in (".", "")]
            if not m.isfile() or name.is_absolute() or ".." in parts or not parts:
                continue
            fh = tar.extractfile(m)
            if fh is not None:
                yield "/".join(parts), fh.read()


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
