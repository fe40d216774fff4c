"""Compare the analysis core with TRamWAy 0.7 on the same simulated files.

TRamWAy runs in its own virtual environment (``pip install "tramway[full]==0.7"``), called as a
subprocess through its helper API (``tramway.helper.tessellate`` / ``infer``); ours runs here.
Both infer on ~``--cells`` hexagonal cells; accuracy is measured against the ground truth at each
one's cell centres, over the cells holding >= 20 translocations:

* D: median relative error |D/D_true - 1|;
* force: fraction of cells whose force is within 45 degrees of the true (effective) force;
* potential: Pearson correlation with the true effective potential ``V - ln D``.

Usage::

    python -m venv /work/tramway-venv && /work/tramway-venv/bin/pip install "tramway[full]==0.7"
    python benchmarks/bench_tramway.py --tramway-python /work/tramway-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_TRAMWAY_PYTHON = "/work/tramway-venv/bin/python"

WORKER = r'''
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np
from tramway.core.xyt import load_xyt
from tramway.helper import tessellate, infer
path, mode, avg_count, out, lam_v = sys.argv[1:6]
df = load_xyt(path)
t0 = time.perf_counter()
cells = tessellate(df, "hexagon", avg_location_count=int(avg_count))
t1 = time.perf_counter()
kw = {"sigma": 0.03}
if mode == "dv":
    kw["potential_prior"] = float(lam_v)
maps = infer(cells, mode, **kw)
t2 = time.perf_counter()
m = maps.maps
n = df["n"].to_numpy()
same = n[1:] == n[:-1]
ci = np.asarray(cells.cell_index)
counts = np.bincount(ci[:-1][same][ci[:-1][same] >= 0],
                     minlength=cells.tessellation.cell_centers.shape[0])
idx = np.asarray(m.index)
res = {"tessellate": t1 - t0, "infer": t2 - t1,
       "centers": cells.tessellation.cell_centers[idx].tolist(), "counts": counts[idx].tolist()}
for col in m.columns:
    res[col.replace(" ", "_")] = m[col].to_numpy().tolist()
json.dump(res, open(out, "w"))
'''


def check_tramway(python: str) -> str:
    """Return TRamWAy's version in ``python``'s environment or exit with a clear message."""
    if not Path(python).exists():
        sys.exit(f"error: TRamWAy's python not found at {python}. Create it with\n"
                 f"  python3.11 -m venv /work/tramway-venv && "
                 f"/work/tramway-venv/bin/pip install 'tramway[full]==0.7'\n"
                 f"and pass --tramway-python or set TRAMWAY_PYTHON.")
    r = subprocess.run([python, "-c", "import tramway.helper, importlib.metadata as m; "
                        "print(m.version('tramway'))"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"error: {python} cannot import tramway.helper:\n{r.stderr[-2000:]}")
    return r.stdout.strip()


def run_tramway(python: str, path: Path, mode: str, avg_count: int, lam_v: float,
                timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "worker.py"
        script.write_text(WORKER)
        out = Path(tmp) / "out.json"
        t0 = time.perf_counter()
        try:
            subprocess.run([python, str(script), str(path), mode, str(avg_count), str(out),
                            str(lam_v)], check=True, capture_output=True, text=True,
                           timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"timeout": timeout}
        except subprocess.CalledProcessError as exc:
            return {"error": exc.stderr[-1500:]}
        res = json.loads(out.read_text())
        res["wall"] = time.perf_counter() - t0
    res["diffusivity"] = np.asarray(res["diffusivity"])
    for k in ("force_x", "force_y", "potential"):
        if k in res:
            res[k] = np.asarray(res[k])
    res["centers"] = np.asarray(res["centers"])
    res["counts"] = np.asarray(res["counts"])
    return res


def run_ours(path: Path, mode: str, points_per_cell: float, lam_v: float,
             prior: float | None = None) -> dict:
    from tramway_jupyter.analysis import infer, read_trajectories, tessellate, translocations

    t0 = time.perf_counter()
    tr = translocations(read_trajectories(path))
    t1 = time.perf_counter()
    tess = tessellate(tr, "hexagon", points_per_cell=points_per_cell)
    t2 = time.perf_counter()
    kw = {"diffusivity_prior": prior, "force_prior": prior} if prior is not None else {}
    maps = infer(tr, tess, mode=mode, sigma=0.03, min_count=1,
                 potential_prior=lam_v if mode == "dv" else None, **kw)
    t3 = time.perf_counter()
    res = {"tessellate": t2 - t1, "infer": t3 - t2, "wall": t3 - t0,
           "centers": maps.centers, "counts": maps.counts}
    res.update(maps.variables)
    return res


def accuracy(res: dict, sim) -> dict:
    """Median relative D error, force direction agreement and potential correlation."""
    sel = (res["counts"] >= 20) & np.isfinite(res["diffusivity"])
    truth = sim.true_maps(res["centers"])
    out = {"cells": int(sel.sum()),
           "d_err": float(np.median(np.abs(res["diffusivity"][sel] / truth["diffusivity"][sel]
                                           - 1)))}
    if "force_x" in res:
        fx, fy = res["force_x"][sel], res["force_y"][sel]
        tx, ty = truth["effective_force_x"][sel], truth["effective_force_y"][sel]
        cos = (fx * tx + fy * ty) / (np.hypot(fx, fy) * np.hypot(tx, ty))
        out["force_ok"] = float(np.mean(cos > np.cos(np.pi / 4)))
    if "potential" in res:
        ok = sel & np.isfinite(res["potential"])
        out["v_corr"] = float(np.corrcoef(res["potential"][ok],
                                          truth["effective_potential"][ok])[0, 1])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tramway-python",
                        default=os.environ.get("TRAMWAY_PYTHON", DEFAULT_TRAMWAY_PYTHON),
                        help="python of the TRamWAy 0.7 venv (or env TRAMWAY_PYTHON)")
    parser.add_argument("--workdir", default="/tmp/tj-bench-tramway")
    parser.add_argument("--translocations", type=int, default=20_000)
    parser.add_argument("--cells", type=int, default=100, help="target number of cells")
    parser.add_argument("--modes", nargs="+", default=["d", "dd", "df", "dv"])
    parser.add_argument("--prior", type=float, default=1.0,
                        help="diffusivity_prior and force_prior of our extra 'df + prior' row")
    parser.add_argument("--potential-prior", type=float, default=0.1,
                        help="lambda_V given to both implementations in dv")
    parser.add_argument("--timeout", type=float, default=3600, help="per TRamWAy run (s)")
    args = parser.parse_args(argv)
    version = check_tramway(args.tramway_python)
    from tramway_jupyter.analysis import simulate, write_trajectories

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    data = {}
    for name, kw in {"gradient-D": {"diffusivity": "gradient"},
                     "harmonic-V": {"potential": "harmonic"}}.items():
        sim = simulate(n_translocations=args.translocations, seed=7, **kw)
        path = write_trajectories(sim.trajectories, work / f"{name}.rpt.txt")
        data[name] = (sim, path, len(sim.trajectories) / args.cells)
    cases = [("d", "gradient-D"), ("dd", "harmonic-V"), ("df", "harmonic-V"),
             ("dv", "harmonic-V")]
    print(f"TRamWAy {version} vs tramway-jupyter; {args.translocations} translocations, "
          f"~{args.cells} hexagonal cells, sigma = 0.03 µm, accuracy over cells with >= 20 "
          "translocations")
    head = (f"{'mode':>4} {'data':>11} {'impl':>15} {'cells':>5} {'tessel. s':>9} "
            f"{'infer s':>9} {'D med.rel.err':>13} {'force dir ok':>12} {'V corr':>7}")
    print(head)
    print("-" * len(head))
    for mode, dname in cases:
        if mode not in args.modes:
            continue
        sim, path, ppc = data[dname]
        impls = ["TRamWAy 0.7", "tramway-jupyter"] + (["ours + prior"] if mode == "df" else [])
        for impl in impls:
            if impl.startswith("TRamWAy"):
                res = run_tramway(args.tramway_python, path, mode, int(round(ppc)),
                                  args.potential_prior, args.timeout)
            else:
                res = run_ours(path, mode, ppc, args.potential_prior,
                               args.prior if impl == "ours + prior" else None)
            if "timeout" in res or "error" in res:
                print(f"{mode:>4} {dname:>11} {impl:>15}  "
                      f"{'timed out' if 'timeout' in res else 'failed: ' + res['error']}")
                continue
            acc = accuracy(res, sim)
            fo = f"{100 * acc['force_ok']:.0f}%" if "force_ok" in acc else "-"
            vc = f"{acc['v_corr']:.3f}" if "v_corr" in acc else "-"
            print(f"{mode:>4} {dname:>11} {impl:>15} {acc['cells']:>5} {res['tessellate']:>9.2f} "
                  f"{res['infer']:>9.2f} {100 * acc['d_err']:>12.1f}% {fo:>12} {vc:>7}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
