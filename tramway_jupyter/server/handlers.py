"""REST handlers under ``/tramway/api/``: parse the request, call the service, write its payload
(``payloads.py``: one Struct per reply) as JSON.

Every method is ``@tornado.web.authenticated``; one decorator maps errors to HTTP codes
(validation 400, not found 404, conflict 409, anything else 500, logged once). The service runs
in a thread pool so that a slow sqlite read never blocks the server's event loop.

Routes (all GET unless said):

- ``batches``: every batch with its per-state counts (one aggregate query).
- ``batches/<id>``: the batch, its counts per state, per stage x state and of its jobs, and ONE
  page of its tasks and of its jobs, never every task. Parameters (``TaskQuery``): ``state``
  (repeatable or a comma list), ``stage``, ``sort`` (a key of ``TASK_SORT_KEYS``), ``order``
  (asc/desc), ``offset``, ``limit`` (default 100, at most 1000), ``tasks=0`` (counts only),
  ``jobs_offset``, ``jobs_limit`` (0: no job list). The reply says ``total`` (tasks matching
  the filter), ``offset`` and ``limit``. A bad value is a 400 that says what is accepted.
- ``batches/<id>/counts``: the batch and its counts only (the cheap poll).
- ``batches/<id>/jobs``: a page of jobs (``state``, ``offset``, ``limit``).
- ``batches/<id>/tasks/<task>`` (+ ``/log``, ``/notebook``): one task.
- POST ``batches/<id>/cancel``, ``batches/<id>/jobs/<j>/cancel``, ``batches/<id>/retry``.
- ``events?after=ID``: the batch events (ended, first failures) after ``ID`` and the latest id
  (``events.py``; in memory, noticed by the refresher).
- DELETE ``batches/<id>``; the Run form's routes are in ``run_handlers.py``.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any, TypeVar, cast

import msgspec
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from ..exceptions import BatchNotFoundError, ConflictError, NotFoundError, RequestError
from .events import EventLog
from .payloads import encode
from .requests import CancelRequest, EventQuery, JobQuery, TaskQuery, check_params
from .service import BatchService

T = TypeVar("T")
Method = Callable[..., Awaitable[None]]

NAMESPACE = "tramway/api"


def api_errors(method: Method) -> Method:
    """Map service errors to HTTP errors; log unexpected ones once, with their traceback."""

    @functools.wraps(method)
    async def wrapper(self: TramwayHandler, *args: Any, **kwargs: Any) -> None:
        try:
            await method(self, *args, **kwargs)
        except web.HTTPError:
            raise
        except (RequestError, ValueError) as exc:
            raise web.HTTPError(400, str(exc)) from None
        except (NotFoundError, BatchNotFoundError) as exc:
            raise web.HTTPError(404, str(exc)) from None
        except ConflictError as exc:
            raise web.HTTPError(409, str(exc)) from None
        except Exception as exc:
            self.log.exception("tramway: %s %s failed", self.request.method, self.request.path)
            raise web.HTTPError(500, f"{type(exc).__name__}: {exc}") from None

    return wrapper


class TramwayHandler(APIHandler):
    """Base: access to the service and its thread pool."""

    @property
    def service(self) -> BatchService:
        return cast(BatchService, self.settings["tramway_service"])

    @property
    def executor(self) -> Executor:
        return cast(Executor, self.settings["tramway_executor"])

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def json_body(self) -> Any:
        if not self.request.body:
            return None
        try:
            return json.loads(self.request.body)
        except json.JSONDecodeError as exc:
            raise RequestError(f"the body is not valid JSON: {exc}") from None

    def query_args(self) -> dict[str, list[str]]:
        return {name: self.get_query_arguments(name) for name in self.request.query_arguments}

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """The JSON error with its message as raised (``log_message``, which jupyter_server
        sends, has every ``%`` doubled when the error has no arguments)."""
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        if not isinstance(exc, web.HTTPError) or not exc.get_message():
            super().write_error(status_code, **kwargs)
            return
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": exc.get_message(), "reason": exc.reason}))

    def reply(self, payload: msgspec.Struct, status: int = 200) -> None:
        self.set_status(status)
        self.finish(encode(payload))


class BatchesHandler(TramwayHandler):
    @web.authenticated
    @api_errors
    async def get(self) -> None:
        self.reply(await self.call(self.service.list_batches))


class BatchHandler(TramwayHandler):
    """The batch, its counts and ONE page of its tasks (see ``TaskQuery`` for the parameters)."""

    @web.authenticated
    @api_errors
    async def get(self, batch_id: str) -> None:
        query = TaskQuery.parse(self.query_args())
        self.reply(await self.call(self.service.batch, batch_id, query))

    @web.authenticated
    @api_errors
    async def delete(self, batch_id: str) -> None:
        """Cancel what still runs and hide the batch from listings."""
        self.reply(await self.call(self.service.delete, batch_id))


class BatchCountsHandler(TramwayHandler):
    """The batch and its counts, no task: the cheap poll."""

    @web.authenticated
    @api_errors
    async def get(self, batch_id: str) -> None:
        check_params(self.query_args(), ())
        self.reply(await self.call(self.service.counts, batch_id))


class JobsHandler(TramwayHandler):
    @web.authenticated
    @api_errors
    async def get(self, batch_id: str) -> None:
        query = JobQuery.parse(self.query_args())
        self.reply(await self.call(self.service.jobs, batch_id, query))


class TaskHandler(TramwayHandler):
    @web.authenticated
    @api_errors
    async def get(self, batch_id: str, task_id: str) -> None:
        self.reply(await self.call(self.service.task, batch_id, task_id))


class TaskLogHandler(TramwayHandler):
    @web.authenticated
    @api_errors
    async def get(self, batch_id: str, task_id: str) -> None:
        self.reply(await self.call(self.service.task_log, batch_id, task_id))


class TaskNotebookHandler(TramwayHandler):
    @web.authenticated
    @api_errors
    async def get(self, batch_id: str, task_id: str) -> None:
        self.reply(await self.call(self.service.notebook, batch_id, task_id))


class CancelHandler(TramwayHandler):
    @web.authenticated
    @api_errors
    async def post(self, batch_id: str) -> None:
        req = CancelRequest.parse(self.json_body())
        self.reply(await self.call(self.service.cancel, batch_id, req.jobs))


class JobCancelHandler(TramwayHandler):
    @web.authenticated
    @api_errors
    async def post(self, batch_id: str, job_index: str) -> None:
        self.reply(await self.call(self.service.cancel, batch_id, [int(job_index)]))


class RetryHandler(TramwayHandler):
    @web.authenticated
    @api_errors
    async def post(self, batch_id: str) -> None:
        self.reply(await self.call(self.service.retry, batch_id))


class EventsHandler(TramwayHandler):
    """The batch events after ``?after=ID`` (no store read: they are in memory)."""

    @web.authenticated
    @api_errors
    async def get(self) -> None:
        query = EventQuery.parse(self.query_args())
        self.reply(cast(EventLog, self.settings["tramway_events"]).after(query.after))


_ID = r"(?P<{}>[^/]+)"
_B = _ID.format("batch_id")
_T = _ID.format("task_id")

ROUTES: list[tuple[str, type[TramwayHandler]]] = [
    (r"batches/?", BatchesHandler),
    (rf"batches/{_B}/?", BatchHandler),
    (rf"batches/{_B}/counts/?", BatchCountsHandler),
    (rf"batches/{_B}/jobs/?", JobsHandler),
    (rf"batches/{_B}/tasks/{_T}/?", TaskHandler),
    (rf"batches/{_B}/tasks/{_T}/log/?", TaskLogHandler),
    (rf"batches/{_B}/tasks/{_T}/notebook/?", TaskNotebookHandler),
    (rf"batches/{_B}/cancel/?", CancelHandler),
    (rf"batches/{_B}/jobs/(?P<job_index>[0-9]+)/cancel/?", JobCancelHandler),
    (rf"batches/{_B}/retry/?", RetryHandler),
    (r"events/?", EventsHandler),
]


def route_table(base_url: str) -> list[tuple[str, type[TramwayHandler]]]:
    from .prompt_handlers import PROMPT_ROUTES
    from .run_handlers import RUN_ROUTES  # they subclass TramwayHandler

    return [(url_path_join(base_url, NAMESPACE, pattern) + "$", h)
            for pattern, h in ROUTES + RUN_ROUTES + PROMPT_ROUTES]
