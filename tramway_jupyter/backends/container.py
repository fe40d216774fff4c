"""Wrap the worker command in Apptainer/Singularity, and a registry of named images (TRamWAy's way).

:func:`wrap` is a pure builder::

    [remote_dependencies &&] apptainer|singularity exec [container_options] [--bind scratch,
        path_map targets] IMAGE PYTHON -m tramway_jupyter.worker ...

Images are given in a profile's ``container`` as

* an absolute path on the cluster (``/shared/images/tramway-jupyter.sif``),
* a path relative to the remote ``$HOME`` (``tramway-jupyter.sif``, as TRamWAy's ``env.container``),
* a name registered with :func:`register_image` or in the profile's ``container_images`` table:
  ``name -> path on the cluster`` or ``name -> URL``; a URL is downloaded once to
  ``$HOME/.cache/tramway-jupyter/images/<file name>`` on the cluster (by ``curl`` or ``wget``),
* an ``oras://``, ``docker://``, ``library://`` or ``shub://`` reference, handed to the runtime as is.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

#: name -> path on the cluster or URL (like ``tramway.analyzer.env.containers.singularity_containers``)
IMAGES: dict[str, str] = {}

IMAGE_CACHE = "~/.cache/tramway-jupyter/images"
_RUNTIME_SCHEMES = ("oras://", "docker://", "library://", "shub://", "docker-daemon://")
_DOWNLOAD_SCHEMES = ("http://", "https://")


def register_image(name: str, location: str) -> None:
    """Register a named image: ``location`` is a path on the cluster or an http(s) URL."""
    IMAGES[name] = location


@dataclass(frozen=True)
class ContainerSpec:
    """How to run a command in a container on the cluster."""

    image: str  # a path on the cluster (resolved with resolve_image) or a runtime reference
    runtime: str = "apptainer"  # "apptainer" or "singularity" (or a full path to either)
    options: tuple[str, ...] = ()  # container_options, each may hold several words
    binds: tuple[str, ...] = ()  # "SRC" or "SRC:DST[:ro]"
    remote_dependencies: str | None = None  # a shell line run first, e.g. "module load apptainer"
    pwd: str | None = None
    env: tuple[tuple[str, str], ...] = field(default=())


def option_words(options: Iterable[str]) -> list[str]:
    """Split profile option strings (``"-B /pasteur"``) into words."""
    words: list[str] = []
    for opt in options:
        words.extend(shlex.split(opt))
    return words


def wrap(cmd: Sequence[str], spec: ContainerSpec) -> str:
    """The shell line running ``cmd`` (a list: the Python inside the image, then its arguments)."""
    argv = [spec.runtime, "exec", *option_words(spec.options)]
    seen: set[str] = set()
    for b in spec.binds:
        if b and b not in seen:
            seen.add(b)
            argv += ["--bind", b]
    if spec.pwd:
        argv += ["--pwd", spec.pwd]
    for k, v in spec.env:
        argv += ["--env", f"{k}={v}"]
    argv.append(spec.image)
    argv.extend(cmd)
    line = " ".join(shlex.quote(a) for a in argv)
    return with_dependencies(line, spec.remote_dependencies)


def with_dependencies(line: str, remote_dependencies: str | None) -> str:
    """``remote_dependencies && line`` (the dependencies are the user's own shell line)."""
    deps = (remote_dependencies or "").strip()
    return f"{deps} && {line}" if deps else line


def binds_for(scratch: str, path_map: dict[str, str] | None = None,
              extra: Iterable[str] = ()) -> tuple[str, ...]:
    """Bind the scratch directory and every remote prefix of ``path_map`` at the same path."""
    out: list[str] = []
    for p in [scratch, *(path_map or {}).values(), *extra]:
        p = p.rstrip("/") or "/"
        if p not in out and p != "/":
            out.append(p)
    return tuple(out)


@dataclass(frozen=True)
class ResolvedImage:
    """Where the image is on the cluster, and the shell line that fetches it once if needed."""

    path: str
    fetch_line: str | None = None  # None: nothing to download


def resolve_image(container: str, home: str, registry: dict[str, str] | None = None) -> ResolvedImage:
    """Resolve a profile's ``container`` to a path on the cluster (``home`` = remote ``$HOME``)."""
    table = {**IMAGES, **(registry or {})}
    location = table.get(container, container)
    if location.startswith(_RUNTIME_SCHEMES):
        return ResolvedImage(location)
    if location.startswith(_DOWNLOAD_SCHEMES):
        fname = posixpath.basename(location.split("?")[0]) or f"{container}.sif"
        cache = IMAGE_CACHE.replace("~", home, 1)
        path = posixpath.join(cache, fname)
        return ResolvedImage(path, download_line(location, path))
    if location.startswith("~/"):
        return ResolvedImage(posixpath.join(home, location[2:]))
    if not location.startswith("/"):
        return ResolvedImage(posixpath.join(home, location))  # TRamWAy: relative to $HOME
    return ResolvedImage(location)


def download_line(url: str, path: str) -> str:
    """Download ``url`` to ``path`` once (atomically), with curl or wget, whichever exists."""
    q, u = shlex.quote(path), shlex.quote(url)
    part = shlex.quote(path + ".part")
    d = shlex.quote(posixpath.dirname(path))
    return (
        f"test -s {q} || {{ mkdir -p {d} && "
        f"{{ curl -fsSL -o {part} {u} || wget -q -O {part} {u}; }} && mv -f {part} {q}; }}"
    )
