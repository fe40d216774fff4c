"""The command line's exit codes, and the sentence ``--help`` prints about them."""

from __future__ import annotations

EXIT_OK = 0
EXIT_TASKS_FAILED = 1  # the command ran, but some task failed (or was lost)
EXIT_USAGE = 2  # usage or input error (argparse's own code for usage errors)
EXIT_CONNECTION = 3  # the backend's host cannot be reached or refuses us
EXIT_INTERRUPTED = 130
EXIT_PIPE_CLOSED = 128 + 13  # killed by SIGPIPE, as the shell reports it

#: What the exit codes mean, for ``--help``.
EXIT_CODES = (
    f"exit status: {EXIT_OK} success; {EXIT_TASKS_FAILED} the command ran but some task failed; "
    f"{EXIT_USAGE} usage or input error (a wrong option, no data file, an unknown batch or "
    f"profile...); {EXIT_CONNECTION} cannot connect to the backend's host (unreachable, "
    f"authentication failed, SSH host key unknown or changed); {EXIT_INTERRUPTED} interrupted; "
    f"{EXIT_PIPE_CLOSED} the reader of the output went away."
)
