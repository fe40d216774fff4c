"""``tramway-jupyter login PROFILE`` / ``logout PROFILE``: one login serves the day.

``login`` authenticates the profile's SSH connection once, in the per-user connection holder
(:mod:`tramway_jupyter.backends.holder`), asking in this terminal for a key's passphrase or a
one-time code; every kernel, CLI run and the server extension then reuse it until the holder's
idle timeout (profile key ``holder_idle``, default 8 h) or ``logout``. Parsing and printing only.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..exceptions import ProfileError


def add_subcommands(sub: Any) -> None:
    for name, func, text in (
        ("login", cmd_login, "log in to a profile's cluster once (passphrase, one-time code); "
                             "kernels, CLI runs and the server reuse it until idle or logout"),
        ("logout", cmd_logout, "close a profile's held login (the next command logs in again)"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        if name == "login":
            p.add_argument("profile", nargs="?",
                           help="profile name (from the profiles file); without it: list the"
                                " logins held")
        else:
            p.add_argument("profile", nargs="?", help="profile name (from the profiles file)")
            p.add_argument("--all", action="store_true",
                           help="every login: stop the connection holder")
        p.add_argument("--file", help="profiles file (default: $TRAMWAY_JUPYTER_PROFILES or "
                                      "~/.config/tramway-jupyter/profiles.toml)")
        p.set_defaults(func=func)


def _remote_profile(args: argparse.Namespace) -> Any:
    from ..backends.profiles import get_profile

    prof = get_profile(args.profile, args.file)
    if not prof.is_remote:
        raise ProfileError(f"profile {prof.name!r} runs on this machine: there is nothing to log"
                           " in to")
    return prof


def _ago(t: float | None, now: float) -> str:
    if not t:
        return "never"
    s = max(0, int(now - t))
    return f"{s // 3600} h {s % 3600 // 60:02d} min ago" if s >= 3600 else f"{s // 60} min ago"


def list_logins() -> int:
    """What the connection holder holds: each login, when made and last used."""
    import time

    from ..backends import holder

    st = holder.status()
    if not st or not st.get("held"):
        print("no login held (`tramway-jupyter login PROFILE` makes one)")
        return 0
    now = time.time()
    print(f"connection holder (pid {st['pid']}): logins kept until no command used them for"
          f" {float(st['idle_timeout']) / 3600:.3g} h")
    for h in st["held"]:
        state = "held" if h.get("active") else "lost (the next command logs in again)"
        print(f"  {h['where']}: {state}; logged in {_ago(h.get('logged_in_at'), now)},"
              f" last used {_ago(h.get('used_at'), now)}")
    return 0


def cmd_login(args: argparse.Namespace) -> int:
    from ..backends import holder
    from ..backends.prompts import cli_prompter

    if args.profile is None:
        return list_logins()
    prof = _remote_profile(args)
    facts = holder.login(prof, prompter=cli_prompter())
    idle = holder.idle_timeout(prof)
    print(f"logged in to {facts['where']}: the connection holder keeps this login until idle "
          f"for {idle / 3600:.3g} h or `tramway-jupyter logout {prof.name}`")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    from ..backends import holder

    if args.all:
        print("logged out of everything: the connection holder stopped" if holder.stop()
              else "no login held")
        return 0
    if args.profile is None:
        raise ProfileError("logout needs a PROFILE, or --all")
    prof = _remote_profile(args)
    print(f"logged out of {prof.name}" if holder.logout(prof)
          else f"{prof.name} was not logged in")
    return 0
