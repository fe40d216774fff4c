"""REST handlers of the login prompts (see ``prompts.py``; conventions in ``handlers.py``).

- ``prompts``: the pending prompts (id, profile, host, title, the questions with their echo flag).
- POST ``prompts/<id>``: ``{"answers": [...]}`` or ``{"cancel": true}``.

They run on the event loop, without the thread pool: the board is in memory, and the pool's
threads may all be waiting for these very answers.
"""

from __future__ import annotations

from typing import cast

from tornado import web

from .handlers import TramwayHandler, api_errors
from .prompts import PromptBoard


class PromptHandler(TramwayHandler):
    @property
    def board(self) -> PromptBoard:
        return cast(PromptBoard, self.settings["tramway_prompts"])


class PromptsHandler(PromptHandler):
    @web.authenticated
    @api_errors
    async def get(self) -> None:
        self.reply(self.board.list())


class PromptAnswerHandler(PromptHandler):
    @web.authenticated
    @api_errors
    async def post(self, prompt_id: str) -> None:
        self.reply(self.board.answer(prompt_id, self.json_body()))


PROMPT_ROUTES: list[tuple[str, type[TramwayHandler]]] = [
    (r"prompts/?", PromptsHandler),
    (r"prompts/(?P<prompt_id>[0-9a-f]{1,32})/?", PromptAnswerHandler),
]
