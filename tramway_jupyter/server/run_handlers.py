"""REST handlers of the sidebar's Run form and batch management (see ``handlers.py`` for the
conventions: authenticated, errors mapped by ``api_errors``, blocking work in the thread pool).

Routes:

- ``profiles`` (``?check=NAME``: with that profile's check, which may take seconds).
- ``glob?pattern=``: how many data files a pattern matches (relative to the server root).
- ``notebook-pipeline?path=``: a notebook's ``%%tramway`` cells.
- POST ``run``: start a batch (``RunRequest``), or with ``dry_run`` return its estimate.
- ``batches/<id>/summary``: durations histogram and failures grouped by message.
- ``batches/<id>/download?format=json|csv``: the results as a file, streamed.
"""

from __future__ import annotations

import asyncio
from typing import cast

from tornado import web

from . import downloads
from .handlers import TramwayHandler, api_errors
from .requests import RunRequest, check_id, check_params, one_arg
from .runs import RunService


class RunFormHandler(TramwayHandler):
    @property
    def runs(self) -> RunService:
        return cast(RunService, self.settings["tramway_runs"])


class ProfilesHandler(RunFormHandler):
    @web.authenticated
    @api_errors
    async def get(self) -> None:
        args = self.query_args()
        check_params(args, ("check",))
        self.reply(await self.call(self.runs.profiles, one_arg(args, "check")))


class GlobHandler(RunFormHandler):
    @web.authenticated
    @api_errors
    async def get(self) -> None:
        args = self.query_args()
        check_params(args, ("pattern",))
        self.reply(await self.call(self.runs.glob, one_arg(args, "pattern", required=True)))


class NotebookPipelineHandler(RunFormHandler):
    @web.authenticated
    @api_errors
    async def get(self) -> None:
        args = self.query_args()
        check_params(args, ("path",))
        path = one_arg(args, "path", required=True)
        self.reply(await self.call(self.runs.notebook_pipeline, path))


class RunHandler(RunFormHandler):
    @web.authenticated
    @api_errors
    async def post(self) -> None:
        req = RunRequest.parse(self.json_body())
        self.reply(await self.call(self.runs.run, req), 200 if req.dry_run else 201)


class SummaryHandler(TramwayHandler):
    @web.authenticated
    @api_errors
    async def get(self, batch_id: str) -> None:
        check_params(self.query_args(), ())
        self.reply(await self.call(self.service.summary, batch_id))


class DownloadHandler(TramwayHandler):
    """The results as a file (``format=json``, the default, or ``csv``), written by a worker
    thread and streamed chunk by chunk."""

    @web.authenticated
    @api_errors
    async def get(self, batch_id: str) -> None:
        args = self.query_args()
        check_params(args, ("format",))
        fmt = one_arg(args, "format") or "json"
        if fmt not in downloads.FORMATS:
            raise web.HTTPError(400, f"'format' must be json or csv, got {fmt!r}")
        results = await self.call(self.service.results, check_id("batch", batch_id))
        name = f"tramway-{results.batch_id}.{fmt}"
        self.set_header("Content-Type",
                        "application/json" if fmt == "json" else "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(downloads.MAX_QUEUED_CHUNKS)
        sink = downloads.ChunkSink(loop, queue)

        def produce() -> None:
            try:
                downloads.write(results, fmt, sink)
            finally:
                try:
                    sink.finish()  # the end, even after an error: the loop stops waiting
                except downloads._Aborted:
                    pass

        done = loop.run_in_executor(self.executor, produce)
        try:
            while (chunk := await queue.get()) is not None:
                self.write(chunk)
                await self.flush()
            await done
        finally:
            sink.closed.set()
            while not done.done():  # let a blocked writer see it is closed
                while not queue.empty():
                    queue.get_nowait()
                await asyncio.sleep(0.05)
        self.finish()


_B = r"(?P<batch_id>[^/]+)"

RUN_ROUTES: list[tuple[str, type[TramwayHandler]]] = [
    (r"profiles/?", ProfilesHandler),
    (r"glob/?", GlobHandler),
    (r"notebook-pipeline/?", NotebookPipelineHandler),
    (r"run/?", RunHandler),
    (rf"batches/{_B}/summary/?", SummaryHandler),
    (rf"batches/{_B}/download/?", DownloadHandler),
]
