"""Magics in a real kernel (and a kernel restart mid-batch), the headless CLI, the quickstart."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
from jupyter_client.manager import start_new_kernel

from .conftest import TOY_CELLS, make_toy_data


def _run(kc, code: str, timeout: float = 120) -> str:
    out: list[str] = []

    def hook(msg):
        c = msg["content"]
        if msg["msg_type"] == "stream":
            out.append(c["text"])
        elif msg["msg_type"] in ("execute_result", "display_data"):
            out.append(c["data"].get("text/plain", ""))
        elif msg["msg_type"] == "error":
            out.append("\n".join(c["traceback"]))

    reply = kc.execute_interactive(code, output_hook=hook, timeout=timeout)
    text = "".join(out)
    assert reply["content"]["status"] == "ok", text
    return text


def _cells_code() -> list[str]:
    return [f"%%tramway {line}\n{src}" for line, src in TOY_CELLS]


def test_magics_capture_preview_run_and_kernel_restart(tmp_path, monkeypatch):
    data = make_toy_data(tmp_path / "data", ["a", "b"], n_rois=2)
    hold = tmp_path / "hold"
    hold.write_text("")
    monkeypatch.chdir(tmp_path)
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        _run(kc, "%load_ext tramway_jupyter")
        # preview on one file: the parameters cell sets the current source / ROI
        _run(kc, f"%%tramway parameters\nsource = {str(data / 'a.rpt.txt')!r}\nroi_index = 1\n"
                 f"hold = None")
        outs = [_run(kc, code) for code in _cells_code()[1:]]
        assert "worked on" in outs[-1] and "a.rpt.txt 1" in outs[-1]  # the preview ran
        assert "value" in _run(kc, "print(tj.jobs.record.preview_records)")
        out = _run(kc, "%tramway pipeline")
        assert "stage prep (per file)" in out and "stage work (per roi)" in out
        # re-running a cell replaces it
        _run(kc, _cells_code()[3])
        assert _run(kc, "%tramway pipeline").count("stage work") == 1
        out = _run(kc, f"b = %tramway run --data {tmp_path / 'data' / '*.rpt.txt'} --workers 2"
                       f" --param hold={str(hold)!r}\nprint('BATCH', b.batch_id)")
        batch_id = re.search(r"BATCH (\S+)", out).group(1)
    finally:
        km.shutdown_kernel(now=True)
    # the kernel is gone; the batch goes on; a new kernel finds it and gathers it
    hold.unlink()
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        out = _run(kc, "from tramway_jupyter import api\n"
                       "ids = [b.batch_id for b in api.list_batches()]\n"
                       f"print({batch_id!r} in ids)\n"
                       f"r = api.get_batch({batch_id!r}).wait(120).results()\n"
                       "print(sorted(r.counts.items()), len(r.get('value')))")
        assert "True" in out and "[('done', 6)] 4" in out
        # the same run again from this kernel: nothing runs, and the notebook says why
        _run(kc, "%load_ext tramway_jupyter")
        _run(kc, f"%%tramway parameters\nsource = {str(data / 'a.rpt.txt')!r}\nroi_index = 1\n"
                 f"hold = None")
        for code in _cells_code()[1:]:
            _run(kc, code)
        out = _run(kc, f"b2 = %tramway run --data {tmp_path / 'data' / '*.rpt.txt'} --workers 2"
                        f" --param hold={str(hold)!r}")
        assert "6 of 6 task(s) already done" in out and f"from batch {batch_id}" in out, out
        assert "--force" in out
    finally:
        km.shutdown_kernel(now=True)


def _toy_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("%load_ext tramway_jupyter")] + [
        nbformat.v4.new_code_cell(c) for c in _cells_code()]
    nbformat.write(nb, str(path))
    return path


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tramway_jupyter.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_cli_run_json_failure_exit_code_retry_gather(tmp_path):
    nb = _toy_notebook(tmp_path / "toy.ipynb")
    data = make_toy_data(tmp_path / "data", ["a", "b"], n_rois=2, bad="b")
    p = _cli("run", str(nb), "--data", str(data / "*.rpt.txt"), "--workers", "2",
             "--json", "out.json", cwd=tmp_path)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "FAILED work-f001-b-r000: ValueError: bad data in b.rpt.txt" in p.stdout
    batch_id = p.stdout.strip().splitlines()[-1].split()[-1]
    doc = json.loads((tmp_path / "out.json").read_text())
    by_id = {t["task_id"]: t for t in doc["tasks"]}
    assert by_id["work-f000-a-r001"]["records"]["value"] == 10 * len(
        (data / "a.rpt.txt").read_text().upper()) + 1
    assert by_id["work-f000-a-r001"]["roi_index"] == 1
    assert by_id["work-f001-b-r000"]["state"] == "failed"
    assert by_id["work-f001-b-r000"]["error"]["ename"] == "ValueError"
    assert Path(by_id["work-f001-b-r000"]["notebook"]).exists()
    (data / "b.rpt.txt").write_text("1 0 0 0\n1 1 1 1\n")
    p = _cli("retry", batch_id, cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    p = _cli("gather", batch_id, "--json", "-", cwd=tmp_path)
    assert p.returncode == 0
    doc = json.loads(p.stdout[p.stdout.index("{"):p.stdout.rindex("}") + 1])
    assert doc["counts"] == {"done": 6}
    assert _cli("status", batch_id, cwd=tmp_path).returncode == 0
    assert batch_id in _cli("list", cwd=tmp_path).stdout
    assert _cli("delete", batch_id, cwd=tmp_path).returncode == 0
    assert batch_id not in _cli("list", cwd=tmp_path).stdout


def test_cli_usage_errors_exit_2(tmp_path):
    nb = _toy_notebook(tmp_path / "toy.ipynb")
    p = _cli("run", str(nb), "--data", str(tmp_path / "none*.txt"), cwd=tmp_path)
    assert p.returncode == 2 and "no data file matches" in p.stderr
    p = _cli("status", "no-such-batch", cwd=tmp_path)
    assert p.returncode == 2 and "no-such-batch" in p.stderr
    assert _cli("--help", cwd=tmp_path).returncode == 0


def test_quickstart_notebook_runs_headless(tmp_path):
    import papermill

    repo = Path(__file__).resolve().parents[2]
    out = tmp_path / "quickstart-out.ipynb"
    papermill.execute_notebook(str(repo / "notebooks" / "quickstart.ipynb"), str(out),
                               cwd=str(tmp_path), kernel_name="python3", progress_bar=False)
    nb = nbformat.read(str(out), as_version=4)
    text = "".join(str(o.get("text", o.get("data", {}).get("text/plain", "")))
                   for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "10 done" in text
    assert any("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
               for o in c.outputs)
