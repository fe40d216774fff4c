"""Asking the user for a secret (a key's passphrase, a password, a one-time code) where they are.

A :data:`Prompter` is a callable ``(title, [(prompt, echo), ...]) -> [answer, ...]``: one answer per
prompt, ``echo`` False for a secret. :func:`cli_prompter` asks on the controlling terminal (masked,
as ``getpass``), :func:`kernel_prompter` through the Jupyter kernel's stdin (the notebook's masked
input box), and :func:`default_prompter` picks the one that fits where the code runs, unless the
process installed its own (:func:`set_process_prompter`: the server extension's Lab dialog).
:func:`ask_here` is the prompter that makes that choice when it is asked, not when it is made. A prompter
that cannot ask (no terminal; a kernel thread with no stdin, such as a progress widget's updater)
raises :class:`PromptUnavailableError` at once instead of blocking.

Answers are returned to the caller only: nothing here logs or writes them.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from ..exceptions import PromptUnavailableError

__all__ = [
    "PromptUnavailableError",
    "Prompter",
    "ask_here",
    "cli_prompter",
    "default_prompter",
    "in_kernel",
    "kernel_prompter",
    "no_prompter",
    "set_process_prompter",
]

#: ``(title, [(prompt, echo), ...]) -> [answer, ...]``; ``echo`` False masks the input.
Prompter = Callable[[str, list[tuple[str, bool]]], list[str]]

HOW_TO = "run in a terminal, or `tramway-jupyter login PROFILE`"


def _refuse(title: str, why: str) -> PromptUnavailableError:
    return PromptUnavailableError(f"{title}: needs a passphrase/code ({why}): {HOW_TO}")


def _read_tty(fd: int, prompt: str, echo: bool) -> str:
    """Write ``prompt`` to the terminal ``fd`` and read one line, with echo off unless ``echo``."""
    import termios

    os.write(fd, prompt.encode())
    old = termios.tcgetattr(fd)
    if not echo:
        new = list(old)
        new[3] &= ~termios.ECHO
        termios.tcsetattr(fd, termios.TCSAFLUSH, new)
    try:
        buf = bytearray()
        while not buf.endswith(b"\n"):
            chunk = os.read(fd, 1)
            if not chunk:
                raise EOFError("end of input on the terminal")
            buf += chunk
    finally:
        if not echo:
            termios.tcsetattr(fd, termios.TCSAFLUSH, old)
            os.write(fd, b"\n")
    return buf.decode(errors="replace").rstrip("\r\n")


def cli_prompter(tty: str = "/dev/tty") -> Prompter:
    """Ask on the controlling terminal (``tty``), masked as ``getpass`` does; refuse with a
    :class:`PromptUnavailableError` when there is no terminal (a service, a pipe, cron)."""

    def ask(title: str, prompts: list[tuple[str, bool]]) -> list[str]:
        try:
            fd = os.open(tty, os.O_RDWR | os.O_NOCTTY)
        except OSError as exc:
            raise _refuse(title, f"no terminal: {exc.strerror or exc}") from None
        try:
            if title:
                os.write(fd, f"{title}\n".encode())
            return [_read_tty(fd, prompt, echo) for prompt, echo in prompts]
        except EOFError as exc:
            raise _refuse(title, str(exc)) from None
        finally:
            os.close(fd)

    return ask


def _kernel() -> Any:
    """The running ipykernel of this process, or None (plain Python, a terminal IPython)."""
    if "ipykernel" not in sys.modules:
        return None
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - ipykernel needs IPython
        return None
    return getattr(get_ipython(), "kernel", None)


def in_kernel() -> bool:
    """True when this code runs inside a Jupyter kernel."""
    return _kernel() is not None


def kernel_prompter() -> Prompter:
    """Ask through the Jupyter kernel's stdin (the notebook's input box, masked for secrets).

    Only the kernel's main thread, while a cell runs in a frontend that accepts input, can ask:
    elsewhere (a background thread such as the progress widget's updater, a frontend without
    stdin) it refuses with :class:`PromptUnavailableError` instead of waiting for an answer that
    would never come."""

    def ask(title: str, prompts: list[tuple[str, bool]]) -> list[str]:
        kernel = _kernel()
        if kernel is None:
            raise _refuse(title, "not in a Jupyter kernel")
        if threading.current_thread() is not threading.main_thread():
            raise _refuse(title, "asked from a background thread of the kernel, which has no stdin")
        if not getattr(kernel, "_allow_stdin", False):
            raise _refuse(title, "this frontend does not accept input requests")
        answers = []
        for prompt, echo in prompts:
            text = f"{title}: {prompt}" if title else prompt
            answers.append(kernel.raw_input(text) if echo else kernel.getpass(text))
        return [str(a) for a in answers]

    return ask


def no_prompter(where: str = "here") -> Prompter:
    """A prompter that always refuses (services, tests, batch use)."""

    def ask(title: str, prompts: list[tuple[str, bool]]) -> list[str]:
        raise _refuse(title, f"nobody to ask {where}")

    return ask


_PROCESS_PROMPTER: list[Prompter] = []


def set_process_prompter(prompter: Prompter | None) -> None:
    """Make ``prompter`` answer every login of this process (the server extension installs its
    Lab dialog's); None: back to choosing by where the code runs."""
    _PROCESS_PROMPTER[:] = [prompter] if prompter is not None else []


def default_prompter() -> Prompter:
    """The prompter fitting where the code runs: the one the process installed
    (:func:`set_process_prompter`), else the kernel's stdin in a Jupyter kernel, else the
    controlling terminal (which refuses clearly when there is none). Outside a kernel, a
    background thread (a server's refresher, a progress updater) never asks: it refuses, since
    nobody may be watching that terminal and the thread would block."""
    if _PROCESS_PROMPTER:
        return _PROCESS_PROMPTER[0]
    if in_kernel():
        return kernel_prompter()
    if threading.current_thread() is not threading.main_thread():
        return no_prompter("from a background thread")
    return cli_prompter()


def ask_here(title: str, prompts: list[tuple[str, bool]]) -> list[str]:
    """A prompter asking through :func:`default_prompter` as chosen when a question comes (in
    the thread asking), for connections made in one place and used in others."""
    return default_prompter()(title, prompts)
