"""The jupyter_server extension: REST API under ``/tramway/api/`` for the JupyterLab sidebar.

Enabled on install by ``jupyter-config/server-config/tramway_jupyter.json``. Configurable with
``c.TramwayServer.store_path`` (default: the per-user store, or ``$TRAMWAY_JUPYTER_STORE``) and
``c.TramwayServer.refresh_interval`` (seconds between background polls of active batches; 0 turns
the poller off).

Importing this package is light (no tornado, no jupyter_server): the build imports
:mod:`.payloads` through :mod:`.schema` to write the sidebar's TypeScript types.
"""

from __future__ import annotations

from typing import Any


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from .extension import load

    load(serverapp)


# also loadable by module name alone ("tramway_jupyter.server")
def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "tramway_jupyter.server"}]
