"""One version for the Python package and the npm one: labextension/package.json's."""

from __future__ import annotations

import json
from pathlib import Path

import tramway_jupyter
from tramway_jupyter import _version

PACKAGE_JSON = Path(__file__).resolve().parents[2] / "labextension" / "package.json"


def test_the_python_version_is_package_jsons():
    npm = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))["version"]
    assert tramway_jupyter.__version__ == npm
    # an uninstalled source tree reads it from package.json too
    assert _version._source_version() == npm
