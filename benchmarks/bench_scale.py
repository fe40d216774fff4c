"""A 100,000-task batch on the local backend (issue: lab-proofing). Prints figures; asserts nothing.

Trivial tasks (``x = 1 + 1`` per ROI), 500 data files x 200 ROIs by default, 2 local workers:

1. plan + insert: ``api.run`` until it returns (templates, plan, batch directory, store rows);
2. dispatch: wall time per task, and the per-task overhead (worker time not spent in the cells);
3. peak RSS of the dispatcher and of a worker (sampled from /proc while the batch runs), and of
   the CLI (``tramway-jupyter status``);
4. bytes and files on disk per task (the batch directory);
5. REST: time and payload of one sidebar poll of the expanded batch (first page of tasks) and of
   the counts alone, against a real ``jupyter server`` on 127.0.0.1;
6. ``tramway-jupyter gather ID --json FILE``: time and peak RSS.

Targets (2 cores): plan + insert < 15 s; overhead <= 3 ms/task; <= 8 KB on disk per task; a
sidebar poll < 50 ms and < 100 KB; gather < 10 s and < 500 MB.

Usage: python benchmarks/bench_scale.py [--files 500] [--rois 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

TRIVIAL_CELLS = [
    ("setup", "import tramway_jupyter as tj"),
    ("stage trivial --per roi", "x = 1 + 1"),
]


def make_data(root: Path, n_files: int, n_rois: int) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    rois = "x min\ty min\tx max\ty max\n" + "".join(f"{j}\t0\t{j + 1}\t1\n" for j in range(n_rois))
    out = []
    for i in range(n_files):
        p = root / f"cell{i:04d}.rpt.txt"
        p.write_text(f"n\tx\ty\tt\n1\t{i}\t0\t0\n1\t{i}\t1\t1\n")
        (root / f"cell{i:04d}.rpt-roi.txt").write_text(rois)
        out.append(str(p))
    return out


def vm_hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler(threading.Thread):
    """Peak RSS of the dispatcher and worker processes of one batch directory."""

    def __init__(self, batch_dir: str) -> None:
        super().__init__(daemon=True)
        self.batch_dir = batch_dir
        self.peak: dict[str, int] = {"dispatcher": 0, "worker": 0}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for pid in map(int, filter(str.isdigit, os.listdir("/proc"))):
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                text = b" ".join(cmd).decode(errors="replace")
                if self.batch_dir not in text:
                    continue
                kind = ("dispatcher" if "local_runner" in text else
                        "worker" if "tramway_jupyter.worker" in text else None)
                if kind:
                    self.peak[kind] = max(self.peak[kind], vm_hwm_kb(pid))
            self.stop.wait(0.5)


def max_rss_of(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Run ``cmd`` under a tiny Python wrapper that reports the child's own peak RSS."""
    wrapper = ("import resource,subprocess,sys,time;t=time.perf_counter();"
               "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL);"
               "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_CHILDREN)"
               ".ru_maxrss, r.returncode)")
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    if out[2] not in ("0", "1"):
        raise RuntimeError(f"{cmd} exited {out[2]}")
    return float(out[0]), int(out[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rest_figures(batch_id: str, env: dict[str, str], root: Path) -> dict[str, tuple[float, int]]:
    """Median time and payload of GETs against a real jupyter server with our extension."""
    port, token = free_port(), secrets.token_hex(16)
    jupyter = shutil.which("jupyter", path=os.path.dirname(sys.executable)) or "jupyter"
    proc = subprocess.Popen(
        [jupyter, "server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--allow-root"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/tramway/api"
    out: dict[str, tuple[float, int]] = {}
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/batches?token={token}", timeout=5).read()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.3)
        for label, query in (("GET /batches/ID, no parameters (first page of 100)", ""),
                             ("the sidebar's poll of the expanded batch (50 rows, no jobs)",
                              "limit=50&jobs_limit=0"),
                             ("counts only (a collapsed batch)", "tasks=0"),
                             ("done tasks sorted by duration, rows 50,000-50,099",
                              "state=done&sort=duration&order=desc&offset=50000&limit=100")):
            times, size = [], 0
            for _ in range(7):
                t0 = time.perf_counter()
                body = urllib.request.urlopen(
                    f"{base}/batches/{batch_id}?token={token}&{query}", timeout=60).read()
                times.append(time.perf_counter() - t0)
                size = len(body)
            out[label] = (statistics.median(times), size)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=500)
    ap.add_argument("--rois", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    n = args.files * args.rois
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f};"
          f" {args.files} files x {args.rois} ROIs = {n} tasks, {args.workers} workers")
    tmp = Path(tempfile.mkdtemp(prefix="tj-bench-scale-"))
    home = tmp / "home"
    # cold dispatcher and workers (no warm pool): their command lines name the batch, so that
    # their memory can be sampled; the per-task cost is the same
    env = {**os.environ, "TRAMWAY_JUPYTER_HOME": str(home), "TRAMWAY_JUPYTER_WARM_POOL": "0"}
    os.environ.update(env)
    try:
        from tramway_jupyter import api
        from tramway_jupyter.capture.pipeline import Pipeline
        from tramway_jupyter.jobs.store import Store

        files = make_data(tmp / "data", args.files, args.rois)
        pipeline = Pipeline.from_cells(TRIVIAL_CELLS)
        store = Store()
        t0 = time.perf_counter()
        batch = api.run(pipeline, files, profile="local", workers=args.workers, store=store,
                        force=True)
        t_submit = time.perf_counter() - t0
        print(f"\n1. plan + insert of {n} tasks (api.run returns): {t_submit:.2f} s"
              "   (target < 15 s)")
        sampler = RssSampler(str(batch.dir.root))
        sampler.start()
        t0 = time.perf_counter()
        batch.wait(timeout=6 * 3600)
        t_run = time.perf_counter() - t0
        sampler.stop.set()
        sampler.join()
        counts = batch.counts()
        durations = [t.duration or 0.0 for t in store.iter_tasks(batch.batch_id)]
        cells = sum(durations)
        overhead = (t_run * args.workers - cells) / n
        print(f"\n2. run: {t_run:.1f} s = {t_run / n * 1000:.2f} ms/task wall on {args.workers} "
              f"workers ({counts}); the tasks' own time (status 'duration': cells, reset, "
              f"records) {statistics.median(durations) * 1000:.2f} ms median;\n   overhead "
              f"(worker time outside the tasks, per task): {overhead * 1000:.2f} ms"
              "   (target <= 3 ms)")
        du = subprocess.run(["du", "-sk", str(batch.dir.root)], capture_output=True, text=True,
                            check=True).stdout.split()[0]
        n_files = sum(len(f) for _, _, f in os.walk(batch.dir.root))
        print(f"\n4. disk: {int(du) / 1024:.1f} MB in {n_files} files for the batch directory = "
              f"{int(du) * 1024 / n:.0f} bytes and {n_files / n:.2f} files per task"
              "   (target <= 8 KB)")
        cli = shutil.which("tramway-jupyter", path=os.path.dirname(sys.executable))
        assert cli, "tramway-jupyter not installed next to this python"
        t_status, rss_status = max_rss_of([cli, "status", batch.batch_id], env)
        t_list, _ = max_rss_of([cli, "list"], env)
        print(f"\n3. peak RSS: dispatcher {sampler.peak['dispatcher'] / 1024:.0f} MB, worker "
              f"{sampler.peak['worker'] / 1024:.0f} MB, CLI `status` {rss_status / 1024:.0f} MB "
              f"({t_status:.2f} s; `list` {t_list:.2f} s)")
        try:
            rest = rest_figures(batch.batch_id, env, tmp)
            print("\n5. REST, median of 7 GETs against jupyter server on 127.0.0.1:")
            for label, (t, size) in rest.items():
                print(f"   {label}: {t * 1000:.1f} ms, {size / 1024:.1f} KB")
            print("   (target for a sidebar poll: < 50 ms and < 100 KB)")
        except Exception as exc:  # report, go on to gather
            print(f"\n5. REST: could not measure ({type(exc).__name__}: {exc})")
        t_g, rss_g = max_rss_of([cli, "gather", batch.batch_id, "--json", str(tmp / "g.json")],
                                env)
        with open(tmp / "g.json") as fh:
            n_json = len(json.load(fh)["tasks"])
        print(f"\n6. gather --json: {t_g:.2f} s, peak RSS {rss_g / 1024:.0f} MB, "
              f"{(tmp / 'g.json').stat().st_size / 1e6:.1f} MB of JSON with {n_json} tasks"
              "   (target < 10 s, < 500 MB)")
    finally:
        if args.keep:
            print(f"\nkept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
