"""Capture: the pipeline cells of a notebook and the template notebooks built from them.

The names below are imported on first use: the planner and the backends need the pipeline model
only, not nbformat (which the templates need, and which takes a second or more to import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .pipeline import Cell, Pipeline, parse_magic_line
    from .template import build_template

__all__ = ["Cell", "Pipeline", "build_template", "parse_magic_line"]

_WHERE = {"Cell": "pipeline", "Pipeline": "pipeline", "parse_magic_line": "pipeline",
          "build_template": "template"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        from importlib import import_module

        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
