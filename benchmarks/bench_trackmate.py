"""Read a 1,000,000-spot TrackMate model XML: wall time and peak memory against the file size.

Writes the file (full model flavour, spots with TrackMate's usual features), then reads it with
``read_trajectories`` in a fresh process and reports that process's wall time and peak RSS (VmHWM),
minus the peak RSS of the same process importing the package without reading (the baseline).
The reader streams (``iterparse``, elements dropped once read), so the increment should be
a small multiple of the spots' numbers (~70 bytes per spot), far below the XML's size.

Usage: python benchmarks/bench_trackmate.py [--spots 1000000] [--length 20] [--keep FILE]
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
import pandas as pd

from tramway_jupyter.analysis.trackmate import write_trackmate_xml

_CHILD = r"""
import json, sys, time
from tramway_jupyter.analysis import read_trajectories
import numpy, pandas, scipy.sparse.csgraph  # the baseline imports what the reader uses
if sys.argv[2] == "read":
    t0 = time.perf_counter()
    df = read_trajectories(sys.argv[1])
    wall = time.perf_counter() - t0
    rows, trajs = len(df), int(df["n"].nunique())
elif sys.argv[2] == "tree":  # for comparison: the whole XML as an ElementTree
    import xml.etree.ElementTree as ET
    t0 = time.perf_counter()
    tree = ET.parse(sys.argv[1])
    wall = time.perf_counter() - t0
    rows, trajs = sum(1 for _ in tree.iter("Spot")), 0
else:
    wall, rows, trajs = 0.0, 0, 0
# VmHWM, not getrusage's ru_maxrss: that one starts from the parent's peak (fork, then exec)
with open("/proc/self/status") as fh:
    rss = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))
print(json.dumps({"wall": wall, "rss": rss, "rows": rows, "trajectories": trajs}))
"""


def make(n_spots: int, length: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_traj = n_spots // length
    n = np.repeat(np.arange(n_traj), length)
    start = rng.uniform(0, 50, size=(n_traj, 2))
    steps = rng.normal(scale=0.05, size=(n_traj, length, 2))
    steps[:, 0] = 0
    xy = (start[:, None, :] + np.cumsum(steps, axis=1)).reshape(-1, 2)
    frame0 = rng.integers(0, 1000, size=n_traj)
    t = (frame0[:, None] + np.arange(length)).ravel() * 0.02
    return pd.DataFrame({"n": n, "x": xy[:, 0], "y": xy[:, 1], "t": t})


def child(path: Path, what: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), what], check=True,
                         capture_output=True, text=True, env=os.environ)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spots", type=int, default=1_000_000)
    ap.add_argument("--length", type=int, default=20, help="spots per track")
    ap.add_argument("--keep", help="write the XML here (default: a temporary file)")
    ap.add_argument("--tree", action="store_true",
                    help="also measure xml.etree.ElementTree.parse of the whole file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep or Path(tmp) / "bench.xml")
        df = make(args.spots, args.length)
        t0 = time.perf_counter()
        write_trackmate_xml(df, path, frame_interval=0.02, pixel_size=0.16)
        t_write = time.perf_counter() - t0
        size = path.stat().st_size
        del df
        base = child(path, "import")
        res = child(path, "read")
        tree = child(path, "tree") if args.tree else None
    inc = res["rss"] - base["rss"]
    print(f"file: {args.spots:,} spots in {args.spots // args.length:,} tracks, "
          f"{size / 1e6:.0f} MB ({size / args.spots:.0f} bytes/spot), written in {t_write:.1f} s")
    print(f"read: {res['wall']:.1f} s ({res['rows'] / res['wall'] / 1e3:.0f} k spots/s), "
          f"{res['rows']:,} rows, {res['trajectories']:,} trajectories")
    print(f"peak RSS: {res['rss'] / 1e6:.0f} MB (baseline after imports {base['rss'] / 1e6:.0f}"
          f" MB): +{inc / 1e6:.0f} MB = {inc / args.spots:.0f} bytes/spot = "
          f"{100 * inc / size:.0f}% of the file size")
    if tree:
        inc_tree = tree["rss"] - base["rss"]
        print(f"for comparison, ElementTree.parse of the whole file: {tree['wall']:.1f} s, "
              f"+{inc_tree / 1e6:.0f} MB = {inc_tree / args.spots:.0f} bytes/spot")


if __name__ == "__main__":
    main()
