"""Numerical core of tramway-jupyter: TRamWAy-compatible SPT file formats, tessellations and
Bayesian inference of diffusivity, drift, force and potential maps (numpy/scipy only).

Typical flow::

    df = read_trajectories("X.rpt.txt")
    tess = tessellate(df, "hexagon")            # per file, saved with tess.save(...)
    roi = crop(df, roi_file_for("X.rpt.txt"), index=0)
    maps = infer(roi, tess, mode="dv")
    maps.to_csv("X-roi000-dv.csv")

Time segments (one inference per window)::

    for t_start, t_end in time_windows(*time_span(roi), duration=10.0):
        maps = infer(crop_time(roi, t_start, t_end), tess, mode="d")
"""

from .borders import border_cells
from .csv_tracks import read_tracks_csv, write_tracks_csv
from .infer import infer
from .io import read_trajectories, write_trajectories
from .maps import Maps, load_maps
from .msd import MSDFit, fit_msd, msd, plot_msd
from .plot import plot_maps
from .plot_time import animate_maps, plot_map_series, plot_over_time
from .rois import RoiShape, crop, read_rois, roi_file_for, roi_names, write_rois
from .segments import check_windows, crop_time, time_span, time_windows
from .simulate import Simulation, simulate, write_simulation
from .tessellate import Tessellation, load_tessellation, tessellate
from .trackmate import read_trackmate_xml, write_trackmate_xml
from .translocations import translocations

__all__ = [
    "read_trajectories", "write_trajectories",
    "read_trackmate_xml", "write_trackmate_xml", "read_tracks_csv", "write_tracks_csv",
    "read_rois", "write_rois", "crop", "roi_file_for",
    "roi_names", "RoiShape",
    "translocations",
    "simulate", "write_simulation", "Simulation",
    "tessellate", "Tessellation", "load_tessellation",
    "infer", "Maps", "load_maps", "plot_maps",
    "time_windows", "check_windows", "time_span", "crop_time",
    "plot_over_time", "plot_map_series", "animate_maps",
    "msd", "fit_msd", "MSDFit", "plot_msd", "border_cells",
]
