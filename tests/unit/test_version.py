"""One version for the Python package and the npm one: labextension/package.json's."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import tramway_jupyter

PACKAGE_JSON = Path(__file__).resolve().parents[2] / "labextension" / "package.json"


def test_the_python_version_is_package_jsons():
    npm = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))["version"]
    assert tramway_jupyter.__version__ == npm
    # a source tree that was never installed reads it from package.json too (the tests may run
    # against an installed copy: load the source tree's module itself)
    spec = importlib.util.spec_from_file_location(
        "source_version", PACKAGE_JSON.parents[1] / "tramway_jupyter" / "_version.py")
    assert spec is not None and spec.loader is not None
    source = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(source)
    assert source._source_version() == npm
