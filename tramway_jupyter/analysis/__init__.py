"""Numerical core of tramway-jupyter: TRamWAy-compatible SPT file formats, tessellations and
Bayesian inference of diffusivity, drift, force and potential maps (numpy/scipy only).

Typical flow::

    df = read_trajectories("X.rpt.txt")
    tess = tessellate(df, "hexagon")            # per file, saved with tess.save(...)
    roi = crop(df, roi_file_for("X.rpt.txt"), index=0)
    maps = infer(roi, tess, mode="dv")
    maps.to_csv("X-roi000-dv.csv")
"""

from .infer import infer
from .io import read_trajectories, write_trajectories
from .maps import Maps, load_maps
from .plot import plot_maps
from .rois import crop, read_rois, roi_file_for, write_rois
from .simulate import Simulation, simulate, write_simulation
from .tessellate import Tessellation, load_tessellation, tessellate
from .translocations import translocations

__all__ = [
    "read_trajectories", "write_trajectories",
    "read_rois", "write_rois", "crop", "roi_file_for",
    "translocations",
    "simulate", "write_simulation", "Simulation",
    "tessellate", "Tessellation", "load_tessellation",
    "infer", "Maps", "load_maps", "plot_maps",
]
