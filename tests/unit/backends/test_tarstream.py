"""Tar streams: the fetch line, the split of its output, extraction of an untrusted archive."""

from __future__ import annotations

import io
import tarfile

from tramway_jupyter.backends import tarstream


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
