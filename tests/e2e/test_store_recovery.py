"""A damaged or unreachable job store: one message for `list`/`status`/`run`, and `doctor`
rebuilds the store from the batch directories (real CLI processes, real workers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from .conftest import TOY_CELLS, make_toy_data


def _cli(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tramway_jupyter.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=180)


@pytest.fixture
def home(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TRAMWAY_JUPYTER_STORE", "TRAMWAY_JUPYTER_BATCHES")}
    env["TRAMWAY_JUPYTER_HOME"] = str(tmp_path / "home")
    return env


def _run_batch(env, tmp_path, bad=None):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"%%tramway {line}\n{src}") for line, src in TOY_CELLS]
    nbformat.write(nb, str(tmp_path / "toy.ipynb"))
    data = make_toy_data(tmp_path / "data", ["a", "b"], n_rois=2, bad=bad)
    p = _cli(env, "run", str(tmp_path / "toy.ipynb"), "--data", str(data / "*.rpt.txt"),
             "--workers", "1", cwd=tmp_path)
    assert p.returncode in (0, 1), p.stdout + p.stderr
    return p.stdout.strip().splitlines()[-1].split()[-1], data


@pytest.mark.parametrize("damage", ["truncate", "garbage", "zero-pages"])
def test_damaged_store_one_message_then_doctor_rebuilds(tmp_path, home, damage):
    batch_id, data = _run_batch(home, tmp_path, bad="b")
    store = tmp_path / "home" / "store.sqlite"
    assert _cli(home, "doctor", cwd=tmp_path).stdout.strip().endswith(": ok")
    raw = store.read_bytes()
    if damage == "truncate":
        store.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        store.write_bytes(os.urandom(4096))
    else:  # a sound header, but the pages of the tables zeroed
        store.write_bytes(raw[:4096] + b"\0" * (len(raw) - 4096))
    for side in store.parent.glob("store.sqlite-*"):  # -wal, -shm of the sound store
        side.unlink()
    damaged = store.read_bytes()
    for sub in (["list"], ["status", batch_id], ["run", str(tmp_path / "toy.ipynb"), "--data",
                                                 str(data / "a.rpt.txt"), "--no-wait"]):
        p = _cli(home, *sub, cwd=tmp_path)
        assert p.returncode == 2, (sub, p.stdout, p.stderr)
        assert "Traceback" not in p.stderr, p.stderr
        assert f"the job store {store} is damaged" in p.stderr
        assert "tramway-jupyter doctor" in p.stderr
    p = _cli(home, "doctor", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "damaged" in p.stdout and "rebuilt 1 batch(es), 6 task(s)" in p.stdout
    kept = list(store.parent.glob("store.sqlite.corrupt-*"))
    assert [k.read_bytes() for k in kept] == [damaged]  # kept aside as it was
    # the batch is back, states from the status files; a failed task can be retried
    p = _cli(home, "status", batch_id, cwd=tmp_path)
    assert "work-f001-b-r000" in p.stdout and "failed" in p.stdout
    assert "work-f000-a-r001" in p.stdout
    (data / "b.rpt.txt").write_text("1 0 0 0\n1 1 1 1\n")
    p = _cli(home, "retry", batch_id, cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "(6 done)" in _cli(home, "list", cwd=tmp_path).stdout


def test_unfinished_tasks_come_back_lost_and_resume_uses_fingerprints(tmp_path, home):
    batch_id, data = _run_batch(home, tmp_path)
    batches = tmp_path / "home" / "batches" / batch_id
    for journal in (batches / "status").glob("*.jsonl"):  # as if its job had not reported
        lines = journal.read_text().splitlines(keepends=True)
        journal.write_text("".join(x for x in lines if '"work-f000-a-r000"' not in x))
    p = _cli(home, "doctor", "--rebuild", cwd=tmp_path)
    assert p.returncode == 0 and "store.sqlite.bak-" in p.stdout, p.stdout + p.stderr
    p = _cli(home, "status", batch_id, cwd=tmp_path)
    assert p.returncode == 1
    assert "work-f000-a-r000" in p.stdout and "lost" in p.stdout and "rebuilt" in p.stdout
    # fingerprints were rebuilt: a new run of the same inputs resumes the done tasks
    p = _cli(home, "run", str(tmp_path / "toy.ipynb"), "--data", str(data / "*.rpt.txt"),
             "--workers", "1", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "5 already done (resumed)" in p.stdout


@pytest.mark.parametrize("where", ["home-under-a-file", "store-in-proc"])
def test_unreachable_store_one_line(tmp_path, home, where):
    (tmp_path / "afile").write_text("")
    if where == "home-under-a-file":
        home["TRAMWAY_JUPYTER_HOME"] = str(tmp_path / "afile" / "home")
        expected = "cannot create"
    else:  # a directory nobody can create files in, even root
        home["TRAMWAY_JUPYTER_STORE"] = "/proc/self/store.sqlite"
        expected = "cannot open the job store /proc/self/store.sqlite"
    for sub in (["list"], ["status", "abc"]):
        p = _cli(home, *sub, cwd=tmp_path)
        assert p.returncode == 2
        assert p.stderr.count("\n") == 1 and expected in p.stderr, p.stderr
        assert "TRAMWAY_JUPYTER_HOME" in p.stderr
