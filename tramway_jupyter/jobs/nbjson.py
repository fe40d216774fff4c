"""Minimal notebook (nbformat 4) building blocks on plain dicts.

The worker avoids importing ``nbformat`` itself: its JSON-schema validator costs about a
second of import time, paid by every job; what the worker needs is a handful of dict shapes.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any, cast


def read_notebook(path: str | os.PathLike[str]) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        nb = json.load(fh)
    if nb.get("nbformat") != 4:
        raise ValueError(f"{path}: only nbformat 4 notebooks are supported")
    return cast(dict[str, Any], nb)


def _source(text: str | list[str]) -> str:
    return "".join(text) if isinstance(text, list) else text


def cell_source(cell: dict[str, Any]) -> str:
    return _source(cell.get("source", ""))


def new_code_cell(source: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"cell_type": "code", "id": uuid.uuid4().hex[:8], "metadata": metadata or {},
            "execution_count": None, "outputs": [], "source": source}


def new_markdown_cell(source: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"cell_type": "markdown", "id": uuid.uuid4().hex[:8], "metadata": metadata or {},
            "source": source}


def output_from_msg(msg: dict[str, Any]) -> dict[str, Any]:
    """An nbformat output from a kernel iopub message (stream, display/result data, error)."""
    mtype = msg["msg_type"]
    content = msg["content"]
    if mtype == "stream":
        return {"output_type": "stream", "name": content["name"], "text": content["text"]}
    if mtype == "display_data":
        return {"output_type": "display_data", "data": content.get("data", {}),
                "metadata": content.get("metadata", {})}
    if mtype == "execute_result":
        return {"output_type": "execute_result", "data": content.get("data", {}),
                "metadata": content.get("metadata", {}),
                "execution_count": content.get("execution_count")}
    if mtype == "error":
        return {"output_type": "error", "ename": content.get("ename", ""),
                "evalue": content.get("evalue", ""), "traceback": content.get("traceback", [])}
    raise ValueError(f"not an output message: {mtype}")
