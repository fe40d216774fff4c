"""The CLI exits 3 when the real sshd's host key is not in known_hosts (no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest

pytestmark = pytest.mark.ssh


def test_unknown_host_key_exits_3(infra, tmp_path):
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(
        f'[profiles.strict]\nbackend = "slurm"\nhost = "{infra["INFRA_SSH_HOST"]}"\n'
        f'port = {infra["INFRA_SSH_PORT"]}\nuser = "{infra["INFRA_SSH_USER"]}"\n'
        f'identity_file = "{infra["INFRA_SSH_KEY"]}"\n'
        f'known_hosts = "{tmp_path / "empty_known_hosts"}"\n')
    (tmp_path / "d.rpt.txt").write_text("1 0 0 0\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%%tramway stage s --per file\nprint(source)")]
    nbformat.write(nb, str(tmp_path / "nb.ipynb"))
    p = subprocess.run(
        [sys.executable, "-m", "tramway_jupyter.cli", "run", str(tmp_path / "nb.ipynb"),
         "--data", str(tmp_path / "d.rpt.txt"), "--profile", "strict"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "TRAMWAY_JUPYTER_PROFILES": str(profiles)})
    assert p.returncode == 3, p.stdout + p.stderr
    assert "Traceback" not in p.stderr
    assert "tramway-jupyter: error: " in p.stderr and "host key" in p.stderr
    assert f'{infra["INFRA_SSH_PORT"]}' in p.stderr
    assert not (tmp_path / "empty_known_hosts").exists() or \
        (tmp_path / "empty_known_hosts").read_text() == ""  # nothing added silently
