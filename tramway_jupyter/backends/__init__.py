"""Backends launch the one worker entry point, poll, cancel and fetch; nothing else."""

from .base import Backend, get_backend, register_backend

__all__ = ["Backend", "get_backend", "register_backend"]
