"""ipywidgets for notebooks: a batch's live progress, its results as they come, a profile picker
and a results view.

``%tramway run`` displays :class:`ProgressWidget`. The widgets reach batches, results and profiles
through :mod:`tramway_jupyter.api` only.
"""

from __future__ import annotations

try:
    import ipywidgets  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the [lab] extra
    from ..exceptions import MissingDependencyError

    raise MissingDependencyError(
        "tramway_jupyter.widgets needs ipywidgets: pip install 'tramway-jupyter[lab]'"
    ) from exc

from .live_results import LiveResults
from .profile_picker import ProfilePicker
from .progress import (
    ProgressWidget,
    counts_text,
    estimate_remaining,
    format_seconds,
    segments_html,
)
from .results_view import ResultsView

__all__ = [
    "LiveResults",
    "ProfilePicker",
    "ProgressWidget",
    "ResultsView",
    "counts_text",
    "estimate_remaining",
    "format_seconds",
    "segments_html",
]
