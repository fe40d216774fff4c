"""``tramway-jupyter``: the command line. Parsing and printing only; the work is in :mod:`api`.

Exit codes (:data:`EXIT_CODES`, also in ``--help``): 0 success, 1 some task failed, 2 usage or
input error, 3 the backend's host cannot be reached or refuses us (unreachable, authentication
failed, host key unknown or changed), 130 interrupted, 141 (128 + SIGPIPE) when the reader of the
output went away (``| head``), as other Unix tools.

Starting is cheap: this package imports the standard library and light modules only, and
each subcommand imports what it needs (``list`` reads the job store; nbformat, the kernel
client, numpy and pandas are imported only by the subcommands that use them). For big batches
the task tables are summaries (counts per state and stage, the first failures, the first rows);
``--all`` streams every row.
When ``--json -`` puts JSON on stdout, every line meant for people goes to stderr.

This package: :func:`main` (errors -> exit codes), :mod:`.parser` (argparse), :mod:`.commands`
(the ``cmd_*`` functions), :mod:`.tables` (the task tables and summaries), :mod:`.exit_codes`.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Sequence

from ..exceptions import BackendConnectionError, TramwayJupyterError
from .exit_codes import (
    EXIT_CODES,
    EXIT_CONNECTION,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PIPE_CLOSED,
    EXIT_TASKS_FAILED,
    EXIT_USAGE,
)
from .parser import build_parser

__all__ = [
    "EXIT_CODES",
    "EXIT_CONNECTION",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PIPE_CLOSED",
    "EXIT_TASKS_FAILED",
    "EXIT_USAGE",
    "build_parser",
    "main",
]


def _run(argv: Sequence[str]) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or EXIT_OK)
    except BackendConnectionError as exc:
        print(f"tramway-jupyter: error: {exc}", file=sys.stderr)
        return EXIT_CONNECTION
    except TramwayJupyterError as exc:
        print(f"tramway-jupyter: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except sqlite3.DatabaseError as exc:  # damage met after the store was opened
        from ..paths import default_store_path

        print(f"tramway-jupyter: error: the job store {default_store_path()} is damaged "
              f"({exc}); run `tramway-jupyter doctor` to keep it aside and rebuild it from "
              f"the batch directories", file=sys.stderr)
        return EXIT_USAGE
    except (FileNotFoundError, ValueError) as exc:
        print(f"tramway-jupyter: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted (the batch goes on; `tramway-jupyter cancel ID` stops it)",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        sys.stdout.flush()  # a closed pipe shows here, inside main, not at interpreter exit


def _plain_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                   line: str | None = None) -> str:
    """A warning as a user reads it on the command line (not the library's file and line)."""
    return f"tramway-jupyter: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    warnings.formatwarning = _plain_warning
    try:
        return _run(sys.argv[1:] if argv is None else list(argv))
    except BrokenPipeError:
        # the reader went away (``| head``): stop quietly, as other Unix tools do; point
        # stdout at /dev/null so that the interpreter's last flush does not complain
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_PIPE_CLOSED
