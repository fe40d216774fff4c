"""Check that a profile can run jobs, and say in plain words what is wrong (``profiles --check``).

For a Slurm profile, after connecting (strict host keys, every hop of a ProxyJump), it measures the
round-trip time (the median of 3 ``true`` commands: what each poll, submit and gather pays once), then
ONE remote shell script finds
``sbatch``, the partition, the scratch directory (created if missing, must be writable), the
container runtime and image when the profile has one, and the Python that will run the worker
(inside the container if any), which must import tramway_jupyter at a compatible version.
"""

from __future__ import annotations

import shlex
import statistics
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from ..exceptions import TramwayJupyterError
from . import container as ctr
from .profiles import Profile
from .ssh import Connection, get_connection


@dataclass(frozen=True)
class Check:
    """One verdict: what was checked, whether it is fine, details and how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def local_version() -> str:
    try:
        return version("tramway-jupyter")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        from .._version import __version__

        return str(__version__)


def compatible(local: str, remote: str) -> bool:
    """Same major.minor (the plan and status formats only change with those)."""
    return local.split(".")[:2] == remote.split(".")[:2]


_PY_PROBE = ("import sys, tramway_jupyter, importlib.metadata as m; "
             "print(m.version('tramway-jupyter'), sys.version.split()[0])")


def check_script(profile: Profile, scratch: str, image: str | None) -> str:
    """The remote script: one ``@@ NAME RC`` header then the output of each probe."""
    q = shlex.quote
    probes: list[tuple[str, str]] = [
        ("sbatch", "command -v sbatch && sbatch --version"),
        ("partitions", "sinfo -h -o '%P %a'"),
        ("scratch", f"mkdir -p -- {q(scratch)} && test -w {q(scratch)} && df -h -- {q(scratch)} | tail -1"),
    ]
    deps = (profile.remote_dependencies or "").strip()
    if profile.container and image is not None:
        runtime = profile.container_runtime
        probes.append(("runtime", ctr.with_dependencies(f"command -v {q(runtime)} && {q(runtime)} --version", deps)))
        if not image.startswith(("docker://", "oras://", "library://", "shub://")):
            probes.append(("image", f"test -r {q(image)} && ls -ld -- {q(image)}"))
        spec = ctr.ContainerSpec(image=image, runtime=runtime, options=tuple(profile.container_options),
                                 binds=ctr.binds_for(scratch, profile.path_map), remote_dependencies=deps)
        probes.append(("python", ctr.wrap([profile.python, "-c", _PY_PROBE], spec)))
    else:
        probes.append(("python", ctr.with_dependencies(f"{q(profile.python)} -c {q(_PY_PROBE)}", deps)))
    for local, remote in sorted(profile.path_map.items()):
        probes.append((f"path_map {local}", f"test -d {q(remote)} && echo {q(remote)}"))
    parts = [f"out=$( ( {cmd} ) 2>&1 ); echo \"@@ {name} $?\"; printf '%s\\n' \"$out\""
             for name, cmd in probes]
    return "; ".join(parts)


def parse_check_output(text: str) -> dict[str, tuple[int, str]]:
    out: dict[str, tuple[int, str]] = {}
    name: str | None = None
    rc = 0
    buf: list[str] = []
    for line in text.splitlines():
        if line.startswith("@@ "):
            if name is not None:
                out[name] = (rc, "\n".join(buf).strip())
            head, _, code = line[3:].rpartition(" ")
            name, rc, buf = head, int(code) if code.lstrip("-").isdigit() else 1, []
        elif name is not None:
            buf.append(line)
    if name is not None:
        out[name] = (rc, "\n".join(buf).strip())
    return out


def check_profile(profile: Profile, connection: Connection | None = None) -> list[Check]:
    """Run every check of a profile (connects for remote Slurm profiles)."""
    if profile.backend != "slurm":
        return [Check("backend", True, f"{profile.backend}: runs on this machine, nothing to check")]
    checks: list[Check] = []
    try:
        conn = connection or get_connection(profile)
        home, user = conn.home_and_user()
    except TramwayJupyterError as exc:
        return [Check("connect", False, str(exc),
                      "check host, port, user and identity_file (or ~/.ssh/config)")]
    via = getattr(conn, "proxy_jump", None)
    checks.append(Check("connect", True, f"{conn.where} as {user} (home {home})"
                        + (f" through {via}" if via else "")))
    checks.append(round_trip_check(conn))
    scratch = conn.expand_path(profile.scratch)
    if not scratch.startswith("/"):
        scratch = f"{home}/{scratch}"
    image = None
    if profile.container:
        image = ctr.resolve_image(profile.container, home, profile.container_images).path
    rc, out, err = conn.run(["/bin/sh", "-c", check_script(profile, scratch, image)], timeout=120)
    res = parse_check_output(out)
    checks.extend(_interpret(profile, res, scratch, image))
    return checks


def _interpret(profile: Profile, res: dict[str, tuple[int, str]], scratch: str,
               image: str | None) -> list[Check]:
    out: list[Check] = []

    def get(name: str) -> tuple[int, str]:
        return res.get(name, (127, "(not run)"))

    rc, text = get("sbatch")
    out.append(Check("sbatch", rc == 0, text.splitlines()[-1] if rc == 0 and text else
                     "sbatch not found in a non-interactive shell",
                     "" if rc == 0 else "load Slurm in ~/.bashrc for non-interactive shells, "
                     "or ask your admins where sbatch is"))
    rc, text = get("partitions")
    parts = {ln.split()[0].rstrip("*"): ln.split()[1] for ln in text.splitlines() if len(ln.split()) == 2}
    if profile.partition:
        ok = parts.get(profile.partition) == "up"
        out.append(Check("partition", ok, f"{profile.partition}: {parts.get(profile.partition, 'not found')}"
                         f" (partitions: {', '.join(sorted(parts)) or 'none'})",
                         "" if ok else "set `partition` to one of the partitions listed"))
    rc, text = get("scratch")
    out.append(Check("scratch", rc == 0, f"{scratch}: " + ("writable" if rc == 0 else text or "not writable"),
                     "" if rc == 0 else "set `scratch` to a directory you can write on the cluster"))
    if profile.container:
        rc, text = get("runtime")
        out.append(Check("container runtime", rc == 0, text.replace("\n", " ") or profile.container_runtime,
                         "" if rc == 0 else f"{profile.container_runtime} not found: set "
                         "`remote_dependencies` (e.g. 'module load apptainer')"))
        if "image" in res:
            rc, text = get("image")
            out.append(Check("container image", rc == 0, image or "", "" if rc == 0 else
                             f"copy the image to {image} (see containers/README.md)"))
    rc, text = get("python")
    where = f"in {image}" if profile.container else "on the cluster"
    if rc == 0 and text:
        remote_v, _, py_v = text.splitlines()[-1].partition(" ")
        ok = compatible(local_version(), remote_v)
        out.append(Check("python", ok, f"{profile.python} {where}: Python {py_v}, tramway-jupyter"
                         f" {remote_v} (here: {local_version()})",
                         "" if ok else "install the same major.minor version of tramway-jupyter "
                         "on the cluster (or rebuild the container)"))
    else:
        out.append(Check("python", False, f"{profile.python} {where} cannot import tramway_jupyter:"
                         f" {text.splitlines()[-1] if text else 'no output'}",
                         "set `python` to an interpreter with tramway-jupyter installed "
                         "(see docs/cluster.md, 'The cluster's Python')"))
    for name, (rc, text) in res.items():
        if name.startswith("path_map "):
            out.append(Check(name, rc == 0, text or "missing on the cluster",
                             "" if rc == 0 else "fix the remote side of path_map"))
    return out


#: Above this time per command the check says what it costs. A command is about two network
#: round trips (open a channel; start the command, then its output and exit status).
SLOW_RTT_S = 0.1


def measure_round_trip(conn: Connection, n: int = 3) -> float:
    """The median time in seconds of ``n`` ``true`` commands on an open connection."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        conn.run(["true"], timeout=60)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def round_trip_check(conn: Connection) -> Check:
    """The measured round-trip time, as a check (always ok: a slow link works, only slower)."""
    try:
        rtt = measure_round_trip(conn)
    except TramwayJupyterError as exc:
        return Check("round trip", False, f"`true` failed: {exc}", "check the connection")
    detail = f"{rtt * 1000:.0f} ms (median of 3 `true` commands)"
    if rtt > SLOW_RTT_S:
        detail += ("; a slow link: each submit, poll and gather costs about one such command,"
                   " whatever the number of tasks")
    return Check("round trip", True, detail)


def summary(checks: list[Check]) -> dict[str, Any]:
    return {"ok": all(c.ok for c in checks),
            "checks": [c.__dict__ for c in checks]}
