"""Capture: the pipeline cells of a notebook and the template notebooks built from them."""

from .pipeline import Cell, Pipeline, parse_magic_line
from .template import build_template

__all__ = ["Cell", "Pipeline", "build_template", "parse_magic_line"]
