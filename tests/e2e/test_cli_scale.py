"""The CLI and ``Results`` on big batches: summaries, --all, streaming and pure JSON, a closed
pipe, ambiguous prefixes, cancel of a finished batch, lazy imports, bounded memory.

The reading tests use finished batches written straight into the store and the batch directory
(``scale_batches``); one test runs a real batch of a few thousand trivial tasks on local workers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tramway_jupyter import cli
from tramway_jupyter.jobs.results import RecordNotFoundError
from tramway_jupyter.jobs.store import Store
from tramway_jupyter.orchestration.batch import Batch

from .scale_batches import insert_batch

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "pandas", "IPython", "nbformat", "jupyter_client", "matplotlib", "scipy",
         "papermill", "tramway_jupyter.analysis")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-scale") / "home"


@pytest.fixture(scope="module")
def store(home: Path) -> Store:
    return Store(home / "store.sqlite")


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ, TRAMWAY_JUPYTER_HOME=str(home))
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def _cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tramway_jupyter.cli", *args],
                          capture_output=True, text=True, timeout=timeout, env=_env(home))


@pytest.fixture(scope="module")
def big(store: Store, home: Path) -> str:
    insert_batch(store, home / "batches", "big0001", 3000, n_failed=15)
    return "big0001"


# -- summaries and --all ------------------------------------------------------------------
def test_big_batch_summary_and_all(big: str, home: Path):
    p = _cli(home, "status", big)
    assert p.returncode == 1, p.stderr  # failed tasks
    lines = p.stdout.splitlines()
    assert len(lines) < 60, p.stdout
    assert lines[0] == f"batch {big}: failed (done 2985, failed 15)"
    assert any(ln.split()[:3] == ["work", "2985", "15"] for ln in lines)  # per-stage counts
    assert "not done: 15 task(s); the first 10:" in p.stdout
    assert p.stdout.count("ValueError: bad ROI") == 10
    assert f"tramway-jupyter status {big} --state failed,lost,cancelled --all" in p.stdout
    assert f"... 2980 more task(s): tramway-jupyter status {big} --all" in p.stdout

    p = _cli(home, "status", big, "--all")
    rows = [ln for ln in p.stdout.splitlines() if ln.startswith("  work-")]
    assert len(rows) == 3000 and len({r.split()[0] for r in rows}) == 3000

    p = _cli(home, "status", big, "--state", "failed", "--all")
    assert sum(ln.startswith("  work-") and " failed " in ln for ln in p.stdout.splitlines()) == 15

    p = _cli(home, "gather", big)
    assert p.returncode == 1
    assert len(p.stdout.splitlines()) < 60
    assert "value, xs" in p.stdout and p.stdout.rstrip().endswith(f"batch id: {big}")
    p = _cli(home, "gather", big, "--all")
    assert sum(ln.startswith("  work-") for ln in p.stdout.splitlines()) == 3000

    tid = "work-f099-r0029"  # the last task: failed
    p = _cli(home, "status", big, "--task", tid)
    assert p.returncode == 1
    assert "ValueError: bad ROI 29 in file 99 (cell 2)" in p.stdout
    assert "Traceback (most recent call last)" in p.stdout


def test_small_batch_keeps_the_full_table(store: Store, home: Path):
    insert_batch(store, home / "batches", "small001", 12, n_failed=1, legacy=True)
    p = _cli(home, "gather", "small001")
    assert sum(ln.startswith("  work-") for ln in p.stdout.splitlines()) == 12
    assert "FAILED work-f011-r0000: ValueError: bad ROI 0 in file 11" in p.stdout
    assert "value, xs" in p.stdout  # names from the status files (no records column)


# -- JSON ---------------------------------------------------------------------------------
def test_json_to_stdout_is_pure_and_streamed_json_matches(big: str, home: Path, tmp_path: Path):
    p = _cli(home, "gather", big, "--json", "-")
    doc = json.loads(p.stdout)  # nothing but JSON on stdout
    assert "batch id: " + big in p.stderr and "Results of batch" in p.stderr
    assert doc["counts"] == {"done": 2985, "failed": 15}
    assert len(doc["tasks"]) == 3000
    by_id = {t["task_id"]: t for t in doc["tasks"]}
    assert by_id["work-f000-r0007"]["records"] == {"value": 7, "xs": [7, 8, 9]}
    assert by_id["work-f099-r0029"]["error"]["ename"] == "ValueError"

    out = tmp_path / "out.json"
    p = _cli(home, "gather", big, "--json", str(out))
    assert "3000 task(s) written to" in p.stdout
    assert json.loads(out.read_text()) == doc

    p = _cli(home, "status", big, "--json", "-")
    doc = json.loads(p.stdout)
    assert len(doc["tasks"]) == 3000 and doc["counts"] == {"done": 2985, "failed": 15}


def test_results_write_json_equals_to_json(big: str, store: Store, tmp_path: Path):
    res = Batch(big, store).results()
    out = tmp_path / "r.json"
    assert res.write_json(out) == 3000
    assert json.loads(out.read_text()) == json.loads(json.dumps(res.to_json(), default=str))


# -- Results ------------------------------------------------------------------------------
def test_results_lazy_get_counts_failures_and_missing_names(big: str, store: Store):
    res = Batch(big, store).results()
    assert len(res) == 3000 and res.counts == {"done": 2985, "failed": 15} and not res.ok
    values = res.get("value")
    assert len(values) == 2985
    assert values[("/data/file000.rpt.txt", 7)] == 7
    assert res["work-f000-r0007"].record_names == ["value", "xs"]
    assert res.records("work-f000-r0007")["xs"] == [7, 8, 9]
    with pytest.raises(KeyError, match=r"recorded names: 'value', 'xs'"):
        res.get("maps")
    with pytest.raises(RecordNotFoundError):
        res.get("value", stage="no-such-stage")
    fails = res.failures(limit=3)
    assert len(fails) == 3 and fails[0].ename == "ValueError" and fails[0].cell_index == 2
    assert len(res.failures()) == 15
    text = repr(res)
    assert text.count("\n") < 60 and "... 2950 more" in text
    html = res._repr_html_()
    assert html.count("<tr>") == 51 and "2950 more task(s)" in html


def test_results_from_status_files_when_the_store_has_no_records(store: Store, home: Path):
    insert_batch(store, home / "batches", "legacy01", 40, n_failed=2, legacy=True)
    res = Batch("legacy01", store).results()
    assert len(res.get("value")) == 38
    assert res.names() == ["value", "xs"]


# -- manners ------------------------------------------------------------------------------
def test_output_piped_to_head_ends_quietly(big: str, home: Path):
    for args in (["gather", big, "--all"], ["status", big, "--all"],
                 ["gather", big, "--json", "-"]):
        head = subprocess.Popen(["head", "-n", "2"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE)
        p = subprocess.run([sys.executable, "-m", "tramway_jupyter.cli", *args],
                           stdout=head.stdin, stderr=subprocess.PIPE, env=_env(home), timeout=120)
        head.stdin.close()
        assert len(head.stdout.read().splitlines()) == 2
        head.wait()
        assert p.returncode == 141, p.stderr
        assert b"Traceback" not in p.stderr and b"BrokenPipe" not in p.stderr, p.stderr


def test_ambiguous_prefix_lists_the_candidates(store: Store, home: Path):
    insert_batch(store, home / "batches", "abc111", 2, name="first run")
    insert_batch(store, home / "batches", "abc222", 2, name="second run")
    p = _cli(home, "status", "abc")
    assert p.returncode == 2
    assert "ambiguous" in p.stderr and "abc111  first run" in p.stderr
    assert "abc222  second run" in p.stderr
    assert _cli(home, "status", "abc2").returncode == 0  # a unique prefix is enough
    assert "no batch 'zzz'" in _cli(home, "status", "zzz").stderr
    p = _cli(home, "status", "abc_")  # LIKE wildcards are plain characters
    assert p.returncode == 2 and "no batch" in p.stderr


def test_cancel_of_a_finished_batch_says_so(store: Store, home: Path):
    insert_batch(store, home / "batches", "fin001", 10, n_failed=3)
    p = _cli(home, "cancel", "fin001")
    assert p.returncode == 0
    assert p.stdout.strip() == ("batch fin001 already finished (done: 7, failed: 3); "
                                "nothing to cancel")


# -- quick start --------------------------------------------------------------------------
def test_light_commands_import_nothing_heavy(store: Store, home: Path):
    insert_batch(store, home / "batches", "lite01", 3)
    code = ("import sys\nfrom tramway_jupyter.cli import main\n"
            "try:\n    main(sys.argv[2:])\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in sys.modules if m.startswith(tuple(sys.argv[1].split())))\n"
            "print('HEAVY', heavy)")
    # status and cancel poll through the backend and sync, which import the kernel client
    light = " ".join(m for m in HEAVY if m != "jupyter_client")
    for heavy, args in ((" ".join(HEAVY), ["list"]), (" ".join(HEAVY), ["--help"]),
                        (" ".join(HEAVY), ["profiles"]), (light, ["status", "lite01"]),
                        (light, ["cancel", "lite01"])):
        p = subprocess.run([sys.executable, "-c", code, heavy, *args], capture_output=True,
                           text=True, env=_env(home), timeout=60)
        assert "HEAVY []" in p.stdout, (args, p.stdout, p.stderr)


def test_analysis_commands_still_parse_and_their_help_lines_match():
    full = cli.build_parser()
    light = cli.build_parser(["list"])
    sub_full = next(a for a in full._actions if a.dest == "command")
    sub_light = next(a for a in light._actions if a.dest == "command")
    helps_full = {c.dest: c.help for c in sub_full._choices_actions}
    helps_light = {c.dest: c.help for c in sub_light._choices_actions}
    assert helps_full == helps_light
    args = cli.build_parser(["infer", "x.txt", "-o", "y.csv"]).parse_args(
        ["infer", "x.txt", "-o", "y.csv"])
    assert args.func.__name__ == "run_infer"


# -- memory -------------------------------------------------------------------------------
def test_gather_json_memory_is_bounded_on_20000_tasks(store: Store, home: Path, tmp_path: Path):
    insert_batch(store, home / "batches", "mem20k", 20_000, n_failed=20)
    out = tmp_path / "big.json"
    # VmHWM: the peak of this process image (ru_maxrss would keep the forking pytest's peak)
    code = ("import re, sys\nfrom tramway_jupyter.cli import main\n"
            f"rc = main(['gather', 'mem20k', '--json', {str(out)!r}])\n"
            "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
            "print('RSS_KB', hwm, rc)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=_env(home), timeout=600)
    rss_kb = int(p.stdout.split("RSS_KB")[1].split()[0])
    print(f"gather --json of 20,000 tasks: peak RSS {rss_kb / 1024:.0f} MB")
    doc = json.loads(out.read_text())
    assert len(doc["tasks"]) == 20_000
    assert rss_kb < 160 * 1024, rss_kb  # ~68 MB measured; the interpreter + numpy: ~45 MB


# -- a real batch -------------------------------------------------------------------------
def test_real_batch_of_thousands_of_trivial_tasks(tmp_path: Path, home: Path):
    from tramway_jupyter.analysis import write_rois

    data = tmp_path / "data"
    data.mkdir()
    for i in range(40):
        (data / f"f{i:02d}.rpt.txt").write_text("1 0.0 0.0 0.0\n")
        write_rois([[0, 0, 1, 1]] * 50, data / f"f{i:02d}.rpt-roi.txt")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("%load_ext tramway_jupyter"),
                nbformat.v4.new_code_cell("%%tramway setup\nimport tramway_jupyter as tj"),
                nbformat.v4.new_code_cell("%%tramway stage work --per roi\n"
                                          "tj.record('roi', roi_index)")]
    nbformat.write(nb, str(tmp_path / "trivial.ipynb"))
    out = tmp_path / "out.json"
    p = _cli(home, "run", str(tmp_path / "trivial.ipynb"), "--data", str(data / "*.rpt.txt"),
             "--workers", "2", "--json", "-", timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    doc = json.loads(p.stdout)
    assert doc["counts"] == {"done": 2000} and len(doc["tasks"]) == 2000
    assert sorted({t["records"]["roi"] for t in doc["tasks"]}) == list(range(50))
    batch_id = doc["batch_id"]
    assert "the first 20 task(s):" in p.stderr
    p = _cli(home, "gather", batch_id[:6], "--json", str(out))
    assert p.returncode == 0 and len(p.stdout.splitlines()) < 40
    assert json.loads(out.read_text())["tasks"] == doc["tasks"]
    p = _cli(home, "cancel", batch_id)
    assert "already finished (done: 2000); nothing to cancel" in p.stdout
