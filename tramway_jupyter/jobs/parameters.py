"""papermill's Python parameter translation, without importing papermill in every worker.

``papermill`` imports ``nbformat`` and its JSON-schema validator (about a second), a cost each
job would pay at start-up. This module reproduces ``papermill.translators.PythonTranslator``
(``translate_parameters("python3", "python", params)``, without black formatting) and the unit
tests check it against papermill's own output.
"""

from __future__ import annotations

import math
from typing import Any


def _escaped_str(val: str) -> str:
    val = val.encode("unicode_escape").decode("utf-8").replace('"', r"\"")
    return f'"{val}"'


def translate(val: Any) -> str:
    """Python source for ``val``, as papermill writes it."""
    if val is None or isinstance(val, bool):
        return f"{val}"
    if isinstance(val, int):
        return f"{val}"
    if isinstance(val, float):
        if math.isfinite(val):
            return f"{val}"
        if math.isnan(val):
            return "float('nan')"
        return "float('-inf')" if val < 0 else "float('inf')"
    if isinstance(val, str):
        return _escaped_str(val)
    if isinstance(val, dict):
        return "{" + ", ".join(f"{_escaped_str(str(k))}: {translate(v)}" for k, v in val.items()) + "}"
    if isinstance(val, (list, tuple)):
        return "[" + ", ".join(translate(v) for v in val) + "]"
    return _escaped_str(str(val))


def codify(parameters: dict[str, Any], comment: str = "Parameters") -> str:
    """The source of papermill's ``injected-parameters`` cell."""
    content = f"# {comment}".strip() + "\n"
    for name, val in parameters.items():
        content += f"{name} = {translate(val)}\n"
    return content
