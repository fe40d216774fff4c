"""Backends launch the one worker entry point, poll, cancel and fetch; nothing else.

``Backend``, ``get_backend`` and ``register_backend`` (from :mod:`.base`) are imported on first
use, so that ``tramway-jupyter profiles`` and the other light commands do not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Backend, get_backend, register_backend

__all__ = ["Backend", "get_backend", "register_backend"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
