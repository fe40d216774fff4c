"""Compare builder output with files in tests/golden/ (UPDATE_GOLDEN=1 rewrites them)."""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[2] / "golden"


def read(name: str) -> str:
    return (GOLDEN / name).read_text()


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"tests/golden/{name} is missing (UPDATE_GOLDEN=1 to create it)"
    assert text == path.read_text(), f"{name} differs from tests/golden/{name} (UPDATE_GOLDEN=1 to accept)"
