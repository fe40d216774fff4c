"""Template notebooks (one per stage), built with nbformat, and pipelines read back from notebooks.

A template holds: a cell tagged ``parameters`` (papermill's convention) with the defaults, the
setup cells, then the stage's cells. papermill injects each task's parameters after it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat

from ..exceptions import CaptureError, TemplateError
from .parameters import STANDARD_PARAMETERS
from .pipeline import Pipeline

__all__ = ["STANDARD_PARAMETERS", "build_template", "pipeline_from_notebook", "write_template"]

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def _parameters_source(pipeline: Pipeline) -> str:
    user = pipeline.parameters.source if pipeline.parameters else ""
    defaults = "\n".join(f"{k} = {v!r}" for k, v in STANDARD_PARAMETERS.items())
    header = "# defaults for every task (papermill injects the task's values below)\n"
    return header + defaults + ("\n" + user if user else "")


def build_template(pipeline: Pipeline, stage: str, *, notebook: str | None = None) -> Any:
    """The template notebook of ``stage``."""
    st = pipeline.stage(stage)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["tramway"] = {"stage": st.name, "per": st.per, "notebook": notebook,
                              "pipeline": pipeline.digest()}
    origin = f" of {os.path.basename(notebook)}" if notebook else ""
    nb.cells.append(nbformat.v4.new_markdown_cell(
        f"# tramway-jupyter stage `{st.name}` (per {st.per}){origin}\n"
        "Generated from the notebook's `%%tramway` cells; one copy runs per task."))
    nb.cells.append(nbformat.v4.new_code_cell(_parameters_source(pipeline),
                                              metadata={"tags": ["parameters"]}))
    for c in pipeline.setup:
        nb.cells.append(nbformat.v4.new_code_cell(c.source, metadata={"tags": ["tramway-setup"]}))
    nb.cells.append(nbformat.v4.new_code_cell(st.source, metadata={"tags": ["tramway-stage"]}))
    for c in nb.cells:  # papermill reads metadata.tags of every cell
        c.metadata.setdefault("tags", [])
    return nb


def write_template(nb: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:  # pragma: no cover - we build it ourselves
        raise TemplateError(f"template {path} is not a valid notebook: {exc}") from exc
    nbformat.write(nb, str(path))


def pipeline_from_notebook(path: str | os.PathLike[str]) -> Pipeline:
    """Read the pipeline of a notebook: its code cells that start with ``%%tramway``."""
    try:
        nb = nbformat.read(str(path), as_version=4)
    except FileNotFoundError:
        raise CaptureError(f"notebook {path} does not exist") from None
    except Exception as exc:
        raise CaptureError(f"cannot read notebook {path}: {exc}") from exc
    pipe = Pipeline()
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        src = cell.source.lstrip()
        if not src.startswith("%%tramway"):
            continue
        first, _, body = src.partition("\n")
        try:
            pipe.capture(first[len("%%tramway"):].strip(), body)
        except CaptureError as exc:
            raise CaptureError(f"{path}, cell {i}: {exc}") from None
    if not pipe.stages:
        raise CaptureError(f"{path}: no `%%tramway stage NAME` cell found; nothing to run")
    return pipe
