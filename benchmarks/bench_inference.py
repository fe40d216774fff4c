"""Benchmark read + tessellate + infer of the analysis core against a per-cell Python loop.

Each case runs in a fresh subprocess so that its peak memory (``ru_maxrss``) is honest; the
table shows wall times (s) and peak RSS (MB, the whole process including ~100 MB of imports).

Data: uniform D = 0.5 µm²/s in a harmonic well, at constant density (a 10 x 10 µm box per 1e5
translocations), hexagonal cells of TRamWAy's default size (80 locations per cell, floored at
0.8 x the mean translocation length); dv uses ~1,000 cells at 1e5.

The baseline does the same work the way TRamWAy does it: one ``scipy.optimize.minimize`` per cell
on the per-translocation negative log-posterior (``d``, ``df``), and for ``dv`` one joint L-BFGS-B
whose objective is a Python loop over cells and whose gradient is by finite differences.

Usage::

    python benchmarks/bench_inference.py [--sizes 1e4 1e5 1e6] [--workdir /tmp/tj-bench]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODES = ("d", "dd", "df", "dv")
BASELINE_MODES = ("d", "df", "dv")
DV_MAX = 100_000           # dv is benchmarked up to 1e5 translocations
DV_BASELINE_MAX = 10_000   # the finite-difference dv loop only at 1e4 (minutes otherwise)
DV_CELLS = 1000            # ~1,000 cells for dv at 1e5


def _data_file(workdir: Path, n: int) -> Path:
    from tramway_jupyter.analysis import simulate, write_trajectories
    from tramway_jupyter.analysis.fields import Harmonic

    path = workdir / f"bench_{n}_v2.rpt.txt"
    if not path.exists():
        # constant density: a 10 x 10 µm box per 1e5 translocations, a well of fixed depth
        side = 10.0 * np.sqrt(n / 1e5)
        well = Harmonic(100.0 / side**2, side / 2, side / 2)
        sim = simulate(n_translocations=n, bounds=(0, 0, side, side), diffusivity="uniform",
                       potential=well, substeps=2, seed=n % 1000)
        write_trajectories(sim.trajectories, path)
    return path


# ---------------------------------------------------------------- baseline (per-cell loops)
def _loop_d(groups: list[tuple[np.ndarray, np.ndarray]], sigma2: float) -> np.ndarray:
    from scipy.optimize import minimize

    out = np.empty(len(groups))
    for k, (dr2, dt) in enumerate(groups):
        def nlp(x, dr2=dr2, dt=dt):
            u = x[0] * dt + sigma2
            return np.sum(np.log(4 * u) + dr2 / (4 * u))
        d0 = np.mean(dr2) / (4 * np.mean(dt))
        out[k] = minimize(nlp, [d0], method="L-BFGS-B",
                          bounds=[((1e-16 - sigma2) / dt.max(), None)]).x[0]
    return out


def _loop_df(groups: list[tuple[np.ndarray, np.ndarray]], sigma2: float) -> np.ndarray:
    from scipy.optimize import minimize

    out = np.empty((len(groups), 3))
    for k, (dr, dt) in enumerate(groups):
        def nlp(x, dr=dr, dt=dt):
            u = x[0] * dt + sigma2
            res = dr - (x[0] * dt)[:, None] * x[1:][None, :]
            return np.sum(np.log(4 * u) + np.sum(res * res, axis=1) / (4 * u))
        d0 = np.mean(dr * dr) / (2 * np.mean(dt))
        out[k] = minimize(nlp, [d0, 0.0, 0.0], method="L-BFGS-B",
                          bounds=[((1e-16 - sigma2) / dt.max(), None), (None, None),
                                  (None, None)]).x
    return out


def _loop_dv(groups, centers, adjacency, sigma2: float, lam_v: float) -> np.ndarray:
    from scipy.optimize import minimize

    from tramway_jupyter.analysis.gradient import gradient_operators

    gx, gy = gradient_operators(centers, adjacency)
    rows = [(gx.getrow(i), gy.getrow(i)) for i in range(len(groups))]
    m = len(groups)

    def nlp(x):
        d, v = x[:m], x[m:]
        total = 0.0
        for i, (dr, dt) in enumerate(groups):  # the per-cell Python loop
            g = np.array([(rows[i][0] @ v)[0], (rows[i][1] @ v)[0]])
            u = d[i] * dt + sigma2
            res = dr + (d[i] * dt)[:, None] * g[None, :]
            total += np.sum(np.log(4 * u) + np.sum(res * res, axis=1) / (4 * u))
            total += lam_v * float(g @ g)
        return total

    d0 = np.array([np.mean(dr * dr) / (2 * np.mean(dt)) for dr, dt in groups])
    res = minimize(nlp, np.r_[d0, np.zeros(m)], method="L-BFGS-B",
                   bounds=[(1e-8, None)] * m + [(None, None)] * m,
                   options={"maxiter": 1000, "maxfun": 10**9})
    return res.x


def run_case(path: Path, mode: str, impl: str, points_per_cell: float | None) -> dict:
    """Run one case in this process; return timings and peak memory."""
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from tramway_jupyter.analysis import infer, read_trajectories, tessellate, translocations

    t0 = time.perf_counter()
    df = read_trajectories(path)
    t1 = time.perf_counter()
    tr = translocations(df)
    tess = tessellate(tr, "hexagon", points_per_cell=points_per_cell)
    t2 = time.perf_counter()
    n_cells = None
    if impl == "ours":
        maps = infer(tr, tess, mode=mode)
        n_cells = int((~maps.masked).sum())
    else:
        cell = tess.assign(tr[["x", "y"]].to_numpy())
        order = np.argsort(cell, kind="stable")
        cells, starts = np.unique(cell[order], return_index=True)
        counts = np.diff(np.r_[starts, cell.size])
        keep = counts >= 20
        dr = tr[["dx", "dy"]].to_numpy()[order]
        dt = tr["dt"].to_numpy()[order]
        split = np.split(np.arange(cell.size), starts[1:])
        split = [s for s, k in zip(split, keep, strict=True) if k]
        n_cells = len(split)
        if mode == "d":
            _loop_d([(np.sum(dr[s] ** 2, axis=1), dt[s]) for s in split], 0.03**2)
        elif mode == "df":
            _loop_df([(dr[s], dt[s]) for s in split], 0.03**2)
        else:
            kc = cells[keep]
            adj = tess.adjacency[kc][:, kc]
            _loop_dv([(dr[s], dt[s]) for s in split], tess.centers[kc], adj, 0.03**2, 0.1)
    t3 = time.perf_counter()
    return {"read": t1 - t0, "tessellate": t2 - t1, "infer": t3 - t2, "total": t3 - t0,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "import_mb": rss0, "cells": n_cells, "translocations": len(tr)}


def _subprocess(path: Path, mode: str, impl: str, ppc: float | None, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--case", str(path), mode, impl, str(ppc or 0)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"timeout": timeout}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e4, 1e5, 1e6],
                        help="numbers of translocations")
    parser.add_argument("--workdir", default="/tmp/tj-bench", help="where data files go")
    parser.add_argument("--no-baseline", action="store_true", help="skip the per-cell loops")
    parser.add_argument("--timeout", type=float, default=900, help="per case (s)")
    parser.add_argument("--case", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        path, mode, impl, ppc = args.case
        print(json.dumps(run_case(Path(path), mode, impl, float(ppc) or None)))
        return 0
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    header = (f"{'translocations':>14} {'mode':>4} {'impl':>9} {'cells':>6} {'read':>6} "
              f"{'tessel.':>7} {'infer':>8} {'total':>8} {'peak MB':>8} {'loop/ours':>9}")
    print(header)
    print("-" * len(header))
    for n in [int(s) for s in args.sizes]:
        path = _data_file(work, n)
        for mode in MODES:
            if mode == "dv" and n > DV_MAX:
                continue
            ppc = n * 1.1 / DV_CELLS if mode == "dv" and n >= 100_000 else None
            results = {"ours": _subprocess(path, mode, "ours", ppc, args.timeout)}
            if not args.no_baseline and mode in BASELINE_MODES and not (
                    mode == "dv" and n > DV_BASELINE_MAX):
                results["loop"] = _subprocess(path, mode, "loop", ppc, args.timeout)
            for impl, r in results.items():
                if "timeout" in r:
                    print(f"{n:>14} {mode:>4} {impl:>9}  timed out after {r['timeout']:.0f} s")
                    continue
                ratio = ""
                if impl == "loop" and "infer" in results["ours"]:
                    ratio = f"{r['infer'] / results['ours']['infer']:.0f}x"
                print(f"{n:>14} {mode:>4} {impl:>9} {r['cells']:>6} {r['read']:>6.2f} "
                      f"{r['tessellate']:>7.2f} {r['infer']:>8.2f} {r['total']:>8.2f} "
                      f"{r['peak_mb']:>8.0f} {ratio:>9}", flush=True)
    print("\ntimes in s; peak MB = ru_maxrss of the case's process (imports alone: "
          "~100-130 MB); loop/ours = ratio of the infer times.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
