"""Tar streams: the fetch line, the split of its output, extraction of an untrusted archive."""

from __future__ import annotations

import io
import tarfile

import pytest

from tramway_jupyter.backends import tarstream
from tramway_jupyter.exceptions import BackendError


def _tar(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind in entries:
            ti = tarfile.TarInfo(name)
            if kind == "file":
                ti.size = 2
                tar.addfile(ti, io.BytesIO(b"ok"))
            else:
                ti.type = tarfile.SYMTYPE
                ti.linkname = "/etc/passwd"
                tar.addfile(ti)
    return buf.getvalue()


def test_extract_tar_refuses_escapes(tmp_path):
    data = _tar([("../evil", "file"), ("/abs", "file"), ("link", "symlink"), ("ok/x.json", "file")])
    assert tarstream.extract_tar(data, tmp_path / "d") == ["ok/x.json"]
    assert not (tmp_path / "evil").exists()


def test_split_prefixed_output():
    out = b"@@TJ scontrol\nJobId=1\n\0TJSTAMP 123.5\n" + b"TARDATA"
    assert tarstream.split_prefixed_output(out) == (b"@@TJ scontrol\nJobId=1\n", 123.5, b"TARDATA")


def test_tar_fetch_line_quotes_paths():
    line = tarstream.tar_fetch_line("/scratch/a b/$(id)", ["status", "x'y"], 100.0)
    assert "'/scratch/a b/$(id)'" in line and "-newermt @98.000" in line
    assert "'./x'\"'\"'y'" in line


def _fetch_output(files: dict[str, bytes], prefix: bytes = b"@@TJ scontrol\nJobId=1\n") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(content)
            tar.addfile(ti, io.BytesIO(content))
    return prefix + b"\0TJSTAMP 1764495000.25\n" + buf.getvalue()


def _stream(out: bytes, cuts: list[int]) -> tuple[bytes, float, dict[str, bytes]]:
    got: dict[str, bytes] = {}
    sink = tarstream.TarFetchSink(lambda n, c: got.__setitem__(n, c))
    for a, b in zip([0, *cuts], [*cuts, len(out)], strict=True):
        sink.write(out[a:b])
    prefix, stamp = sink.finish()
    return prefix, stamp, got


def test_fetch_sink_takes_the_output_in_any_pieces():
    files = {"status/job-1.jsonl": b'{"state": "done"}\n', "results/t1.pkl": bytes(range(256)) * 40,
             "deep/" + "d" * 120 + "/long-name.bin": b"x" * 3000}  # a GNU long name
    out = _fetch_output(files)
    marker = out.index(b"\0TJSTAMP")
    for cuts in ([], [1], [marker + 3], [marker + 12, marker + 23], list(range(5, len(out), 997)),
                 list(range(1, 200))):
        prefix, stamp, got = _stream(out, cuts)
        assert (prefix, stamp, got) == (b"@@TJ scontrol\nJobId=1\n", 1764495000.25, files), cuts


def test_fetch_sink_without_files_or_marker():
    assert _stream(b"\0TJSTAMP 0\n", []) == (b"", 0.0, {})  # the remote directory is gone
    assert _stream(b"\0TJSTAMP 5\n" + b"\0" * 10240, [100]) == (b"", 5.0, {})  # an empty tar
    assert _stream(b"only text", [3]) == (b"only text", 0.0, {})


def test_fetch_sink_restart_forgets_the_first_try():
    out = _fetch_output({"a.txt": b"A" * 5000, "b.txt": b"B"})
    got: list[str] = []
    sink = tarstream.TarFetchSink(lambda n, c: got.append(n))
    sink.write(out[: len(out) // 2])  # the connection drops half way
    sink.restart()
    sink.write(out)
    assert sink.finish() == (b"@@TJ scontrol\nJobId=1\n", 1764495000.25)
    assert got[-2:] == ["a.txt", "b.txt"]


def test_fetch_sink_refuses_escapes_and_reports_a_cut_archive(tmp_path):
    got: dict[str, bytes] = {}
    sink = tarstream.TarFetchSink(lambda n, c: got.__setitem__(n, c))
    sink.write(b"\0TJSTAMP 1\n" + _tar([("../evil", "file"), ("/abs", "file"),
                                          ("link", "symlink"), ("ok/x.json", "file")]))
    sink.finish()
    assert got == {"ok/x.json": b"ok"}
    cut = _fetch_output({"big.bin": b"z" * 100_000})[:60_000]
    sink = tarstream.TarFetchSink(lambda n, c: None)
    sink.write(cut)
    with pytest.raises(BackendError, match="tar stream from the cluster was cut or is corrupt"):
        sink.finish()


def test_fetch_sink_holds_one_file_not_the_archive():
    """20 files of 2 MiB: the peak of Python allocations stays near one file, not 40 MiB."""
    import tracemalloc

    out = _fetch_output({f"r/{i}.bin": bytes([i]) * (2 << 20) for i in range(20)})
    seen: list[int] = []
    tracemalloc.start()
    try:
        sink = tarstream.TarFetchSink(lambda n, c: seen.append(len(c)))
        base = tracemalloc.get_traced_memory()[0]
        for i in range(0, len(out), 1 << 20):
            sink.write(out[i:i + (1 << 20)])  # slices of the test's buffer: 1 MiB each
        sink.finish()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert seen == [2 << 20] * 20
    assert peak < 8 << 20, f"{peak / 2**20:.1f} MiB"


def test_a_dropped_gather_raises_its_own_error_and_leaves_no_reader(tmp_path):
    import threading

    from tramway_jupyter.backends.connection import LocalConnection

    out = _fetch_output({"a.bin": b"a" * 50_000, "b.bin": b"b" * 50_000})

    class Dropping(LocalConnection):
        def _exec_to(self, line, sink, timeout, retry):
            sink.write(out[: len(out) // 2])
            raise OSError("connection lost")

    with pytest.raises(OSError, match="connection lost"):
        Dropping().get_tar("/remote", tmp_path / "down", ["."])
    assert (tmp_path / "down" / "a.bin").read_bytes() == b"a" * 50_000  # kept
    assert not [t for t in threading.enumerate() if t.name == "tramway-tar-reader"]
