"""The package version: the installed distribution's, which the build takes from
``labextension/package.json`` (hatch-nodejs-version), the one place it is written."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def _source_version() -> str:
    """The version in a source tree that was never installed: its package.json's."""
    try:
        pkg = Path(__file__).resolve().parent.parent / "labextension" / "package.json"
        return str(json.loads(pkg.read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return "0.0.0+unknown"


try:
    __version__ = version("tramway-jupyter")
except PackageNotFoundError:
    __version__ = _source_version()
