"""Asking the user for secrets (passphrases, one-time codes) where they are.

A :data:`Prompter` is a callable ``(title, [(prompt, echo), ...]) -> [answer, ...]``, as
paramiko's keyboard-interactive handler takes it (``echo`` False: mask the input). Answers are
never logged nor written anywhere.

NOTE: a minimal stand-in written on the ``holder`` branch for the interface the ``bastion`` branch
defines (:func:`cli_prompter`, :func:`kernel_prompter`, :func:`default_prompter`); the bastion's
module replaces it when the branches are merged.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Sequence

Prompter = Callable[[str, Sequence[tuple[str, bool]]], list[str]]

__all__ = ["Prompter", "cli_prompter", "default_prompter", "kernel_prompter"]


def cli_prompter(title: str, prompts: Sequence[tuple[str, bool]]) -> list[str]:
    """Ask in the terminal: ``getpass`` for masked prompts, ``input`` for the others."""
    if title:
        print(title, file=sys.stderr)
    return [input(text) if echo else getpass.getpass(text) for text, echo in prompts]


def kernel_prompter(title: str, prompts: Sequence[tuple[str, bool]]) -> list[str]:
    """Ask through a kernel's stdin (``getpass`` there is a masked input in the notebook)."""
    return cli_prompter(title, prompts)


def default_prompter() -> Prompter | None:
    """The terminal's prompter when stdin is one, a kernel's in a kernel, else None (no one
    to ask: the caller fails with a message saying how to log in)."""
    try:
        if sys.stdin is not None and sys.stdin.isatty():
            return cli_prompter
    except (AttributeError, ValueError):
        pass
    if "ipykernel" in sys.modules:
        return kernel_prompter
    return None
