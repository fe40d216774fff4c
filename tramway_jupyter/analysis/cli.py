"""``tramway-jupyter simulate`` and ``tramway-jupyter infer`` subcommands, and the demo analysis.

Parsing and printing only; the work is done by :mod:`tramway_jupyter.analysis`.
"""

from __future__ import annotations

import argparse
import sys
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["add_subcommands", "run_simulate", "run_infer", "demo_analysis"]

_PLOT_VARIABLE = {"d": "diffusivity", "dd": "drift", "df": "force", "dv": "potential"}


class _DefaultsOnce(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" to an option's help, unless the help says its default already or
    there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.default in (None, argparse.SUPPRESS, False):
            return text
        return super()._get_help_string(action)


def add_subcommands(subparsers: Any) -> None:
    """Register the ``simulate`` and ``infer`` subcommands on an argparse subparsers object."""
    sim = subparsers.add_parser(
        "simulate",
        help="write simulated trajectory files with ground truth",
        description="Simulate overdamped Langevin trajectories (µm, s) in a 10x10 µm box and "
        "write, per file, simI.rpt.txt (TRamWAy text format), simI.rpt-roi.txt (ROIs tiling "
        "the box) and simI.truth.json (true fields and parameters).",
        formatter_class=_DefaultsOnce,
    )
    sim.add_argument("out_dir", metavar="OUT_DIR", help="directory to write (created if missing)")
    sim.add_argument("--files", type=int, default=2, help="number of trajectory files")
    sim.add_argument("--rois", type=int, default=4, help="ROIs per file")
    sim.add_argument("--seed", type=int, default=0, help="random seed of the first file")
    sim.add_argument("--translocations", type=int, default=20_000,
                     help="translocations per file")
    sim.add_argument("--diffusivity", default="uniform",
                     help="'uniform' (0.5 µm²/s), 'gradient' (0.2->1.0 µm²/s along x) or a "
                     "number (µm²/s)")
    sim.add_argument("--potential", default="none", choices=["none", "harmonic"],
                     help="'harmonic': well of 1 kT/µm² at the box centre")
    sim.add_argument("--dt", type=float, default=0.05, help="frame interval (s)")
    sim.add_argument("--localization-precision", type=float, default=0.03, dest="sigma",
                     help="localization noise sigma (µm)")
    sim.set_defaults(func=run_simulate)

    inf = subparsers.add_parser(
        "infer",
        help="infer diffusivity/drift/force/potential maps from a trajectory file",
        description="Read a trajectory file (TRamWAy text n x y t in µm and s, TrackMate XML or "
        "CSV, or long-format CSV such as trackpy's), optionally crop it to one ROI, tessellate the whole file, infer per-cell maps and write them as CSV "
        "(cell,x,y,count,diffusivity[,drift_x,drift_y][,force_x,force_y][,potential]) or NPZ.",
        formatter_class=_DefaultsOnce,
    )
    inf.add_argument("file", metavar="FILE",
                     help="trajectory file: X.rpt.txt, TrackMate X.xml or X.csv, long-format CSV")
    add_unit_options(inf)
    inf.add_argument("--roi-file", help="ROI file (default with --roi-index: FILE's -roi.txt)")
    inf.add_argument("--roi-index", type=_roi_index, help="0-based ROI to crop to")
    inf.add_argument("--tessellation", choices=["hexagon", "grid", "kmeans"], default="hexagon",
                     help="cell shape")
    size = inf.add_mutually_exclusive_group()
    size.add_argument("--cell-size", type=float, help="distance between cell centres (µm)")
    size.add_argument("--points-per-cell", type=float,
                      help="target locations per cell (default 80, TRamWAy's)")
    inf.add_argument("--tessellation-file",
                     help="load this saved tessellation (.npz) instead of computing one")
    inf.add_argument("--save-tessellation", help="save the tessellation to this .npz")
    inf.add_argument("--mode", choices=["d", "dd", "df", "dv"], default="d",
                     help="d: diffusivity; dd: + drift; df: + force; dv: + potential")
    inf.add_argument("--localization-precision", type=float, default=0.03, dest="sigma",
                     help="localization precision sigma (µm); sigma² is the error")
    inf.add_argument("--diffusivity-prior", type=float,
                     help="smoothing weight lambda_D on |grad D|² (modes d, dv)")
    inf.add_argument("--potential-prior", type=float,
                     help="weight lambda_V on |grad V|² (mode dv; default 0.1)")
    inf.add_argument("--min-count", type=int, default=20,
                     help="cells with fewer translocations are masked (NaN)")
    inf.add_argument("--jeffreys-prior", action="store_true", help="add Jeffreys' prior on D")
    inf.add_argument("--keep-outliers", action="store_true",
                     help="tessellate the whole bounding box even when a few points lie far "
                     "outside the others (refused by default: the cells would be sized for "
                     "the outliers)")
    inf.add_argument("-o", "--output", required=True,
                     help="maps file: .csv or .npz (its directory must exist)")
    inf.add_argument("--plot", help="also draw the main variable to this image (PNG)")
    inf.set_defaults(func=run_infer)


def add_unit_options(p: argparse.ArgumentParser) -> None:
    """``--pixel-size``, ``--frame-interval`` (and, for ``infer``, ``--units``, ``--all-tracks``)."""
    p.add_argument("--pixel-size", type=_positive, metavar="UM",
                   help="µm per pixel, for TrackMate/CSV files in pixels (required then)")
    p.add_argument("--frame-interval", type=_positive, metavar="S",
                   help="s per frame, for TrackMate/CSV files whose time is in frames "
                        "(required then)")
    p.add_argument("--units", metavar="SPACE[,TIME]",
                   help="units of a CSV file that does not state them, e.g. um,s or um "
                        "(with --frame-interval)")
    p.add_argument("--all-tracks", action="store_true",
                   help="TrackMate model file: read every track, not only the filtered ones")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value


def run_simulate(args: argparse.Namespace) -> int:
    """Run ``tramway-jupyter simulate``; return the exit code."""
    from .simulate import write_simulation

    try:
        diffusivity: Any = float(args.diffusivity)
    except ValueError:
        diffusivity = args.diffusivity
    try:
        paths = write_simulation(
            args.out_dir, n_files=args.files, n_rois=args.rois, seed=args.seed,
            n_translocations=args.translocations, diffusivity=diffusivity,
            potential=None if args.potential == "none" else args.potential,
            dt=args.dt, sigma=args.sigma,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0


def run_infer(args: argparse.Namespace) -> int:
    """Run ``tramway-jupyter infer``; return the exit code (0 ok, 1 failed, 2 bad input)."""
    from . import crop, infer, load_tessellation, read_trajectories, roi_file_for, tessellate

    problem = _output_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        df = read_trajectories(args.file, pixel_size=args.pixel_size,
                               frame_interval=args.frame_interval, units=args.units,
                               all_tracks=args.all_tracks)
        if args.tessellation_file and Path(args.tessellation_file).exists():
            tess = load_tessellation(args.tessellation_file)
        else:
            bounds = None
            if args.keep_outliers:
                xy = df[["x", "y"]].to_numpy()
                bounds = np.r_[xy.min(axis=0), xy.max(axis=0)]
            tess = tessellate(df, args.tessellation, cell_size=args.cell_size,
                              points_per_cell=args.points_per_cell, bounds=bounds)
        if args.save_tessellation:
            tess.save(args.save_tessellation)
        meta: dict[str, Any] = {"source": str(args.file)}
        if args.roi_index is not None or args.roi_file:
            roi_file = args.roi_file or roi_file_for(args.file)
            df = crop(df, roi_file, index=args.roi_index)
            meta.update(roi_file=str(roi_file), roi=args.roi_index)
        maps = infer(df, tess, mode=args.mode, sigma=args.sigma,
                     diffusivity_prior=args.diffusivity_prior,
                     potential_prior=args.potential_prior, min_count=args.min_count,
                     jeffreys_prior=args.jeffreys_prior, metadata=meta)
    except (OSError, ValueError, IndexError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output)
    try:
        if out.suffix.lower() == ".npz":
            maps.save(out)
        else:
            maps.to_csv(out)
        if args.plot:
            _save_plot(maps, _PLOT_VARIABLE[args.mode], args.plot, tess)
    except OSError as exc:
        print(f"error: cannot write the output: {exc}", file=sys.stderr)
        return 2
    d = maps.variables["diffusivity"]
    med = float(np.nanmedian(d)) if np.isfinite(d).any() else float("nan")
    print(f"{args.file}: {maps.params['n_translocations']} translocations, {maps.n_cells} cells "
          f"({int(maps.masked.sum())} masked), median D = {med:.4g} µm²/s, "
          f"{maps.params['runtime']:.2f} s -> {out}")
    return 0


#: Output formats of ``infer -o``, by suffix.
OUTPUT_SUFFIXES = (".csv", ".npz")


def _roi_index(text: str) -> int:
    """``--roi-index``: a ROI index, 0 or more (no Python-style negative index)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"{value} is negative; ROI indices start at 0 (the first ROI of the ROI file)")
    return value


def _output_problem(args: argparse.Namespace) -> str | None:
    """Why the output files of ``infer`` cannot be written (checked before any work), or None."""
    out = Path(args.output)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        return (f"-o {out}: unknown output format {out.suffix or '(no suffix)'!r}; supported: "
                f"{', '.join(OUTPUT_SUFFIXES)}")
    for option, value in (("-o", args.output), ("--plot", args.plot),
                          ("--save-tessellation", args.save_tessellation)):
        if value is None:
            continue
        parent = Path(value).parent
        if not parent.is_dir():
            return f"{option} {value}: the directory {parent} does not exist (create it first)"
    return None


def _save_plot(maps: Any, variable: str, path: str | PathLike[str], tess: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = maps.plot(variable, tessellation=tess)
    ax.figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(ax.figure)


def demo_analysis(out_dir: str | PathLike[str]) -> str:
    """Simulate a D gradient, infer its map, write ``demo-d.csv`` and ``demo-d.png``.

    Parameters
    ----------
    out_dir : str or path-like
        Created if missing; receives ``sim0.rpt.txt`` (+ ROI and truth files), the maps and the plot.

    Returns
    -------
    str
        A printable summary: recovered vs true diffusivity (µm²/s) along x and the median
        relative error over the unmasked cells.
    """
    from . import infer, read_trajectories, tessellate
    from .fields import diffusivity_field
    from .simulate import write_simulation

    out = Path(out_dir)
    (path,) = write_simulation(out, n_files=1, n_rois=4, seed=0, diffusivity="gradient",
                               n_translocations=30_000)
    df = read_trajectories(path)
    tess = tessellate(df, "hexagon", points_per_cell=150)
    maps = infer(df, tess, mode="d", metadata={"source": str(path)})
    maps.to_csv(out / "demo-d.csv")
    _save_plot(maps, "diffusivity", out / "demo-d.png", tess)
    truth = diffusivity_field("gradient", np.array([0.0, 0.0, 10.0, 10.0]))
    c = maps.centers
    away = np.all((c > 1.0) & (c < 9.0), axis=1)  # reflecting walls slow the walk near them
    ok = ~maps.masked & away
    x = maps.centers[ok, 0]
    d_hat, d_true = maps.variables["diffusivity"][ok], truth(x, maps.centers[ok, 1])
    rel = np.median(np.abs(d_hat / d_true - 1))
    lines = [f"demo: {maps.params['n_translocations']} translocations, {maps.n_cells} cells "
             f"({int(maps.masked.sum())} masked), inferred in {maps.params['runtime']:.2f} s",
             "  cells >= 1 µm from the box walls; D in µm²/s",
             "  x band (µm)   true D   inferred D (medians)"]
    for lo in range(0, 10, 2):
        sel = (x >= lo) & (x < lo + 2)
        if sel.any():
            lines.append(f"  {lo:>2}-{lo + 2:<2}        {np.median(d_true[sel]):.3f}    "
                         f"{np.median(d_hat[sel]):.3f}")
    lines.append(f"  median relative error: {100 * rel:.1f}%   maps: {out / 'demo-d.csv'}   "
                 f"plot: {out / 'demo-d.png'}")
    return "\n".join(lines)
