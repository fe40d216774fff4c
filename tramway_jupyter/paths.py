"""Where tramway-jupyter keeps its per-user files."""

from __future__ import annotations

import os
from pathlib import Path


def data_home() -> Path:
    """Per-user data directory: ``$TRAMWAY_JUPYTER_HOME`` or ``~/.local/share/tramway-jupyter``."""
    env = os.environ.get("TRAMWAY_JUPYTER_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "tramway-jupyter"


def default_store_path() -> Path:
    """The job store: ``$TRAMWAY_JUPYTER_STORE`` or ``<data_home>/store.sqlite``."""
    env = os.environ.get("TRAMWAY_JUPYTER_STORE")
    return Path(env).expanduser() if env else data_home() / "store.sqlite"


def default_batches_root() -> Path:
    """Where batch directories are created: ``$TRAMWAY_JUPYTER_BATCHES`` or ``<data_home>/batches``."""
    env = os.environ.get("TRAMWAY_JUPYTER_BATCHES")
    return Path(env).expanduser() if env else data_home() / "batches"


def config_home() -> Path:
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "tramway-jupyter"


def default_profiles_path() -> Path:
    """Profiles file: ``$TRAMWAY_JUPYTER_PROFILES`` or ``~/.config/tramway-jupyter/profiles.toml``."""
    env = os.environ.get("TRAMWAY_JUPYTER_PROFILES")
    return Path(env).expanduser() if env else config_home() / "profiles.toml"
