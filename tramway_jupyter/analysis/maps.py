"""Inferred maps: per-cell values, their table/CSV/NPZ forms."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Maps", "load_maps", "VARIABLES", "UNITS"]

ESTIMATES = ("diffusivity", "drift_x", "drift_y", "force_x", "force_y", "potential")
#: Every column a map may have, in table order: each estimate followed by its credible
#: interval (``infer(..., uncertainty=True)``).
VARIABLES = tuple(f"{name}{suffix}" for name in ESTIMATES for suffix in ("", "_low", "_high"))
UNITS = {
    "diffusivity": "µm²/s",
    "drift_x": "µm/s", "drift_y": "µm/s", "drift": "µm/s",
    "force_x": "kT/µm", "force_y": "kT/µm", "force": "kT/µm",
    "potential": "kT",
}
UNITS.update({f"{name}{suffix}": UNITS[name] for name in ESTIMATES
              for suffix in ("_low", "_high")})
UNITS.update({f"{name}_relative_uncertainty": "1" for name in ESTIMATES})


@dataclass
class Maps:
    """Per-cell maps inferred from translocations.

    Attributes
    ----------
    mode : str
        ``"d"``, ``"dd"``, ``"df"`` or ``"dv"``.
    centers : numpy.ndarray, shape (m, 2)
        Centres (µm) of the cells that hold at least one translocation.
    counts : numpy.ndarray of int, shape (m,)
        Translocations per cell.
    variables : dict of str to numpy.ndarray, shape (m,)
        ``diffusivity`` (µm²/s) and, depending on the mode, ``drift_x``, ``drift_y`` (µm/s),
        ``force_x``, ``force_y`` (kT/µm), ``potential`` (kT). NaN where masked. With
        ``infer(..., uncertainty=True)`` each has ``<name>_low`` and ``<name>_high``, the
        bounds of its credible interval (level in ``params["credibility"]``).
    masked : numpy.ndarray of bool, shape (m,)
        Cells without an estimate (fewer than ``min_count`` translocations, or isolated in ``dv``).
    params : dict
        Inference parameters and provenance: sigma, priors, tessellation, source, roi, runtime.
    cells : numpy.ndarray of int, shape (m,)
        Index of each row's cell in the tessellation.
    """

    mode: str
    centers: np.ndarray
    counts: np.ndarray
    variables: dict[str, np.ndarray]
    masked: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    cells: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.cells is None:
            self.cells = np.arange(len(self.counts))

    @property
    def n_cells(self) -> int:
        """Number of rows (cells with data)."""
        return int(len(self.counts))

    def __getitem__(self, name: str) -> np.ndarray:
        return self.variables[name]

    def to_dataframe(self) -> pd.DataFrame:
        """One row per cell: ``cell, x, y, count`` then the variables in canonical order."""
        data: dict[str, Any] = {
            "cell": np.asarray(self.cells, dtype=np.int64),
            "x": self.centers[:, 0],
            "y": self.centers[:, 1],
            "count": np.asarray(self.counts, dtype=np.int64),
        }
        for name in VARIABLES:
            if name in self.variables:
                data[name] = self.variables[name]
        return pd.DataFrame(data)

    def to_csv(self, path: str | PathLike[str]) -> Path:
        """Write :meth:`to_dataframe` as CSV with a header (masked cells are empty/NaN)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        self.to_dataframe().to_csv(tmp, index=False, float_format="%.8g")
        tmp.replace(path)
        return path

    def save(self, path: str | PathLike[str]) -> Path:
        """Save everything, params included (as JSON), to a ``.npz`` file."""
        path = Path(path)
        arrays = {f"var_{k}": v for k, v in self.variables.items()}
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh, mode=np.array(self.mode), centers=self.centers, counts=self.counts,
                masked=self.masked, cells=self.cells,
                params=np.array(json.dumps(self.params, default=_json_default)), **arrays,
            )
        tmp.replace(path)
        return path

    def plot(self, variable: str = "diffusivity", ax: Any = None, tessellation: Any = None,
             **kwargs: Any) -> Any:
        """Draw one variable; see :func:`tramway_jupyter.analysis.plot.plot_map`."""
        from .plot import plot_map

        return plot_map(self, variable, ax=ax, tessellation=tessellation, **kwargs)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def load_maps(path: str | PathLike[str]) -> Maps:
    """Load maps written by :meth:`Maps.to_csv` (``.csv``) or :meth:`Maps.save` (``.npz``).

    Raises
    ------
    ValueError
        For another suffix or a CSV lacking the ``cell, x, y, count, diffusivity`` columns.
    """
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            variables = {k[4:]: z[k] for k in z.files if k.startswith("var_")}
            return Maps(
                mode=str(z["mode"]), centers=z["centers"], counts=z["counts"],
                variables=variables, masked=z["masked"], params=json.loads(str(z["params"])),
                cells=z["cells"],
            )
    if path.suffix != ".csv":
        raise ValueError(f"{path}: maps must be a .csv or .npz file")
    df = pd.read_csv(path)
    need = ["cell", "x", "y", "count", "diffusivity"]
    if any(c not in df.columns for c in need):
        raise ValueError(f"{path}: maps CSV needs columns {need}, found {list(df.columns)}")
    variables = {c: df[c].to_numpy(dtype=np.float64) for c in VARIABLES if c in df.columns}
    if "potential" in variables:
        mode = "dv"
    elif "force_x" in variables:
        mode = "df"
    elif "drift_x" in variables:
        mode = "dd"
    else:
        mode = "d"
    return Maps(
        mode=mode, centers=df[["x", "y"]].to_numpy(dtype=np.float64),
        counts=df["count"].to_numpy(dtype=np.int64), variables=variables,
        masked=np.isnan(variables["diffusivity"]), params={"source_file": str(path)},
        cells=df["cell"].to_numpy(dtype=np.int64),
    )
