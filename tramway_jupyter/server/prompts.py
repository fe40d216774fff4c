"""Login prompts asked in Lab: a connection that needs a one-time code or a passphrase while
the server works (the refresher, a REST action) waits for the answers of the Lab dialog.

:class:`PromptBoard` is the prompter the extension installs for the whole server process
(:func:`tramway_jupyter.backends.prompts.set_process_prompter`): called in a worker thread by the
connection holder's client, it posts the prompt and waits (at most ``timeout`` seconds) for
``POST /tramway/api/prompts/<id>``. The event loop never waits: the handlers only read and
write this board. Answers pass from the request to the waiting login in memory and are dropped
at once; nothing is logged or stored.

A dialog dismissed (or left unanswered) is not shown again to the refresher's background logins
for the same host during ``quiet`` seconds (the sidebar would otherwise ask again at every
refresh); a user's action (the Run form's Check, a Run, a retry) still asks at once.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..backends.holder import prompt_context
from ..exceptions import NotFoundError, PromptDismissed, RequestError
from .payloads import Prompt, PromptAnswered, PromptField, PromptList

#: Seconds a login waits for the dialog's answers before it fails (the next refresh asks again).
DEFAULT_TIMEOUT = 300.0
#: Seconds a dismissed or unanswered dialog is not shown again to background logins.
DEFAULT_QUIET = 600.0

_BACKGROUND = threading.local()
T = TypeVar("T")


@contextmanager
def background_logins() -> Iterator[None]:
    """Logins in this block (this thread) are the refresher's, not a user's action."""
    _BACKGROUND.on = True
    try:
        yield
    finally:
        _BACKGROUND.on = False


def in_background(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` with :func:`background_logins` (for ``run_in_executor``)."""
    with background_logins():
        return fn(*args)


@dataclass
class _Pending:
    prompt: Prompt
    done: threading.Event = field(default_factory=threading.Event)
    answers: list[str] | None = None


class PromptBoard:
    """The pending prompts of this server process and the logins waiting on them."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, quiet: float = DEFAULT_QUIET) -> None:
        self.timeout = timeout
        self.quiet = quiet
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._dismissed: dict[str, float] = {}  # where (else title) -> monotonic time

    def __call__(self, title: str, prompts: Sequence[tuple[str, bool]]) -> list[str]:
        """The prompter: post the prompt, wait for the dialog's answers."""
        ctx = prompt_context()
        where = str(ctx.get("where", ""))
        key = where or title
        if getattr(_BACKGROUND, "on", False):
            with self._lock:
                since = self._dismissed.get(key)
            if since is not None and time.monotonic() - since < self.quiet:
                raise PromptDismissed(
                    f"{key}: the login was dismissed in Lab less than {self.quiet / 60:.0f} min"
                    " ago; log in from the Run form's profile Check, or with"
                    f" `tramway-jupyter login {ctx.get('profile') or 'PROFILE'}`")
        p = _Pending(Prompt(id=uuid.uuid4().hex[:12], profile=str(ctx.get("profile", "")),
                            where=where, title=title,
                            prompts=[PromptField(text=t, echo=e) for t, e in prompts],
                            created=time.time()))
        with self._lock:
            self._pending[p.prompt.id] = p
        try:
            answered = p.done.wait(self.timeout)
            if not answered or p.answers is None:
                with self._lock:
                    self._dismissed[key] = time.monotonic()
                raise PromptDismissed("the login was dismissed in Lab" if answered
                                      else f"no answer in Lab within {self.timeout:.0f} s")
            with self._lock:
                self._dismissed.pop(key, None)
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
