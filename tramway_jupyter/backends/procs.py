"""Process identity that survives pid reuse: ``"pid:starttime"`` (Linux ``/proc``) or ``"pid"``."""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode(errors="replace")
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    rest = data[data.rindex(")") + 2 :].split()
    if rest and rest[0] == "Z":  # a zombie is gone for our purposes
        return None
    return rest[19] if len(rest) > 19 else None


def process_id(pid: int) -> str:
    st = _start_time(pid)
    return f"{pid}:{st}" if st else str(pid)


def is_alive(ident: str | None) -> bool:
    if not ident:
        return False
    pid_s, _, start = ident.partition(":")
    pid = int(pid_s)
    if os.path.exists("/proc"):
        st = _start_time(pid)
        return st is not None and (not start or st == start)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_group(ident: str | None, sig: int = signal.SIGTERM) -> bool:
    """Signal the process group led by the process ``ident`` (if it is still that process)."""
    if not is_alive(ident):
        return False
    pid = int(str(ident).partition(":")[0])
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        os.kill(pid, sig)
    return True


def run_forked_child(prepare: Callable[[], None], main: Callable[[], int | None]) -> NoReturn:
    """In a child just forked: ``prepare()`` then ``main()``, and leave with its exit code.

    Never returns into the parent's code (its loops, its ``finally`` blocks): ``os._exit``,
    after flushing what was printed; an exception is printed and exits 1.
    """
    rc: int = 1
    try:
        prepare()
        out = main()
        rc = out if isinstance(out, int) else 0
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(rc)
