"""The jupyter_server extension's settings and loader (see the package docstring).

Enabled on install by ``jupyter-config/server-config/tramway_jupyter.json``. Configurable with
``c.TramwayServer.store_path`` (default: the per-user store, or ``$TRAMWAY_JUPYTER_STORE``) and
``c.TramwayServer.refresh_interval`` (seconds between background polls of active batches; 0 turns
the poller off, and with it the batch events behind notifications).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tornado.ioloop import IOLoop
from traitlets import Any as AnyTrait
from traitlets import Float, Int, Unicode
from traitlets.config import Configurable
from traitlets.utils.importstring import import_item

from ..backends.prompts import set_process_prompter
from ..jobs.store import Store
from .events import BatchWatcher, EventLog
from .handlers import route_table
from .prompts import PromptBoard
from .refresher import BatchRefresher
from .runs import RunService
from .service import BatchService


class TramwayServer(Configurable):
    """Settings of the tramway-jupyter server extension."""

    store_path = Unicode(
        "",
        config=True,
        help="The job store (sqlite). Empty: $TRAMWAY_JUPYTER_STORE or the per-user default.",
    )
    refresh_interval = Float(
        5.0, config=True, help="Seconds between background refreshes of active batches (0: off)."
    )
    max_refresh_interval = Float(
        60.0, config=True, help="Back-off cap (seconds) for a batch whose refresh keeps failing."
    )
    threads = Int(4, config=True, help="Threads serving store reads and batch actions.")
    batch_factory = AnyTrait(
        "tramway_jupyter.server.service.api_batch_factory",
        config=True,
        help="A callable (batch_id, store) -> Batch, or its dotted name, for cancel/retry/refresh.",
    )


def load(serverapp: Any) -> None:
    """Start the extension in ``serverapp``: the service, the routes, the refresher."""
    cfg = TramwayServer(parent=serverapp)
    store = Store(cfg.store_path or None)
    factory = cfg.batch_factory
    if isinstance(factory, str):
        factory = import_item(factory)
    service = BatchService(store, serverapp.root_dir, factory)
    runs = RunService(store, serverapp.root_dir)
    executor = ThreadPoolExecutor(max_workers=cfg.threads, thread_name_prefix="tramway")
    web_app = serverapp.web_app
    events = EventLog()
    prompts = PromptBoard()  # logins needing a code or a passphrase ask Lab's dialog
    set_process_prompter(prompts)
    web_app.settings.update(tramway_service=service, tramway_runs=runs,
                            tramway_executor=executor, tramway_events=events,
                            tramway_prompts=prompts)
    web_app.add_handlers(".*$", route_table(web_app.settings["base_url"]))
    if cfg.refresh_interval > 0:
        refresher = BatchRefresher(
            service,
            executor,
            interval=cfg.refresh_interval,
            max_interval=cfg.max_refresh_interval,
            log=serverapp.log,
            watcher=BatchWatcher(events),
        )
        web_app.settings["tramway_refresher"] = refresher
        IOLoop.current().add_callback(refresher.start)
    serverapp.log.info("tramway-jupyter server extension loaded (store %s)", store.path)
