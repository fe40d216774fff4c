"""The CLI's exit codes: 2 for usage and input errors, 3 when the backend's host cannot be
reached, each with a one-line message and no traceback; ``--help`` says which is which."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import nbformat


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tramway_jupyter.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def _notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%%tramway stage s --per file\nprint(source)")]
    nbformat.write(nb, str(path))
    return path


def _free_loopback_port() -> int:
    with socket.socket() as s:  # bound then closed: nothing listens on it afterwards
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_help_documents_exit_codes(tmp_path):
    p = _cli("--help", cwd=tmp_path)
    assert p.returncode == 0
    text = " ".join(p.stdout.split())
    assert "exit status:" in text
    for code in ("0 success", "1 the command ran but some task failed", "2 usage or input error",
                 "3 cannot connect to the backend's host"):
        assert code in text, code


def test_wrong_option_exits_2(tmp_path):
    p = _cli("list", "--no-such-option", cwd=tmp_path)
    assert p.returncode == 2
    assert "unrecognized arguments: --no-such-option" in p.stderr
    assert "Traceback" not in p.stderr


def test_unreachable_host_exits_3_with_one_line(tmp_path):
    """A host that never answered is not waited for as a dropped link is (60 s of retries)."""
    port = _free_loopback_port()
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(f'[profiles.gone]\nbackend = "slurm"\nhost = "127.0.0.1"\n'
                        f'port = {port}\nuser = "nobody"\n'
                        f'known_hosts = "{tmp_path / "known_hosts"}"\n')
    (tmp_path / "d.rpt.txt").write_text("1 0 0 0\n")
    nb = _notebook(tmp_path / "nb.ipynb")
    p = _cli("run", str(nb), "--data", str(tmp_path / "d.rpt.txt"), "--profile", "gone",
             cwd=tmp_path, env={"TRAMWAY_JUPYTER_PROFILES": str(profiles)})
    assert p.returncode == 3, p.stderr
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    last = lines[-1]
    assert last.startswith("tramway-jupyter: error: cannot connect to ")
    assert f"127.0.0.1:{port}" in last
