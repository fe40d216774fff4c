"""``tramway-jupyter profiles [NAME] [--check]``: list the profiles and check them.

Registered by :func:`add_subcommands` on the main CLI's subparsers; parsing and printing only.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_subcommands(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "profiles", help="list the backend profiles, and check them with --check",
        description="List the profiles (built-in local and inline, then those of the profiles "
                    "file). With --check, connect and check each one: sbatch, partition, scratch "
                    "directory, container runtime and image, and the Python that runs the worker.")
    p.add_argument("name", nargs="?", help="only this profile")
    p.add_argument("--check", action="store_true", help="connect and check (Slurm profiles)")
    p.add_argument("--file", help="profiles file (default: $TRAMWAY_JUPYTER_PROFILES or "
                                  "~/.config/tramway-jupyter/profiles.toml)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_profiles)


def _describe(prof: Any) -> str:
    if prof.backend != "slurm":
        return f"{prof.backend}"
    where = prof.host or "this machine"
    if prof.user:
        where = f"{prof.user}@{where}"
    if prof.port:
        where += f":{prof.port}"
    bits = [f"slurm on {where}", f"scratch {prof.scratch}"]
    if prof.partition:
        bits.append(f"partition {prof.partition}")
    if prof.container:
        bits.append(f"container {prof.container} ({prof.container_runtime})")
    else:
        bits.append(f"python {prof.python}")
    return ", ".join(bits)


def cmd_profiles(args: argparse.Namespace) -> int:
    from .profile_check import check_profile, summary
    from .profiles import get_profile, load_profiles

    if args.name:
        profiles = {args.name: get_profile(args.name, args.file)}
    else:
        profiles = load_profiles(args.file)
    results: dict[str, Any] = {}
    bad = 0
    for name, prof in profiles.items():
        entry: dict[str, Any] = {"backend": prof.backend, "description": _describe(prof)}
        if args.check:
            checks = check_profile(prof)
            entry.update(summary(checks))
            bad += 0 if entry["ok"] else 1
        results[name] = entry
        if args.json:
            continue
        print(f"{name}: {entry['description']}")
        if args.check:
            for c in checks:
                mark = "ok  " if c.ok else "FAIL"
                print(f"  [{mark}] {c.name}: {c.detail}")
                if not c.ok and c.fix:
                    print(f"         -> {c.fix}")
    if args.json:
        print(json.dumps(results, indent=1))
    return 1 if bad else 0
