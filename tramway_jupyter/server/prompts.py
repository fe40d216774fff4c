"""Login prompts asked in Lab: a connection that needs a one-time code or a passphrase while
the server works (the refresher, a REST action) waits for the answers of the Lab dialog.

:class:`PromptBoard` is the prompter the extension installs for the whole server process
(:func:`tramway_jupyter.backends.prompts.set_process_prompter`): called in a worker thread by the
connection holder's client, it posts the prompt and waits (at most ``timeout`` seconds) for
``POST /tramway/api/prompts/<id>``. The event loop never waits: the handlers only read and
write this board. Answers pass from the request to the waiting login in memory and are dropped
at once; nothing is logged or stored.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..backends.holder import prompt_context
from ..exceptions import NotFoundError, PromptDismissed, RequestError
from .payloads import Prompt, PromptAnswered, PromptField, PromptList

#: Seconds a login waits for the dialog's answers before it fails (the next refresh asks again).
DEFAULT_TIMEOUT = 300.0


@dataclass
class _Pending:
    prompt: Prompt
    done: threading.Event = field(default_factory=threading.Event)
    answers: list[str] | None = None


class PromptBoard:
    """The pending prompts of this server process and the logins waiting on them."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}

    def __call__(self, title: str, prompts: Sequence[tuple[str, bool]]) -> list[str]:
        """The prompter: post the prompt, wait for the dialog's answers."""
        ctx = prompt_context()
        p = _Pending(Prompt(id=uuid.uuid4().hex[:12], profile=str(ctx.get("profile", "")),
                            where=str(ctx.get("where", "")), title=title,
                            prompts=[PromptField(text=t, echo=e) for t, e in prompts],
                            created=time.time()))
        with self._lock:
            self._pending[p.prompt.id] = p
        try:
            if not p.done.wait(self.timeout):
                raise PromptDismissed(f"no answer in Lab within {self.timeout:.0f} s")
            if p.answers is None:
                raise PromptDismissed("the login was dismissed in Lab")
            answers, p.answers = p.answers, None
            return answers
        finally:
            with self._lock:
                self._pending.pop(p.prompt.id, None)

    def list(self) -> PromptList:
        with self._lock:
            return PromptList(prompts=[p.prompt for p in self._pending.values()])

    def answer(self, prompt_id: str, body: object) -> PromptAnswered:
        """Hand ``{"answers": [...]}`` (or ``{"cancel": true}``) to the waiting login."""
        if not isinstance(body, dict):
            raise RequestError('the body must be {"answers": [...]} or {"cancel": true}')
        with self._lock:
            p = self._pending.get(prompt_id)
        if p is None:
            raise NotFoundError(f"no pending prompt {prompt_id!r} (answered, or timed out)")
        if body.get("cancel"):
            p.answers = None
            p.done.set()
            return PromptAnswered(id=prompt_id, ok=False)
        answers = body.get("answers")
        if (not isinstance(answers, list) or len(answers) != len(p.prompt.prompts)
                or not all(isinstance(a, str) for a in answers)):
            raise RequestError(f"answers must be a list of {len(p.prompt.prompts)} string(s)")
        p.answers = list(answers)
        p.done.set()
        return PromptAnswered(id=prompt_id, ok=True)
